"""CI gates on a finished run: --fail-under / --fail-over bounds and --baseline-file regressions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from actbench import format as fmt
from actbench.config import Config, grid_points, validate
from actbench.errors import ActbenchError, ConfigError, RunFolderError, unknown
from actbench.format import grid_point
from actbench.runs import (
    MAX_RESULTS_BYTES,
    RunRecord,
    RunResult,
    SummaryRow,
    load_result,
    parse_result,
)
from actbench.stats import is_finite
from actbench.untrusted import read_untrusted

NUMERIC_FIELDS = tuple(
    name
    for name, field in SummaryRow.model_fields.items()
    if field.annotation in (float | None, int) and name not in ("n_seeds", "hidden_units")
)
# Fields that are fractions (accuracy, its std and difference, the saturated share, a p-value):
# a bound above 1 on them is almost surely a percent.
FRACTION_FIELDS = (
    "test_accuracy_mean",
    "test_accuracy_std",
    "saturated_mean",
    "diff_mean",
    "p_value",
)
OPTIONS = {"min": "--fail-under", "max": "--fail-over"}
DIGITS = 4  # decimals of a measured value and its margin in a gate message: a narrow miss shows


@dataclass(frozen=True)
class Threshold:
    """--fail-under [LABEL:]KEY=VALUE: every matching row must have KEY >= VALUE;
    --fail-over (bound 'max'): KEY <= VALUE."""

    key: str
    value: float
    label: str | None = None
    bound: Literal["min", "max"] = "min"

    @property
    def option(self) -> str:
        return OPTIONS[self.bound]

    def describe(self) -> str:
        return f"{self.label + ':' if self.label else ''}{self.key}={fmt.value(self.value)}"


def parse_threshold(text: str) -> Threshold:
    """--fail-under 'test_accuracy_mean=0.8' or 'relu:test_accuracy_mean=0.85'."""
    return _parse_bound(text, "min")


def parse_fail_over(text: str) -> Threshold:
    """--fail-over 'dead_neurons_mean=1' or 'relu:dead_neurons_mean=1': an upper bound."""
    return _parse_bound(text, "max")


def _parse_bound(text: str, bound: Literal["min", "max"]) -> Threshold:
    option = OPTIONS[bound]
    target, sep, raw = text.partition("=")
    label, colon, key = target.rpartition(":")
    key = key.strip()
    if not sep or not key:
        example = "test_accuracy_mean=0.8" if bound == "min" else "dead_neurons_mean=1"
        raise ConfigError(f"{option} expects [LABEL:]KEY=VALUE, like {example} (got '{text}')")
    if key not in NUMERIC_FIELDS:
        raise ConfigError(unknown(f"{option} metric", key, NUMERIC_FIELDS))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{option} {key}: '{raw}' is not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{option} {key}: the threshold must be a finite number (got {raw})")
    if key in FRACTION_FIELDS and abs(value) > 1:
        # a lower bound above 1 or an upper bound below -1 excludes every fraction; the
        # other two include every one
        never = (bound == "min") == (value > 0)
        raise ConfigError(
            f"{option} {key}={raw}: {key} is a fraction (from -1 to 1 at most), so this bound "
            f"{'can never be met' if never else 'checks nothing'}; "
            f"for {raw.strip()}% write {fmt.value(value / 100)}"
        )
    return Threshold(key, value, label.strip() or None if colon else None, bound)


def check_threshold_labels(thresholds: Iterable[Threshold], labels: Sequence[str]) -> None:
    """A threshold for a label the run does not have is an error (before any training)."""
    for threshold in thresholds:
        if threshold.label is not None and threshold.label not in labels:
            raise ConfigError(unknown(f"{threshold.option} label", threshold.label, labels))


def check_max_regression(value: float) -> float:
    """--max-regression: a finite fraction of test accuracy, 0 to 1."""
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"--max-regression must be a finite number >= 0 (got {fmt.value(value)})")
    if value > 1:
        shown = fmt.value(value)
        raise ConfigError(
            f"--max-regression {shown}: the allowance is a fraction of test accuracy "
            f"(at most 1); for {shown}% write {fmt.value(value / 100)}"
        )
    return value


def _measured(value: float) -> str:
    """A measured value, or its margin to a bound, in a gate message: 0.7812."""
    return fmt.fixed(value, DIGITS)


def _where(row: SummaryRow) -> str:
    return _where_point(row.label, row.grid)


def _where_point(label: str, grid: Mapping[str, Any]) -> str:
    shown = grid_point(grid)
    return label + (f" [{shown}]" if shown else "")


def check_thresholds(result: RunResult, thresholds: Iterable[Threshold]) -> list[str]:
    """One message per (row, threshold) that fails, lower and upper bounds alike; an unknown
    label is an error."""
    labels = list(dict.fromkeys(row.label for row in result.summary))
    thresholds = list(thresholds)
    check_threshold_labels(thresholds, labels)
    failures = []
    for threshold in thresholds:
        sign = ">=" if threshold.bound == "min" else "<="
        bound = fmt.value(threshold.value)
        for row in result.summary:
            if threshold.label not in (None, row.label):
                continue
            value = getattr(row, threshold.key)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                failures.append(f"{_where(row)}: {threshold.key} is missing (need {sign} {bound})")
            elif threshold.bound == "min" and value < threshold.value:
                failures.append(
                    f"{_where(row)}: {threshold.key} {_measured(value)} < {bound} "
                    f"(short by {_measured(threshold.value - value)})"
                )
            elif threshold.bound == "max" and value > threshold.value:
                failures.append(
                    f"{_where(row)}: {threshold.key} {_measured(value)} > {bound} "
                    f"(over by {_measured(value - threshold.value)})"
                )
    return failures


# --- baselines ----------------------------------------------------------------------------------

# What a baseline must share with the run for its accuracy to be comparable: the data, the
# model, the training that shapes the numbers (not where it ran), and each label's activation.
COMPARED_TRAIN_KEYS = (
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "weight_decay",
    "momentum",
    "seeds",
)


def _settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted key -> value of what must match, without the keys either sweep varies. A
    section that is not a mapping (a hand-edited baseline) is compared as a whole, so it
    differs from any real config instead of crashing."""
    try:  # the saved config, with today's defaults for keys an older version did not write
        config = validate(config).to_dict()
    except ActbenchError:
        pass  # a config from another version: compare what it holds
    settings: dict[str, Any] = {}
    for section in ("data", "model"):
        values = config.get(section) or {}
        if not isinstance(values, Mapping):
            settings[section] = values
            continue
        for key, value in values.items():
            settings[f"{section}.{key}"] = value
    train = config.get("train") or {}
    if not isinstance(train, Mapping):
        settings["train"] = train
        train = {}
    for key in COMPARED_TRAIN_KEYS:
        if key in train:
            settings[f"train.{key}"] = train[key]
    entries = config.get("activations") or []
    for entry in entries if isinstance(entries, list) else [entries]:
        if isinstance(entry, Mapping) and "label" in entry:
            name, params = entry.get("name"), entry.get("params") or {}
            settings[f"activation '{entry['label']}'"] = f"{name} {params}" if params else name
    return settings


