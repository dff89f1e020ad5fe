"""PNG figures of a run and the report.md body that shows them.

matplotlib (and torch, for activations.png) are imported inside the functions that draw, so
importing this module costs no more than importing the result schema.

Every figure uses one colour per activation label, the same in all figures. Per-epoch lines are
the mean over seeds with a band for the spread: mean ± 1 std where 3 or more seeds have a value,
min-max where only 2 do. A member that diverged stops early (its history is shorter or ends in
None); each epoch is averaged over the members that still have a value, and the last value of a
diverged member is marked with a cross.
"""

from __future__ import annotations

import io
import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from actbench.errors import ActivationError
from actbench.runs import RunRecord, RunResult, SummaryRow, write_atomic

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

CAPTIONS: dict[str, str] = {
    "curves": "Training curves: train loss and test accuracy after every epoch "
    "(line: mean over seeds; band: ± 1 std, min-max with 2 seeds; x: a seed diverged there).",
    "health": "Neuron health: dead, dormant and saturated hidden units (% of all hidden units) "
    "and the gradient norm after every epoch; epoch 0 is the network at initialisation.",
    "sweep": "Sweep: final test accuracy (error bars: 95% confidence interval of the mean "
    "over seeds) and dead hidden units at each grid point.",
    "activations": "The activation functions of this run: f(x) solid, its derivative f'(x) dashed.",
}


def write_figures(result: RunResult, out_dir: Path) -> list[Path]:
    """Write the PNG figures of a run into out_dir; return their paths (in a stable order).

    curves.png, health.png, sweep.png (only for a sweep over a numeric key) and
    activations.png; a figure with nothing to show (e.g. no per-epoch history) is not written.
    """
    plt = _pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = _label_colors(result)
    builders: tuple[tuple[str, Callable[[RunResult, dict[str, Color]], Figure | None]], ...] = (
        ("curves.png", _curves_figure),
        ("health.png", _health_figure),
        ("sweep.png", _sweep_figure),
        ("activations.png", _activations_figure),
    )
    written = []
    with plt.rc_context(RC_PARAMS):
        for name, build in builders:
            figure = build(result, colors)
            if figure is None:
                continue
            try:
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png", dpi=DPI)
            finally:
                plt.close(figure)
            path = out_dir / name
            write_atomic(path, buffer.getvalue())
            written.append(path)
    return written


def report_markdown(result: RunResult, figures: Sequence[Path], table_markdown: str) -> str:
    """A report.md body: title, the table (given, already Markdown), and every figure.

    Figures are linked by file name: report.md is meant to sit in the same folder.
    """
    labels = list(dict.fromkeys(run.label for run in result.runs))
    seeds = {run.seed for run in result.runs}
    points = _grid_points(result)
    shape = f"{len(labels)} activations × {len(seeds)} seeds" + (
        f" × {len(points)} grid points" if _has_sweep(result) else ""
    )
    lines = [
        f"# actbench run `{result.run_id}`",
        "",
        f"{len(result.runs)} models ({shape}) on {result.device}, {result.seconds:.1f} s.",
    ]
    if result.status == "interrupted":
        lines += ["", "**Interrupted:** partial results of the epochs that finished."]
    if result.notices:
        lines += ["", *(f"- {notice}" for notice in result.notices)]
    lines += ["", "## Results", "", table_markdown.rstrip("\n")]
    if figures:
        lines += ["", "## Figures"]
    for figure in figures:
        caption = CAPTIONS.get(figure.stem, figure.stem)
        lines += ["", f"![{figure.stem}]({figure.name})", "", f"*{caption}*"]
    return "\n".join(lines) + "\n"


# --- building blocks ----------------------------------------------------------------------------


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label_colors(result: RunResult) -> dict[str, Color]:
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
class _GridPoint:
    """One point of a sweep (the one empty point without a sweep) and its members."""

    grid: dict[str, Any]
    title: str
    runs: tuple[RunRecord, ...]

    def members(self, label: str) -> list[RunRecord]:
        return [run for run in self.runs if run.label == label]


