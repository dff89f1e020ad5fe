"""The one registry of activation functions: name -> spec (`ActivationSpec`).

An entry carries everything a consumer reads: factory, params, text, kernels, init gain,
saturation rule, whole-layer behaviour (`spec.py` says what each is; `builtin.py` holds the
built-in entries). Importing this package does not import torch: `actbench activations` must
be instant. Factories and kernels import torch when a module is actually built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from actbench.activations.builtin import BUILTINS
from actbench.activations.spec import (
    FLOAT32_MAX,
    FLOAT32_TINY,
    SATURATION_RULES,
    ActivationSpec,
    KernelFactory,
    Kernels,
    Param,
    Params,
    ParamValue,
    Saturation,
    WholeLayer,
    float32_problem,
)
from actbench.errors import ActivationError, unknown

if TYPE_CHECKING:
    from torch import Tensor, nn

__all__ = [
    "FLOAT32_MAX",
    "FLOAT32_TINY",
    "REGISTRY",
    "SATURATION_RULES",
    "ActivationSpec",
    "KernelFactory",
    "Kernels",
    "Param",
    "ParamValue",
    "Params",
    "Saturation",
    "WholeLayer",
    "build",
    "derivative",
    "float32_problem",
    "get",
    "max_abs_derivative",
    "names",
]

REGISTRY: dict[str, ActivationSpec] = {spec.name: spec for spec in BUILTINS}
_ALIASES: dict[str, str] = {alias: spec.name for spec in BUILTINS for alias in spec.aliases}


def names() -> list[str]:
    """Canonical names, in registry order."""
    return list(REGISTRY)


def get(name: str) -> ActivationSpec:
    """The spec for a name or alias (case-insensitive); unknown names raise ActivationError."""
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        raise ActivationError(
            unknown("activation", key, REGISTRY, also_matches=_ALIASES, shown=name)
        )
    return REGISTRY[key]


def build(name: str, params: Mapping[str, Any] | None = None) -> nn.Module:
    """A fresh module for `name` with `params` (validated, defaults filled in)."""
    return get(name).build(params)


def derivative(module: nn.Module, spec: ActivationSpec, z: Tensor) -> Tensor:
    """d f(z)_j / d z_j for every element, as backpropagation sees it.

    For an elementwise f this is the gradient of sum(f(z)) by autograd; for a whole-layer f
    (softmax) it is the Jacobian's diagonal the spec declares, f_j (1 - f_j).
    """
    import torch

    if spec.whole_layer is not None:
        return spec.whole_layer.diagonal(module(z), None)
    with torch.enable_grad():
        leaf = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(module(leaf).sum(), leaf)
    return grad


def max_abs_derivative(spec: ActivationSpec, params: Mapping[str, Any] | None = None) -> float:
    """Largest |f'| over the real line (read off a fine grid on [-20, 20] where not declared)."""
    if spec.whole_layer is not None:
        return spec.whole_layer.max_abs_derivative
    import torch

    grid = torch.linspace(-20.0, 20.0, 40_001, dtype=torch.float64)
    module = spec.build(params).to(torch.float64)
    return float(derivative(module, spec, grid).abs().max())
