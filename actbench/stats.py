"""Statistics over seeds: mean, std, confidence intervals, paired tests, and the summary rows.

One NaN policy everywhere: a statistic is taken over the finite values only, and says how many
it used (`n_used` in a summary row). A member that failed has no values (None); a diverged
member reports its last finite state, so its values count like any other.

Also the one definition of each per-member aggregate over layers (saturated fraction), used by
the summary, the JSON and the figures alike.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from actbench.runs import RunRecord, SummaryRow

SIGNIFICANCE = 0.05  # the one level: a paired difference with p < 0.05 is significant
CONFIDENCE = 1 - SIGNIFICANCE  # of the intervals: 95 %


def is_finite(value: float | None) -> TypeGuard[float]:
    """A number, and finite (not None, NaN or inf)."""
    return value is not None and math.isfinite(value)


def finite(values: Iterable[float | None]) -> list[float]:
    """The values that are numbers and finite (None and NaN/inf dropped)."""
    return [float(v) for v in values if is_finite(v)]


def mean_std(values: Iterable[float | None]) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of the finite values; NaN where there are too few."""
    import numpy as np

    used = np.array(finite(values), dtype=np.float64)
    if used.size == 0:
        return math.nan, math.nan
    std = float(used.std(ddof=1)) if used.size > 1 else math.nan
    return float(used.mean()), std


def t_interval(values: Iterable[float | None]) -> list[float] | None:
    """95% confidence interval of the mean of the finite values (Student t, n-1 df)."""
    from scipy import stats

    used = finite(values)
    if len(used) < 2:
        return None
    mean, std = mean_std(used)
    quantile = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(used) - 1))
    half = quantile * std / math.sqrt(len(used))
    return [mean - half, mean + half]


# Below this many paired seeds no p-value is claimed. With two pairs the differences' std rests
# on one degree of freedom: the 95 % interval is +-12.7 standard errors wide, and two differences
# that happen to be equal give std 0 and an infinite t (a certainty the data cannot carry).
MIN_PAIRED_SEEDS = 3


@dataclass(frozen=True)
class PairedTest:
    """values - baseline over the pairs where both are finite.

    `p_value` is NaN when it cannot be claimed: fewer than MIN_PAIRED_SEEDS pairs, or every
    pair gave the same difference (`constant`: no seed noise to test against).
    """

    n: int
    mean: float
    interval: list[float] | None
    p_value: float
    constant: bool = False  # every pair gave the same difference
    std: float = math.nan  # of the differences

    @property
    def tested(self) -> bool:
        """Whether a p-value was claimed."""
        return not math.isnan(self.p_value)


def paired_test(values: Sequence[float | None], baseline: Sequence[float | None]) -> PairedTest:
    """Two-sided paired t-test of values against baseline (same seeds, same order)."""
    from scipy import stats

    diffs = [
        float(a) - float(b)
        for a, b in zip(values, baseline, strict=True)
        if a is not None and b is not None and math.isfinite(a) and math.isfinite(b)
    ]
    mean, std = mean_std(diffs)
    if len(diffs) < 2:
        return PairedTest(len(diffs), mean, None, math.nan, std=std)
    if std <= 1e-12 * max(1.0, abs(mean)):
        # The same difference on every seed (up to float rounding: accuracies are k/n, and
        # 0.8125 - 0.8 and 0.8 - 0.7875 differ in the last bit): no noise to test against.
        return PairedTest(len(diffs), mean, [mean, mean], math.nan, constant=True, std=0.0)
    interval = t_interval(diffs)
    if len(diffs) < MIN_PAIRED_SEEDS:
        return PairedTest(len(diffs), mean, interval, math.nan, std=std)
    # t and its p-value from the mean and std: scipy's ttest_1samp warns (precision loss) on
    # nearly equal differences, where this is exact enough
    t = mean / (std / math.sqrt(len(diffs)))
    p = float(2 * stats.t.sf(abs(t), len(diffs) - 1))
    return PairedTest(len(diffs), mean, interval, p, std=std)