def _canonical(value: dict[str, Any]) -> str:
    """A hashable, order-independent key for a dict that may hold lists (grid points, params)."""
    return json.dumps(value, sort_keys=True, default=str)


def _has_sweep(result: RunResult) -> bool:
    return any(run.grid for run in result.runs)


def _grid_points(result: RunResult) -> list[_GridPoint]:
    """Members grouped by grid point, in the order the points first appear."""
    groups: dict[str, list[RunRecord]] = {}
    for run in result.runs:
        groups.setdefault(_canonical(run.grid), []).append(run)
    names = _short_names([key for run in result.runs for key in run.grid])
    return [
        _GridPoint(runs[0].grid, _grid_title(runs[0].grid, names), tuple(runs))
        for runs in groups.values()
    ]


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """'train.lr' -> 'lr', unless two keys share their last part."""
    unique = list(dict.fromkeys(keys))
    last = [key.rsplit(".", 1)[-1] for key in unique]
    return {
        key: (short if last.count(short) == 1 else key)
        for key, short in zip(unique, last, strict=True)
    }


def _grid_title(grid: dict[str, Any], names: dict[str, str]) -> str:
    return ", ".join(f"{names.get(key, key)}={_format_value(value)}" for key, value in grid.items())


def _format_value(value: Any) -> str:
    """A sweep value, compactly: 0.001, '50' for [50], '3x10' for ten 3s, '50,20'."""
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if len(value) > 1 and all(item == value[0] for item in value):
            return f"{_format_value(value[0])}x{len(value)}"
        return ",".join(_format_value(item) for item in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- per-epoch statistics -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Band:
    """Per-epoch mean over seeds with a spread band; NaN where no seed has a value."""

    epochs: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]

    @property
    def finite(self) -> list[float]:
        return [value for value in self.mean if math.isfinite(value)]


def _seed_band(
    series: Sequence[Sequence[float | None]], first_epoch: int = 1, log: bool = False
) -> _Band | None:
    """Mean and spread over members at every epoch, from the members that have a value there.

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
    band = _Band(list(range(first_epoch, first_epoch + length)), mean, low, high)
    return band if band.finite else None


# --- panel layout -------------------------------------------------------------------------------


def _panel_grid(
    plt: ModuleType, rows_per_point: int, n_points: int, title: str
) -> tuple[Figure, list[list[Axes]]]:
    """A figure with axes[point][row]: one column per grid point, wrapped after MAX_COLUMNS.

    Without a sweep the rows of the single point are laid out side by side instead.
    """
    if n_points == 1:
        ncols = _balanced_columns(rows_per_point, 3)
        nrows = math.ceil(rows_per_point / ncols)
    else:
        ncols = _balanced_columns(n_points, MAX_COLUMNS)
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
    _suptitle(figure, title)
    return figure, axes


def _suptitle(figure: Figure, text: str) -> None:
    """Centred over the panels rather than the figure, so it stays clear of the legend."""
    figure.suptitle(text, x=0.5 * (1 - LEGEND_WIDTH / figure.get_figwidth()))


def _balanced_columns(count: int, most: int) -> int:
    """Columns for count panels, at most `most`, with the rows as evenly filled as possible."""
    return math.ceil(count / math.ceil(count / most))


def _share_rows(axes: list[list[Axes]]) -> None:
    """Panels of the same quantity share their x and y axes across grid points."""
    for row, first in enumerate(axes[0]):
        for column in axes[1:]:
            column[row].sharex(first)
            column[row].sharey(first)


def _legend(figure: Figure, colors: dict[str, Color], extra: Sequence[Line2D] = ()) -> None:
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


def _diverged_handle(text: str = "seed diverged") -> Line2D:
    from matplotlib.lines import Line2D

    return Line2D([], [], color="0.3", label=text, **DIVERGED_MARKER)


@dataclass(frozen=True)
class _EpochMetric:
    """A per-epoch quantity of one member, drawn as the mean over seeds with a spread band."""

    name: str
    series: Callable[[RunRecord], list[float | None]]
    first_epoch: int = 1
    log: bool | None = False  # None: a log scale if the values span more than LOG_RATIO
    bounds: tuple[float, float] = (-math.inf, math.inf)  # the band is clipped to these
    from_zero: bool = False  # a count: the y axis starts at 0

    def present(self, runs: Sequence[RunRecord]) -> bool:
        return any(value is not None for run in runs for value in self.series(run))


def _bands(
    points: Sequence[_GridPoint], metric: _EpochMetric, labels: Iterable[str], log: bool
) -> dict[tuple[int, str], _Band]:
    """(grid point index, label) -> the label's band at that point, where it has values."""
    bands = {}
    for index, point in enumerate(points):
        for label in labels:
            series = [metric.series(run) for run in point.members(label)]
            band = _seed_band(series, metric.first_epoch, log=log)
            if band is not None:
                bands[index, label] = band
    return bands


