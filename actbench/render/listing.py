"""The view of saved runs: `actbench runs`."""

from __future__ import annotations

from collections.abc import Sequence

from actbench import format as fmt
from actbench.render.view import Cell, Column, TableView, View, text_column
from actbench.runs import SavedRun
from actbench.stats import is_finite


def runs_view(saved: Sequence[SavedRun]) -> View:
    """Saved runs, newest first: id, status, models, best activation, seconds."""
    table = TableView(
        title="saved runs (newest first)",
        columns=[
            # a long id folds over lines rather than push status and best out of 80 columns
            Column("run id", numeric=False, fold=True),
            Column("status", numeric=False),  # one word: never folded
            Column("models"),
            text_column("best"),
            Column("test\nacc %"),
            Column("seconds"),
        ],
    )
    records = []
    rows = []
    for run in saved:
        result = run.result
        best = max(
            (r for r in result.summary if is_finite(r.test_accuracy_mean)),
            key=lambda r: r.test_accuracy_mean or 0.0,
            default=None,
        )
        rows.append(
            [
                Cell(run.path.name),
                Cell(result.status, style="red" if result.status != "ok" else ""),
                Cell(str(len(result.runs))),
                Cell(best.label if best else fmt.MISSING),
                Cell(fmt.percent(best.test_accuracy_mean) if best else fmt.MISSING),
                Cell(fmt.number(result.seconds, 1)),  # 1e308 in a hand-made file: 1e+308
            ]
        )
        records.append(
            {
                "run_id": run.path.name,
                "path": str(run.path),
                "status": result.status,
                "models": len(result.runs),
                "activations": len({row.label for row in result.summary}),
                "best_label": best.label if best else None,
                "best_test_accuracy": best.test_accuracy_mean if best else None,
                "device": result.device,
                "seconds": result.seconds,
            }
        )
    table.add_section(rows)
    return View(tables=[table], records=records, document=records)
