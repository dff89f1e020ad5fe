from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from actbench import plots
from actbench.plots.activations import activations_figure
from actbench.plots.common import MAX_COLUMNS, label_colors
from actbench.plots.curves import curves_figure
from actbench.plots.health import health_figure
from actbench.plots.sweep import sweep_figure
from actbench.runs import History, RunRecord, RunResult, SummaryRow

# label, activation, params, learning speed
ACTIVATIONS: tuple[tuple[str, str, dict[str, float | bool | str], float], ...] = (
    ("relu", "relu", {}, 0.35),
    ("tanh", "tanh", {}, 0.25),
    ("leaky_relu_0.2", "leaky_relu", {"negative_slope": 0.2}, 0.3),
)
LEARNING_RATES = (0.001, 0.01, 0.1, 0.3)
SEEDS = (0, 1, 2)
EPOCHS = 10
T_975_DF2 = 4.303  # t quantile for a 95% interval of the mean of 3 seeds
PNG_SIGNATURE = b"\x89PNG"
Builder = Callable[[RunResult, dict[str, Any]], Figure | None]


def member(
    label: str,
    activation: str,
    params: dict[str, float | bool | str],
    speed: float,
    seed: int,
    grid: dict[str, Any],
    widths: Sequence[int],
    *,
    diverge_at: int | None = None,
    health: bool = True,
) -> RunRecord:
    """A plausible trained member; diverge_at=k: loss became NaN in epoch k (history ends None)."""
    rng = random.Random(f"{label}/{seed}/{json.dumps(grid, sort_keys=True)}")
    lr = float(grid.get("train.lr", 0.01))
    rate = speed * (1 + math.log10(lr / 0.001))
    epochs = EPOCHS if diverge_at is None else diverge_at - 1
    depth = len(widths)
    relu_like = activation == "relu"
    dead_init = [int(w * 0.04) if relu_like else 0 for w in widths]
    train_loss: list[float | None] = []
    test_accuracy: list[float | None] = []
    dead: list[list[int]] = []
    dormant: list[list[int]] = []
    saturated: list[list[float | None]] = []
    grad_norm: list[list[float | None]] = []
    for epoch in range(1, epochs + 1):
        progress = 1 - math.exp(-rate * epoch)
        train_loss.append(0.12 + 0.58 * (1 - progress) + rng.uniform(0, 0.02))
        test_accuracy.append(0.5 + 0.38 * progress + rng.uniform(-0.015, 0.015))
        dead.append(
            [
                d + (int(w * 0.1 * progress) if relu_like else 0)
                for d, w in zip(dead_init, widths, strict=True)
            ]
        )
        dormant.append([int(w * 0.08 * (1 - progress)) + rng.randint(0, 2) for w in widths])
        saturated.append(
            [(0.45 if relu_like else 0.05 + 0.1 * progress) + rng.uniform(0, 0.03) for _ in widths]
        )
        shrink = 0.5 if activation == "tanh" else 0.85
        grad_norm.append(
            [
                0.6
                * math.exp(-0.15 * epoch)
                * shrink ** (depth - 1 - layer)
                * rng.uniform(0.8, 1.2)
                for layer in range(depth)
            ]
        )
    if diverge_at is not None:
        train_loss[-1] = 6.0  # the loss explodes in the epoch before it turns NaN
        test_accuracy[-1] = 0.5
        train_loss.append(None)
        test_accuracy.append(None)
        saturated.append([None] * depth)
        grad_norm.append([None] * depth)
    finished = diverge_at is None
    return RunRecord(
        label=label,
        activation=activation,
        params=params,
        grid=grid,
        seed=seed,
        status="ok" if finished else "diverged",
        epochs=epochs,
        train_loss=train_loss[-1],
        test_loss=train_loss[-1] if finished else None,
        train_accuracy=test_accuracy[-1],
        test_accuracy=test_accuracy[-1],
        dead_neurons=sum(dead[-1]),
        dead_per_layer=dead[-1],
        dead_neurons_init=sum(dead_init),
        dead_per_layer_init=dead_init,
        dormant_neurons=sum(dormant[-1]),
        dormant_per_layer=dormant[-1],
        saturated_per_layer=saturated[-1],
        hidden_units=sum(widths),
        history=History(
            train_loss=train_loss,
            test_accuracy=test_accuracy,
            dead_per_layer=dead,
            dormant_per_layer=dormant,
            saturated_per_layer=saturated if health else [],
            mean_abs_per_layer=[],
            grad_norm_per_layer=grad_norm if health else [],
        ),
    )


