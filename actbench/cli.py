"""The actbench command line. Parses options, calls `experiment`, renders with `report`.

Every ActbenchError (and every usage error) becomes one line on stderr and an exit code here,
and nowhere else. torch is imported only by the commands that need it.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.text import Text

from actbench import __version__
from actbench import activations as registry
from actbench.config import Config, load_config
from actbench.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ActbenchError,
    ConfigError,
    RunFolderError,
    unknown,
)

if TYPE_CHECKING:
    from actbench.experiment import Executor

EPILOG_COMPARE = """Examples:

  actbench compare configs/all.yaml

  actbench compare configs/all.yaml --set train.lr=0.3 --sort dead

  actbench compare configs/smoke.yaml --format json > out.json

  actbench compare configs/dying_relu.yaml --executor ray --ray-address auto
"""


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    md = "md"


class SortKey(str, Enum):
    activation = "activation"
    train_loss = "train_loss"
    test_loss = "test_loss"
    test_acc = "test_acc"
    dead = "dead"
    dead_init = "dead_init"
    dormant = "dormant"


class ExecutorKind(str, Enum):
    local = "local"
    ray = "ray"


def _click_exceptions() -> Any:
    """The click exception classes typer raises: its bundled copy (typer >= 0.20) or click."""
    try:
        from typer._click import exceptions
    except ImportError:  # older typer depends on click itself
        from click import exceptions  # type: ignore[no-redef]
    return exceptions


app = typer.Typer(
    name="actbench",
    help="Compare activation functions: train the same small network with each one, side by "
    "side, and see loss, accuracy and dead neurons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"actbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks on errors.")
    ] = False,
) -> None:
    _state["debug"] = _state["debug"] or debug


# --- shared options -----------------------------------------------------------------------------

ConfigArg = Annotated[
    Path | None,
    typer.Argument(
        help="YAML config file; without one the built-in defaults are used.", show_default=False
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
        help="Sweep a config key, e.g. train.lr=0.001,0.01,0.1 or model.hidden=[50],[3,3] "
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
FormatOpt = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table on a terminal; json/csv/md for pipes.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or notices.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder that holds the run folders.")]
NoSaveOpt = Annotated[bool, typer.Option("--no-save", help="Do not write a run folder.")]
PrintConfigOpt = Annotated[
    bool, typer.Option("--print-config", help="Print the resolved config as YAML and exit.")
]
SaveModelsOpt = Annotated[
    bool, typer.Option("--save-models", help="Save every member as a SimpleNN state_dict.")
]
AllowDivergedOpt = Annotated[
    bool, typer.Option("--allow-diverged", help="Exit 0 even if some runs diverged.")
]
SortOpt = Annotated[
    SortKey | None, typer.Option("--sort", help="Sort rows, best first.", show_default=False)
]
FailUnderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fail-under",
        metavar="[LABEL:]KEY=VALUE",
        help="Exit 1 if a summary value is below VALUE, e.g. test_accuracy_mean=0.8 or "
        "relu:test_accuracy_mean=0.85 (repeatable).",
    ),
]
BaselineFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--baseline-file",
        help="An earlier results.json (or run folder): exit 1 if test accuracy fell more than "
        "--max-regression below it.",
        show_default=False,
    ),
]
MaxRegressionOpt = Annotated[
    float,
    typer.Option("--max-regression", help="Allowed drop in test_accuracy_mean (a fraction)."),
]
ExecutorOpt = Annotated[
    ExecutorKind,
    typer.Option(
        "--executor",
        help="local: train in this process; ray: split the members into shards, one Ray task "
        "each (pip install 'actbench\\[ray]').",
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
        help="About this many Ray tasks, each whole activations (default: one per activation "
        "and population).",
        show_default=False,
    ),
]


def _resolve_config(
    path: Path | None,
    sets: Sequence[str] | None,
    flags: dict[str, Any],
    sweeps: Sequence[str] | None = None,
) -> Config:
    """Defaults <- file <- --set <- dedicated flags <- --sweep, then validate."""
    return load_config(path, sets or (), flags=flags, sweeps=sweeps or ())


@contextmanager
def _graceful_stop() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM ask training to stop at the next step; a second Ctrl-C aborts at once."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass(frozen=True)
class RunOptions:
    """What `compare` and `train` do around the training itself."""

    fmt: OutputFormat = OutputFormat.table
    sort: SortKey | None = None
    quiet: bool = False
    out: Path = Path("runs")
    no_save: bool = False
    save_models: bool = False
    allow_diverged: bool = False
    per_member: bool = False
    baseline: str | None = None
    fail_under: tuple[str, ...] = ()
    baseline_file: Path | None = None
    max_regression: float = 0.0
    executor: ExecutorKind = ExecutorKind.local
    ray_address: str | None = None
    shards: int | None = None


def _executor(options: RunOptions) -> Executor:
    """The executor chosen by --executor; Ray's flags without it are a usage error."""
    from actbench.experiment import run_locally

    if options.executor is ExecutorKind.local:
        for flag, value in (("--ray-address", options.ray_address), ("--shards", options.shards)):
            if value is not None:
                raise ConfigError(f"{flag} needs --executor ray")
        return run_locally
    from actbench.distributed import make_ray_executor

    return make_ray_executor(options.ray_address, options.shards)


