"""The figures of a run: PNG files written by `actbench report`, and the report.md that shows them.

`FIGURES` is the list of figures, in the order they are written and shown; each is built by
one module (one module per figure family). Adding a figure is one module and one entry here.
`draw_figure` makes one of them as a matplotlib Figure (`Result.plot` in a notebook);
`write_figures` draws every one through it. matplotlib (and torch, for activations.png) are
imported inside the functions that draw.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actbench import format as fmt
from actbench.errors import ConfigError, unknown
from actbench.plots.activations import activations_figure
from actbench.plots.boundary import boundary_figure
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
from actbench.plots.neurons import neurons_figure
from actbench.plots.sweep import sweep_figure
from actbench.runs import RunResult, write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

# (label, seed, grid point) -> the trained member, raw features -> logits
ModelSource = Callable[[str, int, Mapping[str, Any]], "nn.Module"]


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file name, how to build it (None: nothing to show), its caption.

    `build(result, colors, models)`: `models(label, seed, grid)` gives a trained member as a
    module from raw features to logits, or is None when the members were not kept.
    """

    filename: str
    build: Callable[[RunResult, dict[str, Color], ModelSource | None], Figure | None]
    caption: str
    needs: str = ""  # what a run needs for this figure to show anything

    @property
    def stem(self) -> str:
        return Path(self.filename).stem


def _from_results(
    build: Callable[[RunResult, dict[str, Color]], Figure | None],
) -> Callable[[RunResult, dict[str, Color], ModelSource | None], Figure | None]:
    """A figure drawn from the results alone."""
    return lambda result, colors, models: build(result, colors)


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec(
        "curves.png",
        _from_results(curves_figure),
        "Training curves: train loss and test accuracy after every epoch "
        "(line: mean over seeds; band: ± 1 std, min-max with 2 seeds; x: a seed diverged there).",
        needs="per-epoch history",
    ),
    FigureSpec(
        "boundary.png",
        boundary_figure,
        "Decision boundaries (2-D data): the predicted probability of class 1 over the input "
        "plane, mean over seeds (more classes: the most probable class, its probability as "
        "intensity), the test points on top and each panel's mean test accuracy.",
        needs="2-D data (data.kind moons, circles, xor, spiral or blobs) and the trained members",
    ),
    FigureSpec(
        "neurons.png",
        neurons_figure,
        "Hidden units (2-D data): seed 0's first hidden layer, each unit's output over the "
        "input plane on its own colour scale; dead units (constant over the training set) "
        "are grey with a red cross.",
        needs="2-D data (data.kind moons, circles, xor, spiral or blobs) and the trained members",
    ),
    FigureSpec(
        "health.png",
        _from_results(health_figure),
        "Neuron health: dead, dormant and saturated hidden units (% of all hidden units) "
        "and the gradient norm at every probed epoch (metrics.health_every); epoch 0 is the "
        "network at initialisation.",
        needs="neuron health tracked during training (metrics.health: true)",
    ),
    FigureSpec(
        "sweep.png",
        _from_results(sweep_figure),
        "Sweep: final test accuracy (error bars: 95% confidence interval of the mean "
        "over seeds) and dead hidden units at each grid point.",
        needs="a sweep over numbers (--sweep train.lr=0.001,0.01)",
    ),
    FigureSpec(
        "activations.png",
        _from_results(activations_figure),
        "The activation functions of this run: f(x) solid, its derivative f'(x) dashed.",
        needs="members",
    ),
)
CAPTIONS: dict[str, str] = {figure.stem: figure.caption for figure in FIGURES}


FIGURE_NAMES: tuple[str, ...] = tuple(figure.stem for figure in FIGURES)


def draw_figure(result: RunResult, name: str, models: ModelSource | None = None) -> Figure | None:
    """Figure `name` (a stem of FIGURES: curves, boundary, ...) of a run, or None when the run
    has nothing for it to show (no per-epoch history, no numeric sweep, no members: the
    spec's `needs`). It is not left open in pyplot: the caller owns it."""
    result, models = _drawable(result, models)
    return _draw(_spec(name), result, models, label_colors(result))


def _draw(
    spec: FigureSpec, result: RunResult, models: ModelSource | None, colors: dict[str, Color]
) -> Figure | None:
    plt = pyplot()
    with plt.rc_context(RC_PARAMS):
        figure = spec.build(result, colors, models)
    if figure is not None:
        plt.close(figure)  # a notebook shows it once, as the value it is given
    return figure


def _spec(name: str) -> FigureSpec:
    stem = Path(name).stem  # "curves" or "curves.png"
    for spec in FIGURES:
        if spec.stem == stem:
            return spec
    raise ConfigError(unknown("figure", name, FIGURE_NAMES))