def _draw_metric(
    axes: Sequence[Axes],
    points: Sequence[_GridPoint],
    metric: _EpochMetric,
    colors: dict[str, Color],
) -> bool:
    """Draw one metric in one panel per grid point; True if a seed diverged in any of them."""
    log = bool(metric.log)
    bands = _bands(points, metric, colors, log)
    if metric.log is None:
        values = [
            value
            for band in bands.values()
            for value in [*band.finite, *band.high]
            if math.isfinite(value)
        ]
        if values and min(values) > 0 and max(values) / min(values) > LOG_RATIO:
            log = True
            bands = _bands(points, metric, colors, log)
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
            ax.plot(
                band.epochs,
                band.mean,
                color=color,
                linewidth=1.6,
                label=label,
                marker="o" if single else None,
            )
            ax.fill_between(band.epochs, low, high, color=color, alpha=alpha, linewidth=0)
            for run in point.members(label):
                if run.status == "diverged" and _mark_divergence(ax, run, metric, color):
                    diverged = True
        if log:
            _log_axis(ax)
        ax.set_xlabel("epoch")
    if metric.from_zero:
        for ax in axes:
            ax.set_ylim(0, max(ax.get_ylim()[1], 1.0))
    return diverged


def _mark_divergence(ax: Axes, run: RunRecord, metric: _EpochMetric, color: Color) -> bool:
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


def _label_points(
    axes: list[list[Axes]], points: Sequence[_GridPoint], names: Sequence[str]
) -> None:
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


def _log_axis(ax: Axes) -> None:
    """A log y axis labelled 0.2, 0.5, 1 rather than 2e-01, which students read more easily."""
    from matplotlib.ticker import LogFormatter

    class PlainLogFormatter(LogFormatter):
        def __call__(self, x: float, pos: int | None = None) -> str:
            # LogFormatter decides which (minor) ticks get a label; only the text is ours.
            return f"{x:g}" if super().__call__(x, pos) else ""

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PlainLogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


# --- curves.png ---------------------------------------------------------------------------------


def _curves_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
    """Train loss and test accuracy per epoch; one column of panels per grid point."""
    metrics = (
        _EpochMetric(
            "train loss", lambda run: list(run.history.train_loss), log=None, bounds=(0, math.inf)
        ),
        _EpochMetric(
            "test accuracy (%)",
            lambda run: [_scaled(value, 100.0) for value in run.history.test_accuracy],
            bounds=PERCENT,
        ),
    )
    if not any(metric.present(result.runs) for metric in metrics):
        return None
    plt = _pyplot()
    points = _grid_points(result)
    figure, axes = _panel_grid(plt, len(metrics), len(points), _figure_title("Training", result))
    _share_rows(axes)
    diverged = False
    for row, metric in enumerate(metrics):
        diverged |= _draw_metric([column[row] for column in axes], points, metric, colors)
    _label_points(axes, points, [metric.name for metric in metrics])
    _legend(figure, colors, [_diverged_handle()] if diverged else [])
    return figure


def _figure_title(what: str, result: RunResult) -> str:
    seeds = len({run.seed for run in result.runs})
    if seeds == 1:
        return f"{what} - run {result.run_id}\n1 seed"
    spread = "± 1 std" if seeds > 2 else "min-max"
    if seeds > 2 and any(run.status != "ok" for run in result.runs):
        spread += " (min-max for 2 seeds)"
    return f"{what} - run {result.run_id}\nline: mean over {seeds} seeds, band: {spread}"


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


