"""Building blocks shared by the figures: colours, panel grids, legends, per-epoch bands.

Every figure uses one colour per activation label, the same in all figures. Per-epoch lines are
the mean over seeds with a band for the spread (see stats.epoch_band). A member that diverged
stops early; each epoch is averaged over the members that still have a value, and the last value
of a diverged member is marked with a cross.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from actbench import format as fmt
from actbench.runs import RunRecord, RunResult
from actbench.stats import EpochBand, epoch_band

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.typing import LineStyleType

Color = tuple[float, float, float, float]

DPI = 110
MAX_COLUMNS = 6  # grid points side by side; more wrap into another block of rows
PANEL_WIDTH = 3.4  # inches
PANEL_HEIGHT = 2.6
LEGEND_WIDTH = 1.9
PERCENT = (0.0, 100.0)
LOG_RATIO = 20.0  # a value range wider than this is drawn on a log scale
DIVERGED_MARKER: dict[str, Any] = {
    "linestyle": "none",
    "marker": "x",
    "markersize": 8,
    "markeredgewidth": 2.2,
}
STYLES: tuple[LineStyleType, ...] = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
RC_PARAMS: dict[str, Any] = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.titlesize": 12,
}

# --- building blocks ----------------------------------------------------------------------------


def pyplot() -> ModuleType:
    import matplotlib

    if "ipykernel" not in sys.modules:  # a notebook keeps its inline backend: figures show
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_colors(result: RunResult) -> dict[str, Color]:
    """One colour per activation label, in the order the labels first appear in the run."""
    import matplotlib

    labels = list(
        dict.fromkeys([run.label for run in result.runs] + [row.label for row in result.summary])
    )
    if len(labels) <= 10:
        cmap, positions = matplotlib.colormaps["tab10"], [i / 10 + 0.05 for i in range(10)]
    elif len(labels) <= 20:
        # dark shades first: the first ten labels get tab10's colours, the rest the light ones
        cmap = matplotlib.colormaps["tab20"]
        positions = [i / 20 + 0.025 for i in [*range(0, 20, 2), *range(1, 20, 2)]]
    else:
        cmap = matplotlib.colormaps["turbo"]
        positions = [0.05 + 0.9 * i / (len(labels) - 1) for i in range(len(labels))]
    return {label: cmap(positions[i]) for i, label in enumerate(labels)}


@dataclass(frozen=True)
class Point:
    """One point of a sweep (the one empty point without a sweep) and its members."""

    grid: dict[str, Any]
    title: str
    runs: tuple[RunRecord, ...]

    def members(self, label: str) -> list[RunRecord]:
        return [run for run in self.runs if run.label == label]


def canonical(value: dict[str, Any]) -> str:
    """A hashable, order-independent key for a dict that may hold lists (grid points, params)."""
    return json.dumps(value, sort_keys=True, default=str)


def has_sweep(result: RunResult) -> bool:
    return any(run.grid for run in result.runs)


def grid_points(result: RunResult) -> list[Point]:
    """Members grouped by grid point, in the order the points first appear."""
    groups: dict[str, list[RunRecord]] = {}
    for run in result.runs:
        groups.setdefault(canonical(run.grid), []).append(run)
    names = fmt.key_names([key for run in result.runs for key in run.grid])
    return [
        Point(runs[0].grid, fmt.grid_point(runs[0].grid, names), tuple(runs))
        for runs in groups.values()
    ]


MAX_PANEL_POINTS = 12  # grid points drawn in the per-epoch figures; sweep.png shows them all


def drawn_points(result: RunResult) -> tuple[list[Point], str]:
    """The grid points a per-epoch figure draws, and a note when that is not all of them.

    A big sweep would make hundreds of panels nobody can read (and minutes of drawing): the
    figures show MAX_PANEL_POINTS points spread evenly over the grid, first and last included.
    """
    points = grid_points(result)
    if len(points) <= MAX_PANEL_POINTS:
        return points, ""
    step = (len(points) - 1) / (MAX_PANEL_POINTS - 1)
    picked = sorted({round(i * step) for i in range(MAX_PANEL_POINTS)})
    note = (
        f"{len(picked)} of {len(points)} grid points, evenly spread "
        "(sweep.png and the table show all)"
    )
    return [points[i] for i in picked], note


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- panel layout -------------------------------------------------------------------------------


def panel_grid(
    plt: ModuleType, rows_per_point: int, n_points: int, title: str
) -> tuple[Figure, list[list[Axes]]]:
    """A figure with axes[point][row]: one column per grid point, wrapped after MAX_COLUMNS.

    Without a sweep the rows of the single point are laid out side by side instead.
    """
    if n_points == 1:
        ncols = balanced_columns(rows_per_point, 3)
        nrows = math.ceil(rows_per_point / ncols)
    else:
        ncols = balanced_columns(n_points, MAX_COLUMNS)
        nrows = math.ceil(n_points / ncols) * rows_per_point
    figure = plt.figure(
        figsize=(PANEL_WIDTH * ncols + LEGEND_WIDTH, PANEL_HEIGHT * nrows + 0.5),
        layout="constrained",
    )
    grid = figure.subplots(nrows, ncols, squeeze=False)
    axes: list[list[Axes]] = []
    used = set()
    for point in range(n_points):
        column = []
        for row in range(rows_per_point):
            if n_points == 1:
                position = (row // ncols, row % ncols)
            else:
                position = ((point // ncols) * rows_per_point + row, point % ncols)
            column.append(grid[position])
            used.add(position)
        axes.append(column)
    for r in range(nrows):
        for c in range(ncols):
            if (r, c) not in used:
                grid[r, c].remove()
    suptitle(figure, title)
    return figure, axes


def suptitle(figure: Figure, text: str) -> None:
    """Centred over the panels rather than the figure, so it stays clear of the legend."""
    figure.suptitle(text, x=0.5 * (1 - LEGEND_WIDTH / figure.get_figwidth()))


def balanced_columns(count: int, most: int) -> int:
    """Columns for count panels, at most `most`, with the rows as evenly filled as possible."""
    return math.ceil(count / math.ceil(count / most))


def share_rows(axes: list[list[Axes]]) -> None:
    """Panels of the same quantity share their x and y axes across grid points."""
    for row, first in enumerate(axes[0]):
        for column in axes[1:]:
            column[row].sharex(first)
            column[row].sharey(first)


def legend(figure: Figure, colors: dict[str, Color], extra: Sequence[Line2D] = ()) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=color, linewidth=2, label=label) for label, color in colors.items()
    ]
    figure.legend(
        handles=[*handles, *extra],
        loc="outside right upper",
        title="activation",
        alignment="left",
    )


def diverged_handle(text: str = "seed diverged") -> Line2D:
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.3", label=text, **DIVERGED_MARKER)


@dataclass(frozen=True)
class EpochMetric:
    """A per-epoch quantity of one member, drawn as the mean over seeds with a spread band."""

    name: str
    series: Callable[[RunRecord], list[float | None]]
    first_epoch: int = 1
    log: bool | None = False  # None: a log scale if the values span more than LOG_RATIO
    bounds: tuple[float, float] = (-math.inf, math.inf)  # the band is clipped to these
    from_zero: bool = False  # a count: the y axis starts at 0

    def present(self, runs: Sequence[RunRecord]) -> bool:
        return any(value is not None for run in runs for value in self.series(run))


def metric_bands(
    points: Sequence[Point], metric: EpochMetric, labels: Iterable[str], log: bool
) -> dict[tuple[int, str], EpochBand]:
    """(grid point index, label) -> the label's band at that point, where it has values."""
    bands = {}
    for index, point in enumerate(points):
        for label in labels:
            series = [metric.series(run) for run in point.members(label)]
            band = epoch_band(series, metric.first_epoch, log=log)
            if band is not None:
                bands[index, label] = band
    return bands