def _train_and_report(config: Config, config_name: str, options: RunOptions) -> int:
    from actbench.experiment import ProgressEvent, run_experiment, save_experiment
    from actbench.gates import check_all, load_baseline, parse_threshold
    from actbench.report import progress_bar, render_result

    # Every gate is checked for typos before any training.
    thresholds = [parse_threshold(text) for text in options.fail_under]
    labels = [entry.label for entry in config.activations]
    for threshold in thresholds:
        if threshold.label is not None and threshold.label not in labels:
            raise ConfigError(unknown("--fail-under label", threshold.label, labels))
    if options.baseline is not None and options.baseline not in labels:
        raise ConfigError(unknown("--baseline label", options.baseline, labels))
    if options.max_regression < 0:
        raise ConfigError(f"--max-regression must be >= 0 (got {options.max_regression:g})")
    reference = load_baseline(options.baseline_file) if options.baseline_file else None
    executor = _executor(options)

    stdout = Console()
    stderr = _stderr()
    show_progress = not options.quiet and stdout.is_terminal and stderr.is_terminal
    run = partial(
        run_experiment,
        config,
        config_name,
        baseline=options.baseline,
        keep_models=options.save_models,
        executor=executor,
    )
    with _graceful_stop() as stop:
        if show_progress:
            with progress_bar(stderr) as bar:
                task = bar.add_task("training", total=None, status="preparing", unit="")

                def on_progress(event: ProgressEvent) -> None:
                    bar.update(
                        task,
                        completed=event.done,
                        total=event.total,
                        status=event.description,
                        unit=event.unit,
                    )

                experiment = run(on_progress=on_progress, should_stop=stop.is_set)
        else:
            experiment = run(should_stop=stop.is_set)

    result = experiment.result
    if not options.quiet:
        for notice in result.notices:
            _say(stderr, "note:", notice, "yellow")
    saved = None if options.no_save else save_experiment(experiment, options.out)
    result = experiment.result
    render_result(
        result,
        options.fmt.value,
        stdout,
        per_member=options.per_member,
        sort=options.sort.value if options.sort else None,
    )
    if saved is not None and not options.quiet:
        _say(stderr, "", f"saved {saved}")

    if experiment.interrupted:
        where = f"; partial results in {saved}" if saved else ""
        _say(stderr, "interrupted:", f"finished work kept{where}", "red")
        return EXIT_INTERRUPTED
    code = EXIT_OK
    diverged = [r for r in result.runs if r.status == "diverged"]
    if diverged and not options.allow_diverged:
        names = ", ".join(f"{r.label} seed {r.seed} (epoch {r.epochs + 1})" for r in diverged[:4])
        more = f" and {len(diverged) - 4} more" if len(diverged) > 4 else ""
        _say(
            stderr,
            "error:",
            f"{len(diverged)} run(s) diverged (loss became NaN/inf): {names}{more}; "
            "lower train.lr, or pass --allow-diverged to accept",
            "red",
        )
        code = EXIT_FAILED
    failed = [r for r in result.runs if r.status == "failed"]
    if failed:
        first = failed[0]
        _say(
            stderr,
            "error:",
            f"{len(failed)} run(s) failed; first: {first.label} seed {first.seed}: {first.error}",
            "red",
        )
        code = EXIT_FAILED
    failures, notes = check_all(result, thresholds, reference, options.max_regression)
    if not options.quiet:
        for note in notes:
            _say(stderr, "note:", note, "yellow")
    for failure in failures:
        _say(stderr, "gate failed:", failure, "red")
    if failures:
        code = EXIT_FAILED
    return code