# --- health.png ---------------------------------------------------------------------------------


def _percent_of_units(counts: Sequence[int], hidden_units: int) -> float | None:
    if not counts or hidden_units <= 0:
        return None
    return 100.0 * sum(counts) / hidden_units


def _layer_widths(result: RunResult, run: RunRecord) -> list[int] | None:
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


def _saturated_percent(per_layer: Sequence[float | None], widths: list[int] | None) -> float | None:
    """Saturated (sample, unit) pairs of all hidden layers, weighted by layer width if known."""
    if not per_layer or any(value is None for value in per_layer):
        return None
    fractions = [float(value) for value in per_layer if value is not None]
    if widths is not None and len(widths) == len(fractions):
        return 100.0 * sum(f * w for f, w in zip(fractions, widths, strict=True)) / sum(widths)
    return 100.0 * statistics.fmean(fractions)


def _total_norm(per_layer: Sequence[float | None]) -> float | None:
    """The L2 norm of all hidden layers' weight gradients together."""
    if not per_layer or any(value is None for value in per_layer):
        return None
    return math.sqrt(sum(float(value) ** 2 for value in per_layer if value is not None))


def _dead_series(run: RunRecord) -> list[float | None]:
    if not run.history.dead_per_layer:
        return []
    init = _percent_of_units(run.dead_per_layer_init, run.hidden_units)
    return [init] + [
        _percent_of_units(layers, run.hidden_units) for layers in run.history.dead_per_layer
    ]


def _health_metrics(result: RunResult) -> list[_EpochMetric]:
    candidates = (
        _EpochMetric("dead units (%)", _dead_series, first_epoch=0, bounds=PERCENT, from_zero=True),
        _EpochMetric(
            "dormant units (%)",
            lambda run: [
                _percent_of_units(layers, run.hidden_units)
                for layers in run.history.dormant_per_layer
            ],
            bounds=PERCENT,
            from_zero=True,
        ),
        _EpochMetric(
            "saturated outputs (%)",
            lambda run: [
                _saturated_percent(layers, _layer_widths(result, run))
                for layers in run.history.saturated_per_layer
            ],
            bounds=PERCENT,
            from_zero=True,
        ),
        _EpochMetric(
            "gradient norm",
            lambda run: [_total_norm(layers) for layers in run.history.grad_norm_per_layer],
            log=True,
        ),
    )
    return [metric for metric in candidates if metric.present(result.runs)]


def _health_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
    """Dead, dormant, saturated units and the gradient norm per epoch, per grid point.

    For nets with more than one hidden layer, three more rows show each hidden layer (x: layer,
    1 = next to the input): its dead and dormant units (% of the layer) and its gradient norm
    (log y), one line per label at the start (dashed: init for dead units, else epoch 1) and at
    the last epoch (solid). Which layers die and where gradients vanish show there, and it stays
    readable with many labels, which per-layer lines over epochs or heat-maps would not.
    """
    metrics = _health_metrics(result)
    deep = any(len(layers) > 1 for run in result.runs for layers in run.history.grad_norm_per_layer)
    if not metrics:
        return None
    plt = _pyplot()
    points = _grid_points(result)
    profiles = _layer_profiles(result) if deep else []
    names = [metric.name for metric in metrics] + [profile.name for profile in profiles]
    figure, axes = _panel_grid(plt, len(names), len(points), _figure_title("Neuron health", result))
    _share_rows(axes)
    diverged = False
    for row, metric in enumerate(metrics):
        diverged |= _draw_metric([column[row] for column in axes], points, metric, colors)
    extra = [_diverged_handle()] if diverged else []
    for offset, profile in enumerate(profiles):
        for column, point in zip(axes, points, strict=True):
            _draw_layer_profile(column[len(metrics) + offset], point, colors, profile)
    if profiles:
        extra += _epoch_style_handles()
    _label_points(axes, points, names)
    _legend(figure, colors, extra)
    return figure


