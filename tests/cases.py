"""Test inputs shared by several test modules."""

from __future__ import annotations

from typing import Any

from actbench.runs import History, RunRecord

# Every activation, with non-default parameters where it has some: (name, params).
ACTIVATION_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("identity", {}),
    ("step", {}),
    ("step", {"ste": True}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("softmax", {}),
    ("elu", {"alpha": 0.5}),
    ("selu", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("silu", {}),
    ("mish", {}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}),
    ("relu6", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("prelu", {}),
]


def member_record(label: str, seed: int, accuracy: float | None, **extra: Any) -> RunRecord:
    """A finished member with plain numbers; `extra` overrides any field."""
    fields: dict[str, Any] = {
        "label": label,
        "activation": label,
        "seed": seed,
        "epochs": 10,
        "train_loss": 0.3,
        "test_loss": 0.4,
        "train_accuracy": 0.9,
        "test_accuracy": accuracy,
        "dead_neurons": 0,
        "dead_per_layer": [0],
        "dead_neurons_init": 0,
        "dormant_neurons": 0,
        "hidden_units": 50,
        "history": History(),
    }
    return RunRecord(**{**fields, **extra})
