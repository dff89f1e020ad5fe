"""actbench: which activation function should I use here, and what does it do to my network?

Python API (the CLI's numbers, returned instead of printed):

    import actbench
    result = actbench.compare("configs/smoke.yaml", overrides={"train.lr": 0.01})
    result.to_pandas()              # one row per activation: mean, std, CI over seeds
    result.model("relu", seed=0)    # a trained member: raw features -> logits
    actbench.train("leaky_relu", params={"negative_slope": 0.2}, seeds=3)
    actbench.load("20261123-101500-all")   # a saved run: id, unique prefix or folder
    actbench.register_activation("squareplus", lambda x: (x + (x * x + 4).sqrt()) / 2)
    actbench.MLPClassifier(activation="torch.nn.Mish").fit(X, y)   # a scikit-learn estimator

Everything here is imported on first use, so that `import actbench` and `actbench --help`
stay light (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ActbenchError",
    "MLPClassifier",
    "Result",
    "__version__",
    "compare",
    "load",
    "register_activation",
    "train",
]

if TYPE_CHECKING:
    from actbench.api import compare, load, register_activation, train
    from actbench.errors import ActbenchError
    from actbench.estimator import MLPClassifier
    from actbench.result import Result

_LAZY = {
    "compare": "actbench.api",
    "train": "actbench.api",
    "load": "actbench.api",
    "Result": "actbench.result",
    "register_activation": "actbench.api",
    "MLPClassifier": "actbench.estimator",
    "ActbenchError": "actbench.errors",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once: later lookups do not come back here
        return value
    raise AttributeError(f"module 'actbench' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
