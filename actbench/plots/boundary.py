"""boundary.png: the predicted class probability over the input plane, for 2-D data.

One panel per activation label and grid point, the mean over seeds of every member's predicted
probability, with the test points on top. Also the input-plane helpers neurons.png shares: the
data and plane of each grid point (`planar_points`) and a grid of raw points over its extent.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from actbench import format as fmt
from actbench.config import Config, ConfigError, DataConfig, config_from_mapping
from actbench.config import grid_points as config_grid_points
from actbench.errors import ActbenchError, RunFolderError
from actbench.plots.common import Color, Point, canonical, drawn_points, pyplot
from actbench.runs import RunResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure
    from torch import nn

    from actbench.data import RawSplit
    from actbench.plots import ModelSource

RESOLUTION = 150  # points per side of the plane grid
BATCH = 8192  # plane points per forward pass
PANEL_SIZE = 2.3  # inches, square
MAX_LABEL_COLUMNS = 6  # labels side by side; more wrap into another row
TITLE_SIZE = 12
MIN_FIGURE_WIDTH = 4.5  # inches: room for a title of a few words per line
MAX_FIGURE_SIZE = 21.0  # inches: panels shrink to keep a big sweep under ~2300 px at DPI 110
BINARY_CMAP = "RdBu_r"  # P(class 1): blue for class 0, red for class 1, white at 0.5
# Bands of 0.1 read like contour lines and keep the PNG small (smooth ramps compress badly).
LEVELS = 10
CLASS_CMAP = "tab10"


# --- the input plane (shared with neurons.py) ---------------------------------------------------


@dataclass(frozen=True)
class Plane:
    """A grid point's 2-D data: its raw split and a square part of the input plane around it."""

    data: DataConfig
    split: RawSplit
    extent: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max

    def grid(self, resolution: int) -> np.ndarray:
        """[resolution**2, 2] float64 raw points, row by row from y_min (imshow origin='lower')."""
        x_min, x_max, y_min, y_max = self.extent
        xs = np.linspace(x_min, x_max, resolution)
        ys = np.linspace(y_min, y_max, resolution)
        grid_x, grid_y = np.meshgrid(xs, ys)
        return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)


