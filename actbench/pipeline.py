"""The one run pipeline: request -> validate -> run folder -> train -> save -> notes -> gates.

`compare`, `train` and `rerun` on the command line and `actbench.compare` / `actbench.train` in
Python all call `run` and differ only in what they do with the outcome: the CLI prints it and
turns it into an exit code, the API returns a `Result`. Every check of a request runs once, in
`validate`, before anything is written or trained.
"""

from __future__ import annotations

import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from actbench.config import Config, check_baseline_label, config_from_mapping, grid_points
from actbench.data import check, check_unchanged, is_planar
from actbench.data.arrays import STORED_FILE, check_storable, kept, store
from actbench.errors import ActbenchError, ConfigError, RunFolderError
from actbench.experiment import (
    Executor,
    Experiment,
    ProgressEvent,
    preflight,
    run_experiment,
)
from actbench.gates import (
    Threshold,
    check_all,
    check_baseline,
    check_max_regression,
    check_threshold_labels,
    load_baseline,
    parse_fail_over,
    parse_threshold,
)
from actbench.notes import run_notes
from actbench.runs import (
    DataFingerprint,
    GateVerdict,
    RunResult,
    new_run_id,
    reserve_run_dir,
    save_run,
    write_atomic,
)


@dataclass(frozen=True)
class RunRequest:
    """One run: its resolved config and everything to check, save and judge around it."""

    config: Config
    name: str  # the config's name, for the run id
    baseline: str | None = None  # compare every label with this one, paired over seeds
    fail_under: Sequence[str] = ()  # [LABEL:]KEY=VALUE lower bounds (CI gates)
    fail_over: Sequence[str] = ()  # upper bounds
    baseline_file: Path | None = None  # an earlier results.json (or run folder) to compare with
    max_regression: float | None = None  # allowed drop below baseline_file (None: 0)
    out: Path | None = None  # the folder of run folders; None: write nothing
    save_models: bool = False  # save every member's weights in the run folder
    keep_models: bool = False  # keep every member's weights in memory (the Python API)
    executor: Executor | None = None  # None: train in this process
    same_data_as: RunResult | None = None  # rerun: a saved run whose data files must not change
    # a save that fails after training leaves the files written so far (compare: the user may
    # want history.csv); False removes the run folder instead (rerun: a half folder would be
    # listed as a broken run, and the verdict is printed anyway)
    keep_partial: bool = True


@dataclass(frozen=True)
class _Checked:
    """What validation parsed and loaded: the gates to apply after training."""

    thresholds: list[Threshold]
    reference: RunResult | None


def validate(request: RunRequest) -> _Checked:
    """Every check of the request, before anything is written or trained."""
    config = request.config
    thresholds = [parse_threshold(text) for text in request.fail_under]
    thresholds += [parse_fail_over(text) for text in request.fail_over]
    check_threshold_labels(thresholds, [entry.label for entry in config.activations])
    check_baseline_label(config, request.baseline)
    if request.max_regression is not None:
        check_max_regression(request.max_regression)
        if request.baseline_file is None:
            raise ConfigError(
                "--max-regression needs --baseline-file: without a baseline there is nothing "
                "to regress from, and the gate would pass without checking anything"
            )
    reference = None
    if request.baseline_file is not None:
        reference = load_baseline(request.baseline_file)
        check_baseline(config, reference)
    if request.save_models and request.out is None:
        raise ConfigError(
            "--save-models needs a run folder to save into: drop --no-save "
            "(in Python: save_models=True needs save=True)"
        )
    if request.same_data_as is not None:
        for fingerprint in request.same_data_as.data:
            check_unchanged(fingerprint, request.same_data_as.run_id)
    if request.executor is None:
        preflight(config)  # the device exists and every population fits in its memory
    check_data(request)  # after the memory guard: a file too large is refused unread
    return _Checked(thresholds, reference)


