"""The figures of a run: PNG files written by `actbench report`, and the report.md that shows them.

`FIGURES` is the list of figures, in the order they are written and shown; each is built by
one module (one module per figure family). Adding a figure is one module and one entry here.
matplotlib (and torch, for activations.png) are imported inside the functions that draw.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from actbench.plots.activations import activations_figure
from actbench.plots.common import (
    DPI,
    RC_PARAMS,
    Color,
    grid_points,
    has_sweep,
    label_colors,
    pyplot,
)
from actbench.plots.curves import curves_figure
from actbench.plots.health import health_figure
from actbench.plots.sweep import sweep_figure
from actbench.render import format as fmt
from actbench.runs import RunResult, write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file name, how to build it (None: nothing to show), its caption."""

    filename: str
    build: Callable[[RunResult, dict[str, Color]], Figure | None]
    caption: str

    @property
    def stem(self) -> str:
        return Path(self.filename).stem


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "curves.png",
        curves_figure,
        "Training curves: train loss and test accuracy after every epoch "
        "(line: mean over seeds; band: ± 1 std, min-max with 2 seeds; x: a seed diverged there).",
    ),
    FigureSpec(
        "health.png",
        health_figure,
        "Neuron health: dead, dormant and saturated hidden units (% of all hidden units) "
        "and the gradient norm after every epoch; epoch 0 is the network at initialisation.",
    ),
    FigureSpec(
        "sweep.png",
        sweep_figure,
        "Sweep: final test accuracy (error bars: 95% confidence interval of the mean "
        "over seeds) and dead hidden units at each grid point.",
    ),
    FigureSpec(
        "activations.png",
        activations_figure,
        "The activation functions of this run: f(x) solid, its derivative f'(x) dashed.",
    ),
)
CAPTIONS: dict[str, str] = {figure.stem: figure.caption for figure in FIGURES}


def write_figures(result: RunResult, out_dir: Path) -> list[Path]:
    """Write the PNG figures of a run into out_dir; return their paths, in FIGURES order.

    A figure with nothing to show (no per-epoch history, no numeric sweep) is not written.
    """
    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    colors = label_colors(result)
    written = []
    with plt.rc_context(RC_PARAMS):
        for spec in FIGURES:
            figure = spec.build(result, colors)
            if figure is None:
                continue
            try:
                buffer = io.BytesIO()
                figure.savefig(buffer, format="png", dpi=DPI)
            finally:
                plt.close(figure)
            path = out_dir / spec.filename
            write_atomic(path, buffer.getvalue())
            written.append(path)
    return written


def report_markdown(result: RunResult, figures: Sequence[Path], tables_markdown: str) -> str:
    """A report.md body: title, the tables (given, already Markdown), and every figure.

    Figures are linked by file name: report.md is meant to sit in the same folder.
    """
    labels = list(dict.fromkeys(run.label for run in result.runs))
    seeds = {run.seed for run in result.runs}
    shape = f"{fmt.plural(len(labels), 'activation')} × {fmt.plural(len(seeds), 'seed')}"
    if has_sweep(result):
        shape += f" × {fmt.plural(len(grid_points(result)), 'grid point')}"
    lines = [
        f"# actbench run `{result.run_id}`",
        "",
        f"{fmt.plural(len(result.runs), 'model')} ({shape}) on {result.device}, "
        f"{fmt.seconds(result.seconds)}.",
    ]
    if result.status == "interrupted":
        lines += ["", "**Interrupted:** partial results of the epochs that finished."]
    if result.notices:
        lines += ["", *(f"- {notice}" for notice in result.notices)]
    lines += ["", "## Results", "", tables_markdown.rstrip("\n")]
    if figures:
        lines += ["", "## Figures"]
    for figure in figures:
        caption = CAPTIONS.get(figure.stem, figure.stem)
        lines += ["", f"![{figure.stem}]({figure.name})", "", f"*{caption}*"]
    return "\n".join(lines) + "\n"