def square(extent: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The extent widened about its centre on the shorter side: square panels keep the shape."""
    x_min, x_max, y_min, y_max = extent
    width, height = x_max - x_min, y_max - y_min
    if width > height:
        pad = (width - height) / 2
        return (x_min, x_max, y_min - pad, y_max + pad)
    pad = (height - width) / 2
    return (x_min - pad, x_max + pad, y_min, y_max)


def planes_of(result: RunResult) -> dict[str, Plane]:
    """canonical(grid point values) -> its Plane, for the grid points with 2-D data.

    The run's resolved config (results.json) rebuilds every grid point's data exactly; a run
    whose config no longer loads has no planes.
    """
    from actbench.data import is_planar, split_raw

    try:
        config: Config = config_from_mapping(result.config)
        points = config_grid_points(config)
    except ConfigError:
        return {}
    planes = {}
    for point in points:
        data = point.config.data
        try:  # a data file may have gone since the run: no plane to draw then
            if not is_planar(data):
                continue
            split = split_raw(data)
        except ActbenchError:
            continue
        planes[canonical(point.values)] = Plane(data, split, square(split.extent()))
    return planes


def planar_points(result: RunResult) -> tuple[list[tuple[Point, Plane]], str]:
    """The drawn grid points (drawn_points) that have 2-D data, with their planes, and a note."""
    points, note = drawn_points(result)
    planes = planes_of(result)
    found = [(point, planes.get(canonical(point.grid))) for point in points]
    kept = [(point, plane) for point, plane in found if plane is not None]
    if kept and len(kept) < len(points):
        skipped = f"{fmt.plural(len(points) - len(kept), 'grid point')} without 2-D data not drawn"
        note = f"{note}; {skipped}" if note else skipped
    return kept, note


def planar_labels(
    result: RunResult, colors: dict[str, Color], models: ModelSource | None
) -> tuple[list[tuple[Point, Plane]], str, list[str]] | None:
    """What a figure over the input plane draws: the 2-D grid points with their planes, a note,
    and the labels they have; None without 2-D data or trained members."""
    if models is None:
        return None
    planar, note = planar_points(result)
    if not planar:
        return None
    labels = [label for label in colors if any(p.members(label) for p, _ in planar)]
    return planar, note, labels


def wrap_title(lines: Sequence[str], width: float, fontsize: float) -> list[str]:
    """Title lines wrapped to a figure `width` inches wide: small figures cut nothing."""
    # an average character of the default sans-serif font is about half an em wide
    chars = max(20, int(width * 72 / (0.5 * fontsize)))
    return [part for line in lines for part in textwrap.wrap(line, chars) or [""]]


def title_inches(lines: Sequence[str], fontsize: float) -> float:
    """The height a title of these lines takes, with its margin."""
    return len(lines) * 1.25 * fontsize / 72 + 0.2


def member_or_none(
    models: ModelSource, label: str, seed: int, grid: dict[str, Any]
) -> nn.Module | None:
    """The trained member, or None when the run did not keep it (a member that failed). A
    member the index lists but whose file is missing or corrupt is an error, not a gap."""
    try:
        return models(label, seed, grid)
    except RunFolderError:
        raise
    except ActbenchError:
        return None


def mean_accuracy(accuracies: Sequence[float | None]) -> float | None:
    finite = [value for value in accuracies if value is not None and math.isfinite(value)]
    return sum(finite) / len(finite) if finite else None


# --- probabilities ------------------------------------------------------------------------------


def probabilities(model: nn.Module, raw: np.ndarray, n_classes: int) -> np.ndarray:
    """[n, n_classes] predicted class probabilities at raw points (float64 in, as trained)."""
    import torch

    outputs = []
    with torch.no_grad():
        for start in range(0, len(raw), BATCH):
            chunk = torch.as_tensor(raw[start : start + BATCH], dtype=torch.float64)
            logits = model(chunk).double()
            if logits.shape[-1] == 1:  # sigmoid head: one logit, P(class 1)
                high = torch.sigmoid(logits[:, 0])
                outputs.append(torch.stack([1 - high, high], dim=1))
            else:
                outputs.append(torch.softmax(logits, dim=-1))
    probs = torch.cat(outputs).numpy()
    if probs.shape[1] != n_classes:
        raise ValueError(f"the model gives {probs.shape[1]} classes, the data {n_classes}")
    return probs


@dataclass(frozen=True)
class Panel:
    """One label at one grid point: the mean probabilities over its seeds, and its accuracy."""

    label: str
    probs: np.ndarray | None  # [resolution, resolution, n_classes]; None: no finite member
    seeds: int
    accuracy: float | None


def panel_of(models: ModelSource, point: Point, plane: Plane, label: str, raw: np.ndarray) -> Panel:
    members = point.members(label)
    stack = []
    for run in members:
        model = member_or_none(models, label, run.seed, point.grid)
        if model is None:
            continue
        probs = probabilities(model, raw, plane.split.n_classes)
        if np.isfinite(probs).all():  # a diverged member predicts NaN everywhere
            stack.append(probs)
    accuracy = mean_accuracy([run.test_accuracy for run in members])
    if not stack:
        return Panel(label, None, 0, accuracy)
    mean = np.mean(stack, axis=0).reshape(RESOLUTION, RESOLUTION, -1)
    return Panel(label, mean, len(stack), accuracy)


# --- drawing ------------------------------------------------------------------------------------


def banded(name: str) -> Colormap:
    import matplotlib

    return matplotlib.colormaps[name].resampled(LEVELS)


def class_colors(n_classes: int) -> list[Color]:
    """Binary: the two ends of BINARY_CMAP, darkened for the points; more: CLASS_CMAP."""
    import matplotlib

    if n_classes == 2:
        cmap = matplotlib.colormaps[BINARY_CMAP]
        return [cmap(0.02), cmap(0.98)]
    cmap = matplotlib.colormaps[CLASS_CMAP]
    return [cmap(i % 10) for i in range(n_classes)]


def most_probable_image(probs: np.ndarray) -> np.ndarray:
    """RGB: the most probable class's colour, blended from white by its probability."""
    colors = np.array(class_colors(probs.shape[-1]))[:, :3]
    winner = probs.argmax(-1)
    strength = np.ceil(probs.max(-1) * LEVELS)[..., None] / LEVELS
    return 1 - strength * (1 - colors[winner])


def draw_panel(ax: Axes, panel: Panel, plane: Plane, binary: bool) -> None:
    """binary: P(class 1) as filled contours; else the most probable class (any class count)."""
    n_classes = plane.split.n_classes
    if panel.probs is None:
        ax.text(0.5, 0.5, "no finite member", ha="center", va="center", transform=ax.transAxes)
    elif binary:
        p_high = panel.probs[..., 1]
        xs = np.linspace(plane.extent[0], plane.extent[1], RESOLUTION)
        ys = np.linspace(plane.extent[2], plane.extent[3], RESOLUTION)
        ax.contourf(xs, ys, p_high, levels=np.linspace(0.0, 1.0, LEVELS + 1), cmap=BINARY_CMAP)
        if p_high.min() < 0.5 < p_high.max():
            ax.contour(xs, ys, p_high, levels=[0.5], colors="k", linewidths=1.0)
    else:
        ax.imshow(
            most_probable_image(panel.probs),
            extent=plane.extent,
            origin="lower",
            interpolation="nearest",
            aspect="auto",  # the plane is square already; as contourf, fill the panel
        )
    colors = class_colors(n_classes)
    split = plane.split
    ax.scatter(
        split.x_test[:, 0],
        split.x_test[:, 1],
        s=7,
        c=[colors[int(y)] for y in split.y_test],
        edgecolors="white",
        linewidths=0.4,
    )
    ax.set_xlim(plane.extent[0], plane.extent[1])
    ax.set_ylim(plane.extent[2], plane.extent[3])
    ax.set_box_aspect(1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("0.6")
    accuracy = "n/a" if panel.accuracy is None else f"{fmt.percent(panel.accuracy)} %"
    ax.set_title(f"{panel.label}\n{accuracy}", fontsize=9)


def boundary_figure(
    result: RunResult, colors: dict[str, Color], models: ModelSource | None
) -> Figure | None:
    """Mean predicted probability over the input plane per label (x grid point); 2-D data only."""
    found = planar_labels(result, colors, models)
    if found is None or models is None:
        return None
    planar, note, labels = found
    panels = []
    for point, plane in planar:
        raw = plane.grid(RESOLUTION)
        panels.append([panel_of(models, point, plane, label, raw) for label in labels])
    if not any(panel.probs is not None for row in panels for panel in row):
        return None

    columns = min(len(labels), MAX_LABEL_COLUMNS)
    rows_per_point = math.ceil(len(labels) / columns)
    if len(planar) == 1 and len(labels) > 3:  # one point: as square a block as possible
        columns = math.ceil(len(labels) / math.ceil(len(labels) / 4))
        rows_per_point = math.ceil(len(labels) / columns)
    nrows = rows_per_point * len(planar)
    size = min(PANEL_SIZE, (MAX_FIGURE_SIZE - 1.2) / columns, (MAX_FIGURE_SIZE - 1.5) / nrows)
    width = max(MIN_FIGURE_WIDTH, size * columns + 1.6)
    # one colour scale for the whole figure: P(class 1) only where every panel is binary
    binary = all(plane.split.n_classes == 2 for _, plane in planar)
    seeds = max(panel.seeds for row in panels for panel in row)
    mean = f"mean over {fmt.plural(seeds, 'seed')}" if seeds > 1 else "1 seed"
    if binary:
        cmap, bar_label = BINARY_CMAP, "P(class 1)"
        what = f"P(class 1) over the input plane, {mean}"
        marks = "black line: P = 0.5; dots: the test points"
    else:
        cmap, bar_label = "Greys", "P(most probable class)"
        what = f"colour: the most probable class, intensity: its probability, {mean}"
        marks = "dots: the test points"
    lines = [f"Decision boundaries - run {result.run_id}", what, marks]
    title = wrap_title([*lines, note] if note else lines, width, TITLE_SIZE)
    plt = pyplot()
    figure = plt.figure(
        figsize=(width, size * nrows + 0.5 * nrows + title_inches(title, TITLE_SIZE)),
        layout="constrained",
    )
    grid = figure.subplots(nrows, columns, squeeze=False)
    sweep = len(planar) > 1 or bool(planar[0][0].grid)
    drawn = []
    for index, ((point, plane), row) in enumerate(zip(planar, panels, strict=True)):
        for position, panel in enumerate(row):
            ax = grid[index * rows_per_point + position // columns, position % columns]
            draw_panel(ax, panel, plane, binary)
            drawn.append(ax)
            if sweep and position % columns == 0:
                ax.set_ylabel(point.title, fontsize=9)
        for position in range(len(row), rows_per_point * columns):
            grid[index * rows_per_point + position // columns, position % columns].remove()

    mappable = plt.cm.ScalarMappable(plt.Normalize(0.0, 1.0), banded(cmap))
    figure.colorbar(mappable, ax=drawn, shrink=0.8, label=bar_label, aspect=30)
    figure.suptitle("\n".join(title), fontsize=TITLE_SIZE)
    return figure
