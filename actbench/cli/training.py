"""The commands that train: compare, train, rerun."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from actbench import format as fmt
from actbench.cli import STOP, _state
from actbench.cli.app import app, say, stderr_console, stdout_console
from actbench.cli.options import (
    TABLE,
    AllowCodeOpt,
    AllowDivergedOpt,
    BaselineFileOpt,
    ColumnsOpt,
    ConfigArg,
    DataOpt,
    DeviceOpt,
    EpochsOpt,
    ExecutorKind,
    ExecutorOpt,
    FailOverOpt,
    FailUnderOpt,
    FormatOpt,
    LrOpt,
    MaxRegressionOpt,
    NoSaveOpt,
    OutOpt,
    ParamOpt,
    PrintConfigOpt,
    QuietOpt,
    RayAddressOpt,
    RunFlags,
    SaveModelsOpt,
    SeedsOpt,
    SetOpt,
    ShardsOpt,
    SortOpt,
    SweepOpt,
    TargetOpt,
    ThreadsOpt,
    run_flags,
)
from actbench.config import (
    Config,
    load_config,
    one_activation,
    require_one_activation,
)
from actbench.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ConfigError,
)

if TYPE_CHECKING:
    from actbench.experiment import Executor, Experiment


@dataclass(frozen=True)
class Report:
    """How a trained run is shown and judged, besides the shared RunFlags."""

    per_member: bool = False
    sort: str | None = None
    columns: str | None = None
    baseline: str | None = None


def _executor(flags: RunFlags) -> Executor | None:
    """The executor chosen by --executor (None: this process); Ray's flags without it are a
    usage error."""
    if flags.executor is ExecutorKind.local:
        for flag, value in (("--ray-address", flags.ray_address), ("--shards", flags.shards)):
            if value is not None:
                raise ConfigError(f"{flag} needs --executor ray")
        return None
    from actbench.distributed import make_ray_executor

    return make_ray_executor(flags.ray_address, flags.shards, debug=_state["debug"])


def _train(config: Config, flags: RunFlags, report: Report, name: str) -> int:
    """Run the pipeline, show the result, judge it: the body of compare and train. Returns
    the exit code."""
    from actbench.pipeline import RunRequest, run, stop_on_signals
    from actbench.render import emit
    from actbench.render.columns import select
    from actbench.render.progress import progress_updates
    from actbench.render.results import result_view

    select(report.columns)  # a bad --columns is found before any training
    request = RunRequest(
        config,
        name,
        baseline=report.baseline,
        fail_under=flags.fail_under or (),
        fail_over=flags.fail_over or (),
        baseline_file=flags.baseline_file,
        max_regression=flags.max_regression,
        out=None if flags.no_save else flags.out,
        save_models=flags.save_models,
        executor=_executor(flags),
    )
    stdout = stdout_console()
    stderr = stderr_console()
    show_progress = not flags.quiet and stderr.is_terminal
    with stop_on_signals(stop=STOP) as stop:
        with progress_updates(stderr, show_progress) as on_progress:
            experiment = run(request, on_progress=on_progress, should_stop=stop.is_set)
        if experiment.untrained:
            say(stderr, "interrupted:", "before the first epoch finished; nothing saved", "red")
            return EXIT_INTERRUPTED
        result = experiment.result
        if not flags.quiet:
            for notice in result.notices:
                say(stderr, "note:", notice, "yellow")
        view = result_view(
            result,
            per_member=report.per_member,
            sort=report.sort,
            columns=report.columns,
            notes=not flags.quiet,
        )
        emit(view, flags.fmt.value, stdout)
    return _verdict(experiment, flags, stop.is_set())


def _verdict(experiment: Experiment, flags: RunFlags, stopped: bool) -> int:
    """Say what became of the run (saved, interrupted, diverged, failed, gates) on stderr and
    return its exit code."""
    stderr = stderr_console()
    result, run_dir = experiment.result, experiment.run_dir
    saved = run_dir is not None and experiment.save_error is None
    if saved and not flags.quiet and not (experiment.interrupted or stopped):
        say(stderr, "", f"saved {run_dir}")  # an interrupt's one line says where instead
    if experiment.save_error is not None:
        say(stderr, "error:", experiment.save_error, "red")
    if experiment.interrupted:
        where = f"; partial results in {run_dir}" if saved else ""
        say(stderr, "interrupted:", f"finished epochs kept{where}", "red")
        return EXIT_INTERRUPTED
    if stopped:  # the signal came while saving or printing: the run is complete
        where = f" in {run_dir}" if saved else ""
        say(stderr, "interrupted:", f"after training finished; complete results{where}", "red")
        return EXIT_INTERRUPTED
    code = EXIT_FAILED if experiment.save_error is not None else EXIT_OK
    diverged = [r for r in result.runs if r.status == "diverged"]
    if diverged and not flags.allow_diverged:
        names = ", ".join(
            f"{fmt.member(r.label, r.seed, r.grid)} (epoch {r.epochs + 1})" for r in diverged[:4]
        )
        more = f" and {len(diverged) - 4} more" if len(diverged) > 4 else ""
        say(
            stderr,
            "error:",
            f"{fmt.plural(len(diverged), 'run')} diverged (loss became NaN/inf): {names}{more}; "
            "lower train.lr, or pass --allow-diverged to accept",
            "red",
        )
        code = EXIT_FAILED
    failed = [r for r in result.runs if r.status == "failed"]
    if failed:
        first = failed[0]
        say(
            stderr,
            "error:",
            f"{fmt.plural(len(failed), 'run')} failed; first: "
            f"{fmt.member(first.label, first.seed, first.grid)}: {first.error}",
            "red",
        )
        code = EXIT_FAILED
    if not flags.quiet:
        for note in experiment.gate_notes:
            say(stderr, "note:", note, "yellow")
    for failure in experiment.gate_failures:
        say(stderr, "gate failed:", failure, "red")
    return EXIT_FAILED if experiment.gate_failures else code


def _resolve(config: Path | None, flags: RunFlags, extra: dict[str, Any] | None = None) -> Config:
    """Defaults <- file <- --set <- dedicated flags <- --sweep, validated."""
    return load_config(
        config,
        flags.set_ or (),
        flags={**flags.config_flags(), **(extra or {})},
        sweeps=flags.sweep or (),
    )


def _config_name(config: Path | None, fallback: str) -> str:
    return config.stem if config is not None else fallback


# --- compare ------------------------------------------------------------------------------------

EXAMPLES = "\b\nExamples:\n"


@app.command(
    short_help="Train every activation side by side: one row each.",
    epilog=EXAMPLES + "  actbench compare configs/all.yaml\n"
    "  actbench compare configs/all.yaml --set train.lr=0.3 --sort dead\n"
    "  actbench compare --set activations=[relu,gelu] --seeds 10 --baseline relu\n"
    "  actbench compare configs/dying_relu.yaml --columns +saturated,+ci95\n"
    "  actbench compare --data my.csv --target label\n"
    "  actbench compare configs/smoke.yaml --format json > out.json",
)
def compare(
    config: ConfigArg = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Compare every activation with this label, paired over the same seeds.",
            show_default=False,
        ),
    ] = None,
    sort: SortOpt = None,
    columns: ColumnsOpt = None,
    data: DataOpt = None,
    target: TargetOpt = None,
    set_: SetOpt = None,
    sweep: SweepOpt = None,
    seeds: SeedsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    fmt: FormatOpt = TABLE,
    quiet: QuietOpt = False,
    out: OutOpt = Path("runs"),
    no_save: NoSaveOpt = False,
    print_config: PrintConfigOpt = False,
    save_models: SaveModelsOpt = False,
    allow_diverged: AllowDivergedOpt = False,
    fail_under: FailUnderOpt = None,
    fail_over: FailOverOpt = None,
    baseline_file: BaselineFileOpt = None,
    max_regression: MaxRegressionOpt = None,
    executor: ExecutorOpt = ExecutorKind.local,
    ray_address: RayAddressOpt = None,
    shards: ShardsOpt = None,
) -> None:
    """Train every activation x every seed side by side; one row per activation."""
    options = run_flags(locals())
    cfg = _resolve(config, options)
    if options.print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    report = Report(sort=sort.value if sort else None, columns=columns, baseline=baseline)
    fallback = options.data.stem if options.data is not None else "defaults"
    raise typer.Exit(_train(cfg, options, report, _config_name(config, fallback)))


# --- train --------------------------------------------------------------------------------------


def parse_params(pairs: Sequence[str] | None) -> dict[str, Any]:
    """--param NAME=VALUE pairs; values are YAML (0.2, true, tanh)."""
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
    short_help="Train one activation over its seeds: one row per seed.",
    epilog=EXAMPLES + "  actbench train --act leaky_relu\n"
    "  actbench train --act leaky_relu --param negative_slope=0.2 --seeds 3\n"
    "  actbench train --act relu --sweep train.lr=0.001,0.01,0.1,0.3\n"
    "  actbench train --act tanh --data my.csv --target label\n"
    "  actbench train configs/tutorial.yaml",
)
def train(
    config: ConfigArg = None,
    act: Annotated[
        list[str] | None,  # a list only to say when it is given twice: train takes one
        typer.Option(
            "--act",
            "-a",
            metavar="NAME",
            help="Activation to train (see: actbench activations).",
            show_default=False,
        ),
    ] = None,
    param: ParamOpt = None,
    data: DataOpt = None,
    target: TargetOpt = None,
    set_: SetOpt = None,
    sweep: SweepOpt = None,
    seeds: SeedsOpt = None,
    epochs: EpochsOpt = None,
    lr: LrOpt = None,
    device: DeviceOpt = None,
    threads: ThreadsOpt = None,
    fmt: FormatOpt = TABLE,
    quiet: QuietOpt = False,
    out: OutOpt = Path("runs"),
    no_save: NoSaveOpt = False,
    print_config: PrintConfigOpt = False,
    save_models: SaveModelsOpt = False,
    allow_diverged: AllowDivergedOpt = False,
    fail_under: FailUnderOpt = None,
    fail_over: FailOverOpt = None,
    baseline_file: BaselineFileOpt = None,
    max_regression: MaxRegressionOpt = None,
    executor: ExecutorOpt = ExecutorKind.local,
    ray_address: RayAddressOpt = None,
    shards: ShardsOpt = None,
) -> None:
    """Train one activation over its seeds; one row per seed (per sweep point)."""
    options = run_flags(locals())
    if act is not None and len(act) > 1:
        raise ConfigError(
            f"--act is given {len(act)} times ({', '.join(act)}); train takes one activation: "
            f"compare trains several (actbench compare --set activations=[{','.join(act)}])"
        )
    name_of_act = act[0] if act else None
    cfg = _resolve(config, options, one_activation(name_of_act, parse_params(param)))
    label = require_one_activation(cfg).label
    if options.print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    name = f"{config.stem}-{label}" if config is not None else f"train-{label}"
    raise typer.Exit(_train(cfg, options, Report(per_member=True), name))


# --- rerun --------------------------------------------------------------------------------------


@app.command(
    short_help="Train a saved run again; say whether every number matches.",
    epilog=EXAMPLES + "  actbench rerun 20261123-101500-all-1a2b3c4\n"
    "  actbench rerun runs/20261123-101500-all-1a2b3c4 --no-save",
)
def rerun(
    run: Annotated[str, typer.Argument(help="Run id (or a unique prefix), or a run folder path.")],
    out: OutOpt = Path("runs"),
    no_save: NoSaveOpt = False,
    quiet: QuietOpt = False,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Train a saved run's config again and say whether every number matches (exit 1 if not)."""
    from actbench.activations import (
        saved_activation_names,
        saved_run_code,
        saved_run_problem,
    )
    from actbench.config import config_from_mapping
    from actbench.gates import config_changes, environment_changes, reproduction_differences
    from actbench.pipeline import RunRequest, stop_on_signals
    from actbench.pipeline import run as run_pipeline
    from actbench.runs import load_result, resolve_run
    from actbench.untrusted import confined

    run_dir = resolve_run(run, out)
    saved = load_result(run_dir)
    if saved.status == "interrupted":
        raise ConfigError(
            f"run {run_dir.name} was interrupted: its numbers are partial and cannot be "
            "reproduced; rerun a finished run, or start it again with: "
            f"actbench compare {run_dir / 'config.yaml'}"
        )
    how = f"actbench rerun {run_dir.name} --allow-code"
    problem = saved_run_problem(
        run_dir.name, saved_activation_names(saved), allow_code=allow_code, how=how
    )
    if problem:
        raise ConfigError(problem)
    with saved_run_code(allow_code, how):
        config = load_config(confined(run_dir / "config.yaml", run_dir))
        try:
            recorded = config_from_mapping(saved.config).to_dict()
        except ConfigError:
            recorded = saved.config  # an older version's keys: compared as written
    edited = config_changes(recorded, config.to_dict())
    if edited:
        more = f" (and {len(edited) - 1} more)" if len(edited) > 1 else ""
        raise ConfigError(
            f"{run_dir / 'config.yaml'} was edited after the run: {edited[0]}{more}; a rerun "
            "trains what the run recorded: restore the file, or train the edited config with: "
            f"actbench compare {run_dir / 'config.yaml'}"
        )
    stderr = stderr_console()
    request = RunRequest(
        config,
        f"rerun-{run_dir.name}"[:60],
        out=None if no_save else out,
        same_data_as=saved,
        keep_partial=False,
    )
    with stop_on_signals(stop=STOP) as stop:
        experiment = run_pipeline(request, should_stop=stop.is_set)
    new_dir = experiment.run_dir
    if experiment.interrupted:
        where = f"; partial results in {new_dir}" if new_dir is not None else ""
        say(stderr, "interrupted:", f"the rerun stopped before it finished{where}", "red")
        raise typer.Exit(EXIT_INTERRUPTED)
    if experiment.save_error is not None:
        say(stderr, "error:", experiment.save_error, "red")
    elif new_dir is not None and not quiet:
        say(stderr, "", f"saved {new_dir}")
    failed_save = EXIT_FAILED if experiment.save_error is not None else EXIT_OK
    differences = reproduction_differences(saved, experiment.result)
    total = fmt.plural(len(saved.runs), "run")
    if not differences:
        one = len(saved.runs) == 1
        which, verb = (f"the {total}", "matches") if one else (f"all {total}", "match")
        _print(f"reproduced: {which} of {run_dir.name} {verb} exactly")
        raise typer.Exit(failed_save)
    _print(f"NOT reproduced: {len(differences)} of {total} differ from {run_dir.name}")
    for line in differences[:20]:
        _print(f"  {line}")
    if len(differences) > 20:
        _print(f"  ... and {len(differences) - 20} more")
    changes = environment_changes(saved, experiment.result)
    if not quiet:
        for change in changes or ["versions, device and threads are the same as then"]:
            say(stderr, "note:", change, "yellow")
    raise typer.Exit(EXIT_FAILED)


def _print(line: str) -> None:
    """A line of rerun's verdict on stdout: it quotes labels and folder names from the run."""
    print(fmt.printable(line))
