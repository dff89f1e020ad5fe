"""neurons.png: the first hidden layer's units as maps over the input plane, for 2-D data.

As in TensorFlow Playground: tile j shows h_j(x) = f(W1_j . standardise(x) + b1_j) over the
plane, scaled to its own range. One row per activation label and grid point (while they fit in
MAX_ROWS), seed 0's member (the lowest seed when the run has no seed 0). A dead unit (its
output exactly constant over the training split, the definition of metrics.py) is a grey tile
with a red cross. Each row is one image (a mosaic of tiles), not one axes per unit: a run of
six activations x 32 units draws in well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from actbench.plots.boundary import (
    Plane,
    member_or_none,
    planar_labels,
    title_inches,
    wrap_title,
)
from actbench.plots.common import Color, pyplot
from actbench.runs import RunResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor, nn

    from actbench.model import SimpleNN
    from actbench.plots import ModelSource

TILE = 40  # pixels per side of a unit's map
GAP = 1  # pixels between tiles
MAX_UNITS = 32  # tiles per row
MAX_ROWS = 60  # (label, grid point) rows: every data set of a playground-sized sweep
TILE_INCHES = 0.38
MIN_FIGURE_WIDTH = 6.0  # inches: room for the title
TITLE_SIZE = 10
LABEL_INCHES = 2.6
ROW_GAP_INCHES = 0.12
UNIT_CMAP = "viridis"
UNIT_LEVELS = 12  # colour bands: contour-like, and a far smaller PNG than smooth ramps
DEAD_GREY = 0.82
GAP_WHITE = 1.0
CROSS_COLOR = "#d62728"


@dataclass(frozen=True)
class UnitMaps:
    """One member's first hidden layer over the plane and which of its units are dead."""

    maps: np.ndarray  # [units, TILE, TILE], rows from y_min
    dead: np.ndarray  # [units] bool


def first_layer(network: SimpleNN, inputs: Tensor) -> Tensor:
    """h = f(W1 x + b1): the member's own first Linear and activation module, [n, units]."""
    return network.acts[0](network.hidden[0](inputs))


def unit_maps(model: nn.Module, plane: Plane) -> UnitMaps:
    """The first layer of a member (Standardize + SimpleNN) on a TILE x TILE grid of the plane.

    Dead: no output over the raw training split, standardised by the member's own scaler,
    differs from the first one (metrics.py).
    """
    import torch

    from actbench.model import SimpleNN

    scaler, network = model.get_submodule("scaler"), model.get_submodule("network")
    if not isinstance(network, SimpleNN):
        raise TypeError(f"a member is Standardize + SimpleNN, not {type(network).__name__}")
    with torch.no_grad():
        train = first_layer(network, scaler(torch.as_tensor(plane.split.x_train)))
        dead = (train == train[0]).all(dim=0).numpy()
        grid = first_layer(network, scaler(torch.as_tensor(plane.grid(TILE))))
    maps = grid.double().numpy().T.reshape(-1, TILE, TILE)
    return UnitMaps(maps, dead)


def mosaic(units: UnitMaps, shown: int) -> np.ndarray:
    """RGB [TILE, shown * (TILE + GAP) - GAP, 3]: each tile coloured over its own range."""
    import matplotlib

    cmap = matplotlib.colormaps[UNIT_CMAP].resampled(UNIT_LEVELS)
    width = shown * (TILE + GAP) - GAP
    image = np.full((TILE, width, 3), GAP_WHITE)
    for j in range(shown):
        left = j * (TILE + GAP)
        tile = units.maps[j]
        if units.dead[j]:
            image[:, left : left + TILE] = DEAD_GREY
            continue
        finite = tile[np.isfinite(tile)]
        low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
        scaled = (tile - low) / (high - low) if high > low else np.full_like(tile, 0.5)
        image[:, left : left + TILE] = cmap(np.nan_to_num(scaled, nan=0.5))[..., :3]
    return image


