"""activations.png: every compared activation and its derivative."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from actbench.errors import ActivationError
from actbench.runs import RunRecord, RunResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from actbench.plots.common import (
    LEGEND_WIDTH,
    Color,
    balanced_columns,
    canonical,
    pyplot,
    suptitle,
)

# --- activations.png ----------------------------------------------------------------------------


def activations_figure(result: RunResult, colors: dict[str, Color]) -> Figure | None:
    """f(x) and f'(x) on [-4, 4] for every distinct (activation, params) of the run."""
    entries: dict[str, RunRecord] = {}
    for run in result.runs:
        entries.setdefault(canonical({"name": run.activation, "params": run.params}), run)
    if not entries:
        return None
    from matplotlib.lines import Line2D

    plt = pyplot()
    ncols = balanced_columns(len(entries), 4)
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
    suptitle(figure, "Activation functions: f(x) and its derivative f'(x)")
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