def seeds_needed(test: PairedTest, most: int = 1000) -> int | None:
    """About how many paired seeds would make a difference like this one significant: the
    fewest n >= MIN_PAIRED_SEEDS whose 95 % interval of the mean, at the observed mean and
    std, excludes 0. None when that is beyond `most` seeds or cannot be estimated."""
    import numpy as np
    from scipy import stats

    if test.n < 2 or math.isnan(test.std) or test.mean == 0 or math.isnan(test.mean):
        return None
    if test.std == 0:
        return MIN_PAIRED_SEEDS
    n = np.arange(MIN_PAIRED_SEEDS, most + 1)  # every candidate in one call of scipy
    half_width = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * test.std / np.sqrt(n)
    enough = np.flatnonzero(half_width < abs(test.mean))
    return int(n[enough[0]]) if enough.size else None


# --- aggregates over layers ---------------------------------------------------------------------


def saturated_fraction(
    per_layer: Sequence[float | None], widths: Sequence[int] | None
) -> float | None:
    """Saturated (sample, unit) pairs of all hidden layers together: the per-layer fractions
    weighted by layer width (a plain mean when the widths are unknown). None if any is missing."""
    if not per_layer or any(v is None or not math.isfinite(v) for v in per_layer):
        return None
    fractions = [float(v) for v in per_layer if v is not None]
    if len(fractions) == 1:
        return fractions[0]
    if widths is not None and len(widths) == len(fractions) and sum(widths) > 0:
        return math.fsum(f * w for f, w in zip(fractions, widths, strict=True)) / sum(widths)
    return math.fsum(fractions) / len(fractions)


# --- per-epoch bands (the figures' lines) -------------------------------------------------------


@dataclass(frozen=True)
class EpochBand:
    """Per-epoch mean over seeds with a spread band; NaN where no seed has a value."""

    epochs: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]

    @property
    def finite(self) -> list[float]:
        return [value for value in self.mean if math.isfinite(value)]


def epoch_band(
    series: Sequence[Sequence[float | None]], first_epoch: int = 1, log: bool = False
) -> EpochBand | None:
    """Mean and spread over members at every epoch, from the members that have a value there:
    mean ± 1 std where 3 or more have one, min-max where 2 do.

    With log=True the statistics are taken of log10(value) (a geometric mean), which is what
    a log axis shows; values <= 0 are then left out. None when no epoch has any value.
    """
    length = max((len(values) for values in series), default=0)
    mean, low, high = [], [], []
    for epoch in range(length):
        values = [
            value
            for values in series
            if epoch < len(values)
            and (value := values[epoch]) is not None
            and math.isfinite(value)
            and (value > 0 or not log)
        ]
        if log:
            values = [math.log10(value) for value in values]
        if not values:
            center = lower = upper = math.nan
        elif len(values) == 2:
            center, lower, upper = statistics.fmean(values), min(values), max(values)
        else:
            center = statistics.fmean(values)
            spread = statistics.stdev(values) if len(values) > 2 else 0.0
            lower, upper = center - spread, center + spread
        if log and values:
            center, lower, upper = 10**center, 10**lower, 10**upper
        mean.append(center)
        low.append(lower)
        high.append(upper)
    band = EpochBand(list(range(first_epoch, first_epoch + length)), mean, low, high)
    return band if band.finite else None


def geometric_mean(values: Sequence[float]) -> float:
    """Of the positive values; NaN if none (a zero gradient has no place on a log axis)."""
    positive = [value for value in values if value > 0]
    if not positive:
        return math.nan
    return 10 ** statistics.fmean(math.log10(value) for value in positive)


def total_norm(per_layer: Sequence[float | None]) -> float | None:
    """The L2 norm of several layers' weight gradients together, from their per-layer norms."""
    if not per_layer or any(value is None for value in per_layer):
        return None
    return math.sqrt(sum(float(value) ** 2 for value in per_layer if value is not None))