def check_data(request: RunRequest) -> None:
    """Read and check every grid point's data that is not generated (a bad file is one
    DataError before anything is written; the file is not read again to train), and what the
    data ask of the run: a sigmoid head needs two classes, arrays train in this process and
    fit in a run folder."""
    checked: dict[str, DataFingerprint] = {}
    for point in grid_points(request.config):
        data = point.config.data
        if data.is_synthetic:
            continue
        key = data.model_dump_json()
        if key not in checked:
            checked[key] = check(data)
        classes = len(checked[key].classes)
        if point.config.model.head == "sigmoid" and classes != 2:
            raise ConfigError(
                f"model.head sigmoid is binary only (the data have {classes} classes); use "
                "head softmax"
            )
        if data.kind == "arrays" and request.executor is not None:
            raise ConfigError(
                "arrays passed as X, y train in this process only: save them to a file "
                "(numpy.savez(path, X=X, y=y)) for data.kind file, or use the local executor"
            )
        if data.kind == "arrays" and request.out is not None:
            check_storable(kept(data.sha256 or ""))


def run(
    request: RunRequest,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Experiment:
    """Validate, prepare the run folder, train, save, add notes, apply the gates.

    A run folder is made (with its config.yaml) before training, so an unusable `out` is an
    error before any work; an error during training removes it again. A failure to save after
    training does not raise: the experiment comes back with `save_error` set, so nothing
    computed is lost.
    """
    checked = validate(request)
    config = request.config
    run_dir = None
    new_root = request.out is not None and not request.out.exists()
    if request.out is not None:
        run_dir = prepare_run_dir(request.out, new_run_id(request.name, config.to_dict()), config)
    keep = request.keep_models or request.save_models or keeps_models(config)
    try:
        if run_dir is not None:
            config = store_arrays(config, run_dir)
        experiment = run_experiment(
            config,
            request.name,
            run_id=run_dir.name if run_dir is not None else "",
            baseline=request.baseline,
            on_progress=on_progress,
            should_stop=should_stop,
            keep_models=keep,
            **({"executor": request.executor} if request.executor is not None else {}),
        )
    except BaseException:  # an error, or an interrupt before anything was trained
        if run_dir is not None:
            discard_run_dir(run_dir, request.out if new_root else None)
        raise
    if experiment.untrained:  # stopped before the first epoch finished: nothing to keep
        if run_dir is not None:
            discard_run_dir(run_dir, request.out if new_root else None)
        return experiment
    experiment.result = experiment.result.model_copy(update={"notes": run_notes(experiment.result)})
    experiment.gate_failures, experiment.gate_notes = check_all(
        experiment.result, checked.thresholds, checked.reference, request.max_regression or 0.0
    )
    gates = _gates_given(request)
    if gates:  # the verdict is saved with the run: a CI job's report says why it failed
        verdict = GateVerdict(
            checked=gates, failures=experiment.gate_failures, notes=experiment.gate_notes
        )
        experiment.result = experiment.result.model_copy(update={"gates": verdict})
    if run_dir is not None:
        experiment.run_dir = run_dir
        experiment.save_error = _save(experiment, run_dir, request)
        if experiment.save_error is not None and not request.keep_partial:
            experiment.run_dir = None
    return experiment


def _gates_given(request: RunRequest) -> list[str]:
    """The request's gates as given on the command line."""
    gates = [f"--fail-under {text}" for text in request.fail_under]
    gates += [f"--fail-over {text}" for text in request.fail_over]
    if request.baseline_file is not None:
        regression = request.max_regression or 0.0
        gates.append(f"--baseline-file {request.baseline_file} --max-regression {regression:g}")
    return gates


# --- run folders --------------------------------------------------------------------------------


def keeps_models(config: Config) -> bool:
    """Whether a saved run keeps its members' weights without --save-models: for 2-D data,
    where they are a few hundred numbers each and `report` draws decision boundaries from
    them."""
    return any(is_planar(point.config.data) for point in grid_points(config))


def store_arrays(config: Config, run_dir: Path) -> Config:
    """Arrays passed as X, y (data.kind arrays) saved in the run folder as data.npz, and the
    config that reads them from there (kind file): rerun and report need them after this
    process has ended."""
    if config.data.kind != "arrays" or config.data.sha256 is None:
        return config
    try:
        path = store(kept(config.data.sha256), run_dir)
    except OSError as exc:
        raise RunFolderError(
            f"cannot write the data into the run folder '{run_dir}': {exc.strerror or exc}"
        ) from None
    document = config.to_dict()
    split = {key: document["data"][key] for key in ("test_size", "random_state")}
    document["data"] = {"kind": "file", "path": str(path.resolve()), **split}
    stored = config_from_mapping(document)
    write_atomic(run_dir / "config.yaml", stored.to_yaml())
    return stored


def prepare_run_dir(root: Path, run_id: str, config: Config) -> Path:
    """Reserve a fresh run folder for a run about to train and write its config.yaml, so an
    unusable --out (a file, read-only, a name too long) is found before any training."""
    run_dir = reserve_run_dir(root, run_id)
    try:
        write_atomic(run_dir / "config.yaml", config.to_yaml())
    except OSError as exc:
        raise RunFolderError(
            f"cannot write into the run folder '{run_dir}': {exc.strerror or exc}"
        ) from None
    return run_dir


def discard_run_dir(run_dir: Path, root: Path | None = None) -> None:
    """Remove a run folder that holds nothing but its config (the run never started), and
    `root` too (a runs folder made for it) if that is left empty."""
    try:
        if {p.name for p in run_dir.iterdir()} <= {"config.yaml", STORED_FILE}:
            (run_dir / "config.yaml").unlink(missing_ok=True)
            (run_dir / STORED_FILE).unlink(missing_ok=True)
            run_dir.rmdir()
            if root is not None and not any(root.iterdir()):
                root.rmdir()
    except OSError:
        pass


def save_experiment(experiment: Experiment, run_dir: Path, with_models: bool = True) -> Path:
    """Write the run into `run_dir` (from prepare_run_dir); its members' weights too when
    `with_models` (or the data is 2-D) and they were kept."""
    result = experiment.result.model_copy(update={"run_id": run_dir.name})
    experiment.result = result
    index = experiment.model_index
    models = experiment.models if with_models or keeps_models(experiment.config) else {}
    return save_run(
        run_dir,
        result,
        experiment.config.to_yaml(),
        result.environment,
        models,
        model_index=index.to_json() if index is not None and models else None,
    )


def _save(experiment: Experiment, run_dir: Path, request: RunRequest) -> str | None:
    """Write the run into its folder; a failure is returned as one line, never raised (and,
    unless the request keeps partial folders, the folder is removed)."""
    try:
        save_experiment(experiment, run_dir, request.save_models)
    except (OSError, ActbenchError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if not request.keep_partial:
            shutil.rmtree(run_dir, ignore_errors=True)  # reserved by this run: all of it ours
            return f"could not write the run folder {run_dir}: {reason}; nothing was kept"
        return (
            f"could not write the run folder {run_dir}: {reason}; the results are printed "
            "above and the files written so far are in that folder"
        )
    return None


# --- interrupts ---------------------------------------------------------------------------------


@contextmanager
def stop_on_signals(
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
    stop: threading.Event | None = None,
) -> Iterator[threading.Event]:
    """While the block runs, any of `signals` asks the work to stop at its next step (or after
    it, when saving): pass `stop.is_set` as should_stop. A repeated signal is the same request
    (two Ctrl-C 20 ms apart still save the finished epochs). `stop`: the event to set (the CLI
    shares one with its own handler); a fresh one by default. Outside the main thread signals
    stay as they are."""
    stop = stop if stop is not None else threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
