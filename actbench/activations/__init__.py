"""The one registry of activation functions: name -> spec (`ActivationSpec`).

An entry carries everything a consumer reads: factory, params, text, kernels, init gain,
saturation rule, whole-layer behaviour (`spec.py` says what each is; `builtin.py` holds the
built-in entries). Importing this package does not import torch: `actbench activations` must
be instant. Factories and kernels import torch when a module is actually built.

Besides the built-ins, `get` takes `torch.nn.<Class>` (`torch_nn.py`), code the user names,
`module:function` or `file.py:function`, and names registered with `register` (`user.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from actbench.activations import torch_nn, user
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
    Source,
    WholeLayer,
    float32_problem,
)
from actbench.activations.user import (
    Described,
    is_code_reference,
    refusing_code,
    saved_run_code,
)
from actbench.errors import ActivationError, unknown

if TYPE_CHECKING:
    from torch import Tensor, nn

    from actbench.runs import RunResult

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
    "Described",
    "Saturation",
    "Source",
    "WholeLayer",
    "build",
    "derivative",
    "float32_problem",
    "get",
    "is_code_reference",
    "max_abs_derivative",
    "names",
    "refusing_code",
    "saved_activation_names",
    "saved_run_code",
    "register",
    "registered_names",
    "saved_run_problem",
    "torch_names",
    "unregister",
]

REGISTRY: dict[str, ActivationSpec] = {spec.name: spec for spec in BUILTINS}
_ALIASES: dict[str, str] = {alias: spec.name for spec in BUILTINS for alias in spec.aliases}


OTHER_NAMES = "torch.nn.<Class>, module:function or file.py:function"


def names() -> list[str]:
    """The built-in names, in registry order."""
    return list(REGISTRY)


def registered_names() -> list[str]:
    """Names registered in this process (`register`), in the order they were registered."""
    return list(user.REGISTERED)


def torch_names() -> list[str]:
    """Every torch.nn activation class actbench takes, as 'torch.nn.<Class>' (imports torch)."""
    return [torch_nn.PREFIX + name for name in torch_nn.class_names()]


def get(name: str) -> ActivationSpec:
    """The spec for a built-in name or alias (case-insensitive), a registered name,
    `torch.nn.<Class>`, or code: `module:function`, `file.py:function` (loaded the first time
    it is named). Unknown names raise ActivationError."""
    if not isinstance(name, str):
        raise ActivationError(f"an activation name is text (got {type(name).__name__})")
    if is_code_reference(name):
        return user.code_spec(name)
    if torch_nn.is_torch_name(name):
        return torch_nn.torch_spec(torch_nn.canonical(name))
    key = user.key_of(name)
    key = _ALIASES.get(key, key)
    if key in REGISTRY:
        return REGISTRY[key]
    if key in user.REGISTERED:
        return user.REGISTERED[key]
    message = unknown(
        "activation", key, [*REGISTRY, *user.REGISTERED], also_matches=_ALIASES, shown=name
    )
    raise ActivationError(f"{message}; or {OTHER_NAMES}")


def register(
    name: str,
    function: Any,
    *,
    formula: str | None = None,
    output_range: str | None = None,
    derivative: str | None = None,
    typical_use: str | None = None,
    gain: float | Callable[[Params], float] = 1.0,
    saturation: Saturation | Callable[[Params], Saturation] = "derivative",
) -> ActivationSpec:
    """Make `function` (of a tensor; its keyword arguments are params) or an nn.Module class
    an activation named `name` in this process. See user.register."""
    taken = {spec.name: "a built-in activation" for spec in BUILTINS}
    taken.update({alias: f"an alias of '{target}'" for alias, target in _ALIASES.items()})
    described = Described(formula, output_range, derivative, typical_use)
    return user.register(
        name, function, taken, described=described, gain=gain, saturation=saturation
    )


def unregister(name: str) -> None:
    """Forget a registered name (nothing if it is not registered)."""
    user.REGISTERED.pop(user.key_of(name), None)


def saved_activation_names(result: RunResult) -> list[str]:
    """Every activation name a saved run uses: its members' and its config's."""
    entries = result.config.get("activations", [])
    listed = [e.get("name") if isinstance(e, dict) else e for e in entries]
    names = [record.activation for record in result.runs]
    return list(dict.fromkeys([*names, *(n for n in listed if isinstance(n, str))]))


def saved_run_problem(run: str, names: Iterable[str], *, allow_code: bool, how: str) -> str | None:
    """Why a saved run's activations cannot be used here, in one line, or None: code it names
    that this process has not loaded (unless `allow_code`; `how` says how to allow it), and
    names that are neither built in, torch.nn classes, code nor registered here."""
    code, missing = [], []
    for name in dict.fromkeys(names):
        if is_code_reference(name):
            if not allow_code and not user.is_loaded(name):
                code.append(f"{name} (runs {user.code_of(name)})")
            continue
        key = user.key_of(name)
        if torch_nn.is_torch_name(name) or _ALIASES.get(key, key) in REGISTRY:
            continue
        if key not in user.REGISTERED:
            missing.append(f"'{name}'")
    parts = []
    if code:
        parts.append(
            f"run {run} trains code: {', '.join(code)}; actbench runs a saved run's code only "
            f"when you ask: {how}"
        )
    if missing:
        parts.append(
            f"run {run} uses {', '.join(missing)}, not built in: registered with "
            "actbench.register_activation where it was trained? Register "
            + ("it" if len(missing) == 1 else "them")
            + " again in Python, then load the run there"
        )
    return "; ".join(parts) or None


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
