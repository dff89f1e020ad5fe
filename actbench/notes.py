"""Plain-language notes under the table, computed from the numbers of a run.

Each note states something the numbers show and a student might miss: the leaders are within
seed noise, a network lost units or was born with dead ones, a model sits at chance level (the
accuracy of always predicting the most common class), the classes are imbalanced, runs
diverged. No note is written unless the numbers support it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from actbench import format as fmt
from actbench.runs import DataFingerprint, RunRecord, RunResult, SummaryRow
from actbench.stats import (
    MIN_PAIRED_SEEDS,
    SIGNIFICANCE,
    grid_key,
    paired_test,
    seeds_needed,
)

CHANCE_MARGIN = 0.03  # within 3 points of chance counts as at chance
LOST_UNITS = 0.5  # mean units lost over seeds worth a note
IMBALANCE = 1.5  # classes are imbalanced when the largest has this many times the smallest's rows
SHOWN_CLASSES = 4  # classes listed in the balance note


def run_notes(result: RunResult) -> list[str]:
    """Every note of a run, most important first (results.json keeps them all; a terminal
    may show the first few)."""
    notes: list[str] = []
    diverged = [run for run in result.runs if run.status == "diverged"]
    if diverged:
        which = ", ".join(dict.fromkeys(run.label for run in diverged))
        notes.append(
            f"{fmt.plural(len(diverged), 'run')} diverged ({which}): their rows use the last "
            "finite epoch; a smaller train.lr avoids it"
        )
    points: dict[str, list[SummaryRow]] = {}
    for row in result.summary:
        points.setdefault(grid_key(row.grid), []).append(row)
    notes += [note for data in result.data if (note := _balance(data))]
    runs_at: dict[str, list[RunRecord]] = {}
    for run in result.runs:
        runs_at.setdefault(grid_key(run.grid), []).append(run)
    data_at: dict[str, DataFingerprint] = {}
    for data in result.data:
        for point in data.points:
            data_at.setdefault(grid_key(point), data)
    for key, rows in points.items():
        where = fmt.grid_point(rows[0].grid)
        prefix = f"[{where}] " if where else ""
        chance = _chance(result, data_at.get(key))
        notes += [prefix + note for note in _point_notes(rows, runs_at.get(key, []), chance)]
    return notes


@dataclass(frozen=True)
class Chance:
    """Chance level: the test accuracy of always predicting the most common training class."""

    accuracy: float
    how: str  # "by guessing" (balanced classes), "by always predicting 'no'"


def _imbalanced(data: DataFingerprint) -> bool:
    counts = [count for count in data.class_counts if count]
    return len(counts) >= 2 and max(counts) >= IMBALANCE * min(counts)


def _chance(result: RunResult, data: DataFingerprint | None) -> Chance | None:
    """Chance at a grid point: from its data's class counts (results.json `data`), or, for a
    run saved before they were recorded, 1 / n_classes (the generated kinds are balanced)."""
    common = data.majority_class() if data is not None else None
    if data is not None and common is not None:
        majority = data.test_class_counts[common] / data.n_test
        if not _imbalanced(data):
            return Chance(majority, "by guessing")
        return Chance(majority, f"by always predicting {fmt.label(data.classes[common])}")
    classes = result.config.get("data", {}).get("n_classes") or 2
    if isinstance(classes, int) and classes >= 2:
        return Chance(1.0 / classes, "by guessing")
    return None


def _balance(data: DataFingerprint) -> str | None:
    """The class balance of imbalanced data, and what chance is then."""
    if not _imbalanced(data):
        return None
    total = sum(data.class_counts)
    order = sorted(range(len(data.classes)), key=lambda i: -data.class_counts[i])
    shares = ", ".join(
        f"{fmt.label(data.classes[i])}: {fmt.percent(data.class_counts[i] / total)}%"
        for i in order[:SHOWN_CLASSES]
    )
    more = f" and {len(order) - SHOWN_CLASSES} more" if len(order) > SHOWN_CLASSES else ""
    where = fmt.grid_point(data.points[0]) if len(data.points) == 1 else ""
    prefix = f"[{where}] " if where else ""
    majority = data.majority_accuracy()
    chance = (
        f"; always predicting the most common class scores {fmt.percent(majority)}%, the "
        "chance level to compare with"
        if majority is not None
        else ""
    )
    return f"{prefix}the classes are imbalanced ({shares}{more} of {total:,} rows){chance}"


def _point_notes(
    rows: Sequence[SummaryRow], runs: Sequence[RunRecord], chance: Chance | None
) -> list[str]:
    notes = []
    ranked = sorted(
        (row for row in rows if row.test_accuracy_mean is not None),
        key=lambda row: -(row.test_accuracy_mean or 0.0),
    )
    if len(ranked) >= 2:
        notes += _leaders(ranked[0], ranked[1], runs)
    for row in rows:
        units = row.hidden_units or 0
        if chance is not None and row.test_accuracy_mean is not None:
            if abs(row.test_accuracy_mean - chance.accuracy) <= CHANCE_MARGIN:
                why = (
                    ": a linear model, and the classes are not linearly separable"
                    if row.activation == "identity"
                    else ""
                )
                notes.append(
                    f"{row.label} is at chance ({fmt.percent(row.test_accuracy_mean)}% vs "
                    f"{fmt.percent(chance.accuracy)}% {chance.how}){why}"
                )
        born = row.dead_neurons_init_mean or 0.0
        after = row.dead_neurons_mean or 0.0
        if units and born >= LOST_UNITS:
            notes.append(
                f"{row.label} starts with {fmt.count(born)} of {units} units dead "
                "(constant output before any training)"
            )
        if units and after - born >= LOST_UNITS:
            notes.append(
                f"{row.label} lost {fmt.count(after - born)} of {units} units in training "
                "(dead: constant output on every training sample)"
            )
    return notes


def _leaders(first: SummaryRow, second: SummaryRow, runs: Sequence[RunRecord]) -> list[str]:
    """Are the top two apart by more than seed noise? A paired test over their seeds."""
    by_seed = {
        label: {run.seed: run.test_accuracy for run in runs if run.label == label}
        for label in (first.label, second.label)
    }
    seeds = sorted(by_seed[first.label].keys() & by_seed[second.label].keys())
    test = paired_test(
        [by_seed[first.label][s] for s in seeds], [by_seed[second.label][s] for s in seeds]
    )
    lead = f"{first.label} leads {second.label} by {fmt.points(test.mean)} points"
    if test.n < 2:
        return [
            f"{first.label} and {second.label} lead, but one seed cannot tell them apart: "
            f"add seeds (--seeds {MIN_PAIRED_SEEDS} or more) or use --baseline"
        ]
    if test.constant and abs(test.mean) < 1e-12:
        return [
            f"the top two, {first.label} and {second.label}, have the same test accuracy on "
            f"each of {test.n} seeds"
        ]
    if test.constant:
        return [
            f"{lead} on each of {test.n} seeds, the same difference every time: no seed "
            "noise to test it against (more seeds would show some)"
        ]
    if not test.tested:
        needed = seeds_needed(test)
        estimate = (
            f"; about {needed} would make a difference this size significant"
            if needed is not None
            else ""
        )
        return [
            f"{lead} over {test.n} seeds, too few for a paired test (it needs "
            f"{MIN_PAIRED_SEEDS}){estimate}"
        ]
    p = fmt.p_clause(test.p_value)
    if test.p_value >= SIGNIFICANCE:
        return [
            f"the top two, {first.label} and {second.label}, are within seed noise "
            f"(paired {p}): add seeds or use --baseline"
        ]
    return [
        f"{first.label} leads {second.label} by {fmt.points(test.mean)} points over "
        f"{test.n} seeds (paired {p})"
    ]
