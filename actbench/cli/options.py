"""Options declared once and shared by commands.

Each shared option is one `Annotated` alias here. `compare` and `train` take the same ~20
options (the fields of `RunFlags`): each lists them as ordinary parameters, in `RunFlags`'s
order, and hands them to `run_flags`, which gathers them into one `RunFlags`. Adding a shared
option is one alias and one field here, and one parameter in each of those commands (a test
checks that the three agree).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from actbench.config import shortcuts
from actbench.render import FORMATS, columns

# The output formats are render's (`FORMATS`); the CLI offers exactly those.
OutputFormat = Enum("OutputFormat", {name: name for name in FORMATS}, type=str)  # type: ignore[misc]
TABLE = OutputFormat("table")  # the default: the format for people
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
AllowCodeOpt = Annotated[
    bool,
    typer.Option(
        "--allow-code",
        help="Run the code a saved run's activations name (module:function, file.py:function); "
        "without it a saved run runs no code.",
    ),
]

# --- the options of every command that trains (RunFlags), in the order --help lists them ---

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data",
        metavar="FILE",
        help="Train on your own data: a .csv, .tsv, .txt, .npz or .parquet file (data.kind "
        "file; the path is relative to the working directory).",
        show_default=False,
    ),
]
TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        metavar="COL",
        help="The label column of --data: its name or 0-based index (-1: the last).",
        show_default=False,
    ),
]

SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Override a config key, e.g. train.lr=0.3 or model.hidden=[3,3] (repeatable).",
    ),
]
SweepOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sweep",
        metavar="KEY=V1,V2",
        help="Sweep a config key, e.g. train.lr=0.001,0.01 or model.hidden=[50],[3,3] "
        "(repeatable: the grid is the cross product).",
    ),
]
SeedsOpt = Annotated[
    int | None, typer.Option("--seeds", help="Number of seeds (0..N-1).", show_default=False)
]
EpochsOpt = Annotated[
    int | None, typer.Option("--epochs", help="Training epochs.", show_default=False)
]
LrOpt = Annotated[float | None, typer.Option("--lr", help="Learning rate.", show_default=False)]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.", show_default=False)
]
ThreadsOpt = Annotated[
    str | None,
    typer.Option(
        "--threads",
        metavar="N|auto",
        help="CPU threads to train with; auto (the default) picks from the work per step "
        "and how busy the machine is.",
        show_default=False,
    ),
]
PrintConfigOpt = Annotated[
    bool, typer.Option("--print-config", help="Print the resolved config as YAML and exit.")
]
SaveModelsOpt = Annotated[
    bool, typer.Option("--save-models", help="Also save every member as a SimpleNN state_dict.")
]
AllowDivergedOpt = Annotated[
    bool, typer.Option("--allow-diverged", help="Exit 0 even if some runs diverged.")
]
FailUnderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-under",
        metavar="[LABEL:]KEY=VALUE",
        help="Exit 1 if a summary value is below VALUE, e.g. test_accuracy_mean=0.8 "
        "or relu:test_accuracy_mean=0.85 (repeatable; accuracies are fractions).",
    ),
]
FailOverOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-over",
        metavar="[LABEL:]KEY=VALUE",
        help="Exit 1 if a summary value is above VALUE, e.g. relu:dead_neurons_mean=1 "
        "(repeatable).",
    ),
]
BaselineFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--baseline-file",
        help="An earlier results.json (or run folder): exit 1 if test accuracy fell more "
        "than --max-regression below it.",
        show_default=False,
    ),
]
MaxRegressionOpt = Annotated[
    float | None,
    typer.Option(
        "--max-regression",
        help="Allowed drop in test_accuracy_mean below --baseline-file (a fraction, e.g. 0.02; "
        "default 0).",
        show_default=False,
    ),
]
ExecutorOpt = Annotated[
    ExecutorKind,
    typer.Option(
        "--executor",
        help="local: train in this process; ray: one Ray task per shard of the members "
        "(pip install 'actbench[ray]').",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="auto|ray://HOST:PORT",
        help="Join a running Ray cluster (default: start a local Ray instance for the run).",
        show_default=False,
    ),
]
ShardsOpt = Annotated[
    int | None,
    typer.Option(
        "--shards",
        min=1,
        help="About this many Ray tasks, each of whole activations (default: one per "
        "activation and population).",
        show_default=False,
    ),
]


@dataclass(frozen=True)
class RunFlags:
    """The options of every command that trains (compare, train), as given."""

    data: Path | None
    target: str | None
    set_: list[str] | None
    sweep: list[str] | None
    seeds: int | None
    epochs: int | None
    lr: float | None
    device: str | None
    threads: str | None
    fmt: OutputFormat
    quiet: bool
    out: Path
    no_save: bool
    print_config: bool
    save_models: bool
    allow_diverged: bool
    fail_under: list[str] | None
    fail_over: list[str] | None
    baseline_file: Path | None
    max_regression: float | None
    executor: ExecutorKind
    ray_address: str | None
    shards: int | None

    def config_flags(self) -> dict[str, Any]:
        """The dedicated flags as dotted config keys (None: not given)."""
        data = {}
        if self.data is not None:
            data = {"data.kind": "file", "data.path": os.path.abspath(self.data)}
        return {
            **data,
            "data.target": self.target,
            **shortcuts(
                seeds=self.seeds,
                epochs=self.epochs,
                lr=self.lr,
                device=self.device,
                threads=count_or_word(self.threads) if self.threads is not None else None,
            ),
        }


def run_flags(arguments: Mapping[str, Any]) -> RunFlags:
    """The shared options among a command's arguments (its `locals()`), as one RunFlags."""
    return RunFlags(**{field.name: arguments[field.name] for field in fields(RunFlags)})


def count_or_word(value: str) -> int | str:
    """'4' -> 4 (a thread count), 'auto' stays a word (so does '²': isdigit() takes it, int()
    does not, and the config's check names it)."""
    return int(value) if value.isascii() and value.isdigit() else value
