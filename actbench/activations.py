"""The one registry of activation functions: name -> spec (factory, params, formula, range, ...).

Importing this module does not import torch: `actbench activations` must be instant. Factories
import torch when a module is actually built.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actbench.errors import ActivationError, brief, unknown

if TYPE_CHECKING:
    from torch import Tensor, nn

ParamValue = float | bool | str

# Numbers that enter a tensor are float32 there: a finite float64 beyond these becomes inf
# (or 0) inside training and fails far from the config that caused it.
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.401298464324817e-45  # the smallest positive (subnormal) float32


def float32_problem(number: float) -> str | None:
    """Why `number` cannot be stored as a float32 (overflow, or a non-zero that rounds to 0)."""
    if abs(number) > FLOAT32_MAX:
        return f"{number:g} is beyond the float32 range it is used in (at most 3.4e+38)"
    if number != 0 and abs(number) < FLOAT32_TINY:
        return f"{number:g} rounds to 0 in the float32 it is used in (at least 1.4e-45)"
    return None


@dataclass(frozen=True)
class Param:
    """One keyword parameter of an activation, with its default and what values are allowed."""

    default: ParamValue
    help: str
    minimum: float | None = None  # inclusive lower bound for numbers
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()

    def validate(self, activation: str, name: str, value: Any) -> ParamValue:
        where = f"activation '{activation}' parameter '{name}'"
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ActivationError(f"{where} must be true or false (got {brief(value)})")
            return value
        if isinstance(self.default, str):
            if not isinstance(value, str) or value not in self.choices:
                raise ActivationError(
                    f"{where} must be one of {', '.join(self.choices)} (got {brief(value)})"
                )
            return str(value)
        if isinstance(value, str):  # PyYAML reads `1e-3` (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ActivationError(f"{where} must be a number (got {brief(value)})") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ActivationError(f"{where} must be a number (got {brief(value)})")
        try:
            number = float(value)
        except OverflowError:  # an int beyond float64
            raise ActivationError(f"{where} is too large (got {brief(value)})") from None
        if not math.isfinite(number):
            raise ActivationError(f"{where} must be a finite number (got {value!r})")
        problem = float32_problem(number)
        if problem:
            raise ActivationError(f"{where}: {problem}")
        if self.minimum is not None:
            too_small = number <= self.minimum if self.exclusive_minimum else number < self.minimum
            if too_small:
                bound = ">" if self.exclusive_minimum else ">="
                raise ActivationError(f"{where} must be {bound} {self.minimum:g} (got {value!r})")
        return number


@dataclass(frozen=True)
class ActivationSpec:
    """Everything actbench knows about one activation function."""

    name: str
    factory: Callable[..., nn.Module]  # keyword params -> a fresh nn.Module
    formula: str
    output_range: str
    derivative: str
    typical_use: str
    params: Mapping[str, Param] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    # Applied across the units of a layer (softmax) rather than to each unit on its own.
    elementwise: bool = True
    # Largest |f'| over the real line, when it cannot be read off a grid of elementwise inputs.
    max_abs_derivative: float | None = None
    # A check across params (resolved values -> error message or None).
    constraint: Callable[[Mapping[str, ParamValue]], str | None] | None = None

    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict[str, ParamValue]:
        """Defaults overlaid with validated user values; unknown names are an error."""
        given = dict(given or {})
        for key in given:
            if key not in self.params:
                if not self.params:
                    raise ActivationError(
                        f"activation '{self.name}' takes no parameters (got '{key}')"
                    )
                raise ActivationError(
                    unknown("parameter", key, self.params, where=f" for activation '{self.name}'")
                )
        resolved = {
            key: spec.validate(self.name, key, given[key]) if key in given else spec.default
            for key, spec in self.params.items()
        }
        problem = self.constraint(resolved) if self.constraint else None
        if problem:
            raise ActivationError(f"activation '{self.name}': {problem}")
        return resolved

    def build(self, params: Mapping[str, Any] | None = None) -> nn.Module:
        """A fresh module with validated params."""
        return self.factory(**self.resolve_params(params))


# --- factories (torch imported lazily) ----------------------------------------------------------


def _identity() -> nn.Module:
    from torch import nn

    return nn.Identity()


@functools.cache
def _binary_step_class() -> type[nn.Module]:
    import torch
    from torch import nn

    class _StepFunction(torch.autograd.Function):
        @staticmethod
        def forward(x: Tensor, ste: bool) -> Tensor:
            return (x > 0).to(x.dtype)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            ctx.ste = inputs[1]

        @staticmethod
        def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
            # The true derivative is 0 almost everywhere. Explicit zeros (not None) keep the
            # earlier layers in the graph, so weight decay and optimizer state behave the same
            # as for every other activation.
            return (grad if ctx.ste else torch.zeros_like(grad)), None

    class BinaryStep(nn.Module):
        def __init__(self, ste: bool = False) -> None:
            super().__init__()
            self.ste = ste

        def forward(self, x: Tensor) -> Tensor:
            return _StepFunction.apply(x, self.ste)

        def extra_repr(self) -> str:
            return f"ste={self.ste}"

    return BinaryStep


def _step(ste: bool) -> nn.Module:
    return _binary_step_class()(ste)


def _module(class_name: str, **fixed: Any) -> Callable[..., nn.Module]:
    def factory(**params: Any) -> nn.Module:
        from torch import nn

        return getattr(nn, class_name)(**fixed, **params)

    return factory


def _prelu(init: float) -> nn.Module:
    from torch import nn

    return nn.PReLU(num_parameters=1, init=init)


_SPECS: tuple[ActivationSpec, ...] = (
    ActivationSpec(
        name="identity",
        factory=_identity,
        formula="f(x) = x",
        output_range="(-inf, inf)",
        derivative="1 everywhere",
        typical_use="baseline: without a non-linearity the whole net is one linear map",
        aliases=("linear", "none"),
    ),
    ActivationSpec(
        name="step",
        factory=_step,
        formula="f(x) = 1 if x > 0 else 0",
        output_range="{0, 1}",
        derivative="0 everywhere (undefined at 0): no gradient reaches earlier layers, "
        "so they never learn; ste=true passes the gradient straight through",
        typical_use="the perceptron's threshold; shows why gradients matter",
        params={"ste": Param(False, "straight-through estimator: backward acts as identity")},
        aliases=("binary_step", "heaviside"),
    ),
    ActivationSpec(
        name="sigmoid",
        factory=_module("Sigmoid"),
        formula="f(x) = 1 / (1 + e^-x)",
        output_range="(0, 1)",
        derivative="f(x)(1 - f(x)), at most 0.25; vanishes for large |x|",
        typical_use="binary-classification output (a probability); gates in LSTMs",
        aliases=("logistic",),
    ),
    ActivationSpec(
        name="tanh",
        factory=_module("Tanh"),
        formula="f(x) = (e^x - e^-x) / (e^x + e^-x)",
        output_range="(-1, 1)",
        derivative="1 - f(x)^2, at most 1; vanishes for large |x|",
        typical_use="zero-centred hidden layers; recurrent nets",
    ),
    ActivationSpec(
        name="relu",
        factory=_module("ReLU"),
        formula="f(x) = max(0, x)",
        output_range="[0, inf)",
        derivative="1 for x > 0, 0 for x < 0: a unit negative on every input stops learning",
        typical_use="the default for hidden layers",
    ),
    ActivationSpec(
        name="leaky_relu",
        factory=_module("LeakyReLU"),
        formula="f(x) = x if x > 0 else a*x  (a = negative_slope)",
        output_range="(-inf, inf)",
        derivative="1 for x > 0, a for x < 0: never zero, so units do not die",
        typical_use="hidden layers where ReLU units die",
        params={"negative_slope": Param(0.01, "slope a for x < 0")},
        aliases=("lrelu", "leakyrelu"),
    ),
    ActivationSpec(
        name="softmax",
        factory=_module("Softmax", dim=-1),
        formula="f(x)_i = e^x_i / sum_j e^x_j  (over the units of the layer)",
        output_range="(0, 1), the layer's outputs sum to 1",
        derivative="df_i/dx_j = f_i (delta_ij - f_j): couples all units of the layer",
        typical_use="multi-class output probabilities; as a hidden activation it squeezes "
        "the whole layer into one unit of mass",
        elementwise=False,
        max_abs_derivative=0.25,
    ),
    ActivationSpec(
        name="elu",
        factory=_module("ELU"),
        formula="f(x) = x if x > 0 else alpha*(e^x - 1)",
        output_range="(-alpha, inf)",
        derivative="1 for x > 0, f(x) + alpha for x <= 0",
        typical_use="smooth ReLU alternative with negative outputs (Clevert et al. 2015)",
        params={"alpha": Param(1.0, "saturation value -alpha for x -> -inf", minimum=0.0)},
    ),
    ActivationSpec(
        name="selu",
        factory=_module("SELU"),
        formula="f(x) = l*(x if x > 0 else a*(e^x - 1)),  l~1.0507, a~1.6733",
        output_range="(-1.7581, inf)",
        derivative="l for x > 0, l*a*e^x for x <= 0",
        typical_use="self-normalising deep MLPs (Klambauer et al. 2017)",
    ),
    ActivationSpec(
        name="gelu",
        factory=_module("GELU"),
        formula="f(x) = x * Phi(x)  (Phi: standard normal CDF)",
        output_range="(-0.17, inf)",
        derivative="Phi(x) + x*phi(x); slightly non-monotonic below 0",
        typical_use="transformers (BERT, GPT)",
        params={
            "approximate": Param(
                "none", "'tanh' uses the tanh approximation", choices=("none", "tanh")
            )
        },
    ),
    ActivationSpec(
        name="silu",
        factory=_module("SiLU"),
        formula="f(x) = x * sigmoid(x)",
        output_range="(-0.28, inf)",
        derivative="sigmoid(x) * (1 + x*(1 - sigmoid(x)))",
        typical_use="EfficientNet and other modern nets; a smooth ReLU",
        aliases=("swish",),
    ),
    ActivationSpec(
        name="mish",
        factory=_module("Mish"),
        formula="f(x) = x * tanh(softplus(x))",
        output_range="(-0.31, inf)",
        derivative="smooth, slightly non-monotonic below 0",
        typical_use="YOLOv4 and other detectors; a smooth ReLU",
    ),
    ActivationSpec(
        name="softplus",
        factory=_module("Softplus"),
        formula="f(x) = log(1 + e^(beta*x)) / beta",
        output_range="(0, inf)",
        derivative="sigmoid(beta*x), never exactly 0",
        typical_use="smooth ReLU; positive outputs such as variances",
        params={
            "beta": Param(1.0, "sharpness", minimum=0.0, exclusive_minimum=True),
            "threshold": Param(20.0, "above beta*x > threshold it is linear", minimum=0.0),
        },
    ),
    ActivationSpec(
        name="relu6",
        factory=_module("ReLU6"),
        formula="f(x) = min(max(0, x), 6)",
        output_range="[0, 6]",
        derivative="1 for 0 < x < 6, else 0",
        typical_use="mobile nets (MobileNet); quantisation-friendly",
    ),
    ActivationSpec(
        name="hardtanh",
        factory=_module("Hardtanh"),
        formula="f(x) = min(max(x, min_val), max_val)",
        output_range="[min_val, max_val]",
        derivative="1 between min_val and max_val, else 0",
        typical_use="a cheap bounded tanh",
        params={"min_val": Param(-1.0, "lower clip"), "max_val": Param(1.0, "upper clip")},
        constraint=lambda p: (
            None
            if p["min_val"] < p["max_val"]  # type: ignore[operator]
            else f"min_val must be < max_val (got {p['min_val']} and {p['max_val']})"
        ),
    ),
    ActivationSpec(
        name="prelu",
        factory=_prelu,
        formula="f(x) = x if x > 0 else a*x  (a learned, one per layer)",
        output_range="(-inf, inf)",
        derivative="1 for x > 0, a for x < 0; a gets its own gradient",
        typical_use="ReLU with a learned leak (He et al. 2015)",
        params={"init": Param(0.25, "initial slope a")},
    ),
)

REGISTRY: dict[str, ActivationSpec] = {spec.name: spec for spec in _SPECS}
_ALIASES: dict[str, str] = {alias: spec.name for spec in _SPECS for alias in spec.aliases}


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

    For an elementwise f this is the gradient of sum(f(z)); for softmax it is the diagonal
    of the Jacobian, f_j (1 - f_j).
    """
    import torch

    if not spec.elementwise:
        out = module(z)
        return out * (1 - out)
    with torch.enable_grad():
        leaf = z.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(module(leaf).sum(), leaf)
    return grad


def max_abs_derivative(spec: ActivationSpec, params: Mapping[str, Any] | None = None) -> float:
    """Largest |f'| over the real line (read off a fine grid on [-20, 20] where not known)."""
    if spec.max_abs_derivative is not None:
        return spec.max_abs_derivative
    import torch

    grid = torch.linspace(-20.0, 20.0, 40_001, dtype=torch.float64)
    module = spec.build(params).to(torch.float64)
    return float(derivative(module, spec, grid).abs().max())