# --- commands -----------------------------------------------------------------------------------


@app.command(epilog=EPILOG_COMPARE)
def compare(
    config: ConfigArg = None,
    set_: SetOpt = None,
    sweep: SweepOpt = None,
    seeds: SeedsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    device: DeviceOpt = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Compare every activation with this label, paired over the same seeds.",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOpt = OutputFormat.table,
    sort: SortOpt = None,
    quiet: QuietOpt = False,
    out: OutOpt = Path("runs"),
    no_save: NoSaveOpt = False,
    print_config: PrintConfigOpt = False,
    save_models: SaveModelsOpt = False,
    allow_diverged: AllowDivergedOpt = False,
    fail_under: FailUnderOpt = None,
    baseline_file: BaselineFileOpt = None,
    max_regression: MaxRegressionOpt = 0.0,
    executor: ExecutorOpt = ExecutorKind.local,
    ray_address: RayAddressOpt = None,
    shards: ShardsOpt = None,
) -> None:
    """Train every activation x every seed side by side; print one row per activation."""
    cfg = _resolve_config(
        config,
        set_,
        {"train.seeds": seeds, "train.epochs": epochs, "train.lr": lr, "train.device": device},
        sweep,
    )
    if print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    options = RunOptions(
        fmt=fmt,
        sort=sort,
        quiet=quiet,
        out=out,
        no_save=no_save,
        save_models=save_models,
        allow_diverged=allow_diverged,
        baseline=baseline,
        fail_under=tuple(fail_under or ()),
        baseline_file=baseline_file,
        max_regression=max_regression,
        executor=executor,
        ray_address=ray_address,
        shards=shards,
    )
    name = config.stem if config is not None else "defaults"
    raise typer.Exit(_train_and_report(cfg, name, options))


