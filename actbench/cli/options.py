"""Options declared once and shared by commands.

`compare` and `train` take the same ~20 options. They are the fields of `RunFlags`; the
`with_options` decorator adds them to a command's signature (so Typer sees them) and hands the
command one `RunFlags` instance. Adding a shared option is one field here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from actbench.config import shortcuts
from actbench.render import columns


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


SortKey = Enum("SortKey", {key: key for key in columns.SORT_KEYS}, type=str)  # type: ignore[misc]


class ExecutorKind(str, Enum):
    local = "local"
    ray = "ray"


ConfigArg = Annotated[
    Path | None,
    typer.Argument(
        help="YAML config file; without one the built-in defaults are used.", show_default=False
    ),
]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option("--format", "-f", help="table for people; json, csv or md for pipes."),
]


def _folder(text: str) -> Path:
    if not str(text).strip():
        raise typer.BadParameter("needs a folder (got an empty string)")
    return Path(text)


OutOpt = Annotated[
    Path,
    typer.Option("--out", parser=_folder, metavar="DIR", help="Folder that holds the run folders."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, notes or notices.")]
NoSaveOpt = Annotated[bool, typer.Option("--no-save", help="Do not write a run folder.")]
SortOpt = Annotated[
    SortKey | None,
    typer.Option(
        "--sort",
        metavar="COL",
        help="Sort rows by this column, best first: " + ", ".join(columns.SORT_KEYS) + ".",
        show_default=False,
    ),
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        metavar="COLS",
        help="Table columns: +saturated,+ci95 adds to the default ones, -dead_init drops one, "
        "a plain list replaces them. Names: as for --sort.",
        show_default=False,
    ),
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="NAME=VALUE", help="Activation parameter (repeatable)."),
]


@dataclass(frozen=True)
class RunFlags:
    """The options of every command that trains (compare, train)."""

    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            help="Override a config key, e.g. train.lr=0.3 or model.hidden=[3,3] (repeatable).",
        ),
    ] = None
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            metavar="KEY=V1,V2",
            help="Sweep a config key, e.g. train.lr=0.001,0.01 or model.hidden=[50],[3,3] "
            "(repeatable: the grid is the cross product).",
        ),
    ] = None
    seeds: Annotated[
        int | None, typer.Option("--seeds", help="Number of seeds (0..N-1).", show_default=False)
    ] = None
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Training epochs.", show_default=False)
    ] = None
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.", show_default=False)] = (
        None
    )
    device: Annotated[
        str | None,
        typer.Option("--device", help="auto, cpu, cuda or cuda:N.", show_default=False),
    ] = None
    threads: Annotated[
        str | None,
        typer.Option(
            "--threads",
            metavar="N|auto",
            help="CPU threads to train with; auto (the default) picks from the work per step "
            "and how busy the machine is.",
            show_default=False,
        ),
    ] = None
    fmt: FormatOpt = OutputFormat.table
    quiet: QuietOpt = False
    out: OutOpt = Path("runs")
    no_save: NoSaveOpt = False
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved config as YAML and exit.")
    ] = False
    save_models: Annotated[
        bool,
        typer.Option("--save-models", help="Also save every member as a SimpleNN state_dict."),
    ] = False
    allow_diverged: Annotated[
        bool, typer.Option("--allow-diverged", help="Exit 0 even if some runs diverged.")
    ] = False
    fail_under: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-under",
            metavar="[LABEL:]KEY=VALUE",
            help="Exit 1 if a summary value is below VALUE, e.g. test_accuracy_mean=0.8 "
            "or relu:test_accuracy_mean=0.85 (repeatable; accuracies are fractions).",
        ),
    ] = None
    fail_over: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-over",
            metavar="[LABEL:]KEY=VALUE",
            help="Exit 1 if a summary value is above VALUE, e.g. relu:dead_neurons_mean=1 "
            "(repeatable).",
        ),
    ] = None
    baseline_file: Annotated[
        Path | None,
        typer.Option(
            "--baseline-file",
            help="An earlier results.json (or run folder): exit 1 if test accuracy fell more "
            "than --max-regression below it.",
            show_default=False,
        ),
    ] = None
    max_regression: Annotated[
        float,
        typer.Option(
            "--max-regression", help="Allowed drop in test_accuracy_mean (a fraction, e.g. 0.02)."
        ),
    ] = 0.0
    executor: Annotated[
        ExecutorKind,
        typer.Option(
            "--executor",
            help="local: train in this process; ray: one Ray task per shard of the members "
            "(pip install 'actbench[ray]').",
        ),
    ] = ExecutorKind.local
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="auto|ray://HOST:PORT",
            help="Join a running Ray cluster (default: start a local Ray instance for the run).",
            show_default=False,
        ),
    ] = None
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            min=1,
            help="About this many Ray tasks, each of whole activations (default: one per "
            "activation and population).",
            show_default=False,
        ),
    ] = None

    def config_flags(self) -> dict[str, Any]:
        """The dedicated flags as dotted config keys (None: not given)."""
        return shortcuts(
            seeds=self.seeds,
            epochs=self.epochs,
            lr=self.lr,
            device=self.device,
            threads=_count_or_word(self.threads),
        )


def _count_or_word(value: str | None) -> int | str | None:
    """'4' -> 4 (a thread count), 'auto' stays a word."""
    return int(value) if value is not None and value.isdigit() else value


Command = TypeVar("Command", bound=Callable[..., Any])


def with_options(options_type: type[Any]) -> Callable[[Command], Command]:
    """Add the fields of the dataclass `options_type` to a command as options; the command
    receives them as one instance in its `options` parameter."""
    hints = get_type_hints(options_type, include_extras=True)
    shared = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=field.default,
            annotation=hints[field.name],
        )
        for field in fields(options_type)
    ]
    names = {parameter.name for parameter in shared}

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)
        kept = [p for name, p in own.parameters.items() if name != "options"]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            return command(**kwargs, options=options_type(**values))

        # Typer reads the signature: the command's own parameters first, then the shared ones
        parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept] + shared
        setattr(wrapper, "__signature__", own.replace(parameters=parameters))  # noqa: B010
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
        del wrapper.__wrapped__
        return wrapper  # type: ignore[return-value]

    return decorate