def cross_lines(dead: np.ndarray, shown: int) -> tuple[list[float], list[float]]:
    """x and y of a red cross over each dead tile (pixel coordinates), NaN between crosses."""
    xs: list[float] = []
    ys: list[float] = []
    for j in range(shown):
        if not dead[j]:
            continue
        left, right = j * (TILE + GAP) - 0.5, j * (TILE + GAP) + TILE - 0.5
        top, bottom = -0.5, TILE - 0.5
        xs += [left, right, np.nan, left, right, np.nan]
        ys += [top, bottom, np.nan, bottom, top, np.nan]
    return xs, ys


@dataclass(frozen=True)
class Row:
    label: str  # the row's text: "relu: 7 of 32 dead"
    units: UnitMaps


def row_label(label: str, point_title: str, units: UnitMaps) -> str:
    dead, total = int(units.dead.sum()), len(units.dead)
    where = f"{point_title}\n" if point_title else ""
    return f"{where}{label}: {dead} of {total} dead"


def neurons_figure(
    result: RunResult, colors: dict[str, Color], models: ModelSource | None
) -> Figure | None:
    """seed 0's first hidden layer, unit by unit, over the input plane; 2-D data only."""
    found = planar_labels(result, colors, models)
    if found is None or models is None:
        return None
    planar, note, labels = found
    fit = max(1, MAX_ROWS // max(1, len(labels)))
    shown_points = planar[:fit]
    rows: list[Row] = []
    seeds: set[int] = set()
    sweep = len(planar) > 1 or bool(planar[0][0].grid)
    for point, plane in shown_points:
        for label in labels[:MAX_ROWS]:
            members = point.members(label)
            if not members:
                continue
            seed = 0 if any(run.seed == 0 for run in members) else min(r.seed for r in members)
            model = member_or_none(models, label, seed, point.grid)
            if model is None:
                continue
            units = unit_maps(model, plane)
            seeds.add(seed)
            rows.append(Row(row_label(label, point.title if sweep else "", units), units))
    rows = rows[:MAX_ROWS]
    if not rows:
        return None

    widest = max(len(row.units.dead) for row in rows)
    shown = min(widest, MAX_UNITS)
    seed_text = f"seed {next(iter(seeds))}" if len(seeds) == 1 else f"seeds {sorted(seeds)}"
    what = f"first hidden layer of {seed_text}, each unit's output over the input plane"
    if widest > shown:
        what += f" (first {shown} of {widest} units)"
    lines = [
        f"Hidden units - run {result.run_id}",
        what,
        "each tile on its own colour scale (dark: lowest, yellow: highest)",
        "grey with a red cross: dead (constant over the training set)",
    ]
    if len(labels) > MAX_ROWS:
        lines.append(f"first {MAX_ROWS} of {len(labels)} activations")
    if len(shown_points) < len(planar):
        point_note = (
            f"{len(shown_points)} of {len(planar)} grid points ("
            + ", ".join(point.title for point, _ in shown_points)
            + ")"
        )
        lines.append(point_note)
    if note:
        lines.append(note)
    width = max(MIN_FIGURE_WIDTH, LABEL_INCHES + shown * TILE_INCHES + 0.3)
    title = wrap_title(lines, width, TITLE_SIZE)
    plt = pyplot()
    figure = plt.figure(
        figsize=(
            width,
            len(rows) * (TILE_INCHES + ROW_GAP_INCHES) + title_inches(title, TITLE_SIZE),
        ),
        layout="constrained",
    )
    figure.suptitle("\n".join(title), fontsize=TITLE_SIZE)
    axes = figure.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, row in zip(axes, rows, strict=True):
        count = min(len(row.units.dead), shown)
        ax.imshow(mosaic(row.units, count), origin="lower", interpolation="nearest")
        xs, ys = cross_lines(row.units.dead, count)
        if xs:
            ax.plot(xs, ys, color=CROSS_COLOR, linewidth=1.2)
        ax.set_xlim(-0.5, shown * (TILE + GAP) - GAP - 0.5)
        ax.set_ylim(-0.5, TILE - 0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(row.label, rotation=0, ha="right", va="center", fontsize=9, labelpad=6)

    return figure