def _parse_params(pairs: Sequence[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for text in pairs or []:
        key, sep, raw = text.partition("=")
        if not sep or not key.strip() or not raw.strip():
            raise ConfigError(f"--param expects NAME=VALUE, like negative_slope=0.2 (got '{text}')")
        try:
            params[key.strip()] = yaml.safe_load(raw)
        except Exception:  # PyYAML constructors raise ValueError & co.
            raise ConfigError(f"--param {key}: cannot read value '{raw}'") from None
    return params


@app.command(
    epilog="Examples:\n\n  actbench train --act leaky_relu\n\n"
    "  actbench train --act leaky_relu --param negative_slope=0.2 --seeds 3\n\n"
    "  actbench train --act relu --sweep train.lr=0.001,0.01,0.1,0.3\n\n"
    "  actbench train configs/tutorial.yaml"
)
def train(
    config: ConfigArg = None,
    act: Annotated[
        str | None,
        typer.Option(
            "--act",
            "-a",
            help="Activation to train (see: actbench activations).",
            show_default=False,
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", metavar="NAME=VALUE", help="Activation parameter (repeatable)."
        ),
    ] = None,
    set_: SetOpt = None,
    sweep: SweepOpt = None,
    seeds: SeedsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    device: DeviceOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    quiet: QuietOpt = False,
    out: OutOpt = Path("runs"),
    no_save: NoSaveOpt = False,
    print_config: PrintConfigOpt = False,
    save_models: SaveModelsOpt = False,
    allow_diverged: AllowDivergedOpt = False,
    fail_under: FailUnderOpt = None,
    baseline_file: BaselineFileOpt = None,
    max_regression: MaxRegressionOpt = 0.0,
    executor: ExecutorOpt = ExecutorKind.local,
    ray_address: RayAddressOpt = None,
    shards: ShardsOpt = None,
) -> None:
    """Train one activation over its seeds; print one row per seed."""
    params = _parse_params(param)
    if params and act is None:
        raise ConfigError("--param needs --act NAME")
    flags: dict[str, Any] = {
        "train.seeds": seeds,
        "train.epochs": epochs,
        "train.lr": lr,
        "train.device": device,
    }
    if act is not None:
        flags["activations"] = [{"name": act, "params": params}]
    cfg = _resolve_config(config, set_, flags, sweep)
    if len(cfg.activations) != 1:
        raise ConfigError(
            f"train runs one activation but the config lists {len(cfg.activations)}; "
            "pass --act NAME (or use: actbench compare)"
        )
    if print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    label = cfg.activations[0].label
    name = f"{config.stem}-{label}" if config is not None else f"train-{label}"
    options = RunOptions(
        fmt=fmt,
        quiet=quiet,
        out=out,
        no_save=no_save,
        save_models=save_models,
        allow_diverged=allow_diverged,
        # a sweep makes one row per grid point: the comparison table reads better
        per_member=not cfg.sweep,
        fail_under=tuple(fail_under or ()),
        baseline_file=baseline_file,
        max_regression=max_regression,
        executor=executor,
        ray_address=ray_address,
        shards=shards,
    )
    raise typer.Exit(_train_and_report(cfg, name, options))


@app.command("activations")
def list_activations(fmt: FormatOpt = OutputFormat.table) -> None:
    """List every activation: formula, output range, derivative, parameters, typical use."""
    from actbench.report import activation_records, activations_table, to_csv, to_markdown

    specs = [registry.get(name) for name in registry.names()]
    records = activation_records(specs)
    if fmt is OutputFormat.table:
        Console().print(activations_table(specs))
    elif fmt is OutputFormat.json:
        sys.stdout.write(_json(records))
    elif fmt is OutputFormat.csv:
        sys.stdout.write(
            to_csv(
                {**r, "aliases": " ".join(r["aliases"]), "params": json.dumps(r["params"])}
                for r in records
            )
        )
    else:
        sys.stdout.write(
            to_markdown(
                ["name", "formula", "range", "derivative", "typical use"],
                [
                    [r["name"], r["formula"], r["range"], r["derivative"], r["typical_use"]]
                    for r in records
                ],
            )
        )


def _json(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


@app.command(
    context_settings={"ignore_unknown_options": True},
    epilog="Examples:\n\n  actbench show tanh --x 1 2 3\n\n"
    "  actbench show leaky_relu --param negative_slope=0.2 --x 1 -2 3 -5\n\n"
    "  actbench show softmax --x 1 2 3 --format json",
)
def show(
    name: Annotated[str, typer.Argument(help="Activation name or alias.")],
    values: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[X]...", show_default=False, help="Inputs (after --x); default -3..3."
        ),
    ] = None,
    x: Annotated[bool, typer.Option("--x", help="The inputs follow: --x 1 -2 3.")] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", "-p", metavar="NAME=VALUE", help="Activation parameter (repeatable)."
        ),
    ] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Print f(x) and f'(x) (by autograd) of one activation, like the tutorials do."""
    import torch

    from actbench.report import show_table, to_csv, to_markdown

    spec = registry.get(name)
    params = spec.resolve_params(_parse_params(param))
    try:
        xs = [float(v) for v in values] if values else [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    except ValueError:
        bad = next(v for v in values or [] if not _is_number(v))
        raise ConfigError(
            f"input '{bad}' is not a number (give numbers after --x, e.g. --x 1 -2 3)"
        ) from None
    module = spec.build(params)
    inputs = torch.tensor(xs, dtype=torch.float32)
    ys = module(inputs).detach()
    # The diagonal of the Jacobian: f'(x_i) for elementwise f, df_i/dx_i for softmax.
    jacobian = torch.autograd.functional.jacobian(module, inputs)
    dys = torch.diagonal(jacobian)
    record = {
        "activation": spec.name,
        "params": params,
        "x": xs,
        "y": ys.tolist(),
        "dy": dys.tolist(),
    }
    if fmt is OutputFormat.table:
        Console().print(show_table(spec.name, params, xs, record["y"], record["dy"]))
    elif fmt is OutputFormat.json:
        sys.stdout.write(_json(record))
    elif fmt is OutputFormat.csv:
        sys.stdout.write(
            to_csv(
                {"x": a, "y": b, "dy": c}
                for a, b, c in zip(xs, record["y"], record["dy"], strict=True)
            )
        )
    else:
        sys.stdout.write(
            to_markdown(
                ["x", "f(x)", "f'(x)"],
                [
                    [f"{a:g}", f"{b:.4f}", f"{c:.4f}"]
                    for a, b, c in zip(xs, record["y"], record["dy"], strict=True)
                ],
            )
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@app.command("runs")
def list_runs_command(out: OutOpt = Path("runs"), fmt: FormatOpt = OutputFormat.table) -> None:
    """List saved runs, newest first (broken folders are reported and skipped)."""
    from actbench.report import runs_records, runs_table, to_csv
    from actbench.runs import list_runs

    listing = list_runs(out)
    stderr = _stderr()
    for path, reason in listing.broken:
        _say(stderr, "skipped", f"{path}: {reason}", "yellow")
    if fmt is OutputFormat.table:
        if not listing.complete:
            _say(stderr, "", f"no runs in '{out}' yet; start one with: actbench compare")
            return
        Console().print(runs_table(listing.complete))
    elif fmt is OutputFormat.json:
        sys.stdout.write(_json(runs_records(listing.complete)))
    else:
        sys.stdout.write(to_csv(runs_records(listing.complete)))


@app.command(
    epilog="Examples:\n\n  actbench report 20261123-101500-dying_relu-1a2b3c4\n\n"
    "  actbench report runs/20261123-101500-dying_relu-1a2b3c4 --markdown\n\n"
    "  actbench report 2026 --format json --no-plots   (a unique prefix of the id)"
)
def report(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix), or a run folder path.")],
    out: OutOpt = Path("runs"),
    fmt: FormatOpt = OutputFormat.table,
    sort: SortOpt = None,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Write PNG figures into the run folder.")
    ] = True,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown", help="Also write report.md (table and figures) into the run folder."
        ),
    ] = False,
) -> None:
    """Re-render a saved run without retraining; write its figures."""
    from actbench.report import render_result, summary_markdown
    from actbench.runs import load_result, resolve_run, write_atomic

    run_dir = resolve_run(run, out)
    result = load_result(run_dir)
    per_member = len({r.label for r in result.runs}) == 1 and not any(r.grid for r in result.runs)
    render_result(
        result, fmt.value, Console(), per_member=per_member, sort=sort.value if sort else None
    )
    stderr = _stderr()
    figures: list[Path] = []
    try:
        if plots or markdown:
            from actbench.plots import report_markdown, write_figures

            figures = write_figures(result, run_dir)
        if markdown:
            page = report_markdown(
                result, figures, summary_markdown(result, sort.value if sort else None)
            )
            write_atomic(run_dir / "report.md", page)
            figures.append(run_dir / "report.md")
    except OSError as exc:
        raise RunFolderError(f"cannot write into '{run_dir}': {exc.strerror or exc}") from None
    for path in figures:
        _say(stderr, "", f"wrote {path}")


