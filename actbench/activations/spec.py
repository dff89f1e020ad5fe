"""What an activation entry carries (`ActivationSpec`) and how its parameters validate.

No torch here: the registry is listed by `actbench activations` without importing it. Kernel
factories, module factories and whole-layer derivatives import torch when they are called.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from actbench.errors import ActivationError, brief, unknown

if TYPE_CHECKING:
    from torch import Tensor, nn

ParamValue = float | bool | str
Params = Mapping[str, ParamValue]  # resolved: every parameter, validated

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
    """One keyword parameter of an activation, with its default and what values are allowed.

    The default's type is the parameter's: true/false, text (one of `choices`, any text
    without them), a whole number or a number. A `required` parameter has no default (its
    `default` only gives the type) and must be given.
    """

    default: ParamValue
    help: str
    minimum: float | None = None  # inclusive lower bound for numbers
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    required: bool = False

    @property
    def kind(self) -> str:
        """What a value must be, in words."""
        if isinstance(self.default, bool):
            return "true or false"
        if isinstance(self.default, str):
            return "one of " + ", ".join(self.choices) if self.choices else "text"
        return "a whole number" if isinstance(self.default, int) else "a number"

    def validate(self, activation: str, name: str, value: Any) -> ParamValue:
        where = f"activation '{activation}' parameter '{name}'"
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ActivationError(f"{where} must be true or false (got {brief(value)})")
            return value
        if isinstance(self.default, str):
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise ActivationError(f"{where} must be {self.kind} (got {brief(value)})")
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
        if isinstance(self.default, int):
            if not number.is_integer():
                raise ActivationError(f"{where} must be a whole number (got {value!r})")
            return int(number)
        return number


class Kernels(NamedTuple):
    """An activation's forward and backward, each writing into a given tensor.

    They must be the very ATen kernels the activation's nn.Module runs and autograd runs for it
    (`tanh_backward`, `threshold_backward`, ...), so every number equals the autograd path bit
    for bit (tested for every entry).
    """

    forward: Callable[[Tensor, Tensor], object]  # (z, out): out = f(z)
    backward: Callable[[Tensor, Tensor, Tensor, Tensor], object]  # (g, z, h, out): g * f'(z)


KernelFactory = Callable[[Params], Kernels]

# How the saturation count (|f'(z)| < 1% of max |f'|) reads an activation:
#   "derivative": element by element from f'(z) (the Jacobian's diagonal for a whole layer);
#   "never" / "always": |f'| is the same everywhere (identity; step without and with
#   straight-through), so no unit is / every unit is saturated (max |f'| = 0 has no 1% of it).
Saturation = Literal["derivative", "never", "always"]
SATURATION_RULES: tuple[Saturation, ...] = ("derivative", "never", "always")

# Where an entry comes from: actbench's own, a torch.nn class by name, code the user named
# (module:function, file.py:function), or a function registered in this Python session.
Source = Literal["builtin", "torch", "code", "registered"]


@dataclass(frozen=True)
class WholeLayer:
    """An activation applied across the units of a layer (softmax), not to each unit alone."""

    # (h = f(z), out or None) -> df_j/dz_j, the Jacobian's diagonal: the per-unit derivative
    # the saturation count, `show` and the figures use. Written into out when given.
    diagonal: Callable[[Tensor, Tensor | None], Tensor]
    # Largest |df_j/dz_j| over all inputs: a grid of single inputs cannot find it.
    max_abs_derivative: float


@dataclass(frozen=True, kw_only=True)
class ActivationSpec:
    """Everything actbench knows about one activation function: one entry, every consumer.

    The engine and the probe take its kernels, `model.init_model` its gain, the health probe
    its saturation rule, `show` and the figures its derivative, the CLI and tables its text.
    `gain` and `saturation` are a value, or a function of the resolved params.
    """

    name: str
    factory: Callable[..., nn.Module]  # keyword params -> a fresh nn.Module
    params: Mapping[str, Param] = field(default_factory=dict)
    # A check across params (resolved values -> error message or None).
    constraint: Callable[[Params], str | None] | None = None
    aliases: tuple[str, ...] = ()
    # What `actbench activations` prints.
    formula: str
    output_range: str
    derivative: str
    typical_use: str
    # Resolved params -> the module's forward kernel and autograd's backward kernel; None where
    # there is no closed form (learnable parameters: PReLU), which trains through autograd.
    kernels: KernelFactory | None
    # Kaiming gain (He et al. 2015: Var(w) = gain^2 / fan_in keeps the signal's scale) for the
    # hidden layers that feed this activation.
    gain: float | Callable[[Params], float]
    saturation: Saturation | Callable[[Params], Saturation]
    whole_layer: WholeLayer | None = None
    source: Source = "builtin"
    code: str = ""  # source "code": the file or module its function comes from
    short: str = ""  # the name a table label starts with, where not `name` (file.py:f -> f)

    @property
    def elementwise(self) -> bool:
        """Applied to each unit on its own (False: across the units of a layer)."""
        return self.whole_layer is None

    def default_label(self, params: Mapping[str, Any]) -> str:
        """The table label of an entry without one: the name, and the params that differ
        from their defaults (required ones always), 'leaky_relu(negative_slope=0.2)'."""
        changed = {
            key: value
            for key, value in params.items()
            if key in self.params
            and (self.params[key].required or value != self.params[key].default)
        }
        shown = ", ".join(f"{key}={value}" for key, value in changed.items())
        return (self.short or self.name) + (f"({shown})" if shown else "")

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
        missing = [key for key, spec in self.params.items() if spec.required and key not in given]
        if missing:
            raise ActivationError(
                f"activation '{self.name}' needs parameter '{missing[0]}' "
                f"({self.params[missing[0]].kind}); set it with params: {{{missing[0]}: ...}} "
                f"(--param {missing[0]}=VALUE)"
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

    def closed_form(self, params: Mapping[str, Any] | None = None) -> Kernels | None:
        """The forward and backward kernels for these params; None: train through autograd."""
        return None if self.kernels is None else self.kernels(self.resolve_params(params))

    def init_gain(self, params: Mapping[str, Any] | None = None) -> float:
        """The kaiming gain for these params."""
        gain = self.gain
        return float(gain(self.resolve_params(params)) if callable(gain) else gain)

    def saturation_rule(self, params: Mapping[str, Any] | None = None) -> Saturation:
        """How the saturation count reads this activation with these params."""
        rule = self.saturation
        return rule(self.resolve_params(params)) if callable(rule) else rule


# Keyword parameters a signature may have that are never an activation's: in-place writes
# would overwrite the pre-activations the probe and the backward pass read; device and dtype
# are the population's.
NOT_PARAMS = frozenset({"inplace", "device", "dtype"})
_ANNOTATED: dict[str, ParamValue] = {"float": 0.0, "int": 0, "bool": False, "str": ""}


def params_from_signature(function: Callable[..., Any], skip: int) -> dict[str, Param]:
    """The keyword parameters of `function` (after its first `skip` ones) as Params.

    A parameter with a number, true/false or text default becomes a Param with that default;
    one without a default becomes a required Param of its annotated type (float, int, bool,
    str; a number when not annotated). Others (a None or tuple default, *args, **kwargs,
    `inplace`, `device`, `dtype`) cannot be set from a config and keep their default.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature
        return {}
    found: dict[str, Param] = {}
    for parameter in list(signature.parameters.values())[skip:]:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in NOT_PARAMS:
            continue
        default = parameter.default
        annotation = parameter.annotation
        type_name = (
            annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        )
        if default is inspect.Parameter.empty:
            placeholder = _ANNOTATED.get(str(type_name), 0.0)
            found[parameter.name] = Param(
                placeholder, f"required ({type_name or 'number'})", required=True
            )
        elif isinstance(default, bool | int | float | str):
            found[parameter.name] = Param(default, f"default {default!r}")
    return found