def metric_panels(
    plt: Any,
    title: str,
    points: Sequence[Point],
    metrics: Sequence[EpochMetric],
    colors: dict[str, Color],
    rows: int | None = None,
) -> tuple[Figure, list[list[Axes]], bool]:
    """A grid of panels (`rows`, by default one per metric; one column per grid point) with
    rows that share their y axis, every metric drawn in its row; True if a seed diverged."""
    figure, axes = panel_grid(plt, rows or len(metrics), len(points), title)
    share_rows(axes)
    diverged = False
    for row, metric in enumerate(metrics):
        diverged |= draw_metric([column[row] for column in axes], points, metric, colors)
    return figure, axes, diverged


def draw_metric(
    axes: Sequence[Axes],
    points: Sequence[Point],
    metric: EpochMetric,
    colors: dict[str, Color],
) -> bool:
    """Draw one metric in one panel per grid point; True if a seed diverged in any of them."""
    from matplotlib.ticker import MaxNLocator

    log = bool(metric.log)
    bands = metric_bands(points, metric, colors, log)
    if metric.log is None:
        values = [
            value
            for band in bands.values()
            for value in [*band.finite, *band.high]
            if math.isfinite(value)
        ]
        if values and min(values) > 0 and max(values) / min(values) > LOG_RATIO:
            log = True
            bands = metric_bands(points, metric, colors, log)
    diverged = False
    alpha = 0.18 if len(colors) <= 5 else 0.08  # many overlapping bands turn to mud
    for index, (ax, point) in enumerate(zip(axes, points, strict=True)):
        finite = [value for (i, _), band in bands.items() if i == index for value in band.finite]
        if finite and all(value == 0 for value in finite):
            # one flat line at 0 would show only the label drawn last
            ax.text(
                0.5,
                0.55,
                "0 for every activation",
                ha="center",
                transform=ax.transAxes,
                color="0.35",
            )
        for label, color in colors.items():
            band = bands.get((index, label))
            if band is None:
                continue
            low, high = band.low, band.high
            floor, ceiling = metric.bounds
            low = [max(value, floor) for value in low]
            high = [min(value, ceiling) for value in high]
            single = len(band.finite) == 1
            # epochs without a value (not probed, or after a member stopped) are skipped, so
            # the line joins the epochs that have one
            kept = [i for i, value in enumerate(band.mean) if math.isfinite(value)]
            epochs = [band.epochs[i] for i in kept]
            ax.plot(
                epochs,
                [band.mean[i] for i in kept],
                color=color,
                linewidth=1.6,
                label=label,
                marker="o" if single else None,
            )
            ax.fill_between(
                epochs,
                [low[i] for i in kept],
                [high[i] for i in kept],
                color=color,
                alpha=alpha,
                linewidth=0,
            )
            for run in point.members(label):
                if run.status == "diverged" and mark_divergence(ax, run, metric, color):
                    diverged = True
        if log:
            log_axis(ax)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if metric.from_zero:
        for ax in axes:
            ax.set_ylim(0, max(ax.get_ylim()[1], 1.0))
    return diverged