def summary_row(group: Sequence[RunRecord]) -> SummaryRow:
    def stats(values: Sequence[float | None]) -> tuple[float | None, float | None]:
        finite = [v for v in values if v is not None]
        if not finite:
            return None, None
        return statistics.fmean(finite), statistics.stdev(finite) if len(finite) > 1 else None

    acc_mean, acc_std = stats([run.test_accuracy for run in group])
    ci95 = None
    if acc_mean is not None and acc_std is not None:
        half = T_975_DF2 * acc_std / math.sqrt(len(group))
        ci95 = [acc_mean - half, acc_mean + half]
    first = group[0]
    return SummaryRow(
        label=first.label,
        activation=first.activation,
        grid=first.grid,
        n_seeds=len(group),
        test_accuracy_mean=acc_mean,
        test_accuracy_std=acc_std,
        test_accuracy_ci95=ci95,
        test_loss_mean=stats([run.test_loss for run in group])[0],
        test_loss_std=stats([run.test_loss for run in group])[1],
        train_loss_mean=stats([run.train_loss for run in group])[0],
        dead_neurons_mean=statistics.fmean(run.dead_neurons for run in group),
        dead_neurons_init_mean=statistics.fmean(run.dead_neurons_init for run in group),
        dormant_neurons_mean=statistics.fmean(run.dormant_neurons for run in group),
        hidden_units=first.hidden_units,
        n_diverged=sum(run.status == "diverged" for run in group),
    )


def make_result(
    *,
    hidden: Sequence[int] = (50,),
    grid: Sequence[dict[str, Any]] = ({},),
    diverge: tuple[str, int, int] | None = None,
    health: bool = True,
) -> RunResult:
    """3 labels x 3 seeds x 10 epochs at every grid point.

    diverge=(label, seed, epoch): that member diverges, at the last grid point.
    """
    runs = []
    for index, point in enumerate(grid):
        widths = point.get("model.hidden", hidden)
        for label, activation, params, speed in ACTIVATIONS:
            for seed in SEEDS:
                diverge_at = None
                if diverge and diverge[:2] == (label, seed) and index == len(grid) - 1:
                    diverge_at = diverge[2]
                runs.append(
                    member(
                        label,
                        activation,
                        params,
                        speed,
                        seed,
                        point,
                        widths,
                        diverge_at=diverge_at,
                        health=health,
                    )
                )
    groups: dict[str, list[RunRecord]] = {}
    for run in runs:
        groups.setdefault(f"{run.label}/{json.dumps(run.grid, sort_keys=True)}", []).append(run)
    return RunResult(
        actbench_version="0.1.0",
        run_id="20250101-120000-test-abc1234",
        device="cpu (2 threads)",
        seconds=12.5,
        config={"model": {"hidden": list(hidden)}, "train": {"epochs": EPOCHS, "lr": 0.01}},
        runs=runs,
        summary=[summary_row(group) for group in groups.values()],
    )


LR_SWEEP = [{"train.lr": lr} for lr in LEARNING_RATES]
TWO_KEY_SWEEP = [
    {"train.lr": lr, "model.hidden": hidden} for hidden in ([50], [3] * 10) for lr in LEARNING_RATES
]
BASE_FIGURES = ["curves.png", "health.png", "activations.png"]
SWEEP_FIGURES = ["curves.png", "health.png", "sweep.png", "activations.png"]


