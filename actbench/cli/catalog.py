"""The commands that describe activations: activations, show."""

from __future__ import annotations

import math
from typing import Annotated

import typer

from actbench import activations as registry
from actbench.cli.app import app, stdout_console
from actbench.cli.options import TABLE, FormatOpt, ParamOpt
from actbench.cli.training import EXAMPLES, parse_params
from actbench.errors import ConfigError
from actbench.render import emit

DEFAULT_INPUTS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
MAX_INPUTS = 10_000  # show prints one row per input: more is not a table anyone reads


@app.command(
    "activations",
    short_help="The activations: formula, range, derivative, use.",
    epilog=EXAMPLES + "  actbench activations\n  actbench activations --format md > acts.md\n"
    "  actbench activations --torch\n"
    "  actbench activations torch.nn.CELU examples/squareplus.py:squareplus",
)
def list_activations(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[NAMES]",
            show_default=False,
            help="Describe these (any number): built-in names, torch.nn.<Class>, "
            "module:function or file.py:function (runs that code). Default: the built-ins.",
        ),
    ] = None,
    torch_classes: Annotated[
        bool, typer.Option("--torch", help="List torch.nn's activation classes too.")
    ] = False,
    fmt: FormatOpt = TABLE,
) -> None:
    """List every activation: formula, output range, derivative, parameters, typical use."""
    from actbench.render.catalog import activations_view

    asked = list(names or []) or [*registry.names(), *registry.registered_names()]
    if torch_classes:
        asked += registry.torch_names()
    specs = [registry.get(name) for name in dict.fromkeys(asked)]
    emit(activations_view(specs, more=not names), fmt.value, stdout_console())


@app.command(
    short_help="f(x) and f'(x) of one activation at given inputs.",
    context_settings={"ignore_unknown_options": True},
    epilog=EXAMPLES + "  actbench show tanh --x 1 2 3\n"
    "  actbench show leaky_relu --param negative_slope=0.2 --x 1 -2 3 -5\n"
    "  actbench show softmax --x 1 2 3 --format json\n"
    "  actbench show torch.nn.CELU --param alpha=0.5",
)
def show(
    name: Annotated[
        str,
        typer.Argument(
            help="Activation name or alias, torch.nn.<Class>, module:function or file.py:function."
        ),
    ],
    values: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[X]...", show_default=False, help="Inputs (after --x); default -3..3."
        ),
    ] = None,
    x: Annotated[bool, typer.Option("--x", help="The inputs follow: --x 1 -2 3.")] = False,
    param: ParamOpt = None,
    fmt: FormatOpt = TABLE,
) -> None:
    """Print f(x) and f'(x) (by autograd) of one activation, like the tutorials do."""
    spec = registry.get(name)
    params = spec.resolve_params(parse_params(param))
    xs = _inputs(values)
    import torch

    from actbench.render.catalog import show_view

    module = spec.build(params)
    inputs = torch.tensor(xs, dtype=torch.float32)
    with torch.no_grad():
        ys = module(inputs)
    # f'(x_i) for elementwise f; for a whole-layer f (softmax) df_i/dx_i, the Jacobian's
    # diagonal its spec declares, without building the n x n Jacobian.
    slopes = registry.derivative(module, spec, inputs)
    view = show_view(spec.name, params, xs, ys.tolist(), slopes.tolist())
    emit(view, fmt.value, stdout_console())


def inputs_last(args: list[str]) -> list[str]:
    """`show relu --x 1 -inf -2e3 --format json`: the numbers after --x move behind a `--`,
    where click takes them as values: `-inf` would otherwise read as the options -i -n -f."""
    if "--x" not in args or "--" in args:
        return args
    start = args.index("--x") + 1
    stop = start
    while stop < len(args) and _is_number(args[stop]):
        stop += 1
    return [*args[:start], *args[stop:], "--", *args[start:stop]]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _inputs(values: list[str] | None) -> list[float]:
    if not values:
        return list(DEFAULT_INPUTS)
    if len(values) > MAX_INPUTS:
        raise ConfigError(f"show takes at most {MAX_INPUTS} inputs (got {len(values)})")
    xs = []
    for text in values:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(
                f"input '{text}' is not a number (give numbers after --x, e.g. --x 1 -2 3)"
            ) from None
        if not math.isfinite(number) or abs(number) > 3.4e38:
            raise ConfigError(f"input '{text}' is not a finite float32 number")
        xs.append(number)
    return xs
