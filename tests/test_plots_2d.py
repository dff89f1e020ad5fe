"""boundary.png and neurons.png: figures drawn from the trained members of a 2-D run."""

from __future__ import annotations

import io
import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from clirun import run_cli
from matplotlib.axes import Axes
from matplotlib.contour import QuadContourSet
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

import actbench
from actbench import format as fmt
from actbench.api import Result
from actbench.data import split_raw
from actbench.members import Standardize
from actbench.model import SimpleNN
from actbench.plots import FIGURES
from actbench.plots.boundary import boundary_figure, planes_of
from actbench.plots.common import DPI, RC_PARAMS, label_colors
from actbench.plots.neurons import GAP, MAX_UNITS, TILE, neurons_figure, unit_maps
from actbench.runs import RunResult

LABELS = ("identity", "relu")
HIDDEN = 8
PNG_SIGNATURE = b"\x89PNG"
MAX_PIXELS = 2500


@pytest.fixture(scope="module")
def circles() -> Result:
    """Two activations x two seeds on circles, trained in-process; members kept in memory."""
    return actbench.compare(
        overrides={
            "data.kind": "circles",
            "data.n_samples": 200,
            "activations": list(LABELS),
            "train.epochs": 3,
            "train.seeds": 2,
            "model.hidden": [HIDDEN],
        }
    )


@pytest.fixture
def figures() -> Iterator[list[Figure]]:
    """Figures a test built; closed afterwards."""
    built: list[Figure] = []
    with plt.rc_context(RC_PARAMS):
        yield built
    for figure in built:
        plt.close(figure)


def build(built: list[Figure], figure: Figure | None) -> Figure:
    assert figure is not None
    built.append(figure)
    return figure


def png_size(figure: Figure) -> tuple[int, int]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    data = buffer.getvalue()
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def panels(figure: Figure) -> list[Axes]:
    """The plane panels: every axes but the colourbar."""
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def mean_accuracy(result: RunResult, label: str) -> float:
    values = [run.test_accuracy for run in result.runs if run.label == label]
    assert all(value is not None for value in values)
    return sum(v for v in values if v is not None) / len(values)


def member_with(model: nn.Module, dead_unit: int) -> nn.Module:
    """A copy of a member whose first-layer unit has zero weights and a negative bias."""
    copy = nn.Sequential(
        OrderedDict(scaler=model.scaler, network=SimpleNN(2, [HIDDEN], 2, nn.ReLU))
    )
    copy.network.load_state_dict(model.network.state_dict())
    with torch.no_grad():
        copy.network.hidden[0].weight[dead_unit] = 0.0
        copy.network.hidden[0].bias[dead_unit] = -1.0
    return copy.eval()


# --- boundary.png -------------------------------------------------------------------------------


def test_figures_are_registered_after_curves() -> None:
    names = [spec.filename for spec in FIGURES]
    assert names[names.index("curves.png") + 1 : names.index("curves.png") + 3] == [
        "boundary.png",
        "neurons.png",
    ]


def test_boundary_is_a_png_of_sensible_size(circles: Result, figures: list[Figure]) -> None:
    result = circles.run_result
    figure = build(figures, boundary_figure(result, label_colors(result), circles.model))
    width, height = png_size(figure)
    assert 300 < width < MAX_PIXELS and 200 < height < MAX_PIXELS


def test_boundary_has_one_panel_per_label_titled_with_its_accuracy(
    circles: Result, figures: list[Figure]
) -> None:
    result = circles.run_result
    figure = build(figures, boundary_figure(result, label_colors(result), circles.model))
    titles = [ax.get_title() for ax in panels(figure)]
    assert titles == [f"{label}\n{fmt.percent(mean_accuracy(result, label))} %" for label in LABELS]


def test_boundary_says_mean_over_seeds(circles: Result, figures: list[Figure]) -> None:
    result = circles.run_result
    figure = build(figures, boundary_figure(result, label_colors(result), circles.model))
    assert figure.get_suptitle() is not None
    assert "P(class 1)" in figure.get_suptitle()
    assert "mean over 2 seeds" in figure.get_suptitle()