def baseline_differences(
    config: Mapping[str, Any], baseline_config: Mapping[str, Any]
) -> list[str]:
    """'data.n_samples: 160 here, 1000 in the baseline' for every setting that differs
    (keys swept by either run are matched row by row instead)."""
    if not config:
        return []
    if not baseline_config:
        # a gate that cannot tell what the baseline was made with must not pass
        return ["config: none in the baseline (its results.json has an empty 'config')"]
    swept = {*_keys(config.get("sweep")), *_keys(baseline_config.get("sweep"))}
    ours, theirs = _settings(config), _settings(baseline_config)
    differences = []
    for key in dict.fromkeys([*ours, *theirs]):
        if (
            key in swept
            or key.startswith("activation '")
            and (key not in ours or key not in theirs)
        ):
            continue  # an activation only one run has is a row without a counterpart: a note
        if ours.get(key) != theirs.get(key):
            here = _shown(ours.get(key, "(not set)"))
            there = _shown(theirs.get(key, "(not set)"))
            differences.append(f"{key}: {here} here, {there} in the baseline")
    return differences


def _shown(value: Any) -> str:
    return fmt.value(value)


def _keys(sweep: Any) -> list[str]:
    return [str(key) for key in sweep] if isinstance(sweep, Mapping) else []


def _row_keys(result: RunResult) -> set[tuple[str, str]]:
    return {(repr(row.grid), row.label) for row in result.summary}


def check_baseline(config: Config, baseline: RunResult) -> None:
    """Before training: the baseline must have been made with the same data, model and
    training settings, and hold at least one row this run will produce; else a ConfigError
    naming the difference."""
    differences = baseline_differences(config.to_dict(), baseline.config)
    if differences:
        more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
        raise ConfigError(
            f"the baseline {baseline.run_id} was made with other settings: "
            f"{differences[0]}{more}; its numbers are not comparable: make a new baseline "
            "with this config"
        )
    expected = {
        (repr(point.values), entry.label): _where_point(entry.label, point.values)
        for point in grid_points(config)
        for entry in config.activations
    }
    shared = [row for row in baseline.summary if (repr(row.grid), row.label) in expected]
    if baseline.summary and not shared:
        raise ConfigError(_no_match(baseline, list(expected.values())))
    if shared and not any(is_finite(row.test_accuracy_mean) for row in shared):
        raise ConfigError(
            f"the baseline {baseline.run_id} has no test_accuracy_mean (null or NaN) for any "
            "row of this run, so nothing can be compared: make a new baseline"
        )


def _no_match(baseline: RunResult, rows: Sequence[str]) -> str:
    theirs = list(dict.fromkeys(_where(row) for row in baseline.summary))
    return (
        f"the baseline {baseline.run_id} has no row for any (grid point, activation) of this "
        f"run, so nothing can be compared (baseline: {_listed(theirs)}; this run: "
        f"{_listed(rows)})"
    )