def mark_divergence(ax: Axes, run: RunRecord, metric: EpochMetric, color: Color) -> bool:
    values = metric.series(run)
    last = [
        (metric.first_epoch + i, value)
        for i, value in enumerate(values)
        if value is not None and math.isfinite(value)
    ]
    if not last:
        return False
    epoch, value = last[-1]
    ax.plot([epoch], [value], color=color, zorder=5, **DIVERGED_MARKER)
    return True


def label_points(axes: list[list[Axes]], points: Sequence[Point], names: Sequence[str]) -> None:
    """Titles and y labels: the metric names, and with a sweep the grid point of each column."""
    sweep = len(points) > 1
    for column, point in zip(axes, points, strict=True):
        for row, (ax, metric) in enumerate(zip(column, names, strict=True)):
            name = metric + (" (log scale)" if ax.get_yscale() == "log" else "")
            if not sweep:
                ax.set_title(name)
                continue
            spec = ax.get_subplotspec()
            if spec is not None and spec.is_first_col():
                ax.set_ylabel(name)
            if row == 0:
                ax.set_title(point.title)


def log_axis(ax: Axes) -> None:
    """A log y axis labelled 0.2, 0.5, 1 rather than 2e-01, which students read more easily."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            # LogFormatter decides which (minor) ticks get a label; only the text is ours.
            return f"{x:g}" if super().__call__(x, pos) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def figure_title(what: str, result: RunResult, note: str = "") -> str:
    seeds = len({run.seed for run in result.runs})
    title = f"{what} - run {result.run_id}" + (f"\n{note}" if note else "")
    if seeds == 1:
        return f"{title}\n1 seed"
    spread = "± 1 std" if seeds > 2 else "min-max"
    if seeds > 2 and any(run.status != "ok" for run in result.runs):
        spread += " (min-max for 2 seeds)"
    return f"{title}\nline: mean over {seeds} seeds, band: {spread}"


def scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


# --- health.png ---------------------------------------------------------------------------------


def percent_of_units(counts: Sequence[int], hidden_units: int) -> float | None:
    if not counts or hidden_units <= 0:
        return None
    return 100.0 * sum(counts) / hidden_units


def layer_widths(result: RunResult, run: RunRecord) -> list[int] | None:
    """The hidden widths of a member (older runs: its grid point's or the config's model.hidden)."""
    if run.hidden_widths:
        return list(run.hidden_widths)
    hidden = run.grid.get("model.hidden", result.config.get("model", {}).get("hidden"))
    if (
        isinstance(hidden, list | tuple)
        and all(isinstance(width, int) for width in hidden)
        and sum(hidden) == run.hidden_units
    ):
        return list(hidden)
    return None
