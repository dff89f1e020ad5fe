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
from actbench.cli import _state
from actbench.cli.app import app, say, stderr_console, stdout_console
from actbench.cli.options import (
    TABLE,
    AllowDivergedOpt,
    BaselineFileOpt,
    ColumnsOpt,
    ConfigArg,
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
    ThreadsOpt,
    run_flags,
)
from actbench.config import Config, check_baseline_label, load_config
from actbench.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    ActbenchError,
    ConfigError,
)

if TYPE_CHECKING:
    from actbench.experiment import Executor, Experiment
    from actbench.gates import Threshold
    from actbench.runs import RunResult


@dataclass(frozen=True)
class Report:
    """How a trained run is shown and judged, besides the shared RunFlags."""

    per_member: bool = False
    sort: str | None = None
    columns: str | None = None
    baseline: str | None = None


def _executor(flags: RunFlags) -> Executor:
    """The executor chosen by --executor; Ray's flags without it are a usage error."""
    from actbench.experiment import run_locally

    if flags.executor is ExecutorKind.local:
        for flag, value in (("--ray-address", flags.ray_address), ("--shards", flags.shards)):
            if value is not None:
                raise ConfigError(f"{flag} needs --executor ray")
        return run_locally
    from actbench.distributed import make_ray_executor

    return make_ray_executor(flags.ray_address, flags.shards, debug=_state["debug"])


def _thresholds(config: Config, flags: RunFlags, report: Report) -> list[Threshold]:
    """--fail-under and --fail-over, checked against this run's labels (before training)."""
    from actbench.gates import check_threshold_labels, parse_fail_over, parse_threshold

    thresholds = [parse_threshold(text) for text in flags.fail_under or ()]
    thresholds += [parse_fail_over(text) for text in flags.fail_over or ()]
    check_threshold_labels(thresholds, [entry.label for entry in config.activations])
    check_baseline_label(config, report.baseline)
    return thresholds


def _train(config: Config, flags: RunFlags, report: Report, name: str) -> int:
    """Train, save, show, judge: the body of compare and train. Returns the exit code."""
    from actbench.experiment import discard_run_dir, preflight, prepare_run_dir
    from actbench.gates import check_baseline, check_max_regression, load_baseline
    from actbench.render.columns import select
    from actbench.runs import new_run_id

    # Everything the user typed is checked before any training.
    thresholds = _thresholds(config, flags, report)
    select(report.columns)
    check_max_regression(flags.max_regression)
    reference = load_baseline(flags.baseline_file) if flags.baseline_file else None
    if reference is not None:
        check_baseline(config, reference)
    executor = _executor(flags)
    # The run folder exists (and is writable) before training, so a finished run is not lost
    # to an unusable --out.
    if flags.executor is ExecutorKind.local:
        preflight(config)  # device and memory: refused before a run folder exists
    run_dir = None
    new_root = not flags.out.exists()
    if not flags.no_save:
        run_dir = prepare_run_dir(flags.out, new_run_id(name, config.to_dict()), config)
    try:
        return _train_in(config, flags, report, name, run_dir, executor, thresholds, reference)
    except ActbenchError:
        if run_dir is not None:
            discard_run_dir(run_dir, flags.out if new_root else None)
        raise


def _train_in(
    config: Config,
    flags: RunFlags,
    report: Report,
    name: str,
    run_dir: Path | None,
    executor: Executor,
    thresholds: list[Threshold],
    reference: RunResult | None,
) -> int:
    from actbench.experiment import keeps_models, run_experiment, stop_on_signals
    from actbench.gates import check_all
    from actbench.render import emit
    from actbench.render.progress import progress_updates
    from actbench.render.results import result_view

    stdout = stdout_console()
    stderr = stderr_console()
    show_progress = not flags.quiet and stderr.is_terminal

    def train(**callbacks: Any) -> Experiment:
        return run_experiment(
            config,
            name,
            run_id=run_dir.name if run_dir else "",
            baseline=report.baseline,
            keep_models=flags.save_models or keeps_models(config),
            executor=executor,
            **callbacks,
        )

    with stop_on_signals() as stop:
        with progress_updates(stderr, show_progress) as on_progress:
            experiment = train(on_progress=on_progress, should_stop=stop.is_set)
        result = experiment.result
        if not flags.quiet:
            for notice in result.notices:
                say(stderr, "note:", notice, "yellow")
        save_error = _save(experiment, flags.out, run_dir)
        result = experiment.result
        view = result_view(
            result,
            per_member=report.per_member,
            sort=report.sort,
            columns=report.columns,
            notes=not flags.quiet,
        )
        emit(view, flags.fmt.value, stdout)

    saved = run_dir is not None and save_error is None
    if saved and not flags.quiet:
        say(stderr, "", f"saved {run_dir}")
    if save_error is not None:
        say(stderr, "error:", save_error, "red")
    if experiment.interrupted:
        where = f"; partial results in {run_dir}" if saved else ""
        say(stderr, "interrupted:", f"finished epochs kept{where}", "red")
        return EXIT_INTERRUPTED
    if stop.is_set():  # the signal came while saving or printing: the run is complete
        where = f" in {run_dir}" if saved else ""
        say(stderr, "interrupted:", f"after training finished; complete results{where}", "red")
        return EXIT_INTERRUPTED
    code = EXIT_FAILED if save_error is not None else EXIT_OK
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
    failures, notes = check_all(result, thresholds, reference, flags.max_regression)
    if not flags.quiet:
        for note in notes:
            say(stderr, "note:", note, "yellow")
    for failure in failures:
        say(stderr, "gate failed:", failure, "red")
    return EXIT_FAILED if failures else code