@app.command(
    epilog="Examples:\n\n  actbench rerun 20261123-101500-all-1a2b3c4\n\n"
    "  actbench rerun runs/20261123-101500-all-1a2b3c4 --no-save"
)
def rerun(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix), or a run folder path.")],
    out: OutOpt = Path("runs"),
    no_save: NoSaveOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train a saved run's config again and say whether every number matches (exit 1 if not)."""
    from actbench.config import load_config
    from actbench.experiment import run_experiment, save_experiment
    from actbench.gates import environment_changes, reproduction_differences
    from actbench.runs import load_result, resolve_run

    run_dir = resolve_run(run, out)
    saved = load_result(run_dir)
    config = load_config(run_dir / "config.yaml")
    stderr = _stderr()
    with _graceful_stop() as stop:
        experiment = run_experiment(config, f"rerun-{run_dir.name}"[:60], should_stop=stop.is_set)
    if experiment.interrupted:
        _say(stderr, "interrupted", "", "red")
        raise typer.Exit(EXIT_INTERRUPTED)
    if not no_save:
        _say(stderr, "", f"saved {save_experiment(experiment, out)}")
    differences = reproduction_differences(saved, experiment.result)
    if not differences:
        print(f"reproduced: all {len(saved.runs)} runs of {run_dir.name} match exactly")
        return
    print(
        f"NOT reproduced: {len(differences)} of {len(saved.runs)} runs differ from {run_dir.name}"
    )
    for line in differences[:20]:
        print(f"  {line}")
    if len(differences) > 20:
        print(f"  ... and {len(differences) - 20} more")
    changes = environment_changes(saved, experiment.result)
    if not quiet:
        for change in changes or ["versions, device and threads are the same as then"]:
            _say(stderr, "note:", change, "yellow")
    raise typer.Exit(EXIT_FAILED)


