"""Rendering: rich tables and progress, and the JSON / CSV / Markdown writers. No metrics here."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rich import box
from rich.console import Console, Group
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from actbench.activations import ActivationSpec
from actbench.config import format_value, short_key
from actbench.runs import RunRecord, RunResult, SavedRun, SummaryRow

Format = Literal["table", "json", "csv", "md"]
BEST_STYLE = "bold green"


@dataclass(frozen=True)
class Column:
    """One column of the comparison table: how to read, format and rank a summary row."""

    key: str  # --sort name
    header: str
    value: Callable[[SummaryRow], float | str | None]
    text: Callable[[SummaryRow], str]
    higher_is_better: bool | None  # None: not ranked (text column)


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) >= 1e4 else f"{value:.{digits}f}"


def _pct(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")


def _count(mean: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.0f}" if float(mean).is_integer() else f"{mean:.1f}"


def _label(row: SummaryRow) -> str:
    return row.label + (f" ({row.n_diverged} diverged)" if row.n_diverged else "")


SUMMARY_COLUMNS: tuple[Column, ...] = (
    Column("activation", "activation", lambda r: r.label, _label, None),
    Column(
        "train_loss",
        "train loss",
        lambda r: r.train_loss_mean,
        lambda r: _num(r.train_loss_mean, 3),
        False,
    ),
    Column(
        "test_loss",
        "test loss",
        lambda r: r.test_loss_mean,
        lambda r: _num(r.test_loss_mean, 3),
        False,
    ),
    Column(
        "test_acc",
        "test acc %",
        lambda r: r.test_accuracy_mean,
        lambda r: _pct(r.test_accuracy_mean, r.test_accuracy_std),
        True,
    ),
    Column(
        "dead", "dead", lambda r: r.dead_neurons_mean, lambda r: _count(r.dead_neurons_mean), False
    ),
    Column(
        "dead_init",
        "dead@init",
        lambda r: r.dead_neurons_init_mean,
        lambda r: _count(r.dead_neurons_init_mean),
        False,
    ),
    Column(
        "dormant",
        "dormant",
        lambda r: r.dormant_neurons_mean,
        lambda r: _count(r.dormant_neurons_mean),
        False,
    ),
)
SORT_KEYS = tuple(c.key for c in SUMMARY_COLUMNS)


def sort_rows(rows: Sequence[SummaryRow], key: str | None) -> list[SummaryRow]:
    """Best first for metric columns, alphabetical for 'activation'; missing values last."""
    if key is None:
        return list(rows)
    column = next(c for c in SUMMARY_COLUMNS if c.key == key)
    if column.higher_is_better is None:
        return sorted(rows, key=lambda r: str(column.value(r)))
    sign = -1.0 if column.higher_is_better else 1.0

    def rank(row: SummaryRow) -> tuple[bool, float]:
        value = column.value(row)
        return (value is None, sign * float(value) if value is not None else 0.0)

    return sorted(rows, key=rank)


def _best(rows: Sequence[SummaryRow], column: Column) -> set[int]:
    """Indices of the rows holding the best value of a ranked column (ties all win)."""
    if column.higher_is_better is None:
        return set()
    values = [column.value(r) for r in rows]
    numbers = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if len(numbers) < 2 or len(set(numbers)) < 2:
        return set()
    target = max(numbers) if column.higher_is_better else min(numbers)
    return {i for i, v in enumerate(values) if v == target}


def grid_sections(rows: Sequence[SummaryRow], sort: str | None) -> list[list[SummaryRow]]:
    """Rows grouped by sweep grid point (in run order), each group sorted by `sort`."""
    sections: dict[str, list[SummaryRow]] = {}
    for row in rows:
        sections.setdefault(repr(row.grid), []).append(row)
    return [sort_rows(section, sort) for section in sections.values()]


def _grid_keys(rows: Sequence[SummaryRow]) -> list[str]:
    return list(rows[0].grid) if rows else []


def comparison_table(result: RunResult, sort: str | None = None) -> Table:
    """One row per activation label (per sweep grid point): the `compare` table.

    With a sweep, the grid values lead each row and the best value of each column is
    highlighted within its grid point.
    """
    rows = result.summary
    cfg = result.config.get("train", {})
    units = sorted({row.hidden_units for row in rows}) or [
        sum(result.config.get("model", {}).get("hidden", []))
    ]
    seeds = rows[0].n_seeds if rows else 0
    caption = (
        (f"mean over {seeds} seeds (± std)" if seeds > 1 else "1 seed")
        + f"; dead/dormant: of {'/'.join(map(str, units))} hidden units\n"
        f"{len(result.runs)} models, {cfg.get('epochs')} epochs, {result.device}, "
        f"{result.seconds:.1f} s"
        + (" - INTERRUPTED, partial results" if result.status == "interrupted" else "")
    )
    table = _table(f"actbench {result.run_id}", caption)
    grid_keys = _grid_keys(rows)
    for key in grid_keys:
        table.add_column(short_key(key), justify="right", no_wrap=True, style="cyan")
    for column in SUMMARY_COLUMNS:
        ranked = column.higher_is_better is not None
        table.add_column(column.header, justify="right" if ranked else "left", no_wrap=True)
    for number, section in enumerate(grid_sections(rows, sort)):
        if number:
            table.add_section()
        best = {column.key: _best(section, column) for column in SUMMARY_COLUMNS}
        for i, row in enumerate(section):
            grid = [format_value(row.grid[k]) if i == 0 else "" for k in grid_keys]
            cells = []
            for column in SUMMARY_COLUMNS:
                style = (
                    BEST_STYLE
                    if i in best[column.key]
                    else ("red" if column.key == "activation" and row.n_diverged else "")
                )
                cells.append(Text(column.text(row), style=style))
            table.add_row(*grid, *cells)
    return table


def _signed_pp(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def _verdict(row: SummaryRow) -> Text:
    if row.significant is None or row.diff_mean is None:
        return Text("n/a", style="dim")
    if not row.significant:
        return Text("ns", style="dim")
    return Text("better", style="green") if row.diff_mean > 0 else Text("worse", style="red")


def baseline_table(result: RunResult) -> Table | None:
    """Paired differences in test accuracy against --baseline, or None without one."""
    rows = [row for row in result.summary if row.baseline is not None]
    if not rows:
        return None
    baseline = rows[0].baseline
    table = _table(
        f"test accuracy vs {baseline}, paired over the same seeds",
        "Δ: percentage points; CI: 95% of the mean Δ\n"
        "p: paired t-test; ns: p >= 0.05 (more seeds help)",
    )
    grid_keys = _grid_keys(rows)
    for key in grid_keys:
        table.add_column(short_key(key), justify="right", no_wrap=True, style="cyan")
    for header in ("activation", "Δ acc", "95% CI", "p", ""):
        table.add_column(
            header, justify="left" if header in ("activation", "") else "right", no_wrap=True
        )
    for row in rows:
        interval = (
            f"[{_signed_pp(row.diff_ci95[0])}, {_signed_pp(row.diff_ci95[1])}]"
            if row.diff_ci95
            else "-"
        )
        p_value = "-" if row.p_value is None else f"{row.p_value:.3f}"
        grid = [format_value(row.grid[k]) for k in grid_keys]
        table.add_row(*grid, row.label, _signed_pp(row.diff_mean), interval, p_value, _verdict(row))
    return table


def members_table(result: RunResult) -> Table:
    """One row per seed of one activation: the `train` table.

    A run that did not finish normally is marked `*` and explained in the caption, so the
    table keeps 8 columns and fits 80 characters.
    """
    units = result.runs[0].hidden_units if result.runs else 0
    labels = sorted({run.label for run in result.runs})
    notes = [_status_note(run) for run in result.runs if run.status != "ok"]
    table = _table(
        f"actbench {result.run_id}: {', '.join(labels)}",
        "\n".join(
            [
                *notes,
                f"accuracy in %; dead/dormant: of {units} hidden units",
                f"{result.device}, {result.seconds:.1f} s",
            ]
        ),
    )
    for header in (
        "seed",
        "train loss",
        "test loss",
        "train acc",
        "test acc",
        "dead",
        "dead@init",
        "dormant",
    ):
        table.add_column(header, justify="right", no_wrap=True)
    for run in result.runs:
        seed = Text(str(run.seed)) if run.status == "ok" else Text(f"*{run.seed}", style="red")
        table.add_row(
            seed,
            _num(run.train_loss),
            _num(run.test_loss),
            _pct(run.train_accuracy, None),
            _pct(run.test_accuracy, None),
            _count(run.dead_neurons),
            _count(run.dead_neurons_init),
            _count(run.dormant_neurons),
        )
    for row in result.summary:
        if row.n_seeds > 1:
            table.add_section()
            table.add_row(
                Text("mean", style="bold"),
                _num(row.train_loss_mean),
                _num(row.test_loss_mean),
                "",
                _pct(row.test_accuracy_mean, row.test_accuracy_std),
                _count(row.dead_neurons_mean),
                _count(row.dead_neurons_init_mean),
                _count(row.dormant_neurons_mean),
            )
    return table


def _status_note(run: RunRecord) -> str:
    if run.status == "diverged":
        return f"*{run.seed}: diverged in epoch {run.epochs + 1}; frozen after epoch {run.epochs}"
    if run.status == "interrupted":
        return f"*{run.seed}: interrupted after epoch {run.epochs}"
    return f"*{run.seed}: {run.status}" + (f" ({run.error})" if run.error else "")


def _table(title: str, caption: str | None = None) -> Table:
    """The house style: no vertical rules, one space between columns, so a sweep's 8 columns
    fit 80 characters."""
    return Table(
        title=title,
        caption=caption,
        header_style="bold",
        box=box.SIMPLE_HEAVY,
        show_edge=False,
        padding=(0, 1, 0, 0),
    )


# --- machine formats ----------------------------------------------------------------------------


def summary_records(result: RunResult) -> list[dict[str, Any]]:
    """Flat rows for CSV: grid values as grid.<key> columns, lists as JSON."""
    records = []
    for row in result.summary:
        record = row.model_dump(mode="json", exclude={"grid"})
        flat = {
            f"grid.{key}": json.dumps(value) if isinstance(value, list) else value
            for key, value in row.grid.items()
        }
        flat.update({k: json.dumps(v) if isinstance(v, list) else v for k, v in record.items()})
        records.append(flat)
    return records


def to_csv(records: Iterable[dict[str, Any]]) -> str:
    records = list(records)
    if not records:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def to_markdown(headers: Sequence[str], rows: Iterable[Sequence[str]], left: int = 1) -> str:
    """A GitHub table; the first `left` columns are text (left-aligned), the rest numbers."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" if i < left else "---:" for i in range(len(headers))) + " |",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def summary_markdown(result: RunResult, sort: str | None = None) -> str:
    grid_keys = _grid_keys(result.summary)
    body = []
    for section in grid_sections(result.summary, sort):
        best = {column.key: _best(section, column) for column in SUMMARY_COLUMNS}
        for i, row in enumerate(section):
            cells = [
                f"**{c.text(row)}**" if i in best[c.key] else c.text(row) for c in SUMMARY_COLUMNS
            ]
            body.append([format_value(row.grid[k]) for k in grid_keys] + cells)
    headers = [short_key(k) for k in grid_keys] + [c.header for c in SUMMARY_COLUMNS]
    text = to_markdown(headers, body, left=len(grid_keys) + 1)
    compared = [row for row in result.summary if row.baseline is not None]
    if compared:
        lines = [
            [
                *(format_value(row.grid[k]) for k in grid_keys),
                row.label,
                _signed_pp(row.diff_mean),
                f"[{_signed_pp(row.diff_ci95[0])}, {_signed_pp(row.diff_ci95[1])}]"
                if row.diff_ci95
                else "-",
                "-" if row.p_value is None else f"{row.p_value:.3f}",
                _verdict(row).plain,
            ]
            for row in compared
        ]
        headers = [
            *(short_key(k) for k in grid_keys),
            "activation",
            f"Δ acc vs {compared[0].baseline} (pp)",
            "95% CI",
            "p",
            "",
        ]
        text += "\n" + to_markdown(headers, lines, left=len(grid_keys) + 1)
    return text


