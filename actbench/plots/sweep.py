"""sweep.png: final test accuracy and dead units against a numeric sweep key."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actbench import format as fmt
from actbench.runs import RunResult, SummaryRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from actbench.plots.common import (
    DIVERGED_MARKER,
    LEGEND_WIDTH,
    LOG_RATIO,
    MARKERS,
    STYLES,
    Color,
    canonical,
    diverged_handle,
    is_number,
    legend,
    pyplot,
    suptitle,
)

# --- sweep.png ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SweepAxis:
    """The numeric sweep key drawn on x, and the other keys (one line style per combination)."""

    key: str
    others: tuple[str, ...]


def _sweep_axis(result: RunResult) -> _SweepAxis | None:
    """The numeric key with the most distinct values; None if no key is numeric."""
    keys = list(dict.fromkeys(key for row in result.summary for key in row.grid))
    best: tuple[int, str] | None = None
    for key in keys:
        values = [row.grid.get(key) for row in result.summary]
        if not all(is_number(value) for value in values):
            continue
        distinct = len(set(values))
        if distinct > 1 and (best is None or distinct > best[0]):
            best = (distinct, key)
    if best is None:
        return None
    return _SweepAxis(best[1], tuple(key for key in keys if key != best[1]))


def sweep_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
    """Final test accuracy and dead units against the numeric sweep key.

    One colour per label; with more sweep keys, one line style per combination of the others.
    """
    axis = _sweep_axis(result)
    if axis is None:
        return None
    from matplotlib.lines import Line2D

    plt = pyplot()

    def style_of(row: SummaryRow) -> str:
        return canonical({key: row.grid.get(key) for key in axis.others})

    def x_of(row: SummaryRow) -> float:
        return float(row.grid[axis.key])

    xs = sorted({x_of(row) for row in result.summary})
    log_x = min(xs) > 0 and max(xs) / min(xs) > LOG_RATIO
    styles = list(dict.fromkeys(style_of(row) for row in result.summary))
    lines = [(label, style) for label in colors for style in styles]
    figure = plt.figure(figsize=(2 * 4.6 + LEGEND_WIDTH + 0.6, 3.8), layout="constrained")
    acc_ax, dead_ax = figure.subplots(1, 2)
    diverged = False
    for index, (label, style) in enumerate(lines):
        rows = sorted(
            (row for row in result.summary if row.label == label and style_of(row) == style),
            key=x_of,
        )
        if not rows:
            continue
        x = [_dodge(x_of(row), index, len(lines), xs, log_x) for row in rows]
        look: dict[str, Any] = {
            "color": colors[label],
            "linestyle": STYLES[styles.index(style) % len(STYLES)],
            "marker": MARKERS[styles.index(style) % len(MARKERS)],
            "markersize": 4,
            "label": label,
        }
        means = [
            math.nan if row.test_accuracy_mean is None else 100.0 * row.test_accuracy_mean
            for row in rows
        ]
        acc_ax.errorbar(x, means, yerr=_error_bars(rows), capsize=2, elinewidth=1, **look)
        dead_ax.plot(x, [_dead_percent(result, row) for row in rows], **look)
        for at, row, mean in zip(x, rows, means, strict=True):
            if row.n_diverged and math.isfinite(mean):
                acc_ax.plot([at], [mean], color=colors[label], zorder=5, **DIVERGED_MARKER)
                diverged = True
    for ax in (acc_ax, dead_ax):
        if log_x:
            ax.set_xscale("log")
        ax.set_xticks(xs, [fmt.value(x) for x in xs])
        ax.minorticks_off()
        ax.set_xlabel(axis.key + (" (log scale)" if log_x else ""))
    acc_ax.set_title("final test accuracy")
    acc_ax.set_ylabel("test accuracy (%)")
    dead_ax.set_title("dead hidden units at the end")
    dead_ax.set_ylabel("dead units (% of hidden)")
    dead_ax.set_ylim(bottom=0)
    bars = "95% confidence interval of the mean"
    if any(row.test_accuracy_ci95 is None for row in result.summary):
        bars += " (± 1 std where missing)"
    suptitle(figure, f"Sweep over {axis.key} - run {result.run_id}\nerror bars: {bars}")
    names = fmt.key_names([axis.key, *axis.others])
    extra = [
        Line2D(
            [],
            [],
            color="0.3",
            linestyle=STYLES[i % len(STYLES)],
            marker=MARKERS[i % len(MARKERS)],
            markersize=4,
            label=fmt.grid_point(json.loads(style), names),
        )
        for i, style in enumerate(styles)
        if axis.others
    ]
    if diverged:
        extra.append(diverged_handle("a seed diverged:\nmean of the others"))
    legend(figure, colors, extra)
    return figure


def _dodge(x: float, index: int, count: int, xs: Sequence[float], log_x: bool) -> float:
    """Shift each line a little sideways so error bars at the same x do not hide each other."""
    offset = (index - (count - 1) / 2) * 0.012
    if log_x:
        return x * 10 ** (offset * math.log10(max(xs) / min(xs)))
    return x + offset * (max(xs) - min(xs))


def _error_bars(rows: Sequence[SummaryRow]) -> list[list[float]]:
    """[below, above] per row in percent: the ci95 interval, else ± std, else none."""
    below, above = [], []
    for row in rows:
        mean = row.test_accuracy_mean
        if mean is not None and row.test_accuracy_ci95 is not None:
            low, high = row.test_accuracy_ci95
            below.append(100.0 * max(mean - low, 0.0))
            above.append(100.0 * max(high - mean, 0.0))
        elif mean is not None and row.test_accuracy_std is not None:
            below.append(100.0 * row.test_accuracy_std)
            above.append(100.0 * row.test_accuracy_std)
        else:
            below.append(0.0)
            above.append(0.0)
    return [below, above]


def _dead_percent(result: RunResult, row: SummaryRow) -> float:
    units = row.hidden_units or next(
        (
            run.hidden_units
            for run in result.runs
            if run.label == row.label and canonical(run.grid) == canonical(row.grid)
        ),
        0,
    )
    if row.dead_neurons_mean is None or units <= 0:
        return math.nan
    return 100.0 * row.dead_neurons_mean / units
