"""Views of a run's results: the comparison (`compare`, `report`), the per-seed table (`train`)
and the paired baseline comparison."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actbench import format as fmt
from actbench.notes import run_notes
from actbench.render import columns as cols
from actbench.render.view import Cell, Column, TableView, View, text_column
from actbench.runs import RunRecord, RunResult, SummaryRow
from actbench.stats import MIN_PAIRED_SEEDS, SIGNIFICANCE


def result_view(
    result: RunResult,
    *,
    per_member: bool = False,
    sort: str | None = None,
    columns: str | None = None,
    notes: bool = True,
) -> View:
    """compare/report: one row per activation (per grid point); train (`per_member`): one row
    per seed. A baseline comparison follows when the run has one, then the notes."""
    if per_member:
        tables = [members_table(result)]
        records = run_records(result)
    else:
        tables = [comparison_table(result, sort, columns)]
        records = summary_records(result)
    versus = baseline_table(result)
    if versus is not None:
        tables.append(versus)
    shown_notes = (result.notes or run_notes(result)) if notes else []
    return View(tables=tables, records=records, document=result, notes=shown_notes)


# --- shared pieces ------------------------------------------------------------------------------


def grid_keys(rows: Sequence[SummaryRow] | Sequence[RunRecord]) -> list[str]:
    return list(dict.fromkeys(key for row in rows for key in row.grid))


def _grid_columns(keys: Sequence[str], grids: Sequence[dict[str, Any]]) -> list[Column]:
    """One column per sweep key: right-aligned for numbers, left for words and shapes."""
    names = fmt.key_names(keys)

    def numeric(key: str) -> bool:
        values = [grid[key] for grid in grids if key in grid]
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)

    return [Column(names[key], numeric=numeric(key), style="cyan", merge=True) for key in keys]


def _grid_cells(grid: dict[str, Any], keys: Sequence[str]) -> list[Cell]:
    return [Cell(fmt.value(grid[key]) if key in grid else "") for key in keys]


def sections_by_grid(rows: Sequence[SummaryRow], sort: str | None) -> list[list[SummaryRow]]:
    """Rows grouped by sweep grid point (in run order), each group sorted by `sort`."""
    sections: dict[str, list[SummaryRow]] = {}
    for row in rows:
        sections.setdefault(repr(sorted(row.grid.items())), []).append(row)
    return [cols.sort_rows(section, sort) for section in sections.values()]


def _epochs_text(result: RunResult) -> str:
    """'100 epochs', or for an interrupted run the epochs it finished: '2 of 100 epochs'."""
    planned = sorted(
        {
            int(run.grid.get("train.epochs", result.config.get("train", {}).get("epochs", 0)))
            for run in result.runs
        }
    )
    planned_text = "/".join(map(str, planned)) if planned else "?"
    if result.status != "interrupted":
        return f"{planned_text} epoch" + ("" if planned == [1] else "s")
    finished = max((run.epochs for run in result.runs), default=0)
    return f"{finished} of {planned_text} epochs"


def footer(result: RunResult) -> str:
    """'60 models, 100 epochs, cpu (2 threads), 5.4 s' (and INTERRUPTED when it was)."""
    text = (
        f"{fmt.plural(len(result.runs), 'model')}, {_epochs_text(result)}, {result.device}, "
        f"{fmt.seconds(result.seconds)}"
    )
    return text + (" - INTERRUPTED, partial results" if result.status == "interrupted" else "")


def run_title(result: RunResult) -> str:
    return f"actbench {result.run_id}" if result.run_id else "actbench (not saved)"


def _units_text(result: RunResult) -> str:
    shapes = sorted({tuple(run.hidden_widths) or (run.hidden_units,) for run in result.runs})
    units = sorted({sum(shape) for shape in shapes})
    return "/".join(map(str, units)) + " hidden " + ("unit" if units == [1] else "units")


# --- compare ------------------------------------------------------------------------------------


def comparison_table(
    result: RunResult, sort: str | None = None, columns: str | None = None
) -> TableView:
    """One row per activation label (per sweep grid point); best value per column marked
    within each grid point."""
    shown = cols.select(columns)
    asked = cols.requested(columns)
    rows = result.summary
    keys = grid_keys(rows)
    seeds = sorted({row.n_seeds for row in rows})
    seeds_text = "/".join(map(str, seeds)) if seeds else "0"
    caption = [
        (f"mean over {seeds_text} seeds (± std)" if seeds != [1] else "1 seed")
        + f"; dead/dormant: of {_units_text(result)}",
        footer(result),
    ]
    table = TableView(
        title=run_title(result),
        columns=[
            *_grid_columns(keys, [row.grid for row in rows]),
            *(
                text_column(c.header)
                if c.key == "activation"
                else Column(c.header, optional=c.optional and c.key not in asked)
                for c in shown
            ),
        ],
        caption=caption,
        name="summary",
    )
    for section in sections_by_grid(rows, sort):
        best = {c.key: cols.best_rows(section, c) for c in shown}
        table.add_section(
            [
                [
                    *_grid_cells(row.grid, keys),
                    *(
                        Cell(
                            c.text(row),
                            best=i in best[c.key],
                            style="red" if c.key == "activation" and row.n_diverged else "",
                        )
                        for c in shown
                    ),
                ]
                for i, row in enumerate(section)
            ]
        )
    return table


def baseline_table(result: RunResult) -> TableView | None:
    """Paired differences in test accuracy against --baseline, or None without one."""
    rows = [row for row in result.summary if row.baseline is not None]
    if not rows:
        return None
    keys = grid_keys(rows)
    table = TableView(
        title=f"test accuracy vs {rows[0].baseline}",
        columns=[
            *_grid_columns(keys, [row.grid for row in rows]),
            text_column("activation"),
            Column("Δ acc\n(points)"),
            Column("95% CI\nof Δ"),
            Column("p"),
            text_column(""),
        ],
        caption=[
            "paired over the same seeds (same init, same batches)",
            f"p: paired t-test, from {MIN_PAIRED_SEEDS} seeds; ns: p >= {SIGNIFICANCE:g} "
            "(more seeds help)",
            "same: the same Δ on every seed (no noise to test against)",
        ],
        name="baseline",
    )
    table.add_section(
        [
            [
                *_grid_cells(row.grid, keys),
                Cell(row.label),
                Cell(fmt.points(row.diff_mean)),
                Cell(fmt.interval(row.diff_ci95)),
                Cell(fmt.p_value(row.p_value)),
                verdict(row),
            ]
            for row in rows
        ]
    )
    return table


def verdict(row: SummaryRow) -> Cell:
    if row.diff_mean is not None and row.diff_ci95 and row.diff_ci95[0] == row.diff_ci95[1]:
        return Cell("same", style="dim")  # no seed noise: nothing to test
    if row.significant is None or row.diff_mean is None:
        return Cell("n/a", style="dim")
    if not row.significant:
        return Cell("ns", style="dim")
    return Cell("better", style="green") if row.diff_mean > 0 else Cell("worse", style="red")


# --- train --------------------------------------------------------------------------------------


def members_table(result: RunResult) -> TableView:
    """One row per seed (per grid point), then the mean over seeds. A run that did not finish
    normally is marked * and explained in the caption. With several activations, each row
    names its activation."""
    keys = grid_keys(result.runs)
    labels = list(dict.fromkeys(run.label for run in result.runs))
    several = len(labels) > 1
    notes = [status_note(run) for run in result.runs if run.status != "ok"]
    table = TableView(
        title=run_title(result) + ("" if several else f": {', '.join(labels)}"),
        columns=[
            *_grid_columns(keys, [run.grid for run in result.runs]),
            *([text_column("activation")] if several else []),
            Column("seed"),
            Column("train\nloss"),
            Column("test\nloss"),
            Column("train\nacc %"),
            Column("test\nacc %"),
            Column("dead"),
            Column("dead\n@init"),
            Column("dormant"),
        ],
        caption=[*notes, f"dead/dormant: of {_units_text(result)}", footer(result)],
        name="members",
    )
    summary = {(repr(sorted(row.grid.items())), row.label): row for row in result.summary}
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for run in result.runs:
        groups.setdefault((repr(sorted(run.grid.items())), run.label), []).append(run)
    for (point, label), runs in groups.items():
        name = [Cell(label)] if several else []
        rows = [
            [
                *_grid_cells(run.grid, keys),
                *name,
                Cell(str(run.seed)) if run.status == "ok" else Cell(f"*{run.seed}", style="red"),
                Cell(fmt.number(run.train_loss)),
                Cell(fmt.number(run.test_loss)),
                Cell(fmt.percent(run.train_accuracy)),
                Cell(fmt.percent(run.test_accuracy)),
                Cell(fmt.count(run.dead_neurons)),
                Cell(fmt.count(run.dead_neurons_init)),
                Cell(fmt.count(run.dormant_neurons)),
            ]
            for run in runs
        ]
        row = summary.get((point, label))
        if row is not None and row.n_seeds > 1:
            rows.append(
                [
                    *_grid_cells(runs[0].grid, keys),
                    *name,
                    Cell("mean", style="bold"),
                    Cell(fmt.number(row.train_loss_mean)),
                    Cell(fmt.number(row.test_loss_mean)),
                    Cell(""),
                    Cell(fmt.percent(row.test_accuracy_mean, row.test_accuracy_std)),
                    Cell(fmt.count(row.dead_neurons_mean)),
                    Cell(fmt.count(row.dead_neurons_init_mean)),
                    Cell(fmt.count(row.dormant_neurons_mean)),
                ]
            )
        table.add_section(rows)
    return table


def status_note(run: RunRecord) -> str:
    seed = f"*{run.seed}"
    if run.grid:
        seed += f" [{fmt.grid_point(run.grid)}]"
    if run.status == "diverged":
        return f"{seed}: diverged in epoch {run.epochs + 1}; frozen after epoch {run.epochs}"
    if run.status == "interrupted":
        return f"{seed}: interrupted after epoch {run.epochs}"
    return f"{seed}: {run.status}" + (f" ({run.error})" if run.error else "")


# --- machine formats ----------------------------------------------------------------------------
#
# CSV rows and pandas DataFrames are flat: one value per cell. A [low, high] interval becomes
# two columns, an activation's params one column each, and per-layer values go to a long
# table of their own (one row per member and hidden layer: `layer_records`).

INTERVALS = ("test_accuracy_ci95", "diff_ci95")  # [low, high] -> <name>_low, <name>_high
# RunRecord's per-layer lists -> their column in the long table of layers
PER_LAYER = {
    "dead_per_layer": "dead",
    "dead_per_layer_init": "dead_init",
    "dormant_per_layer": "dormant",
    "saturated_per_layer": "saturated",
    "mean_per_layer_init": "mean_init",
    "std_per_layer_init": "std_init",
}


def _grid(grid: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}{key}": value for key, value in grid.items()}


def flat_summary(row: SummaryRow, grid_prefix: str = "grid.") -> dict[str, Any]:
    """One summary row as flat columns: grid values first (as `grid_prefix` + key), each
    interval as <name>_low and <name>_high."""
    flat = _grid(row.grid, grid_prefix)
    for key, value in row.model_dump(mode="json", exclude={"grid"}).items():
        if key in INTERVALS:
            low, high = value if value else (None, None)
            flat[f"{key}_low"], flat[f"{key}_high"] = low, high
        else:
            flat[key] = value
    return flat


def flat_run(run: RunRecord, grid_prefix: str = "grid.") -> dict[str, Any]:
    """One member as flat columns: grid values first, each param as params.<name>; the
    per-layer lists are in `layer_records`, the history in history.csv."""
    flat = _grid(run.grid, grid_prefix)
    skip = {"grid", "history", "hidden_widths", *PER_LAYER}
    for key, value in run.model_dump(mode="json", exclude=skip).items():
        if key == "params":
            flat.update({f"params.{name}": v for name, v in value.items()})
        else:
            flat[key] = value
    return flat


def layer_records(result: RunResult, grid_prefix: str = "grid.") -> list[dict[str, Any]]:
    """One row per member and hidden layer: its width and final per-layer values (dead,
    dormant and saturated after training, dead and the output's mean and std at init)."""
    records = []
    for run in result.runs:
        identity = {
            **_grid(run.grid, grid_prefix),
            "label": run.label,
            "activation": run.activation,
            "seed": run.seed,
            "status": run.status,
        }
        series = {column: getattr(run, field) for field, column in PER_LAYER.items()}
        layers = max([len(run.hidden_widths), *(len(values) for values in series.values())])
        for layer in range(layers):
            record = {**identity, "layer": layer + 1}
            record["width"] = run.hidden_widths[layer] if layer < len(run.hidden_widths) else None
            for column, values in series.items():
                record[column] = values[layer] if layer < len(values) else None
            records.append(record)
    return records


def summary_records(result: RunResult) -> list[dict[str, Any]]:
    """Flat summary rows for CSV: grid values as grid.<key> columns."""
    return [flat_summary(row) for row in result.summary]


def run_records(result: RunResult) -> list[dict[str, Any]]:
    """Flat per-member rows for CSV (the per-epoch history is in history.csv)."""
    return [flat_run(run) for run in result.runs]