def _epoch_style_handles() -> list[Line2D]:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], color="0.3", linestyle="--", marker="o", markersize=3, label="start"),
        Line2D([], [], color="0.3", linestyle="-", marker="o", markersize=3, label="last epoch"),
    ]


@dataclass(frozen=True)
class _LayerProfile:
    """One per-layer view: a run's values per hidden layer at the start and at the end."""

    name: str
    start: Callable[[RunRecord], list[float]]
    end: Callable[[RunRecord], list[float]]
    log: bool  # log axis and geometric mean over seeds; else linear 0-100 % and the mean


def _layer_percent(counts: Sequence[int], widths: list[int] | None) -> list[float]:
    if not counts or widths is None or len(widths) != len(counts):
        return []
    return [100.0 * count / width for count, width in zip(counts, widths, strict=True)]


def _layer_profiles(result: RunResult) -> list[_LayerProfile]:
    def widths(run: RunRecord) -> list[int] | None:
        return _layer_widths(result, run)

    def history_percent(series: str, index: int) -> Callable[[RunRecord], list[float]]:
        def values(run: RunRecord) -> list[float]:
            epochs = getattr(run.history, series)
            return _layer_percent(epochs[index], widths(run)) if epochs else []

        return values

    return [
        _LayerProfile(
            "dead by layer (%)",
            lambda run: _layer_percent(run.dead_per_layer_init, widths(run)),
            history_percent("dead_per_layer", -1),
            log=False,
        ),
        _LayerProfile(
            "dormant by layer (%)",
            history_percent("dormant_per_layer", 0),
            history_percent("dormant_per_layer", -1),
            log=False,
        ),
        _LayerProfile(
            "gradient norm by layer",
            lambda run: _epoch_norms(run, "first"),
            lambda run: _epoch_norms(run, "last"),
            log=True,
        ),
    ]


def _draw_layer_profile(
    ax: Axes, point: _GridPoint, colors: dict[str, Color], profile: _LayerProfile
) -> None:
    from matplotlib.ticker import MaxNLocator

    for label, color in colors.items():
        members = point.members(label)
        for values, style in ((profile.start, "--"), (profile.end, "-")):
            rows = [row for row in (values(run) for run in members) if row]
            if not rows:
                continue
            depth = max(len(row) for row in rows)
            average = _geometric_mean if profile.log else statistics.fmean
            line = [
                average([row[layer] for row in rows if layer < len(row)]) for layer in range(depth)
            ]
            ax.plot(
                range(1, depth + 1),
                line,
                color=color,
                linestyle=style,
                marker="o",
                markersize=3,
                label=label,
            )
    if profile.log:
        _log_axis(ax)
    else:
        ax.set_ylim(-2, 102)
    ax.set_xlabel("hidden layer (1 = next to the input)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _epoch_norms(run: RunRecord, which: str) -> list[float]:
    """Per-layer gradient norms after epoch 1 or after the member's last complete epoch."""
    complete = [
        [float(value) for value in layers if value is not None]
        for layers in run.history.grad_norm_per_layer
        if layers and all(value is not None and math.isfinite(value) for value in layers)
    ]
    if not complete:
        return []
    return complete[0] if which == "first" else complete[-1]


def _geometric_mean(values: Sequence[float]) -> float:
    positive = [value for value in values if value > 0]
    if not positive:
        return math.nan  # a zero gradient cannot be drawn on a log axis: a gap
    return 10 ** statistics.fmean(math.log10(value) for value in positive)


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
        if not all(_is_number(value) for value in values):
            continue
        distinct = len(set(values))
        if distinct > 1 and (best is None or distinct > best[0]):
            best = (distinct, key)
    if best is None:
        return None
    return _SweepAxis(best[1], tuple(key for key in keys if key != best[1]))


def _sweep_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
    """Final test accuracy and dead units against the numeric sweep key.

    One colour per label; with more sweep keys, one line style per combination of the others.
    """
    axis = _sweep_axis(result)
    if axis is None:
        return None
    from matplotlib.lines import Line2D

    plt = _pyplot()

    def style_of(row: SummaryRow) -> str:
        return _canonical({key: row.grid.get(key) for key in axis.others})

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
        ax.set_xticks(xs, [_format_value(x) for x in xs])
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
    _suptitle(figure, f"Sweep over {axis.key} - run {result.run_id}\nerror bars: {bars}")
    names = _short_names([axis.key, *axis.others])
    extra = [
        Line2D(
            [],
            [],
            color="0.3",
            linestyle=STYLES[i % len(STYLES)],
            marker=MARKERS[i % len(MARKERS)],
            markersize=4,
            label=_grid_title(json.loads(style), names),
        )
        for i, style in enumerate(styles)
        if axis.others
    ]
    if diverged:
        extra.append(_diverged_handle("a seed diverged:\nmean of the others"))
    _legend(figure, colors, extra)
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
            if run.label == row.label and _canonical(run.grid) == _canonical(row.grid)
        ),
        0,
    )
    if row.dead_neurons_mean is None or units <= 0:
        return math.nan
    return 100.0 * row.dead_neurons_mean / units