def needs_of(name: str) -> str:
    """What a run needs for figure `name` to show anything."""
    return _spec(name).needs


def write_figures(
    result: RunResult, out_dir: Path, models: ModelSource | None = None
) -> list[Path]:
    """Write the PNG figures of a run into out_dir; return their paths, in FIGURES order.

    models: the trained members, for the figures that draw what they compute (decision
    boundaries). A figure with nothing to show (no per-epoch history, no numeric sweep, no
    members) is not written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    result, models = _drawable(result, models)
    colors = label_colors(result)
    written = []
    # matplotlib's warnings (a glyph missing for a label's character, a layout it could not
    # fit) concern the picture, not the user's run: they stay off stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for spec in FIGURES:
            figure = _draw(spec, result, models, colors)
            if figure is None:
                continue
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=DPI)
            path = out_dir / spec.filename
            write_atomic(path, buffer.getvalue())
            written.append(path)
    return written


FIGURE_LABEL = 80  # characters of a label a figure shows


def _drawable(
    result: RunResult, models: ModelSource | None
) -> tuple[RunResult, ModelSource | None]:
    """The run with its labels as figures show them: printable and at most FIGURE_LABEL
    characters (a hand-edited results.json may hold a 200,000-character label, which
    matplotlib takes minutes to lay out). `models` still finds members by their own labels."""
    shown: dict[str, str] = {}
    labels = [*(run.label for run in result.runs), *(row.label for row in result.summary)]
    for label in dict.fromkeys(labels):
        text = fmt.printable(label)
        if len(text) > FIGURE_LABEL:
            text = text[: FIGURE_LABEL - 1] + "…"
        base, number = text, 1
        while text in shown.values():
            number += 1
            text = f"{base} ({number})"
        shown[label] = text
    if all(label == text for label, text in shown.items()):
        return result, models
    result = result.model_copy(
        update={
            "runs": [run.model_copy(update={"label": shown[run.label]}) for run in result.runs],
            "summary": [
                row.model_copy(update={"label": shown[row.label]}) for row in result.summary
            ],
        }
    )
    if models is None:
        return result, None
    original = {text: label for label, text in shown.items()}
    source = models
    return result, lambda label, seed, grid: source(original.get(label, label), seed, grid)


def gates_markdown(result: RunResult) -> list[str]:
    """The CI gates' verdict as Markdown lines (none when the run had no gates)."""
    gates = result.gates
    if gates is None:
        return []
    given = "; ".join(fmt.markdown_code(gate) for gate in gates.checked)
    if gates.passed:
        lines = ["", "## Gates", "", f"**Passed**: {given}"]
    else:
        failed = fmt.plural(len(gates.failures), "failure")
        lines = ["", "## Gates", "", f"**Failed** ({failed}): {given}", ""]
        lines += [f"- {fmt.markdown(failure)}" for failure in gates.failures]
    if gates.notes:
        lines += ["", *(f"- note: {fmt.markdown(note)}" for note in gates.notes)]
    return lines


def report_markdown(result: RunResult, figures: Sequence[Path], tables_markdown: str) -> str:
    """A report.md body: title, the tables (given, already Markdown), and every figure.

    Figures are linked by file name: report.md is meant to sit in the same folder.
    """
    labels = list(dict.fromkeys(run.label for run in result.runs))
    seeds = {run.seed for run in result.runs}
    shape = f"{fmt.plural(len(labels), 'activation')} × {fmt.plural(len(seeds), 'seed')}"
    if has_sweep(result):
        shape += f" × {fmt.plural(len(grid_points(result)), 'grid point')}"
    # run_id, device and notices come from results.json: text, never Markdown or HTML
    lines = [
        f"# actbench run {fmt.markdown_code(result.run_id)}",
        "",
        f"{fmt.plural(len(result.runs), 'model')} ({fmt.markdown(shape)}) on "
        f"{fmt.markdown(result.device)}, {fmt.seconds(result.seconds)}.",
    ]
    if result.status == "interrupted":
        lines += ["", "**Interrupted:** partial results of the epochs that finished."]
    if result.notices:
        lines += ["", *(f"- {fmt.markdown(notice)}" for notice in result.notices)]
    lines += gates_markdown(result)
    lines += ["", "## Results", "", tables_markdown.rstrip("\n")]
    if result.notes:
        lines += ["", "## Notes", "", *(f"- {fmt.markdown(note)}" for note in result.notes)]
    if figures:
        lines += ["", "## Figures"]
    for figure in figures:
        caption = CAPTIONS.get(figure.stem, figure.stem)
        lines += ["", f"![{figure.stem}]({figure.name})", "", f"*{caption}*"]
    return "\n".join(lines) + "\n"