def members_markdown(result: RunResult) -> str:
    headers = [
        "activation",
        "seed",
        "status",
        "epochs",
        "train loss",
        "test loss",
        "test acc %",
        "dead",
        "dead@init",
        "dormant",
    ]
    body = [
        [
            r.label,
            str(r.seed),
            r.status,
            str(r.epochs),
            _num(r.train_loss),
            _num(r.test_loss),
            _pct(r.test_accuracy, None),
            _count(r.dead_neurons),
            _count(r.dead_neurons_init),
            _count(r.dormant_neurons),
        ]
        for r in result.runs
    ]
    return to_markdown(headers, body)


def run_records(result: RunResult) -> list[dict[str, Any]]:
    """Flat per-member rows (no history) for CSV."""
    rows = []
    for run in result.runs:
        row = run.model_dump(mode="json", exclude={"history", "error"})
        for key in ("params", "dead_per_layer", "dead_per_layer_init", "dormant_per_layer"):
            row[key] = json.dumps(row[key])
        rows.append(row)
    return rows


def render_result(
    result: RunResult, fmt: Format, console: Console, *, per_member: bool, sort: str | None = None
) -> None:
    """Write a result to `console` in the chosen format (machine formats: no colour, no wrap)."""
    if fmt == "table":
        console.print(members_table(result) if per_member else comparison_table(result, sort))
        versus = baseline_table(result)
        if versus is not None:
            console.print(versus)
    elif fmt == "json":
        console.file.write(result.to_json() + "\n")
    elif fmt == "csv":
        console.file.write(to_csv(run_records(result) if per_member else summary_records(result)))
    else:
        console.file.write(
            members_markdown(result) if per_member else summary_markdown(result, sort)
        )