@pytest.fixture(scope="module")
def base_figures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return plots.write_figures(make_result(), tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def lr_sweep_figures(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    result = make_result(grid=LR_SWEEP, diverge=("tanh", 2, 4))
    return plots.write_figures(result, tmp_path_factory.mktemp("lr"))


@contextmanager
def drawn(builder: Builder, result: RunResult) -> Iterator[Figure]:
    """The figure one of the plots builders draws for result, closed afterwards."""
    figure = builder(result, label_colors(result))
    assert figure is not None
    try:
        yield figure
    finally:
        plt.close(figure)


def points_of(line: Line2D) -> tuple[list[float], list[float]]:
    return (
        [float(x) for x in np.asarray(line.get_xdata(), dtype=float)],
        [float(y) for y in np.asarray(line.get_ydata(), dtype=float)],
    )


def panels(figure: Figure) -> list[Axes]:
    return [ax for ax in figure.axes if ax.get_visible()]


def test_write_figures_writes_curves_health_and_activations(base_figures: list[Path]) -> None:
    assert [path.name for path in base_figures] == BASE_FIGURES


@pytest.mark.parametrize("name", BASE_FIGURES)
def test_each_figure_is_a_readable_png(base_figures: list[Path], name: str) -> None:
    path = next(p for p in base_figures if p.name == name)
    blob = path.read_bytes()
    assert blob.startswith(PNG_SIGNATURE)
    assert len(blob) > 20_000
    height, width, channels = matplotlib.image.imread(path).shape
    assert height >= 200 and width >= 400 and channels in (3, 4)


def test_no_temp_files_left_in_out_dir(base_figures: list[Path]) -> None:
    out_dir = base_figures[0].parent
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(BASE_FIGURES)


def test_one_key_numeric_sweep_adds_sweep_png(lr_sweep_figures: list[Path]) -> None:
    assert [path.name for path in lr_sweep_figures] == SWEEP_FIGURES


def test_two_key_sweep_adds_sweep_png(tmp_path: Path) -> None:
    grid = [point for point in TWO_KEY_SWEEP if point["train.lr"] in (0.01, 0.3)]
    figures = plots.write_figures(make_result(grid=grid), tmp_path)
    assert [path.name for path in figures] == SWEEP_FIGURES


def test_non_numeric_sweep_has_no_sweep_figure() -> None:
    result = make_result(grid=[{"model.hidden": [50]}, {"model.hidden": [3] * 10}])
    assert sweep_figure(result, label_colors(result)) is None


def test_sweep_figure_draws_the_numeric_key_on_x() -> None:
    with drawn(sweep_figure, make_result(grid=TWO_KEY_SWEEP)) as figure:
        assert {ax.get_xlabel() for ax in panels(figure)} == {"train.lr (log scale)"}


def test_sweep_titles_write_values_as_the_tables_do() -> None:
    with drawn(curves_figure, make_result(grid=TWO_KEY_SWEEP)) as figure:
        titles = {ax.get_title() for ax in panels(figure)}
    assert "lr=0.001, hidden=[3]*10" in titles
    assert "lr=0.3, hidden=[50]" in titles


@pytest.mark.parametrize("builder", [curves_figure, health_figure])
def test_diverged_member_leaves_no_nan_only_panel(builder: Builder) -> None:
    with drawn(builder, make_result(diverge=("tanh", 2, 4))) as figure:
        for ax in panels(figure):
            values = [y for line in ax.get_lines() for y in points_of(line)[1]]
            assert any(math.isfinite(y) for y in values), ax.get_title()


def test_diverged_member_is_averaged_out_after_it_stops() -> None:
    with drawn(curves_figure, make_result(diverge=("tanh", 2, 4))) as figure:
        loss_panel = panels(figure)[0]
        tanh = next(line for line in loss_panel.get_lines() if line.get_label() == "tanh")
        epochs, losses = points_of(tanh)
    assert epochs == list(range(1, EPOCHS + 1))
    assert all(math.isfinite(loss) for loss in losses)


def test_runs_without_saturated_and_grad_norm_history_still_get_health_png(
    tmp_path: Path,
) -> None:
    figures = plots.write_figures(make_result(health=False), tmp_path)
    assert "health.png" in [path.name for path in figures]


def test_health_skips_panels_without_values() -> None:
    with drawn(health_figure, make_result(health=False)) as figure:
        assert [ax.get_title() for ax in panels(figure)] == ["dead units (%)", "dormant units (%)"]


def test_runs_without_neuron_history_get_no_health_figure() -> None:
    result = make_result()
    bare = result.model_copy(
        update={
            "runs": [
                run.model_copy(update={"history": History(train_loss=run.history.train_loss)})
                for run in result.runs
            ]
        }
    )
    assert health_figure(bare, label_colors(bare)) is None


def test_deep_net_health_shows_gradient_norm_by_layer() -> None:
    with drawn(health_figure, make_result(hidden=(20, 20))) as figure:
        assert "gradient norm by layer (log scale)" in [ax.get_title() for ax in panels(figure)]


def test_many_grid_points_wrap_into_rows() -> None:
    grid = [{"train.lr": lr} for lr in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.3)]
    with drawn(curves_figure, make_result(grid=grid)) as figure:
        shown = panels(figure)
        (layout,) = {ax.get_gridspec() for ax in shown}
    assert len(shown) == 2 * len(grid)
    assert layout is not None and layout.ncols <= MAX_COLUMNS


def test_a_label_has_the_same_colour_in_every_figure() -> None:
    result = make_result(grid=LR_SWEEP)
    colours = set()
    for builder in (curves_figure, sweep_figure, activations_figure):
        with drawn(builder, result) as figure:
            colours |= {
                matplotlib.colors.to_hex(line.get_color())
                for ax in panels(figure)
                for line in ax.get_lines()
                if line.get_label() == "tanh"
            }
    assert len(colours) == 1


def test_softmax_is_drawn_as_the_first_output_of_softmax_x_0() -> None:
    result = make_result()
    softmax = result.model_copy(
        update={
            "runs": [
                run.model_copy(update={"label": "softmax", "activation": "softmax", "params": {}})
                for run in result.runs[:1]
            ]
        }
    )
    with drawn(activations_figure, softmax) as figure:
        (ax,) = panels(figure)
        line = next(line for line in ax.get_lines() if line.get_label() == "softmax")
        x, y = points_of(line)
        at_zero = y[min(range(len(x)), key=lambda i: abs(x[i]))]
        assert "softmax([x, 0])" in ax.get_title()
    assert at_zero == pytest.approx(0.5)


def test_a_run_without_members_writes_no_figures(tmp_path: Path) -> None:
    empty = make_result().model_copy(update={"runs": [], "summary": []})
    assert plots.write_figures(empty, tmp_path) == []


def test_import_does_not_load_matplotlib_or_torch() -> None:
    code = (
        "import sys, actbench.plots; "
        "print(sorted(m for m in ('matplotlib', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def report(figures: Sequence[Path]) -> str:
    return plots.report_markdown(make_result(), figures, "| activation |\n| --- |\n| relu |\n")


def test_report_embeds_every_figure_by_relative_name(base_figures: list[Path]) -> None:
    text = report(base_figures)
    for name in BASE_FIGURES:
        assert f"]({name})" in text


def test_report_contains_the_table() -> None:
    assert "| activation |\n| --- |\n| relu |" in report([])


def test_report_title_names_the_run() -> None:
    assert report([]).splitlines()[0] == "# actbench run `20250101-120000-test-abc1234`"
