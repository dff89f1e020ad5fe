"""torch.nn's activation modules by class name: `torch.nn.Hardswish`, `torch.nn.CELU` with
`params: {alpha: 0.5}`.

The classes are those of `torch.nn.modules.activation` that act on each unit on its own; their
keyword parameters come from the class's signature (`inplace`, `device` and `dtype` are never
set). A class with a built-in twin (`torch.nn.Mish` is `mish`) takes the twin's kernels, gain,
saturation rule and text, so it trains on the autograd-free step with the same numbers; the
others train through autograd, with kaiming gain 1 unless listed in `GAINS`. torch is imported
when a spec is made, never when this module is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

from actbench.activations.builtin import BUILTINS, RELU_GAIN
from actbench.activations.spec import ActivationSpec, Params, params_from_signature
from actbench.activations.user import doc_line, measured_range
from actbench.errors import ActivationError, unknown

PREFIX = "torch.nn."
SHORT_PREFIX = "nn."

# Classes of torch.nn.modules.activation that cannot be a hidden activation here, and why.
REFUSED = {
    "MultiheadAttention": "it is an attention layer, not an activation",
    "GLU": "it halves the width of its input (a gated linear unit)",
    "Softmax": "it couples the units of a layer; the built-in 'softmax' is softmax over the "
    "units of a layer",
    "Softmin": "it couples the units of a layer",
    "LogSoftmax": "it couples the units of a layer",
    "Softmax2d": "it couples the units of a layer",
}

# torch.nn class -> the built-in entry that is the same function with the same parameters.
TWINS = {
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "ReLU": "relu",
    "LeakyReLU": "leaky_relu",
    "ELU": "elu",
    "SELU": "selu",
    "GELU": "gelu",
    "SiLU": "silu",
    "Mish": "mish",
    "Softplus": "softplus",
    "ReLU6": "relu6",
    "Hardtanh": "hardtanh",
}


def _leaky_gain(slope: float) -> float:
    return math.sqrt(2.0 / (1 + slope**2))


# Kaiming gains known for classes without a twin (torch.nn.init.calculate_gain's reasoning:
# a leaky unit passes 2 / (1 + slope^2) of the signal's second moment). Everything else: 1.
GAINS: dict[str, Callable[[Params], float]] = {
    "PReLU": lambda p: _leaky_gain(float(p["init"])),
    "RReLU": lambda p: _leaky_gain((float(p["lower"]) + float(p["upper"])) / 2),
    "CELU": lambda p: RELU_GAIN,  # ELU's, which CELU is for alpha = 1
    "Hardswish": lambda p: RELU_GAIN,  # a smooth ReLU, like SiLU
}


def is_torch_name(name: str) -> bool:
    """`torch.nn.X` or `nn.X` (any case)."""
    lowered = name.strip().lower()
    return lowered.startswith((PREFIX.lower(), SHORT_PREFIX))


def class_names() -> list[str]:
    """The torch.nn activation classes actbench takes, in torch's order (imports torch)."""
    from torch.nn.modules import activation

    return [name for name in activation.__all__ if name not in REFUSED]


def canonical(name: str) -> str:
    """'nn.hardswish' -> 'torch.nn.Hardswish'; an unknown or refused class is an error."""
    from torch.nn.modules import activation

    stripped = name.strip()
    short = stripped[len(PREFIX) :] if stripped.lower().startswith(PREFIX) else stripped[3:]
    every = list(activation.__all__)
    by_lower = {cls.lower(): cls for cls in every}
    found = by_lower.get(short.lower())
    if found is None:
        choices = [PREFIX + cls for cls in class_names()]
        raise ActivationError(
            unknown("torch.nn activation", PREFIX + short, choices, shown=stripped)
        )
    if found in REFUSED:
        raise ActivationError(
            f"torch.nn.{found} cannot be a hidden activation here: {REFUSED[found]}"
        )
    return PREFIX + found


@functools.cache  # made once a process
def torch_spec(name: str) -> ActivationSpec:
    """The entry of torch.nn.<Class> (name as `canonical` gives it)."""
    from torch import nn

    class_name = name[len(PREFIX) :]
    cls = getattr(nn, class_name)
    params = params_from_signature(cls.__init__, skip=1)
    summary = doc_line(cls) or f"torch.nn.{class_name}"
    twin = _twin(class_name, params)

    def factory(**given: Any) -> nn.Module:
        return cls(**given)

    if twin is not None:
        return ActivationSpec(
            name=name,
            factory=factory,
            params=twin.params,
            constraint=twin.constraint,
            formula=twin.formula,
            output_range=twin.output_range,
            derivative=twin.derivative,
            typical_use=f"{summary} (the built-in '{twin.name}')",
            kernels=twin.kernels,
            gain=twin.gain,
            saturation=twin.saturation,
            source="torch",
        )
    gain = GAINS.get(class_name)
    return ActivationSpec(
        name=name,
        factory=factory,
        params=params,
        formula=summary,
        output_range=measured_range(factory, params, "see the PyTorch documentation"),
        derivative="by autograd",
        typical_use=f"torch.nn.{class_name}; trains through autograd"
        + ("" if gain else "; kaiming gain 1 (assumed)"),
        kernels=None,
        gain=gain if gain is not None else 1.0,
        saturation="derivative",
        source="torch",
    )


def _twin(class_name: str, params: dict[str, Any]) -> ActivationSpec | None:
    """The built-in entry that is this class, with the same parameter names."""
    builtin = TWINS.get(class_name)
    if builtin is None:
        return None
    spec = next(spec for spec in BUILTINS if spec.name == builtin)
    return spec if set(spec.params) == set(params) else None