def _save(experiment: Experiment, root: Path, run_dir: Path | None) -> str | None:
    """Write the run into its folder; a failure is returned as one line (the results are
    still printed), never raised."""
    from actbench.experiment import save_experiment

    if run_dir is None:
        return None
    try:
        save_experiment(experiment, root, run_dir)
    except (OSError, ActbenchError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return (
            f"could not write the run folder {run_dir}: {reason}; the results are printed "
            "above and the files written so far are in that folder"
        )
    return None


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
    max_regression: MaxRegressionOpt = 0.0,
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
    raise typer.Exit(_train(cfg, options, report, _config_name(config, "defaults")))


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
    "  actbench train configs/tutorial.yaml",
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
    param: ParamOpt = None,
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
    max_regression: MaxRegressionOpt = 0.0,
    executor: ExecutorOpt = ExecutorKind.local,
    ray_address: RayAddressOpt = None,
    shards: ShardsOpt = None,
) -> None:
    """Train one activation over its seeds; one row per seed (per sweep point)."""
    options = run_flags(locals())
    params = parse_params(param)
    if params and act is None:
        raise ConfigError("--param needs --act NAME")
    extra = {"activations": [{"name": act, "params": params}]} if act is not None else {}
    cfg = _resolve(config, options, extra)
    if len(cfg.activations) != 1:
        raise ConfigError(
            f"train runs one activation but the config lists {len(cfg.activations)}; "
            "pass --act NAME (or use: actbench compare)"
        )
    if options.print_config:
        sys.stdout.write(cfg.to_yaml())
        return
    label = cfg.activations[0].label
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
) -> None:
    """Train a saved run's config again and say whether every number matches (exit 1 if not)."""
    from actbench.experiment import (
        prepare_run_dir,
        run_experiment,
        save_experiment,
        stop_on_signals,
    )
    from actbench.gates import environment_changes, reproduction_differences
    from actbench.runs import load_result, new_run_id, resolve_run

    run_dir = resolve_run(run, out)
    saved = load_result(run_dir)
    if saved.status == "interrupted":
        raise ConfigError(
            f"run {run_dir.name} was interrupted: its numbers are partial and cannot be "
            "reproduced; rerun a finished run, or start it again with: "
            f"actbench compare {run_dir / 'config.yaml'}"
        )
    config = load_config(run_dir / "config.yaml")
    stderr = stderr_console()
    name = f"rerun-{run_dir.name}"[:60]
    new_dir = None if no_save else prepare_run_dir(out, new_run_id(name, config.to_dict()), config)
    with stop_on_signals() as stop:
        experiment = run_experiment(
            config, name, run_id=new_dir.name if new_dir else "", should_stop=stop.is_set
        )
        if experiment.interrupted:
            say(stderr, "interrupted:", "the rerun stopped before it finished", "red")
            raise typer.Exit(EXIT_INTERRUPTED)
        if new_dir is not None:
            save_experiment(experiment, out, new_dir)
            if not quiet:
                say(stderr, "", f"saved {new_dir}")
    differences = reproduction_differences(saved, experiment.result)
    total = fmt.plural(len(saved.runs), "run")
    if not differences:
        one = len(saved.runs) == 1
        which, verb = (f"the {total}", "matches") if one else (f"all {total}", "match")
        print(f"reproduced: {which} of {run_dir.name} {verb} exactly")
        return
    print(f"NOT reproduced: {len(differences)} of {total} differ from {run_dir.name}")
    for line in differences[:20]:
        print(f"  {line}")
    if len(differences) > 20:
        print(f"  ... and {len(differences) - 20} more")
    changes = environment_changes(saved, experiment.result)
    if not quiet:
        for change in changes or ["versions, device and threads are the same as then"]:
            say(stderr, "note:", change, "yellow")
    raise typer.Exit(EXIT_FAILED)