# --- activations.png ----------------------------------------------------------------------------


def _activations_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
    """f(x) and f'(x) on [-4, 4] for every distinct (activation, params) of the run."""
    entries: dict[str, RunRecord] = {}
    for run in result.runs:
        entries.setdefault(_canonical({"name": run.activation, "params": run.params}), run)
    if not entries:
        return None
    from matplotlib.lines import Line2D

    plt = _pyplot()
    ncols = _balanced_columns(len(entries), 4)
    nrows = math.ceil(len(entries) / ncols)
    figure = plt.figure(
        figsize=(2.9 * ncols + LEGEND_WIDTH, 2.4 * nrows + 0.5), layout="constrained"
    )
    grid = figure.subplots(nrows, ncols, squeeze=False)
    for index, run in enumerate(entries.values()):
        ax = grid[index // ncols, index % ncols]
        ax.axhline(0, color="0.6", linewidth=0.8)
        ax.axvline(0, color="0.6", linewidth=0.8)
        try:
            xs, ys, slopes, note = _activation_curve(run.activation, run.params)
        except ActivationError as exc:
            ax.text(
                0.5,
                0.5,
                str(exc),
                ha="center",
                va="center",
                wrap=True,
                fontsize=7,
                transform=ax.transAxes,
            )
            ax.set_title(run.label)
            continue
        color = colors.get(run.label, (0.0, 0.0, 0.0, 1.0))
        ax.plot(xs, ys, color=color, linewidth=1.8, label=run.label)
        ax.plot(xs, slopes, color=color, linewidth=1.4, linestyle="--")
        ax.set_title(run.label + note)
        ax.set_xlabel("x")
    for index in range(len(entries), nrows * ncols):
        grid[index // ncols, index % ncols].remove()
    _suptitle(figure, "Activation functions: f(x) and its derivative f'(x)")
    figure.legend(
        handles=[
            Line2D([], [], color="0.2", linewidth=1.8, label="f(x)"),
            Line2D([], [], color="0.2", linewidth=1.4, linestyle="--", label="f'(x)"),
        ],
        loc="outside right upper",
    )
    return figure


def _activation_curve(
    name: str, params: dict[str, Any]
) -> tuple[list[float], list[float], list[float], str]:
    """x, f(x), f'(x) (as backpropagation sees it) and a title note for non-elementwise f."""
    import torch

    from actbench import activations

    spec = activations.get(name)
    module = spec.build(params).to(torch.float64)
    x = torch.linspace(-4.0, 4.0, 401, dtype=torch.float64)
    note = ""
    z = x
    if not spec.elementwise:
        # softmax needs a vector: softmax([x, 0])[0] is sigmoid(x), the one-unit view of it.
        z = torch.stack([x, torch.zeros_like(x)], dim=1)
        note = "\nsoftmax([x, 0]), first output"
    with torch.no_grad():
        y = module(z)
    slope = activations.derivative(module, spec, z)
    if not spec.elementwise:
        y, slope = y[:, 0], slope[:, 0]
    return x.tolist(), y.detach().tolist(), slope.detach().tolist(), note