@app.command(
    epilog="Examples:\n\n  actbench bench\n\n  actbench bench --device cuda --format json\n\n"
    "  actbench bench --n-samples 1000000 --ways population --epochs 2"
)
def bench(
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N or auto.")] = "cpu",
    n_samples: Annotated[int, typer.Option("--n-samples", help="Samples before the split.")] = 1000,
    hidden: Annotated[
        str, typer.Option("--hidden", help="Hidden widths, comma-separated: 50 or 16,16.")
    ] = "50",
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs per model.")] = 200,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per activation.")] = 5,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Minibatch size.")] = 64,
    activations: Annotated[
        str, typer.Option("--activations", help="Comma-separated activation names.")
    ] = ",".join(("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")),
    ways: Annotated[
        str,
        typer.Option("--ways", help="Comma-separated: population, per_run, sklearn."),
    ] = "population,per_run,sklearn",
    health: Annotated[
        bool, typer.Option("--health", help="Also time the population with neuron health on.")
    ] = False,
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat", min=1, help="Time the short ways (population, sklearn) this often; median."
        ),
    ] = 3,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Time the population engine against a plain per-run loop and sklearn, same members."""
    from actbench.bench import WAYS, BenchSettings, run_bench
    from actbench.report import bench_tables

    chosen = tuple(w.strip() for w in ways.split(",") if w.strip())
    for way in chosen:
        if way not in WAYS:
            raise ConfigError(unknown("--ways value", way, WAYS))
    try:
        widths = tuple(int(w) for w in hidden.split(","))
    except ValueError:
        raise ConfigError(
            f"--hidden expects comma-separated integers, like 50 or 16,16 (got '{hidden}')"
        ) from None
    settings = BenchSettings(
        n_samples=n_samples,
        hidden=widths,
        epochs=epochs,
        seeds=seeds,
        batch_size=batch_size,
        activations=tuple(a.strip() for a in activations.split(",") if a.strip()),
        device=device,
        ways=chosen,
        health=health,
        repeat=repeat,
    )
    stderr = _stderr()
    result = run_bench(settings, on_way=lambda way: _say(stderr, "", f"training: {way}")).to_dict()
    if fmt is OutputFormat.json:
        sys.stdout.write(_json(result))
    else:
        Console().print(bench_tables(result))


# --- entry point --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry: run the app, map errors to one stderr line and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    _state["debug"] = "--debug" in args  # accepted anywhere on the line, not only first
    if _state["debug"]:
        args.remove("--debug")
    errors = _click_exceptions()
    stderr = _stderr()
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="actbench", standalone_mode=False)
    except ActbenchError as exc:
        if _state["debug"]:
            traceback.print_exc()
        _say(stderr, "error:", str(exc), "red")
        code = exc.exit_code
    except errors.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "")
        code = EXIT_OK
    except errors.UsageError as exc:
        if _state["debug"]:
            traceback.print_exc()
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        _say(stderr, "error:", f"{exc.format_message()}{hint}", "red")
        code = EXIT_USAGE
    except (KeyboardInterrupt, typer.Abort):
        _say(stderr, "interrupted", "", "red")
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # `actbench ... | head`: the reader left; that is not an error of ours.
        sys.stderr.close()
        code = EXIT_OK
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _stderr() -> Console:
    """Messages for people: one line each (no wrapping), no automatic highlighting."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _say(console: Console, tag: str, message: str, style: str = "") -> None:
    """'<tag> <message>' on stderr; the message is text, never markup ('[lr=0.1]' stays)."""
    if not tag:
        console.print(Text(message, style="dim"))
        return
    line = Text(tag, style=style)
    if message:
        line.append(" " + message)
    console.print(line)


if __name__ == "__main__":
    main()
