"""Your own activations: `module.path:function`, `path/to/file.py:function`, and functions
registered in Python (`actbench.register_activation`).

A function of a tensor (`def squareplus(x, b=4.0)`) or an `nn.Module` class becomes an entry:
its keyword parameters are the entry's params (from its signature), it trains through autograd
(no closed-form kernels), its derivative comes from autograd, its kaiming gain is 1 unless
given, and a unit counts as saturated where |f'| < 1% of its largest |f'|.

Code runs only when the user names it. A saved run never runs code of its own accord: while
`refusing_code(...)` is active (`load`, `rerun`, `report` without permission), naming code
that this process has not loaded yet is an error that says how to allow it.

Every entry is checked once per set of params before anything trains (`check_module`): it
must keep its input's shape and dtype, give finite values and derivatives on [-10, 10], leave
its input alone and act on each unit on its own. A call that raises during training becomes
one ActivationError line naming the activation.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actbench.activations.spec import (
    SATURATION_RULES,
    ActivationSpec,
    Param,
    Params,
    Saturation,
    Source,
    params_from_signature,
)
from actbench.errors import ActivationError, brief, unknown

if TYPE_CHECKING:
    from torch import nn

# Inputs every entry is checked on: where a new network's pre-activations lie, 0 included.
CHECK_LOW, CHECK_HIGH = -10.0, 10.0
CHECK_SHAPE = (2, 8, 15)  # [members, samples, units], as a population applies it

_REFUSING: ContextVar[str | None] = ContextVar("actbench_refusing_code", default=None)


# --- the module a user function trains as --------------------------------------------------------


def user_module(
    name: str, function: Callable[..., Any] | None, inner: nn.Module | None, params: Params
) -> nn.Module:
    """The module `function(x, **params)` (or `inner`) trains as (see modules.UserActivation)."""
    from actbench.activations.modules import UserActivation

    return UserActivation(name, function, inner, dict(params))


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


# --- making an entry from a function or class ---------------------------------------------------


@dataclass(frozen=True)
class Described:
    """What `actbench activations` says of a user entry (each None: a default)."""

    formula: str | None = None
    output_range: str | None = None
    derivative: str | None = None
    typical_use: str | None = None


def user_spec(
    name: str,
    target: Any,
    *,
    source: Source,
    code: str = "",
    short: str = "",
    described: Described = Described(),
    gain: float | Callable[[Params], float] = 1.0,
    saturation: Saturation | Callable[[Params], Saturation] = "derivative",
) -> ActivationSpec:
    """The entry of a function of a tensor or an nn.Module class (`target`)."""
    from torch import nn

    if isinstance(target, type):
        if not issubclass(target, nn.Module):
            raise ActivationError(
                f"activation '{name}': {target.__name__} is a class but not an nn.Module; "
                "give a function of a tensor or an nn.Module class"
            )
        cls = target

        def factory(**params: Any) -> nn.Module:
            return user_module(name, None, cls(**params), params)

        params = params_from_signature(cls.__init__, skip=1)
        what = cls.__name__
    elif callable(target):
        function = target

        def factory(**params: Any) -> nn.Module:
            return user_module(name, function, None, params)

        params = params_from_signature(function, skip=1)
        what = getattr(function, "__name__", "function")
    else:
        raise ActivationError(
            f"activation '{name}' is a {type(target).__name__}, not a function "
            "of a tensor or an nn.Module class"
        )
    doc = doc_line(target)
    checked: dict[tuple[tuple[str, Any], ...], str | None] = {}

    def constraint(resolved: Params) -> str | None:
        key = tuple(sorted(resolved.items()))
        if key not in checked:
            checked[key] = check_module(factory, resolved)
        return checked[key]

    return ActivationSpec(
        name=name,
        factory=factory,
        params=params,
        constraint=constraint,
        formula=described.formula or doc or f"{what}(x)",
        output_range=described.output_range or measured_range(factory, params),
        derivative=described.derivative or "by autograd",
        typical_use=described.typical_use
        or ("your function" if source == "registered" else f"from {code}"),
        kernels=None,
        gain=gain,
        saturation=saturation,
        source=source,
        code=code,
        short=short,
    )


def doc_line(target: Any) -> str:
    """The first line of a function's or class's docstring ('' without one)."""
    return (getattr(target, "__doc__", None) or "").strip().split("\n")[0].strip()


def measured_range(
    factory: Callable[..., nn.Module], params: Mapping[str, Param], unknown: str = "unknown"
) -> str:
    """'[-0.375, 10] on [-10, 10]', read off a grid with the default params (in eval mode, as
    the check applies it: a random activation, RReLU, is then fixed); `unknown` where the
    module cannot be made or applied to a 1-D tensor (the check says what is wrong)."""
    if any(param.required for param in params.values()):
        return "depends on its parameters"
    import torch

    try:
        module = factory(**{key: param.default for key, param in params.items()}).eval()
        with torch.no_grad():
            values = module(torch.linspace(CHECK_LOW, CHECK_HIGH, 4001))
    except Exception:
        return unknown
    return f"[{float(values.min()):.4g}, {float(values.max()):.4g}] on [-10, 10]"


def check_module(factory: Callable[..., nn.Module], params: Params) -> str | None:
    """What is wrong with the activation these params make, in one phrase; None if nothing.

    It is applied as a population applies it: to a float32 [members, samples, units] tensor
    of pre-activations on [-10, 10].
    """
    import torch

    try:
        module = factory(**params).eval()  # eval: a random activation (RReLU) is then fixed
    except ActivationError:
        raise
    except Exception as exc:
        return f"making it raised {type(exc).__name__}: {first_line(exc)}"
    z = torch.linspace(CHECK_LOW, CHECK_HIGH, 239, dtype=torch.float32)
    z = torch.cat([z, torch.zeros(1)]).view(CHECK_SHAPE)
    given = z.clone()
    try:
        with torch.no_grad():
            out = module(given)
    except ActivationError as exc:
        cause = exc.__cause__
        if cause is not None:
            return f"it raised {type(cause).__name__}: {first_line(cause)}"
        return "it " + str(exc).split("' ", 1)[-1]  # "returned shape [2, 8] for ..."
    if not torch.equal(given, z):
        return "it changes its input in place; return a new tensor"
    if out.dtype != z.dtype:
        return f"it returns {out.dtype} for a {z.dtype} input; keep the input's dtype"
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        at = float(z[bad][0])
        return (
            f"it returns {float(out[bad][0])} at x = {at:g}; it must be finite on [-10, 10], "
            "where a new network's pre-activations lie"
        )
    with torch.no_grad():
        flat = module(z.reshape(-1)).view(CHECK_SHAPE)
    if not torch.allclose(flat, out, rtol=1e-5, atol=1e-6):
        return (
            "it is not elementwise: applied to a [2, 8, 15] tensor it differs from applied to "
            "its values one by one; actbench applies an activation to each unit on its own"
        )
    leaf = z.clone().requires_grad_(True)
    with torch.enable_grad():
        value = module(leaf)
        if not value.requires_grad:
            return _not_differentiable()
        (grad,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)
    if grad is None:
        return _not_differentiable()
    bad = ~torch.isfinite(grad)
    if bool(bad.any()):
        return (
            f"its derivative (by autograd) is {float(grad[bad][0])} at x = {float(z[bad][0]):g}; "
            "training needs a finite derivative on [-10, 10]"
        )
    try:  # the figures and the saturation threshold read it in float64
        with torch.no_grad():
            wide = module.double()(z.double())
    except ActivationError as exc:
        cause = exc.__cause__
        why = f"{type(cause).__name__}: {first_line(cause)}" if cause else str(exc)
        return f"it fails on float64 input ({why}); actbench draws and probes it in float64"
    if wide.dtype != torch.float64:
        return f"it returns {wide.dtype} for a float64 input; keep the input's dtype"
    return None


def _not_differentiable() -> str:
    return (
        "autograd cannot differentiate it (does it leave torch, with .numpy(), .item() or "
        "math functions?); actbench trains it through autograd"
    )


# --- code the user names: module:function, file.py:function --------------------------------------

_LOADED: dict[str, tuple[ActivationSpec, float | None]] = {}  # name -> (spec, file mtime)


def is_code_reference(name: str) -> bool:
    """'pkg.module:function' or 'path/to/file.py:function'."""
    return ":" in name.strip()


def split_reference(name: str) -> tuple[str, str, bool]:
    """(module or file, attribute path, is a file) of a code reference."""
    where, _, attribute = name.strip().rpartition(":")
    if not where or not attribute:
        raise ActivationError(
            f"activation '{name}': a code reference is module:function or file.py:function"
        )
    is_file = where.endswith(".py") or "/" in where or os.sep in where
    return where, attribute, is_file


def code_of(name: str) -> str:
    """What naming `name` runs: 'the file sq.py' or 'the module mypkg.acts'."""
    where, _, is_file = split_reference(name)
    return f"the file {where}" if is_file else f"the module {where}"


def is_loaded(name: str) -> bool:
    """A code reference this process has loaded (and, for a file, that has not changed)."""
    found = _LOADED.get(name.strip())
    return found is not None and found[1] == _mtime(name)


@contextlib.contextmanager
def refusing_code(how_to_allow: str) -> Iterator[None]:
    """While the block runs, code not loaded yet is not run: naming it is an error that ends
    with `how_to_allow` ('pass --allow-code')."""
    token = _REFUSING.set(how_to_allow)
    try:
        yield
    finally:
        _REFUSING.reset(token)


def saved_run_code(allow: bool, how: str) -> contextlib.AbstractContextManager[None]:
    """While a saved run is read: its code runs only if `allow` (else naming code not loaded
    yet is an error that says `how` to allow it)."""
    return contextlib.nullcontext() if allow else refusing_code(how)


def code_spec(name: str) -> ActivationSpec:
    """The entry of a code reference, loading the code the first time (or when its file
    changed)."""
    key = name.strip()
    mtime = _mtime(key)
    found = _LOADED.get(key)
    if found is not None and found[1] == mtime:
        return found[0]
    refusing = _REFUSING.get()
    if refusing is not None:
        raise ActivationError(
            f"activation '{key}' runs {code_of(key)}; actbench runs a saved run's code only "
            f"when you ask: {refusing}"
        )
    where, attribute, is_file = split_reference(key)
    module = _load_file(key, where) if is_file else _import(key, where)
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            names = [
                n for n in dir(target) if not n.startswith("_") and callable(getattr(target, n))
            ]
            raise ActivationError(
                unknown("function", part, names, where=f" in {code_of(key)} (activation '{key}')")
            )
        target = getattr(target, part)
    spec = user_spec(key, target, source="code", code=where, short=attribute.split(".")[-1])
    _LOADED[key] = (spec, mtime)
    return spec


def _mtime(name: str) -> float | None:
    where, _, is_file = split_reference(name)
    if not is_file:
        return None
    try:
        return Path(where).stat().st_mtime
    except OSError:
        return None


def _import(name: str, module_name: str) -> Any:
    if not re.fullmatch(r"[A-Za-z_][\w.]*", module_name):
        raise ActivationError(f"activation '{name}': '{module_name}' is not a module name")
    # Like `python -m` and uvicorn: a module in the current folder can be named.
    added = os.getcwd() not in sys.path
    if added:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise ActivationError(
            f"activation '{name}': importing {module_name} raised {type(exc).__name__}: "
            f"{first_line(exc)}"
        ) from None
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(os.getcwd())


def _load_file(name: str, file_name: str) -> Any:
    path = Path(file_name)
    if not path.is_file():
        raise ActivationError(
            f"activation '{name}': no file '{file_name}' (a path from the current folder, "
            f"{os.getcwd()})"
        )
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    module_name = f"actbench_user_{stem}_{digest}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise ActivationError(f"activation '{name}': cannot load '{file_name}' as Python")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module  # dataclasses and pickle look a module up by name
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        line = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        raise ActivationError(
            f"activation '{name}': running {file_name} raised {type(exc).__name__}{line}: "
            f"{first_line(exc)}"
        ) from None
    return module


# --- registered in Python -------------------------------------------------------------------------

REGISTERED: dict[str, ActivationSpec] = {}
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")


def key_of(name: str) -> str:
    """How an activation name is looked up: case, outer spaces and - or _ do not matter."""
    return name.strip().lower().replace("-", "_")


def register(
    name: str,
    function: Any,
    taken: Mapping[str, str],
    *,
    described: Described = Described(),
    gain: float | Callable[[Params], float] = 1.0,
    saturation: Saturation | Callable[[Params], Saturation] = "derivative",
) -> ActivationSpec:
    """Register `function` (of a tensor) or an nn.Module class as activation `name`, checked
    at once with its default params. `taken`: names that are not free (built-ins, aliases ->
    what they are). Registering a name again replaces it (a notebook cell run twice)."""
    if not isinstance(name, str):
        raise ActivationError(f"an activation name is text (got {brief(name)})")
    key = key_of(name)
    if key in taken:
        raise ActivationError(f"'{name}' is {taken[key]}; register yours under another name")
    if not NAME_PATTERN.fullmatch(key):
        raise ActivationError(
            f"activation name '{name}' must be a letter, then letters, digits or _ "
            "(module:function and torch.nn.X name code and classes directly)"
        )
    if saturation not in SATURATION_RULES and not callable(saturation):
        raise ActivationError(
            f"saturation must be derivative, never or always (got {brief(saturation)})"
        )
    if not callable(gain) and (
        isinstance(gain, bool) or not isinstance(gain, int | float) or not gain > 0
    ):
        raise ActivationError(f"gain must be a positive number (got {brief(gain)})")
    spec = user_spec(
        key, function, source="registered", described=described, gain=gain, saturation=saturation
    )
    if not any(param.required for param in spec.params.values()):
        spec.resolve_params({})  # runs the check: a broken function fails here, not in training
    REGISTERED[key] = spec
    return spec