def test_boundary_colour_scale_is_0_to_1_everywhere(circles: Result, figures: list[Figure]) -> None:
    result = circles.run_result
    figure = build(figures, boundary_figure(result, label_colors(result), circles.model))
    fills = [
        c
        for ax in panels(figure)
        for c in ax.collections
        if isinstance(c, QuadContourSet) and c.filled
    ]
    assert len(fills) == len(LABELS)
    assert all((fill.levels[0], fill.levels[-1]) == (0.0, 1.0) for fill in fills)
    colorbars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 1
    assert colorbars[0].get_ylim() == (0.0, 1.0)


def test_boundary_probabilities_are_the_mean_over_seeds(circles: Result) -> None:
    from actbench.plots.boundary import RESOLUTION, panel_of, planar_points, probabilities

    result = circles.run_result
    ((point, plane),) = planar_points(result)[0]
    raw = plane.grid(RESOLUTION)
    panel = panel_of(circles.model, point, plane, "relu", raw)
    expected = np.mean(
        [probabilities(circles.model("relu", seed), raw, 2) for seed in (0, 1)], axis=0
    )
    assert panel.probs is not None
    np.testing.assert_allclose(panel.probs.reshape(-1, 2), expected)
    assert ((0 <= panel.probs) & (panel.probs <= 1)).all()


def test_boundary_plane_is_the_data_extent_made_square(circles: Result) -> None:
    (plane,) = planes_of(circles.run_result).values()
    x_min, x_max, y_min, y_max = split_raw(circles.config.data).extent()
    left, right, bottom, top = plane.extent
    assert left <= x_min and right >= x_max and bottom <= y_min and top >= y_max
    assert right - left == pytest.approx(top - bottom)


def test_more_classes_show_the_most_probable_class(figures: list[Figure]) -> None:
    blobs = actbench.compare(
        overrides={
            "data.kind": "blobs",
            "data.n_classes": 3,
            "data.n_samples": 90,
            "activations": ["tanh"],
            "train.epochs": 1,
            "train.seeds": 1,
            "model.hidden": [4],
        }
    )
    result = blobs.run_result
    figure = build(figures, boundary_figure(result, label_colors(result), blobs.model))
    assert "most probable class" in (figure.get_suptitle() or "")
    (panel,) = panels(figure)
    (image,) = panel.get_images()
    assert image.get_array().shape == (150, 150, 3)


def test_no_figures_for_classification_data(circles: Result) -> None:
    result = circles.run_result.model_copy(update={"config": {}})  # the default data
    colors = label_colors(result)
    assert boundary_figure(result, colors, circles.model) is None
    assert neurons_figure(result, colors, circles.model) is None


def test_no_figures_without_members(circles: Result) -> None:
    result = circles.run_result
    assert boundary_figure(result, label_colors(result), None) is None
    assert neurons_figure(result, label_colors(result), None) is None


# --- neurons.png --------------------------------------------------------------------------------


def row_axes(figure: Figure) -> list[Axes]:
    return [ax for ax in figure.axes if ax.get_images()]


def test_neurons_is_a_png_of_sensible_size(circles: Result, figures: list[Figure]) -> None:
    result = circles.run_result
    figure = build(figures, neurons_figure(result, label_colors(result), circles.model))
    width, height = png_size(figure)
    assert 300 < width < MAX_PIXELS and 100 < height < MAX_PIXELS


def test_neurons_has_one_row_per_label_and_one_tile_per_unit(
    circles: Result, figures: list[Figure]
) -> None:
    result = circles.run_result
    figure = build(figures, neurons_figure(result, label_colors(result), circles.model))
    rows = row_axes(figure)
    assert len(rows) == len(LABELS)
    for ax in rows:
        (image,) = ax.get_images()
        assert image.get_array().shape == (TILE, HIDDEN * (TILE + GAP) - GAP, 3)
    assert "seed 0" in (figure.get_suptitle() or "")


def test_neurons_row_label_counts_dead_units(circles: Result, figures: list[Figure]) -> None:
    result = circles.run_result
    figure = build(figures, neurons_figure(result, label_colors(result), circles.model))
    for ax, label in zip(row_axes(figure), LABELS, strict=True):
        assert re.fullmatch(rf"{label}: \d+ of {HIDDEN} dead", ax.get_ylabel())


