"""health.png: dead, dormant and saturated units and gradient norms, per epoch and per layer."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from actbench.runs import RunRecord, RunResult
from actbench.stats import geometric_mean, saturated_fraction, total_norm

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

from actbench.plots.common import (
    PERCENT,
    Color,
    EpochMetric,
    Point,
    diverged_handle,
    drawn_points,
    figure_title,
    label_points,
    layer_widths,
    legend,
    log_axis,
    metric_panels,
    percent_of_units,
    pyplot,
)

# --- health.png ---------------------------------------------------------------------------------


def _saturated_percent(per_layer: Sequence[float | None], widths: list[int] | None) -> float | None:
    """Saturated (sample, unit) pairs of all hidden layers (stats.saturated_fraction), in %."""
    fraction = saturated_fraction(per_layer, widths)
    return None if fraction is None else 100.0 * fraction


def by_epoch(run: RunRecord, values: Sequence[float | None]) -> list[float | None]:
    """A health series (one value per probed epoch) laid out one entry per epoch, None where
    the epoch was not probed (see metrics.health_every)."""
    probed = run.history.health_epochs
    if not probed:
        return list(values)
    laid_out: list[float | None] = [None] * max(probed)
    for epoch, value in zip(probed, values, strict=False):
        laid_out[epoch - 1] = value
    return laid_out


def _dead_series(run: RunRecord) -> list[float | None]:
    if not run.history.dead_per_layer:
        return []
    init = percent_of_units(run.dead_per_layer_init, run.hidden_units)
    return [init] + by_epoch(
        run,
        [percent_of_units(layers, run.hidden_units) for layers in run.history.dead_per_layer],
    )


def _health_metrics(result: RunResult) -> list[EpochMetric]:
    candidates = (
        EpochMetric("dead units (%)", _dead_series, first_epoch=0, bounds=PERCENT, from_zero=True),
        EpochMetric(
            "dormant units (%)",
            lambda run: by_epoch(
                run,
                [
                    percent_of_units(layers, run.hidden_units)
                    for layers in run.history.dormant_per_layer
                ],
            ),
            bounds=PERCENT,
            from_zero=True,
        ),
        EpochMetric(
            "saturated outputs (%)",
            lambda run: by_epoch(
                run,
                [
                    _saturated_percent(layers, layer_widths(result, run))
                    for layers in run.history.saturated_per_layer
                ],
            ),
            bounds=PERCENT,
            from_zero=True,
        ),
        EpochMetric(
            "gradient norm",
            lambda run: by_epoch(
                run, [total_norm(layers) for layers in run.history.grad_norm_per_layer]
            ),
            log=True,
        ),
    )
    return [metric for metric in candidates if metric.present(result.runs)]


def health_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
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
    plt = pyplot()
    points, note = drawn_points(result)
    profiles = [
        profile
        for profile in (_layer_profiles(result) if deep else [])
        if any(profile.start(run) for run in result.runs)
    ]
    names = [metric.name for metric in metrics] + [profile.name for profile in profiles]
    title = figure_title("Neuron health", result, note)
    figure, axes, diverged = metric_panels(plt, title, points, metrics, colors, len(names))
    extra = [diverged_handle()] if diverged else []
    for offset, profile in enumerate(profiles):
        for column, point in zip(axes, points, strict=True):
            _draw_layer_profile(column[len(metrics) + offset], point, colors, profile)
    if profiles:
        extra += _epoch_style_handles()
    label_points(axes, points, names)
    legend(figure, colors, extra)
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
    end: Callable[[RunRecord], list[float]] | None  # None: a view of the start only
    log: bool  # log axis and geometric mean over seeds; else linear 0-100 % and the mean


def _layer_percent(counts: Sequence[int], widths: list[int] | None) -> list[float]:
    if not counts or widths is None or len(widths) != len(counts):
        return []
    return [100.0 * count / width for count, width in zip(counts, widths, strict=True)]


def _layer_profiles(result: RunResult) -> list[_LayerProfile]:
    def widths(run: RunRecord) -> list[int] | None:
        return layer_widths(result, run)

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
        _LayerProfile(
            "output std by layer at init",
            lambda run: [float(v) for v in run.std_per_layer_init if v is not None],
            None,
            log=True,
        ),
    ]


def _draw_layer_profile(
    ax: Axes, point: Point, colors: dict[str, Color], profile: _LayerProfile
) -> None:
    from matplotlib.ticker import MaxNLocator

    for label, color in colors.items():
        members = point.members(label)
        views = [(profile.start, "--")]
        if profile.end is not None:
            views.append((profile.end, "-"))
        for values, style in views:
            rows = [row for row in (values(run) for run in members) if row]
            if not rows:
                continue
            depth = max(len(row) for row in rows)
            average = geometric_mean if profile.log else statistics.fmean
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
        log_axis(ax)
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
