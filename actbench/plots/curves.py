"""curves.png: train loss and test accuracy per epoch, per grid point."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from actbench.runs import RunResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from actbench.plots.common import (
    PERCENT,
    Color,
    EpochMetric,
    diverged_handle,
    draw_metric,
    drawn_points,
    figure_title,
    label_points,
    legend,
    panel_grid,
    pyplot,
    scaled,
    share_rows,
)

# --- curves.png ---------------------------------------------------------------------------------


def curves_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
    """Train loss and test accuracy per epoch; one column of panels per grid point."""
    metrics = (
        EpochMetric(
            "train loss", lambda run: list(run.history.train_loss), log=None, bounds=(0, math.inf)
        ),
        EpochMetric(
            "test accuracy (%)",
            lambda run: [scaled(value, 100.0) for value in run.history.test_accuracy],
            bounds=PERCENT,
        ),
    )
    if not any(metric.present(result.runs) for metric in metrics):
        return None
    plt = pyplot()
    points, note = drawn_points(result)
    figure, axes = panel_grid(
        plt, len(metrics), len(points), figure_title("Training", result, note)
    )
    share_rows(axes)
    diverged = False
    for row, metric in enumerate(metrics):
        diverged |= draw_metric([column[row] for column in axes], points, metric, colors)
    label_points(axes, points, [metric.name for metric in metrics])
    legend(figure, colors, [diverged_handle()] if diverged else [])
    return figure
