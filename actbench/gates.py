"""CI gates on a finished run: --fail-under thresholds and --baseline-file regressions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from actbench.errors import ConfigError, RunFolderError, unknown
from actbench.render.format import grid_point
from actbench.runs import RunRecord, RunResult, SummaryRow, load_result

NUMERIC_FIELDS = tuple(
    name
    for name, field in SummaryRow.model_fields.items()
    if field.annotation in (float | None, int) and name not in ("n_seeds", "hidden_units")
)


@dataclass(frozen=True)
class Threshold:
    """--fail-under [LABEL:]KEY=VALUE: every matching row must have KEY >= VALUE."""

    key: str
    value: float
    label: str | None = None

    def describe(self) -> str:
        return f"{self.label + ':' if self.label else ''}{self.key}={self.value:g}"


def parse_threshold(text: str) -> Threshold:
    """'test_accuracy_mean=0.8' or 'relu:test_accuracy_mean=0.85'."""
    target, sep, raw = text.partition("=")
    label, colon, key = target.rpartition(":")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"--fail-under expects [LABEL:]KEY=VALUE, like test_accuracy_mean=0.8 (got '{text}')"
        )
    if key not in NUMERIC_FIELDS:
        raise ConfigError(unknown("--fail-under metric", key, NUMERIC_FIELDS))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"--fail-under {key}: '{raw}' is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"--fail-under {key}: the threshold must be a finite number (got {raw})")
    return Threshold(key, value, label.strip() or None if colon else None)


def _where(row: SummaryRow) -> str:
    grid = grid_point(row.grid)
    return f"{row.label}" + (f" [{grid}]" if grid else "")


def check_thresholds(result: RunResult, thresholds: Iterable[Threshold]) -> list[str]:
    """One message per (row, threshold) that fails; an unknown label is an error."""
    labels = list(dict.fromkeys(row.label for row in result.summary))
    failures = []
    for threshold in thresholds:
        if threshold.label is not None and threshold.label not in labels:
            raise ConfigError(unknown("--fail-under label", threshold.label, labels))
        for row in result.summary:
            if threshold.label not in (None, row.label):
                continue
            value = getattr(row, threshold.key)
            if value is None:
                failures.append(
                    f"{_where(row)}: {threshold.key} is missing (need >= {threshold.value:g})"
                )
            elif value < threshold.value:
                failures.append(
                    f"{_where(row)}: {threshold.key} {value:.4f} < {threshold.value:g} "
                    f"(short by {threshold.value - value:.4f})"
                )
    return failures


def load_baseline(path: Path) -> RunResult:
    """A results.json file or a run folder holding one."""
    if path.is_dir():
        return load_result(path)
    if not path.is_file():
        raise RunFolderError(f"baseline '{path}' not found (give a results.json or a run folder)")
    return load_result(path.parent) if path.name == "results.json" else _load_file(path)


def _load_file(path: Path) -> RunResult:
    try:
        return RunResult.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(f"cannot read baseline '{path}': {str(exc).splitlines()[0]}") from None


def check_regressions(
    result: RunResult, baseline: RunResult, max_regression: float
) -> tuple[list[str], list[str]]:
    """(failures, notes): rows whose test accuracy fell more than max_regression below the
    baseline's row with the same label and grid point; rows without a counterpart are noted."""
    reference = {(repr(row.grid), row.label): row for row in baseline.summary}
    failures, notes = [], []
    for row in result.summary:
        old = reference.get((repr(row.grid), row.label))
        if old is None or old.test_accuracy_mean is None:
            notes.append(f"{_where(row)}: not in the baseline, not checked")
            continue
        new = row.test_accuracy_mean
        # a drop of exactly the allowance passes: 0.8 - 0.1 is 0.7000000000000001 in floats
        if new is None or old.test_accuracy_mean - new > max_regression + 1e-12:
            shown = "missing" if new is None else f"{new:.4f}"
            drop = "" if new is None else f", down {old.test_accuracy_mean - new:.4f}"
            failures.append(
                f"{_where(row)}: test_accuracy_mean {shown} vs baseline "
                f"{old.test_accuracy_mean:.4f}{drop} (allowed {max_regression:g})"
            )
    return failures, notes


def check_all(
    result: RunResult,
    thresholds: Sequence[Threshold],
    baseline: RunResult | None,
    max_regression: float,
) -> tuple[list[str], list[str]]:
    """Every gate: (failures, notes)."""
    failures = check_thresholds(result, thresholds)
    notes: list[str] = []
    if baseline is not None:
        regressions, notes = check_regressions(result, baseline, max_regression)
        failures += regressions
    return failures, notes


# --- reproduction ---------------------------------------------------------------------------------

COMPARED_FIELDS = (
    "status",
    "epochs",
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "dead_per_layer",
    "dead_per_layer_init",
    "dormant_per_layer",
    "revived_neurons",
    "history",
)


def reproduction_differences(saved: RunResult, rerun: RunResult) -> list[str]:
    """Every member whose numbers differ between a saved run and its re-run (exact equality:
    on the same CPU and versions, a run is bit-identical)."""
    old = {_member_key(run): run for run in saved.runs}
    new = {_member_key(run): run for run in rerun.runs}
    differences = []
    for member in sorted(old.keys() | new.keys()):
        grid, label, seed = member
        where = f"{label} seed {seed}" + ("" if grid == "{}" else f" {grid}")
        if member not in new or member not in old:
            differences.append(f"{where}: only in the {'saved run' if member in old else 'rerun'}")
            continue
        changed = [
            name
            for name in COMPARED_FIELDS
            if getattr(old[member], name) != getattr(new[member], name)
        ]
        if changed:
            a, b = old[member].test_accuracy, new[member].test_accuracy
            differences.append(f"{where}: {', '.join(changed)} differ (test accuracy {a} vs {b})")
    return differences


def _member_key(run: RunRecord) -> tuple[str, str, int]:
    return repr(run.grid), run.label, run.seed


def environment_changes(saved: RunResult, rerun: RunResult) -> list[str]:
    """Versions, device or threads that differ: the likely cause of a mismatch."""
    keys = ("torch", "numpy", "scikit_learn", "python", "device", "torch_threads")
    return [
        f"{k}: {saved.environment.get(k)} then, {rerun.environment.get(k)} now"
        for k in keys
        if saved.environment and saved.environment.get(k) != rerun.environment.get(k)
    ]
