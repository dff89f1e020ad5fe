"""Run folders: the results.json schema, atomic saving, loading and listing.

runs/<YYYYmmdd-HHMMSS>-<config-name>-<hash>/
    config.yaml    the resolved config (re-runnable as is)
    results.json   the JSON contract (written last: its presence means the run is complete)
    history.csv    one row per member and epoch
    env.json       versions, device, threads, command line
    models/        SimpleNN state_dicts and index.json (which member each file is, its
                   shape and data scaler: see actbench.members), with --save-models
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from actbench import format as fmt
from actbench.errors import RunFolderError
from actbench.untrusted import read_untrusted

RESULTS_FILE = "results.json"
# The most a results.json (or a baseline file) may hold. A large sweep with neuron health is
# a few MB per 1,000 members; a file past this is refused before it is read (parsing takes
# about 2x its size in memory).
MAX_RESULTS_BYTES = 256 * 2**20
Status = Literal["ok", "diverged", "interrupted", "failed"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", ser_json_inf_nan="null")


# The per-layer health series of a History, as `<name>_per_layer`.
HEALTH_SERIES = ("dead", "dormant", "saturated", "mean_abs", "grad_norm")


class History(_Record):
    """Per epoch (index 0 = after epoch 1); the *_per_layer lists hold one value per hidden layer.

    train_loss and test_accuracy have one entry per finished epoch (RunRecord.epochs entries; a
    diverged run stops at its last finite epoch). The health series (dead ... grad_norm) have
    one entry per probed epoch, listed in health_epochs (metrics.health_every: with auto, every
    epoch of a run of up to 40 epochs, about 40 epochs of a longer one), or are empty when
    neuron health was not tracked.

    Neuron health is measured on the probe set (the first `metrics.probe_size` training
    samples); grad_norm is the L2 norm of the layer's weight gradient, averaged over the
    epoch's minibatch steps. The engine appends to these lists as it trains.
    """

    train_loss: list[float | None] = Field(default_factory=list)
    test_accuracy: list[float | None] = Field(default_factory=list)
    dead_per_layer: list[list[int]] = Field(default_factory=list)
    dormant_per_layer: list[list[int]] = Field(default_factory=list)
    saturated_per_layer: list[list[float | None]] = Field(default_factory=list)
    mean_abs_per_layer: list[list[float | None]] = Field(default_factory=list)
    grad_norm_per_layer: list[list[float | None]] = Field(default_factory=list)
    health_epochs: list[int] = Field(default_factory=list)  # 1-based epochs probed

    def epochs(self) -> Iterator[tuple[int, float | None, float | None, dict[str, list[Any]]]]:
        """(epoch, train_loss, test_accuracy, health) for every finished epoch, 1-based; health
        maps each of HEALTH_SERIES to its per-layer values where the epoch was probed
        (health_epochs; every epoch when that list is empty, as in runs saved before it
        existed), and is {} where it was not."""
        probed = {epoch: index for index, epoch in enumerate(self.health_epochs)}
        losses = zip(self.train_loss, self.test_accuracy, strict=True)
        for epoch, (loss, accuracy) in enumerate(losses, start=1):
            index = probed.get(epoch) if self.health_epochs else epoch - 1
            health: dict[str, list[Any]] = {}
            for name in HEALTH_SERIES:
                series = getattr(self, f"{name}_per_layer")
                if index is not None and index < len(series):
                    health[name] = list(series[index])
            yield epoch, loss, accuracy, health


class MemberIdentity(_Record):
    """Which member a record is: one activation label x one seed (x one sweep grid point)."""

    label: str
    activation: str
    params: dict[str, float | bool | str] = Field(default_factory=dict)
    grid: dict[str, Any] = Field(default_factory=dict)  # sweep values, {} without a sweep
    seed: int
    hidden_units: int
    hidden_widths: list[int] = Field(default_factory=list)


class MemberMetrics(_Record):
    """What the engine measured about one member: built by the engine, saved as it is.

    A new per-member metric is one field here (and its computation in the engine).
    """

    status: Status = "ok"
    epochs: int  # epochs whose update the final parameters contain
    train_loss: float | None
    test_loss: float | None
    train_accuracy: float | None
    test_accuracy: float | None
    dead_per_layer: list[int]
    dead_per_layer_init: list[int] = Field(default_factory=list)
    dormant_per_layer: list[int] = Field(default_factory=list)
    saturated_per_layer: list[float | None] = Field(default_factory=list)
    revived_neurons: int = 0  # units dead at some epoch (or init) and alive at a later one
    # mean and std (ddof=0) of each hidden layer's outputs over the probe set before training
    mean_per_layer_init: list[float | None] = Field(default_factory=list)
    std_per_layer_init: list[float | None] = Field(default_factory=list)
    history: History = Field(default_factory=History)


class RunRecord(MemberMetrics, MemberIdentity):
    """One trained member: who it is, what the engine measured, and the totals over layers."""

    dead_neurons: int | None  # None: the member failed
    dead_neurons_init: int | None
    dormant_neurons: int | None
    error: str | None = None

    @classmethod
    def of(cls, identity: MemberIdentity, metrics: MemberMetrics) -> RunRecord:
        """The record of a trained member; the totals are sums over its layers."""
        return cls(
            **identity.model_dump(),
            **{name: getattr(metrics, name) for name in MemberMetrics.model_fields},
            dead_neurons=sum(metrics.dead_per_layer),
            dead_neurons_init=sum(metrics.dead_per_layer_init),
            dormant_neurons=sum(metrics.dormant_per_layer),
        )

    @classmethod
    def failed(cls, identity: MemberIdentity, error: str) -> RunRecord:
        """A member whose training raised: no metrics, the error kept."""
        return cls(
            **identity.model_dump(),
            status="failed",
            epochs=0,
            train_loss=None,
            test_loss=None,
            train_accuracy=None,
            test_accuracy=None,
            dead_per_layer=[],
            dead_neurons=None,
            dead_neurons_init=None,
            dormant_neurons=None,
            error=error,
        )


class SummaryRow(_Record):
    """One activation label (at one grid point), aggregated over its seeds.

    std is the sample std (ddof=1); ci95 is the 95% t-interval of the mean. With --baseline,
    diff_* compare test accuracy with the baseline label on the same seeds (paired).
    """

    label: str
    activation: str
    grid: dict[str, Any] = Field(default_factory=dict)
    n_seeds: int
    n_used: int | None = None  # members with a finite test accuracy (the statistics use these)
    test_accuracy_mean: float | None
    test_accuracy_std: float | None
    test_accuracy_ci95: list[float] | None = None
    test_loss_mean: float | None
    test_loss_std: float | None
    train_loss_mean: float | None
    dead_neurons_mean: float | None
    dead_neurons_init_mean: float | None
    dormant_neurons_mean: float | None
    saturated_mean: float | None = None  # fraction of (sample, unit) pairs, final
    revived_neurons_mean: float | None = None
    # first / last hidden layer gradient norm after epoch 1 (geometric mean over seeds)
    grad_ratio_mean: float | None = None
    std_init_last_mean: float | None = None  # last hidden layer's output std before training
    hidden_units: int = 0
    n_diverged: int = 0
    baseline: str | None = None
    n_paired: int | None = None  # seeds where both have a finite test accuracy
    diff_mean: float | None = None  # test accuracy minus the baseline's, same seeds
    diff_ci95: list[float] | None = None
    p_value: float | None = None  # paired t-test
    significant: bool | None = None  # p < 0.05


# An original label value of the data: a class is one of these (results.json, models/index.json).
Label = str | bool | int | float


class DataFingerprint(_Record):
    """What a run's data were, to tell whether they are the same later (rerun refuses data that
    changed): where from, how many bytes, their SHA-256, their shape and classes."""

    kind: str
    source: str  # the file's path; "arrays"; the scikit-learn function that made or loaded them
    path: str | None = None  # kind file: the file read
    size: int | None = None  # kind file: its size in bytes
    sha256: str  # of the file's bytes (kind file), else of the arrays (X float64, y codes)
    shape: list[int]  # [rows, features] trained on (after the file's columns were picked)
    features: list[str] = Field(default_factory=list)  # the feature columns' names
    target: str | None = None  # the label column's name
    classes: list[Label]  # class i's original label, sorted
    class_counts: list[int]  # rows per class, all rows
    test_class_counts: list[int] = Field(default_factory=list)  # rows per class, test split
    n_train: int
    n_test: int
    # the grid values of the grid points trained on these data ([{}] without a sweep)
    points: list[dict[str, Any]] = Field(default_factory=list)

    def majority_class(self) -> int | None:
        """The index of the most common training class (None without the test's counts)."""
        if not self.test_class_counts or not self.n_test:
            return None
        train = [a - b for a, b in zip(self.class_counts, self.test_class_counts, strict=True)]
        return train.index(max(train))

    def majority_accuracy(self) -> float | None:
        """Test accuracy of always predicting the most common training class: chance level."""
        common = self.majority_class()
        return None if common is None else self.test_class_counts[common] / self.n_test


def distinct_data(
    used: Iterable[tuple[DataFingerprint | None, Iterable[dict[str, Any]]]],
) -> list[DataFingerprint]:
    """Each distinct data set once, with the grid points (their values) trained on it."""
    found: dict[str, tuple[DataFingerprint, list[dict[str, Any]]]] = {}
    for data, points in used:
        if data is None:  # a population that failed
            continue
        _, seen = found.setdefault(data.model_dump_json(), (data, []))
        for point in points:
            if point not in seen:
                seen.append(point)
    return [data.model_copy(update={"points": points}) for data, points in found.values()]


class GateVerdict(_Record):
    """The CI gates a run was judged by, and what they found: each failure names its gate, its
    row and by how much; notes say what a gate could not check."""

    checked: list[str]  # the gates as given: "--fail-under test_accuracy_mean=0.8", ...
    failures: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


class RunResult(_Record):
    """The whole of results.json."""

    actbench_version: str
    run_id: str
    device: str
    seconds: float
    threads: int | None = None  # CPU threads the members trained with (None: CUDA or unknown)
    status: Literal["ok", "interrupted"] = "ok"
    config: dict[str, Any]
    runs: list[RunRecord]
    summary: list[SummaryRow]
    notices: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)  # plain-language notes on the numbers
    # versions (torch, numpy, scikit-learn, python), device and thread count: enough to repeat it
    environment: dict[str, Any] = Field(default_factory=dict)
    data: list[DataFingerprint] = Field(default_factory=list)  # one per distinct data set
    gates: GateVerdict | None = None  # the CI gates' verdict, when any were given

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