def _listed(items: Sequence[str], at_most: int = 4) -> str:
    more = f" and {len(items) - at_most} more" if len(items) > at_most else ""
    return ", ".join(items[:at_most]) + more


def load_baseline(path: Path) -> RunResult:
    """A results.json file or a run folder holding one: bounded like any run folder's
    results.json, and refused when it cannot serve as a baseline (interrupted, no config).

    Its run_id names where it came from (the file, and the run's own id if it has one), so
    every message about the baseline names the file: a baseline made with --no-save has no
    run id of its own."""
    if path.is_dir():
        baseline = load_result(path)
    elif not path.exists():
        raise RunFolderError(f"baseline '{path}' not found (give a results.json or a run folder)")
    else:
        try:
            blob = read_untrusted(path, MAX_RESULTS_BYTES, what="baseline file")
        except FileNotFoundError:
            raise RunFolderError(f"baseline '{path}' not found") from None
        try:
            baseline = parse_result(blob, path)
        except RunFolderError as exc:
            raise RunFolderError(f"cannot read baseline: {exc}") from None
    name = f"{path} (run {baseline.run_id})" if baseline.run_id else str(path)
    baseline = baseline.model_copy(update={"run_id": name})
    if baseline.status != "ok":
        raise ConfigError(
            f"the baseline {name} was {baseline.status}: its numbers are partial; use a "
            "finished run as the baseline"
        )
    return baseline


def check_regressions(
    result: RunResult, baseline: RunResult, max_regression: float
) -> tuple[list[str], list[str]]:
    """(failures, notes): rows whose test accuracy fell more than max_regression below the
    baseline's row with the same label and grid point; rows without a counterpart are noted.

    A baseline made with other settings, or without any row of this run, is a failure: a gate
    that compares nothing must not pass.
    """
    check_max_regression(max_regression)
    differences = baseline_differences(result.config, baseline.config)
    if differences:
        return [
            f"baseline {baseline.run_id} was made with other settings: {difference}"
            for difference in differences
        ], []
    reference = {(repr(row.grid), row.label): row for row in baseline.summary}
    if result.summary and not _row_keys(result) & reference.keys():
        return [_no_match(baseline, [_where(row) for row in result.summary])], []
    failures, notes = [], []
    for row in result.summary:
        old = reference.get((repr(row.grid), row.label))
        if old is None:
            notes.append(f"{_where(row)}: not in the baseline, not checked")
            continue
        if not is_finite(old.test_accuracy_mean):
            # a row the baseline has but cannot compare (null or NaN) fails closed
            value = old.test_accuracy_mean
            shown = "missing" if value is None else fmt.value(value)
            failures.append(
                f"{_where(row)}: the baseline's test_accuracy_mean is {shown}, so this row "
                "cannot be checked against it"
            )
            continue
        new = row.test_accuracy_mean
        if not is_finite(new):
            failures.append(
                f"{_where(row)}: test_accuracy_mean missing vs baseline "
                f"{_measured(old.test_accuracy_mean)} (allowed {fmt.value(max_regression)})"
            )
        # a drop of exactly the allowance passes: 0.8 - 0.1 is 0.7000000000000001 in floats
        elif old.test_accuracy_mean - new > max_regression + 1e-12:
            failures.append(
                f"{_where(row)}: test_accuracy_mean {_measured(new)} vs baseline "
                f"{_measured(old.test_accuracy_mean)}, down "
                f"{_measured(old.test_accuracy_mean - new)} (allowed {fmt.value(max_regression)})"
            )
    return failures, notes


def check_all(
    result: RunResult,
    thresholds: Sequence[Threshold],
    baseline: RunResult | None,
    max_regression: float,
) -> tuple[list[str], list[str]]:
    """Every gate: (failures, notes). `thresholds` holds lower (--fail-under) and upper
    (--fail-over) bounds alike."""
    check_max_regression(max_regression)
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


def config_changes(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """'train.lr: 0.001 in results.json, 0.5 in config.yaml' for every dotted key whose value
    differs between the config a run recorded and its config.yaml as it is now."""

    def flat(document: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
        items: dict[str, Any] = {}
        for key, value in document.items():
            if isinstance(value, Mapping) and value and key != "sweep":
                items.update(flat(value, f"{prefix}{key}."))
            else:
                items[f"{prefix}{key}"] = value
        return items

    old, new = flat(recorded), flat(current)
    return [
        f"{key}: {_shown(old.get(key, '(not set)'))} in results.json, "
        f"{_shown(new.get(key, '(not set)'))} in config.yaml"
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key)
    ]


def environment_changes(saved: RunResult, rerun: RunResult) -> list[str]:
    """Versions, device or threads that differ: the likely cause of a mismatch."""
    keys = ("torch", "numpy", "scikit_learn", "python", "device", "torch_threads")
    return [
        f"{k}: {saved.environment.get(k)} then, {rerun.environment.get(k)} now"
        for k in keys
        if saved.environment and saved.environment.get(k) != rerun.environment.get(k)
    ]