def test_a_unit_with_zero_weights_and_negative_bias_is_dead(circles: Result) -> None:
    (plane,) = planes_of(circles.run_result).values()
    model = member_with(circles.model("relu", 0), dead_unit=3)
    units = unit_maps(model, plane)
    assert units.dead[3]
    # the definition: the output is exactly constant over the standardised training split
    with torch.no_grad():
        inputs = model.scaler(torch.as_tensor(plane.split.x_train))
        h = model.network.acts[0](model.network.hidden[0](inputs))
    assert units.dead.tolist() == (h == h[0]).all(dim=0).tolist()


def test_dead_units_are_counted_and_crossed_out(circles: Result, figures: list[Figure]) -> None:
    result = circles.run_result
    dead_relu = member_with(circles.model("relu", 0), dead_unit=3)
    (plane,) = planes_of(result).values()
    dead = int(unit_maps(dead_relu, plane).dead.sum())

    def models(label: str, seed: int, grid: Mapping[str, Any]) -> nn.Module:
        return dead_relu if label == "relu" else circles.model(label, seed, grid)

    figure = build(figures, neurons_figure(result, label_colors(result), models))
    relu_row = row_axes(figure)[LABELS.index("relu")]
    assert dead >= 1
    assert relu_row.get_ylabel() == f"relu: {dead} of {HIDDEN} dead"
    (cross,) = relu_row.get_lines()
    assert matplotlib.colors.to_hex(cross.get_color()) == "#d62728"
    (image,) = relu_row.get_images()
    tile = np.asarray(image.get_array())[:, 3 * (TILE + GAP) : 3 * (TILE + GAP) + TILE]
    assert np.ptp(tile) == 0  # one flat grey


def test_neurons_shows_the_first_32_units_of_a_wider_layer(
    circles: Result, figures: list[Figure]
) -> None:
    result = circles.run_result
    scaler = circles.model("relu", 0).scaler
    assert isinstance(scaler, Standardize)
    torch.manual_seed(0)
    wide = nn.Sequential(OrderedDict(scaler=scaler, network=SimpleNN(2, [40], 2, nn.ReLU))).eval()
    figure = build(figures, neurons_figure(result, label_colors(result), lambda *_: wide))
    assert "first 32 of 40 units" in (figure.get_suptitle() or "")
    for ax in row_axes(figure):
        (image,) = ax.get_images()
        assert image.get_array().shape[1] == MAX_UNITS * (TILE + GAP) - GAP
        assert ax.get_ylabel().endswith("of 40 dead")


# --- end to end ---------------------------------------------------------------------------------


def test_report_on_a_2d_run_writes_both_figures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    compare = run_cli(
        capsys,
        "compare",
        "--set", "data.kind=xor",
        "--set", "data.n_samples=120",
        "--set", "activations=[relu,tanh]",
        "--set", "model.hidden=[4]",
        "--epochs", "2",
        "--seeds", "1",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert compare.code == 0, compare.err
    (run_dir,) = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert (run_dir / "models" / "index.json").is_file()
    report = run_cli(capsys, "report", run_dir.name, "--out", str(tmp_path))
    assert report.code == 0, report.err
    for name in ("boundary.png", "neurons.png"):
        assert (run_dir / name).read_bytes().startswith(PNG_SIGNATURE)


def test_neurons_draws_every_data_set_of_a_sweep(figures: list[Figure]) -> None:
    """playground.yaml's shape: more (data set, activation) rows than the old twelve."""
    kinds = ["circles", "moons", "xor", "spiral"]
    labels = ["identity", "sigmoid", "tanh", "relu"]
    swept = actbench.compare(
        overrides={
            "data.kind": "circles",
            "data.n_samples": 100,
            "activations": labels,
            "train.epochs": 1,
            "train.seeds": 1,
            "model.hidden": [4],
        },
        sweep={"data.kind": kinds},
    )
    result = swept.run_result
    figure = build(figures, neurons_figure(result, label_colors(result), swept.model))
    ylabels = [ax.get_ylabel() for ax in row_axes(figure)]
    assert len(ylabels) == len(kinds) * len(labels)
    for kind in kinds:
        assert sum(kind in text for text in ylabels) == len(labels), ylabels
    assert "grid points (" not in (figure.get_suptitle() or "")