# --- writing ------------------------------------------------------------------------------------


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write via a temp file in the same folder + os.replace: readers see all or nothing."""
    blob = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates 0600; a run folder should be as readable as any file the user writes
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:7]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "run"


def new_run_id(config_name: str, config: dict[str, Any], now: datetime | None = None) -> str:
    """<YYYYmmdd-HHMMSS>-<config-name>-<short hash of the resolved config>."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{_slug(config_name)}-{config_hash(config)}"


def reserve_run_dir(root: Path, run_id: str) -> Path:
    """Create a new, empty run folder named run_id (run_id-2, -3, ... if taken by another run).

    mkdir is atomic, so two processes starting in the same second get distinct folders.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"cannot create the runs folder '{root}': {exc.strerror}") from None
    for attempt in range(1, 1000):
        candidate = root / (run_id if attempt == 1 else f"{run_id}-{attempt}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunFolderError(
                f"cannot create a run folder in '{root}': {exc.strerror}"
            ) from None
    raise RunFolderError(f"no free run-folder name for '{run_id}' in '{root}'")


def history_csv(result: RunResult) -> str:
    """One row per member and epoch: grid values, loss, accuracy, and neuron health per layer
    (dead_l1, dormant_l1, saturated_l1, mean_abs_l1, grad_norm_l1, ...). Text that a
    spreadsheet would run as a formula gets a leading `'` (format.csv_cell); numbers stay."""
    grid_keys = list(dict.fromkeys(key for run in result.runs for key in run.grid))
    layers = max((len(run.dead_per_layer) for run in result.runs), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        [
            "label",
            "activation",
            *(fmt.csv_cell(f"grid.{k}") for k in grid_keys),
            "seed",
            "epoch",
            "train_loss",
            "test_accuracy",
            *(f"{series}_l{layer + 1}" for series in HEALTH_SERIES for layer in range(layers)),
        ]
    )
    for run in result.runs:
        label, activation = fmt.csv_cell(run.label), fmt.csv_cell(run.activation)
        grid = [
            json.dumps(v) if isinstance(v, list) else fmt.csv_cell(v)
            for v in (run.grid.get(k, "") for k in grid_keys)
        ]
        for epoch, loss, accuracy, health in run.history.epochs():
            cells: list[Any] = []
            for name in HEALTH_SERIES:
                values = health.get(name, [])
                cells += [v if v is not None else "" for v in values]
                cells += [""] * (layers - len(values))
            writer.writerow([label, activation, *grid, run.seed, epoch, loss, accuracy, *cells])
    return buffer.getvalue()


@dataclass(frozen=True)
class SavedRun:
    path: Path
    result: RunResult


def save_run(
    run_dir: Path,
    result: RunResult,
    config_yaml: str,
    env: dict[str, Any],
    models: dict[str, bytes] | None = None,
    *,
    model_index: str | None = None,
) -> Path:
    """Fill a reserved run folder. results.json is written last."""
    write_atomic(run_dir / "config.yaml", config_yaml)
    write_atomic(run_dir / "env.json", json.dumps(env, indent=2) + "\n")
    write_atomic(run_dir / "history.csv", history_csv(result))
    if models:
        (run_dir / "models").mkdir(exist_ok=True)
        for name, blob in models.items():
            write_atomic(run_dir / "models" / name, blob)
        if model_index is not None:
            write_atomic(run_dir / "models" / "index.json", model_index)
    write_atomic(run_dir / RESULTS_FILE, result.to_json() + "\n")
    return run_dir


# --- reading ------------------------------------------------------------------------------------


def parse_result(blob: bytes, path: Path) -> RunResult:
    """results.json's contents (a UTF-8 byte-order mark is allowed), or a RunFolderError
    naming the first problem."""
    try:
        text = blob.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RunFolderError(
            f"'{path}' is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from None
    try:
        return RunResult.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] == "json_invalid":
            raise RunFolderError(f"'{path}' is not JSON: {first['msg']}") from None
        raise RunFolderError(f"'{path}' is corrupt: {where or 'file'}: {first['msg']}") from None


def load_result(run_dir: Path) -> RunResult:
    """The results.json of a run folder (bounded: MAX_RESULTS_BYTES, confined to the folder)."""
    path = run_dir / RESULTS_FILE
    try:
        blob = read_untrusted(path, MAX_RESULTS_BYTES, inside=run_dir, what=RESULTS_FILE)
    except FileNotFoundError:
        raise RunFolderError(f"'{run_dir}' has no {RESULTS_FILE} (not a finished run)") from None
    return parse_result(blob, path)


LATEST = "latest"  # a run reference: the newest saved run under the runs folder


def resolve_run(reference: str, root: Path) -> Path:
    """A run id (or a unique prefix of one), a path to a run folder, or `latest`: the newest
    run folder under root that holds a results.json (run ids begin with their time)."""
    if reference == LATEST and not Path(reference).is_dir():
        saved = (
            [p for p in _run_dirs(root) if (p / RESULTS_FILE).is_file()] if root.is_dir() else []
        )
        if not saved:
            raise RunFolderError(f"no saved run in '{root}' to take as {LATEST}")
        return max(saved, key=lambda p: p.name)
    as_path = Path(reference)
    if as_path.is_dir():
        return as_path
    if root.is_dir():
        exact = root / reference
        if exact.is_dir():
            return exact
        matches = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(reference))
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(p.name for p in matches[:5])
            raise RunFolderError(
                f"'{reference}' matches {len(matches)} runs ({names}); be more specific"
            )
    raise RunFolderError(f"no run '{reference}' in '{root}' (list them with: actbench runs)")


@dataclass(frozen=True)
class Listing:
    complete: list[SavedRun]
    broken: list[tuple[Path, str]]


def list_runs(root: Path) -> Listing:
    """Every run folder under root, newest first; unreadable ones are reported, not fatal."""
    complete: list[SavedRun] = []
    broken: list[tuple[Path, str]] = []
    if not root.is_dir():
        return Listing(complete, broken)
    for path in sorted(_run_dirs(root), key=lambda p: p.name, reverse=True):
        try:
            complete.append(SavedRun(path, load_result(path)))
        except RunFolderError as exc:
            broken.append((path, str(exc)))
    return Listing(complete, broken)


def _run_dirs(root: Path) -> Iterator[Path]:
    for path in root.iterdir():
        if path.is_dir() and not path.name.startswith("."):
            yield path