# --- activations ---------------------------------------------------------------------------------


def _params_text(spec: ActivationSpec) -> str:
    return ", ".join(f"{name}={param.default}" for name, param in spec.params.items())


def activations_table(specs: Sequence[ActivationSpec]) -> Table:
    table = Table(title="activations", header_style="bold", show_lines=True)
    for header in ("name", "formula", "range", "derivative", "params", "typical use"):
        table.add_column(header, overflow="fold")
    for spec in specs:
        name = Text(spec.name, style="bold")
        if spec.aliases:
            name.append("\n" + ", ".join(spec.aliases), style="dim")
        table.add_row(
            name,
            spec.formula,
            spec.output_range,
            spec.derivative,
            _params_text(spec) or "-",
            spec.typical_use,
        )
    return table


def activation_records(specs: Sequence[ActivationSpec]) -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "aliases": list(spec.aliases),
            "formula": spec.formula,
            "range": spec.output_range,
            "derivative": spec.derivative,
            "typical_use": spec.typical_use,
            "params": {name: param.default for name, param in spec.params.items()},
        }
        for spec in specs
    ]


def show_table(
    name: str,
    params: dict[str, Any],
    xs: Sequence[float],
    ys: Sequence[float],
    dys: Sequence[float],
) -> Table:
    title = name + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})" if params else "")
    table = _table(title)
    for header in ("x", "f(x)", "f'(x)"):
        table.add_column(header, justify="right")
    for x, y, dy in zip(xs, ys, dys, strict=True):
        table.add_row(f"{x:g}", f"{y:.4f}", f"{dy:.4f}")
    return table