def first_last_gradient_ratio(record: RunRecord) -> float | None:
    """Gradient norm of the first hidden layer over the last one's, after epoch 1: far below 1
    where gradients vanish on their way back (sigmoid in deep nets). None for one hidden layer
    or without a probe of epoch 1."""
    history = record.history
    if not history.grad_norm_per_layer or history.health_epochs[:1] not in ([], [1]):
        return None
    norms = history.grad_norm_per_layer[0]
    if len(norms) < 2 or norms[0] is None or not norms[-1]:
        return None
    return float(norms[0]) / float(norms[-1])


def last_layer_std_at_init(record: RunRecord) -> float | None:
    """Std of the last hidden layer's outputs before training (the signal that reaches the
    output layer; it decays with depth unless the init suits the activation)."""
    values = record.std_per_layer_init
    return values[-1] if values and values[-1] is not None else None


# --- summary ------------------------------------------------------------------------------------


def _none_if_nan(value: float) -> float | None:
    return value if math.isfinite(value) else None


def grid_key(grid: dict[str, Any]) -> str:
    """A hashable key for a grid point."""
    return repr(sorted(grid.items()))


def summarize(records: Sequence[RunRecord], baseline: str | None = None) -> list[SummaryRow]:
    """One row per (grid point, label), in record order: mean, std and 95% CI over seeds, and
    the paired difference in test accuracy from `baseline` on the same seeds."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for record in records:
        groups.setdefault((grid_key(record.grid), record.label), []).append(record)
    rows = []
    for (point, label), group in groups.items():

        def stat(key: str, group: list[RunRecord] = group) -> tuple[float | None, float | None]:
            mean, std = mean_std(getattr(r, key) for r in group)
            return _none_if_nan(mean), _none_if_nan(std)

        accuracies = [r.test_accuracy for r in group]
        ratios = finite(first_last_gradient_ratio(r) for r in group)
        acc_mean, acc_std = stat("test_accuracy")
        loss_mean, loss_std = stat("test_loss")
        saturated = mean_std(
            saturated_fraction(r.saturated_per_layer, r.hidden_widths or None) for r in group
        )[0]
        comparison: dict[str, Any] = {}
        if baseline is not None and label != baseline and (point, baseline) in groups:
            reference = {r.seed: r.test_accuracy for r in groups[(point, baseline)]}
            pairs = [(r.test_accuracy, reference[r.seed]) for r in group if r.seed in reference]
            test = paired_test([a for a, _ in pairs], [b for _, b in pairs])
            comparison = {
                "baseline": baseline,
                "n_paired": test.n,
                "diff_mean": _none_if_nan(test.mean),
                "diff_ci95": test.interval,
                "p_value": _none_if_nan(test.p_value),
                "significant": None
                if math.isnan(test.p_value)
                else bool(test.p_value < SIGNIFICANCE),
            }
        rows.append(
            SummaryRow(
                label=label,
                activation=group[0].activation,
                grid=group[0].grid,
                n_seeds=len(group),
                n_used=len(finite(accuracies)),
                test_accuracy_mean=acc_mean,
                test_accuracy_std=acc_std,
                test_accuracy_ci95=t_interval(accuracies),
                test_loss_mean=loss_mean,
                test_loss_std=loss_std,
                train_loss_mean=stat("train_loss")[0],
                dead_neurons_mean=stat("dead_neurons")[0],
                dead_neurons_init_mean=stat("dead_neurons_init")[0],
                dormant_neurons_mean=stat("dormant_neurons")[0],
                saturated_mean=_none_if_nan(saturated),
                revived_neurons_mean=stat("revived_neurons")[0],
                grad_ratio_mean=_none_if_nan(geometric_mean(ratios)) if ratios else None,
                std_init_last_mean=_none_if_nan(
                    mean_std(last_layer_std_at_init(r) for r in group)[0]
                ),
                hidden_units=group[0].hidden_units,
                n_diverged=sum(r.status == "diverged" for r in group),
                **comparison,
            )
        )
    return rows
