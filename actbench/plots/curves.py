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
    drawn_points,
    figure_title,
    label_points,
    legend,
    metric_panels,
    pyplot,
    scaled,
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
    title = figure_title("Training", result, note)
    figure, axes, diverged = metric_panels(plt, title, points, metrics, colors)
    label_points(axes, points, [metric.name for metric in metrics])
    legend(figure, colors, [diverged_handle()] if diverged else [])
    return figure