# --- saved runs ---------------------------------------------------------------------------------


def runs_table(saved: Sequence[SavedRun]) -> Table:
    table = _table("saved runs (newest first)")
    for header in ("run id", "status", "models", "best test acc", "seconds"):
        table.add_column(
            header,
            justify="right" if header in ("models", "seconds") else "left",
            no_wrap=header == "run id",
        )
    for run in saved:
        result = run.result
        best = max(
            (r for r in result.summary if r.test_accuracy_mean is not None),
            key=lambda r: r.test_accuracy_mean or 0.0,
            default=None,
        )
        best_text = f"{best.label} {_pct(best.test_accuracy_mean, None)}%" if best else "-"
        table.add_row(
            run.path.name, result.status, str(len(result.runs)), best_text, f"{result.seconds:.1f}"
        )
    return table


def runs_records(saved: Sequence[SavedRun]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": run.path.name,
            "path": str(run.path),
            "status": run.result.status,
            "models": len(run.result.runs),
            "activations": len(run.result.summary),
            "device": run.result.device,
            "seconds": run.result.seconds,
        }
        for run in saved
    ]


# --- benchmark ----------------------------------------------------------------------------------


def bench_tables(result: dict[str, Any]) -> Group:
    """Timing per way of training the same members, then accuracy per activation and way."""
    ways = [
        way
        for way in ("population", "population_health", "per_run", "sklearn")
        if way in result["accuracy"]
    ]
    names = {
        "population": "population",
        "population_health": "population + health",
        "per_run": "per-run loop",
        "sklearn": f"sklearn ({result['sklearn_models']} models)",
    }
    settings = result["settings"]
    timing = _table(
        f"actbench bench: {result['members']} models, {result['device']}",
        f"{settings['n_samples']} samples, hidden {settings['hidden']}, batch "
        f"{settings['batch_size']}, {settings['epochs']} epochs; population and sklearn: median "
        f"of {settings.get('repeat', 1)} timings\n"
        "sklearn has fewer activations: its time per model is scaled to all members",
    )
    for header in ("way", "seconds", "population is", "Msamples/s", "peak MB"):
        timing.add_column(header, justify="left" if header == "way" else "right", no_wrap=True)
    seconds = {
        "population": result["population_seconds"],
        "population_health": result["population_with_health_seconds"],
        "per_run": result["per_run_seconds"],
        "sklearn": result["sklearn_seconds"],
    }
    speedups = {"per_run": result["speedup_vs_per_run"], "sklearn": result["speedup_vs_sklearn"]}
    for way in ways:
        speedup = speedups.get(way)
        timing.add_row(
            names[way],
            f"{seconds[way]:.2f}",
            "" if speedup is None else f"{speedup:.1f}x faster",
            f"{result['samples_members_per_second'][way] / 1e6:.2f}",
            f"{result['peak_memory_mb'][way]:.0f}",
        )
    accuracy = _table("test accuracy % (mean over seeds)")
    accuracy.add_column("activation", no_wrap=True)
    for way in ways:
        accuracy.add_column(names[way], justify="right", no_wrap=True)
    activations = list(dict.fromkeys(a for way in ways for a in result["accuracy"][way]))
    for name in activations:
        accuracy.add_row(
            name,
            *(
                f"{100 * result['accuracy'][way][name]:.1f}"
                if name in result["accuracy"][way]
                else "-"
                for way in ways
            ),
        )
    return Group(timing, accuracy)


# --- progress -----------------------------------------------------------------------------------


def progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=True,
    )
