"""actbench.render: the views of every command, `emit` in every format, the 80-column fitting,
the one formatter of values and the comparison table's columns."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from actbench import activations as registry
from actbench import format as fmt
from actbench.cli.options import SortKey
from actbench.errors import ConfigError
from actbench.render import Format, View, emit
from actbench.render import columns as cols
from actbench.render.bench import bench_view
from actbench.render.catalog import activations_view, show_view
from actbench.render.listing import runs_view
from actbench.render.results import (
    baseline_table,
    comparison_table,
    members_table,
    result_view,
    run_records,
    summary_records,
)
from actbench.render.view import (
    BEST_STYLE,
    Cell,
    Column,
    TableView,
    cells,
    fit_columns,
    text_column,
    to_csv,
    to_markdown,
    to_rich,
)
from actbench.runs import RunRecord, RunResult, SavedRun, SummaryRow

WIDTH = 80
LONG_LABEL = "leaky_relu(negative_slope=0.2)"
LABELS = (
    "identity",
    "step",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    LONG_LABEL,
    "softmax",
    "elu",
    "selu",
    "gelu",
    "softplus",
)
LRS = (0.001, 0.01, 0.1)
SHAPES = ([50], [8, 8], [2] * 10)
NOT_SHOWN = "not shown at this width"


# --- data -----------------------------------------------------------------------------------------


def row(label: str, **values: Any) -> SummaryRow:
    fields: dict[str, Any] = {
        "label": label,
        "activation": label.split("(")[0],
        "n_seeds": 5,
        "test_accuracy_mean": 0.8,
        "test_accuracy_std": 0.123,
        "test_loss_mean": 0.45,
        "test_loss_std": 0.02,
        "train_loss_mean": 0.4,
        "dead_neurons_mean": 3.0,
        "dead_neurons_init_mean": 1.0,
        "dormant_neurons_mean": 2.4,
        "hidden_units": 50,
    }
    fields.update(values)
    return SummaryRow(**fields)


def record(label: str, seed: int, **values: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "label": label,
        "activation": label.split("(")[0],
        "seed": seed,
        "epochs": 100,
        "train_loss": 0.3123,
        "test_loss": 0.4123,
        "train_accuracy": 0.912,
        "test_accuracy": 0.875,
        "dead_neurons": 12,
        "dead_per_layer": [12],
        "dead_neurons_init": 3,
        "dormant_neurons": 14,
        "hidden_units": 50,
        "hidden_widths": [50],
    }
    fields.update(values)
    return RunRecord(**fields)


def result_of(summary: list[SummaryRow], runs: list[RunRecord] | None = None) -> RunResult:
    if runs is None:
        runs = [record(r.label, 0, grid=r.grid) for r in summary]
    return RunResult(
        actbench_version="0.1.0",
        run_id="20240102-030405-all-abcdef0",
        device="cpu (8 threads)",
        seconds=12.34,
        config={"train": {"epochs": 100}},
        runs=runs,
        summary=summary,
    )


def twelve() -> RunResult:
    return result_of(
        [
            row(
                label,
                test_accuracy_mean=0.5 + 0.03 * i,
                test_loss_mean=0.9 - 0.05 * i,
                train_loss_mean=0.8 - 0.05 * i,
                dead_neurons_mean=float(i),
            )
            for i, label in enumerate(LABELS)
        ]
    )


def sweep() -> RunResult:
    """lr x hidden shape x two labels, one member each."""
    summary = [
        row(label, grid={"train.lr": lr, "model.hidden": shape}, test_accuracy_mean=0.7 + i / 100)
        for i, (lr, shape, label) in enumerate(
            (lr, shape, label) for lr in LRS for shape in SHAPES for label in ("relu", "tanh")
        )
    ]
    return result_of(summary)


def members_result(statuses: tuple[str, ...] = ("ok", "ok", "ok")) -> RunResult:
    runs = [
        record(
            LONG_LABEL,
            seed,
            status=status,
            epochs=100 if status == "ok" else 17,
        )
        for seed, status in enumerate(statuses)
    ]
    summary = [
        row(
            LONG_LABEL,
            n_seeds=len(statuses),
            test_accuracy_mean=0.8733,
            test_accuracy_std=0.1467,
            n_diverged=sum(s != "ok" for s in statuses),
        )
    ]
    return result_of(summary, runs)


def members_sweep() -> RunResult:
    grids = [{"train.lr": lr, "model.hidden": shape} for lr in LRS for shape in SHAPES]
    runs = [
        record("relu", seed, grid=grid, hidden_widths=grid["model.hidden"])
        for grid in grids
        for seed in range(2)
    ]
    return result_of([row("relu", n_seeds=2, grid=grid) for grid in grids], runs)


def baseline_result(label: str = LONG_LABEL) -> RunResult:
    def versus(name: str, diff: float, p: float) -> SummaryRow:
        return row(
            name,
            baseline="relu",
            n_paired=5,
            diff_mean=diff,
            diff_ci95=[diff - 0.016, diff + 0.009],
            p_value=p,
            significant=p < 0.05,
        )

    return result_of([versus("tanh", -0.034, 0.0004), versus(label, 0.012, 0.213)])


def saved_runs(best: str = "relu") -> list[SavedRun]:
    return [
        SavedRun(
            Path(f"runs/2026112{i}-101500-dying_relu-1a2b3c{i}"),
            result_of([row("tanh", test_accuracy_mean=0.7), row(best, test_accuracy_mean=0.9123)]),
        )
        for i in range(3)
    ]


def bench_result(members: int = 35, epochs: int = 200, repeat: int = 3) -> dict[str, Any]:
    """What actbench.bench.BenchResult.to_dict returns (settings from asdict: tuples)."""
    names = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")
    accuracy = {name: 0.85 + i / 100 for i, name in enumerate(names)}
    return {
        "device": "cpu (16 threads)",
        "members": members,
        "settings": {
            "n_samples": 1000,
            "hidden": (50,),
            "epochs": epochs,
            "seeds": 5,
            "batch_size": 64,
            "activations": names,
            "device": "cpu",
            "ways": ("population", "per_run", "sklearn"),
            "health": True,
            "repeat": repeat,
            "torch_threads": 16,
        },
        "per_run_seconds": 41.234,
        "population_seconds": 2.345,
        "population_with_health_seconds": 3.456,
        "sklearn_seconds": 10.5,
        "sklearn_models": 20,
        "sklearn_seconds_for_all_members": 18.375,
        "speedup_vs_per_run": 17.58,
        "speedup_vs_sklearn": 7.84,
        "samples_members_per_second": {
            "population": 2388060,
            "population_health": 1620370,
            "per_run": 135810,
            "sklearn": 304762,
        },
        "peak_memory_mb": {
            "population": 312.4,
            "population_health": 340.1,
            "per_run": 298.0,
            "sklearn": 280.5,
        },
        "accuracy": {
            "population": dict(accuracy),
            "population_health": dict(accuracy),
            "per_run": dict(accuracy),
            "sklearn": {name: accuracy[name] for name in names[:4]},
        },
    }


def all_specs() -> list[registry.ActivationSpec]:
    return [registry.get(name) for name in registry.names()]


def show_tanh() -> View:
    return show_view("tanh", {}, [1.0, -2.5], [0.7615941762924194, -0.98661], [0.41997, 0.0266])


VIEWS: dict[str, Callable[[], View]] = {
    "compare": lambda: result_view(twelve()),
    "compare_sweep": lambda: result_view(sweep()),
    "compare_baseline": lambda: result_view(baseline_result()),
    "train": lambda: result_view(members_result(("ok", "diverged", "ok")), per_member=True),
    "train_sweep": lambda: result_view(members_sweep(), per_member=True),
    "activations": lambda: activations_view(all_specs()),
    "runs": lambda: runs_view(saved_runs()),
    "bench": lambda: bench_view(bench_result()),
    "show": show_tanh,
}


# --- rendering helpers ----------------------------------------------------------------------------


def console(width: int = WIDTH) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None)


def written(out: Console) -> str:
    """What a console() or a StringIO console has been given."""
    assert isinstance(out.file, io.StringIO)
    return out.file.getvalue()


def emitted(view: View, form: Format = "table", width: int = WIDTH) -> str:
    out = console(width)
    emit(view, form, out)
    return written(out)


def rendered(table: TableView, width: int = WIDTH) -> str:
    out = console(width)
    out.print(to_rich(table, width))
    return written(out)


def ascii_console() -> tuple[Console, io.BytesIO]:
    raw = io.BytesIO()
    return Console(file=io.TextIOWrapper(raw, encoding="ascii"), width=WIDTH), raw


def ascii_output(out: Console, raw: io.BytesIO) -> str:
    out.file.flush()
    return raw.getvalue().decode("ascii")


def cut_pieces(view: View, output: str) -> list[str]:
    """What the output does not show in full: title and caption lines, header lines, and
    cells (whole for numbers; word by word for text that may wrap). A column left out with
    a 'not shown at this width' note is not cut."""
    cut: list[str] = []
    for table in view.tables:
        wanted = [table.title, *table.caption]
        for i, column in enumerate(table.columns):
            header = column.header.replace("\n", " ")
            if f"{NOT_SHOWN}:" in output and header in output.split(f"{NOT_SHOWN}:")[1]:
                continue
            texts = [*column.header.split("\n"), *(r[i].text for r in table.rows)]
            wanted += [w for t in texts for w in t.split()] if column.wrap else texts
        cut += [piece for piece in wanted if piece and piece not in output]
    if "…" in output:
        cut.append("…")
    return cut


def line_starts(text: str) -> list[str]:
    """The first word of every line that has one."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def md_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def column_index(table: TableView, header: str) -> int:
    return [c.header.replace("\n", " ") for c in table.columns].index(header)


def best_flags(table: TableView, header: str) -> list[bool]:
    i = column_index(table, header)
    return [r[i].best for r in table.rows]


def column_texts(table: TableView, header: str) -> list[str]:
    i = column_index(table, header)
    return [r[i].text for r in table.rows]


# --- comparison table: best values ------------------------------------------------------------


def test_comparison_highlights_highest_accuracy() -> None:
    result = result_of([row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9)])
    assert best_flags(comparison_table(result), "test acc %") == [False, True]


def test_comparison_highlights_lowest_loss() -> None:
    result = result_of(
        [row("a", test_loss_mean=0.3), row("b", test_loss_mean=0.9), row("c", test_loss_mean=0.5)]
    )
    assert best_flags(comparison_table(result), "test loss") == [True, False, False]


def test_comparison_highlights_every_tied_best() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.9), row("b", test_accuracy_mean=0.9), row("c")]
    )
    assert best_flags(comparison_table(result), "test acc %") == [True, True, False]


def test_comparison_highlights_nothing_when_all_values_are_equal() -> None:
    table = comparison_table(result_of([row("a"), row("b"), row("c")]))
    assert not any(cell.best for r in table.rows for cell in r)


def test_comparison_highlight_ignores_missing_values() -> None:
    result = result_of(
        [
            row("a", test_accuracy_mean=None, test_accuracy_std=None),
            row("b", test_accuracy_mean=0.6),
            row("c", test_accuracy_mean=0.7),
        ]
    )
    assert best_flags(comparison_table(result), "test acc %") == [False, False, True]


def test_comparison_highlight_follows_sorted_rows() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9), row("c")]
    )
    table = comparison_table(result, sort="test_acc")
    assert (column_texts(table, "activation"), best_flags(table, "test acc %")) == (
        ["b", "c", "a"],
        [True, False, False],
    )


def test_comparison_highlights_best_within_each_sweep_point() -> None:
    table = comparison_table(sweep())
    # accuracy rises with every row: the second label of each grid point is its best
    assert best_flags(table, "test acc %") == [False, True] * 9


def test_to_rich_styles_the_best_cell() -> None:
    result = result_of([row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9)])
    table = comparison_table(result)
    rich_cells = list(to_rich(table, WIDTH).columns[column_index(table, "test acc %")].cells)
    assert [str(c.style) for c in rich_cells if isinstance(c, Text)] == ["", BEST_STYLE]


def test_markdown_bolds_only_the_best_value() -> None:
    result = result_of([row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9)])
    lines = md_lines(to_markdown(comparison_table(result)))
    assert ("**70.0 ± 12.3**" in lines[2], "**90.0 ± 12.3**" in lines[3]) == (False, True)


def test_comparison_single_seed_accuracy_has_no_plus_minus() -> None:
    result = result_of([row("relu", n_seeds=1, test_accuracy_std=None, test_loss_std=None)])
    assert column_texts(comparison_table(result), "test acc %") == ["80.0"]


def test_comparison_shows_accuracy_mean_and_std() -> None:
    assert column_texts(comparison_table(result_of([row("relu")])), "test acc %") == ["80.0 ± 12.3"]


def test_comparison_marks_a_diverged_label_in_red() -> None:
    table = comparison_table(result_of([row("relu", n_diverged=2), row("tanh")]))
    first = table.rows[0][column_index(table, "activation")]
    assert (first.text, first.style) == ("relu (2 diverged)", "red")


# --- sort order -----------------------------------------------------------------------------------

SORT_ROWS = [
    row(
        "tanh",
        train_loss_mean=0.2,
        test_loss_mean=0.5,
        test_accuracy_mean=0.8,
        test_accuracy_ci95=[0.70, 0.9],
        dead_neurons_mean=0.0,
        dead_neurons_init_mean=2.0,
        dormant_neurons_mean=4.0,
        saturated_mean=0.02,
        revived_neurons_mean=2.0,
    ),
    row(
        "elu",
        train_loss_mean=None,
        test_loss_mean=None,
        test_accuracy_mean=None,
        test_accuracy_std=None,
        dead_neurons_mean=None,
        dead_neurons_init_mean=None,
        dormant_neurons_mean=None,
    ),
    row(
        "relu",
        train_loss_mean=0.1,
        test_loss_mean=0.6,
        test_accuracy_mean=0.9,
        test_accuracy_ci95=[0.85, 0.95],
        dead_neurons_mean=7.0,
        dead_neurons_init_mean=1.0,
        dormant_neurons_mean=5.0,
        saturated_mean=0.0,
        revived_neurons_mean=10.0,
    ),
    row(
        "sigmoid",
        train_loss_mean=0.3,
        test_loss_mean=0.4,
        test_accuracy_mean=0.7,
        test_accuracy_ci95=[0.6, 0.8],
        dead_neurons_mean=2.0,
        dead_neurons_init_mean=0.0,
        dormant_neurons_mean=3.0,
        saturated_mean=0.31,
        revived_neurons_mean=3.0,
    ),
]
SORTED = {
    "activation": ["elu", "relu", "sigmoid", "tanh"],
    "train_loss": ["relu", "tanh", "sigmoid", "elu"],
    "test_loss": ["sigmoid", "tanh", "relu", "elu"],
    "test_acc": ["relu", "tanh", "sigmoid", "elu"],
    "ci95": ["relu", "tanh", "sigmoid", "elu"],
    "dead": ["tanh", "sigmoid", "relu", "elu"],
    "dead_init": ["sigmoid", "relu", "tanh", "elu"],
    "dormant": ["sigmoid", "tanh", "relu", "elu"],
    "saturated": ["relu", "tanh", "sigmoid", "elu"],
}
KNOWN_SORT_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(
            key,
            order,
            marks=[pytest.mark.xfail(reason=KNOWN_SORT_BUGS[key], strict=True)]
            if key in KNOWN_SORT_BUGS
            else [],
        )
        for key, order in SORTED.items()
    ],
)
def test_sort_rows_best_first_missing_last(key: str, expected: list[str]) -> None:
    assert [r.label for r in cols.sort_rows(SORT_ROWS, key)] == expected


def test_sort_rows_revived_is_in_numeric_order() -> None:
    values = [r.revived_neurons_mean for r in cols.sort_rows(SORT_ROWS, "revived")][:3]
    assert values in ([2.0, 3.0, 10.0], [10.0, 3.0, 2.0])


def test_sort_cases_cover_every_sort_key() -> None:
    # columns without a better direction sort largest first (tested for revived below)
    undirected = {"revived", "grad_ratio", "std_init_last"}
    assert set(SORTED) | undirected == set(cols.SORT_KEYS)


def test_cli_sort_choices_are_the_table_columns() -> None:
    assert [key.value for key in SortKey] == list(cols.SORT_KEYS)


def test_sort_rows_none_keeps_order_in_a_new_list() -> None:
    rows = list(SORT_ROWS)
    kept = cols.sort_rows(rows, None)
    assert (kept == rows, kept is rows) == (True, False)


def test_sort_rows_is_stable_for_ties() -> None:
    rows = [row("b"), row("a"), row("c", test_accuracy_mean=0.99)]
    assert [r.label for r in cols.sort_rows(rows, "test_acc")] == ["c", "b", "a"]


def test_sort_keeps_sweep_points_in_run_order() -> None:
    table = comparison_table(sweep(), sort="test_acc")
    assert column_texts(table, "activation")[:4] == ["tanh", "relu", "tanh", "relu"]


# --- columns.select -------------------------------------------------------------------------------


def keys_of(spec: str | None) -> list[str]:
    return [column.key for column in cols.select(spec)]


def test_select_without_spec_is_the_default_columns() -> None:
    assert keys_of(None) == list(cols.DEFAULT_KEYS)


def test_select_plus_adds_to_the_defaults() -> None:
    assert keys_of("+saturated,+ci95") == [
        k for k in cols.KEYS if k in {*cols.DEFAULT_KEYS, "saturated", "ci95"}
    ]


def test_select_minus_removes_from_the_defaults() -> None:
    assert keys_of("-dead_init") == [k for k in cols.DEFAULT_KEYS if k != "dead_init"]


def test_select_plain_list_replaces_the_defaults() -> None:
    assert keys_of("test_acc,dead") == ["activation", "test_acc", "dead"]


def test_select_keeps_activation_first() -> None:
    assert keys_of("dead,-activation")[0] == "activation"


def test_select_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        cols.select("+saturatd")
    assert all(key in str(caught.value) for key in cols.KEYS)


def test_comparison_table_shows_selected_columns() -> None:
    table = comparison_table(result_of([row("relu")]), columns="test_acc,saturated")
    assert [c.header for c in table.columns] == ["activation", "test acc %", "satur.\n%"]


# --- members table --------------------------------------------------------------------------------


def test_members_table_one_row_per_seed_and_a_mean_row() -> None:
    assert column_texts(members_table(members_result()), "seed") == ["0", "1", "2", "mean"]


def test_members_table_single_seed_has_no_mean_row() -> None:
    assert column_texts(members_table(members_result(("ok",))), "seed") == ["0"]


def test_members_table_marks_a_diverged_seed_in_red() -> None:
    table = members_table(members_result(("ok", "diverged", "ok")))
    cell = table.rows[1][column_index(table, "seed")]
    assert (cell.text, cell.style) == ("*1", "red")


def test_members_table_explains_a_diverged_seed() -> None:
    table = members_table(members_result(("ok", "diverged", "ok")))
    assert "*1: diverged in epoch 18; frozen after epoch 17" in table.caption


def test_members_table_keeps_its_columns_when_a_run_is_not_ok() -> None:
    ok = members_table(members_result())
    diverged = members_table(members_result(("ok", "diverged", "ok")))
    assert [c.header for c in diverged.columns] == [c.header for c in ok.columns]


def test_members_table_sweep_has_one_section_per_grid_point() -> None:
    table = members_table(members_sweep())
    assert [[r[2].text for r in s] for s in table.sections] == [["0", "1", "mean"]] * 9


# --- machine formats ------------------------------------------------------------------------------


def test_csv_summary_header_is_the_summary_row_fields_with_intervals_split() -> None:
    text = to_csv(summary_records(result_of([row("relu", test_accuracy_ci95=[0.7, 0.9])])))
    fields = []
    for name in SummaryRow.model_fields:
        if name in ("test_accuracy_ci95", "diff_ci95"):
            fields += [f"{name}_low", f"{name}_high"]
        elif name != "grid":
            fields.append(name)
    assert next(csv.reader(io.StringIO(text))) == fields
    first = next(csv.DictReader(io.StringIO(text)))
    assert (first["test_accuracy_ci95_low"], first["test_accuracy_ci95_high"]) == ("0.7", "0.9")


def test_csv_summary_puts_grid_values_first() -> None:
    header = next(csv.reader(io.StringIO(to_csv(summary_records(sweep())))))
    assert header[:3] == ["grid.train.lr", "grid.model.hidden", "label"]


def test_csv_none_is_an_empty_cell() -> None:
    text = to_csv(summary_records(result_of([row("relu", test_accuracy_std=None)])))
    parsed = next(csv.DictReader(io.StringIO(text)))
    assert (parsed["test_accuracy_std"], parsed["test_accuracy_mean"]) == ("", "0.8")


def test_csv_quotes_commas() -> None:
    text = to_csv([{"name": "a,b", "value": 1}])
    assert list(csv.reader(io.StringIO(text))) == [["name", "value"], ["a,b", "1"]]


def test_csv_writes_lists_as_json() -> None:
    text = to_csv([{"hidden": [8, 8]}])
    assert json.loads(next(csv.DictReader(io.StringIO(text)))["hidden"]) == [8, 8]


def test_csv_of_nothing_is_empty() -> None:
    assert to_csv([]) == ""


def test_csv_per_member_has_one_line_per_run_without_history() -> None:
    parsed = list(csv.DictReader(io.StringIO(to_csv(run_records(members_result())))))
    assert ([r["seed"] for r in parsed], "history" in parsed[0]) == (["0", "1", "2"], False)


def test_markdown_escapes_pipes() -> None:
    table = TableView("", [text_column("name"), text_column("formula")])
    table.add_section([cells("abs", "|x|")])
    assert md_lines(to_markdown(table))[2] == "| abs | \\|x\\| |"


def test_markdown_header_separator_and_rows() -> None:
    table = TableView("", [text_column("a"), Column("b"), Column("c")])
    table.add_section([cells("1", "2", "3"), cells("4", "5", "6")])
    assert md_lines(to_markdown(table)) == [
        "| a | b | c |",
        "| --- | ---: | ---: |",
        "| 1 | 2 | 3 |",
        "| 4 | 5 | 6 |",
    ]


def test_markdown_writes_two_line_headers_on_one_line() -> None:
    assert md_lines(to_markdown(comparison_table(twelve())))[0] == (
        "| activation | train loss | test loss | test acc % | dead | dead @init | dormant |"
    )


@pytest.mark.parametrize("per_member", [False, True])
def test_json_is_exactly_the_result_to_json(per_member: bool) -> None:
    result = members_result()
    assert emitted(result_view(result, per_member=per_member), "json") == result.to_json() + "\n"


def test_json_reads_back_as_the_same_result() -> None:
    result = sweep()
    text = emitted(result_view(result), "json")
    assert RunResult.model_validate(json.loads(text)) == result


def test_csv_summary_has_one_line_per_label() -> None:
    parsed = list(csv.reader(io.StringIO(emitted(result_view(twelve()), "csv"))))
    assert [line[0] for line in parsed] == ["label", *LABELS]


def test_md_sorted_by_accuracy() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9), row("c")]
    )
    lines = md_lines(emitted(result_view(result, sort="test_acc"), "md"))
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["b", "c", "a"]


@pytest.mark.parametrize("form", ["json", "csv", "md"])
def test_machine_formats_have_no_ansi_on_a_colour_terminal(form: Format) -> None:
    out = Console(file=io.StringIO(), width=WIDTH, force_terminal=True, color_system="truecolor")
    emit(result_view(twelve()), form, out)
    assert "\x1b" not in written(out)


# --- emit: every view in every format -------------------------------------------------------------


@pytest.mark.parametrize("name", VIEWS)
def test_emit_json_parses(name: str) -> None:
    assert json.loads(emitted(VIEWS[name](), "json"))


@pytest.mark.parametrize("name", VIEWS)
def test_emit_csv_has_a_header_and_equal_length_rows(name: str) -> None:
    parsed = list(csv.reader(io.StringIO(emitted(VIEWS[name](), "csv"))))
    assert len(parsed) >= 2
    assert {len(line) for line in parsed} == {len(parsed[0])}


@pytest.mark.parametrize("name", VIEWS)
def test_emit_md_has_a_separator_row_per_table(name: str) -> None:
    view = VIEWS[name]()
    lines = md_lines(emitted(view, "md"))
    separators = [line for line in lines if set(line) <= set("|-: ") and "---" in line]
    assert len(separators) == len(view.tables)


@pytest.mark.parametrize("name", VIEWS)
def test_emit_table_has_no_ansi_without_colour(name: str) -> None:
    out = Console(file=io.StringIO(), width=WIDTH, force_terminal=True, color_system=None)
    emit(VIEWS[name](), "table", out)
    assert "\x1b" not in written(out)


def test_emit_table_writes_the_notes() -> None:
    assert "a note" in emitted(View(tables=[], notes=["a note"]))


# --- 80 columns: every view shows every header and number in full ----------------------------

KNOWN_80_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[pytest.mark.xfail(reason=KNOWN_80_BUGS[name], strict=True)]
            if name in KNOWN_80_BUGS
            else [],
        )
        for name in VIEWS
    ],
)
def test_every_view_shows_everything_in_full_at_80_columns(name: str) -> None:
    view = VIEWS[name]()
    assert cut_pieces(view, emitted(view)) == []


def test_comparison_starts_a_line_with_every_label_at_80_columns() -> None:
    starts = set(line_starts(emitted(result_view(twelve()))))
    assert set(LABELS) <= starts


def test_sweep_tells_every_learning_rate_apart_at_80_columns() -> None:
    starts = set(line_starts(emitted(result_view(sweep()))))
    assert {"0.001", "0.01", "0.1"} <= starts


def test_sweep_shows_every_hidden_shape_at_80_columns() -> None:
    output = emitted(result_view(sweep()))
    assert all(fmt.hidden(shape) in output for shape in SHAPES)


def test_baseline_title_fits_on_one_line_at_80_columns() -> None:
    table = baseline_table(baseline_result())
    assert table is not None
    assert table.title in [line.strip() for line in rendered(table).splitlines()]


def test_baseline_table_shows_verdicts() -> None:
    table = baseline_table(baseline_result())
    assert table is not None
    assert [r[-1].text for r in table.rows] == ["worse", "ns"]


def test_no_baseline_table_without_a_baseline() -> None:
    assert baseline_table(twelve()) is None


def test_members_table_shows_the_diverged_note_in_full_at_80_columns() -> None:
    output = emitted(result_view(members_result(("ok", "diverged", "ok")), per_member=True))
    assert "*1: diverged in epoch 18; frozen after epoch 17" in output


def test_comparison_with_extra_columns_shows_or_names_every_column_at_80() -> None:
    view = result_view(twelve(), columns="+saturated,+ci95")
    assert cut_pieces(view, emitted(view)) == []


def test_runs_with_a_long_best_label_fold_the_label_and_keep_every_number() -> None:
    view = runs_view(saved_runs(best=LONG_LABEL))
    output = emitted(view)
    assert max(len(line) for line in output.splitlines()) <= WIDTH
    assert "…" not in output
    for run_id in column_texts(view.tables[0], "run id"):
        assert run_id in output
    assert output.count(" 12.3") == 3  # the seconds column, whole
    assert output.count(" 91.2") == 3  # the best accuracy, whole
    assert output.count("leaky_relu(") == 3


def test_runs_table_shows_best_label_and_accuracy() -> None:
    table = runs_view(saved_runs()).tables[0]
    assert column_texts(table, "best")[0] == "relu"
    assert column_texts(table, "test acc %")[0] == "91.2"  # a number column of its own


def test_hardtanh_range_is_not_eaten_as_markup() -> None:
    output = emitted(activations_view([registry.get("hardtanh")]), width=200)
    assert "[min_val, max_val]" in output


def test_activations_records_hold_default_params() -> None:
    records = activations_view([registry.get("leaky_relu")]).records
    assert records[0]["params"] == {"negative_slope": 0.01}


def test_activations_records_hold_every_field() -> None:
    records = activations_view([registry.get("leaky_relu")]).records
    assert set(records[0]) == {
        "name",
        "aliases",
        "formula",
        "range",
        "derivative",
        "typical_use",
        "params",
    }


def test_activations_table_names_every_activation() -> None:
    names = column_texts(activations_view(all_specs()).tables[0], "name")
    assert [name.split("\n")[0] for name in names] == list(registry.names())


def test_show_formats_four_decimals() -> None:
    assert [[c.text for c in r] for r in show_tanh().tables[0].rows] == [
        ["1", "0.7616", "0.4200"],
        ["-2.5", "-0.9866", "0.0266"],
    ]


def test_show_title_lists_params() -> None:
    view = show_view("leaky_relu", {"negative_slope": 0.2}, [1.0], [1.0], [1.0])
    assert view.tables[0].title == "leaky_relu (negative_slope=0.2)"


def test_bench_accuracy_table_marks_a_way_without_the_activation() -> None:
    accuracy = bench_view(bench_result()).tables[1]
    assert column_texts(accuracy, "sklearn")[-1] == "-"


def test_bench_shows_how_much_faster_the_population_is() -> None:
    timing = bench_view(bench_result()).tables[0]
    assert column_texts(timing, "population is")[2] == "17.6x faster"


def test_bench_uses_singular_for_one() -> None:
    output = emitted(bench_view(bench_result(members=1, epochs=1, repeat=1)))
    assert not any(bad in output for bad in ("1 models", "1 epochs", "1 timings"))


def test_bench_caption_writes_hidden_shape_in_list_notation() -> None:
    assert "hidden [50]," in bench_view(bench_result()).tables[0].caption[0]


# --- fit_columns and to_rich ----------------------------------------------------------------------


def wide_table(*, optional: bool = False) -> TableView:
    """A long text column that must wrap beside six numeric columns (54 characters)."""
    table = TableView(
        "wide",
        [
            text_column("label"),
            *(Column(f"number {i}", optional=optional and i == 5) for i in range(6)),
        ],
    )
    text = "a rather long description that has to wrap over several lines"
    table.add_section([[Cell(text), *(Cell(f"{123.456 * (i + 1):.3f}") for i in range(6))]])
    return table


def test_fit_columns_keeps_numbers_at_their_natural_width() -> None:
    table = wide_table()
    assert fit_columns(table, WIDTH)[1][1:] == [len("number 0")] * 6


def test_fit_columns_fits_by_wrapping_the_text_column() -> None:
    shown, widths = fit_columns(wide_table(), WIDTH)
    assert sum(widths) + len(widths) <= WIDTH


def test_fit_columns_keeps_a_text_column_at_its_longest_word() -> None:
    table = TableView("", [text_column("label"), Column("n" * 56)])
    table.add_section([cells("short incomprehensibilities", "1")])
    assert fit_columns(table, WIDTH)[1][0] == len("incomprehensibilities")


def test_fit_columns_folds_a_long_word_rather_than_widen_the_table() -> None:
    table = TableView("", [text_column("label"), Column("n" * 60)])
    table.add_section([cells("short incomprehensibilities", "1")])
    shown, widths = fit_columns(table, WIDTH)
    assert widths == [WIDTH - 60 - 3, 60]


def test_to_rich_wraps_text_and_cuts_no_number() -> None:
    table = wide_table()
    # fitted to 72 on an 80-column console: the wrapping is tested, not the width accounting
    out = console()
    out.print(to_rich(table, 72))
    output = written(out)
    assert cut_pieces(View(tables=[table]), output) == []


def test_to_rich_wraps_a_long_text_over_several_lines() -> None:
    out = console()
    out.print(to_rich(wide_table(), 60))
    text = wide_table().rows[0][0].text
    assert text not in written(out)  # not on one line: wrapped


def test_to_rich_is_no_wider_than_the_width_it_was_fitted_to() -> None:
    out = console(200)
    out.print(to_rich(wide_table(), WIDTH))
    assert max(len(line.rstrip()) for line in written(out).splitlines()) <= WIDTH


def test_optional_column_is_kept_when_it_fits() -> None:
    table = wide_table(optional=True)
    assert fit_columns(table, 200)[0] == list(range(len(table.columns)))


def test_optional_column_is_dropped_when_it_does_not_fit() -> None:
    table = TableView(
        "", [text_column("label"), *(Column(f"n{i}", optional=True) for i in range(3))]
    )
    table.add_section([[Cell("x"), *(Cell("9" * 30) for _ in range(3))]])
    assert fit_columns(table, WIDTH)[0] == [0, 1, 2]


def test_no_caption_about_hidden_columns_when_everything_fits() -> None:
    assert NOT_SHOWN not in rendered(wide_table(optional=True), 200)


def test_caption_names_the_dropped_column() -> None:
    table = TableView(
        "", [text_column("label"), *(Column(f"n{i}", optional=True) for i in range(3))]
    )
    table.add_section([[Cell("x"), *(Cell("9" * 30) for _ in range(3))]])
    assert f"{NOT_SHOWN}: n2" in rendered(table)


def merge_table() -> TableView:
    table = TableView("", [Column("lr", merge=True), text_column("activation"), Column("acc")])
    table.add_section([cells("0.125", "relu", "1"), cells("0.125", "tanh", "2")])
    table.add_section([cells("0.125", "gelu", "3")])
    return table


def test_merged_column_shows_a_repeated_value_once_per_section() -> None:
    assert rendered(merge_table()).count("0.125") == 2


def test_markdown_repeats_a_merged_value_on_every_row() -> None:
    assert to_markdown(merge_table()).count("0.125") == 3


def test_sweep_shows_each_learning_rate_once_per_section_at_80_columns() -> None:
    starts = line_starts(emitted(result_view(sweep())))
    assert starts.count("0.001") == len(SHAPES)


# --- ASCII fallback and control characters --------------------------------------------------------


def test_ascii_stream_gets_plus_minus_in_a_table() -> None:
    out, raw = ascii_console()
    emit(result_view(twelve()), "table", out)
    text = ascii_output(out, raw)
    assert "80.0 +/- 12.3" in text


def test_ascii_stream_gets_plus_minus_in_markdown() -> None:
    out, raw = ascii_console()
    emit(result_view(twelve()), "md", out)
    assert "80.0 +/- 12.3" in ascii_output(out, raw)


def test_ascii_stream_gets_plain_baseline_headers() -> None:
    out, raw = ascii_console()
    emit(result_view(baseline_result()), "table", out)
    assert "d acc" in ascii_output(out, raw)


BAD_LABELS = ("\x1b]0;x\x07", "a\nb", "a|b")


def test_control_characters_never_reach_a_table() -> None:
    output = emitted(result_view(result_of([row(label) for label in BAD_LABELS])))
    assert not any(char in output for char in "\x1b\x07")


def test_markdown_keeps_one_line_per_row_with_control_characters() -> None:
    text = emitted(result_view(result_of([row(label) for label in BAD_LABELS])), "md")
    assert len(md_lines(text)) == 2 + len(BAD_LABELS)


def test_markdown_escapes_a_pipe_in_a_label() -> None:
    text = emitted(result_view(result_of([row(label) for label in BAD_LABELS])), "md")
    assert md_lines(text)[4].startswith("| a\\|b |")


def test_control_characters_never_reach_markdown() -> None:
    text = emitted(result_view(result_of([row(label) for label in BAD_LABELS])), "md")
    assert not any(char in text for char in "\x1b\x07")


def test_a_note_with_an_escape_sequence_is_shown_as_text() -> None:
    assert "\x1b" not in emitted(View(notes=["\x1b[2J cleared"]))


# --- format ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.4123, "0.412"),
        (0.0, "0.000"),
        (12345.6, "1.23e+04"),
        (1e-6, "1e-06"),
        (None, "-"),
        (math.nan, "-"),
    ],
)
def test_number(value: float | None, text: str) -> None:
    assert fmt.number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.83099, "0.8310"), (1e-06, "0.0000"), (12345.6, "12345.6000"), (-0.019, "-0.0190")],
)
def test_fixed_keeps_its_decimals_however_small_or_large(value: float, text: str) -> None:
    assert fmt.fixed(value, 4) == text


@pytest.mark.parametrize(
    ("fraction", "std", "text"),
    [(0.8, None, "80.0"), (0.8, 0.123, "80.0 ± 12.3"), (0.8, math.nan, "80.0"), (None, 0.1, "-")],
)
def test_percent(fraction: float | None, std: float | None, text: str) -> None:
    assert fmt.percent(fraction, std) == text


@pytest.mark.parametrize(("mean", "text"), [(3.0, "3"), (2.4, "2.4"), (0.0, "0"), (None, "-")])
def test_count(mean: float | None, text: str) -> None:
    assert fmt.count(mean) == text


@pytest.mark.parametrize(("fraction", "text"), [(0.012, "+1.2"), (-0.004, "-0.4"), (None, "-")])
def test_points(fraction: float | None, text: str) -> None:
    assert fmt.points(fraction) == text


@pytest.mark.parametrize(("bounds", "text"), [([-0.004, 0.021], "[-0.4, +2.1]"), (None, "-")])
def test_interval(bounds: list[float] | None, text: str) -> None:
    assert fmt.interval(bounds) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0.0004, "< 0.001"), (0.0312, "0.031"), (1.0, "1.000"), (None, "-")]
)
def test_p_value(value: float | None, text: str) -> None:
    assert fmt.p_value(value) == text


@pytest.mark.parametrize(
    ("widths", "text"),
    [([50], "[50]"), ([8, 8], "[8, 8]"), ([2] * 10, "[2]*10"), ([2, 2, 2], "[2, 2, 2]")],
)
def test_hidden(widths: list[int], text: str) -> None:
    assert fmt.hidden(widths) == text


@pytest.mark.parametrize(
    ("item", "text"),
    [
        (0.001, "0.001"),
        (0.01, "0.01"),
        (1e-5, "1e-05"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        ([8, 8], "[8, 8]"),
        ([2] * 10, "[2]*10"),
        (["relu", "tanh"], "[relu, tanh]"),
        ({"negative_slope": 0.2}, "{negative_slope: 0.2}"),
        (None, "-"),
    ],
)
def test_value(item: Any, text: str) -> None:
    assert fmt.value(item) == text


def test_grid_point_uses_short_names() -> None:
    grid = {"train.lr": 0.001, "model.hidden": [8, 8]}
    assert fmt.grid_point(grid) == "lr=0.001, hidden=[8, 8]"


def test_grid_point_without_a_sweep_is_empty() -> None:
    assert fmt.grid_point({}) == ""


def test_key_names_use_the_last_part() -> None:
    assert fmt.key_names(["train.lr", "model.hidden"]) == {
        "train.lr": "lr",
        "model.hidden": "hidden",
    }


def test_key_names_keep_the_full_key_when_last_parts_clash() -> None:
    assert fmt.key_names(["train.lr", "sched.lr", "model.hidden"]) == {
        "train.lr": "train.lr",
        "sched.lr": "sched.lr",
        "model.hidden": "hidden",
    }


@pytest.mark.parametrize(
    ("n", "word", "text"),
    [(1, "epoch", "1 epoch"), (2, "epoch", "2 epochs"), (1, "thread", "1 thread")],
)
def test_plural(n: int, word: str, text: str) -> None:
    assert fmt.plural(n, word) == text


def test_plural_irregular() -> None:
    assert fmt.plural(3, "child", "children") == "3 children"


def test_member_names_seed_and_grid_point() -> None:
    assert fmt.member("relu", 3, {"train.lr": 0.1}) == "relu seed 3 [lr=0.1]"


def test_printable_shows_control_characters_as_escapes() -> None:
    assert fmt.printable("a\x1b[2Jb\n") == "a\\x1b[2Jb\\n"


def test_interrupted_footer_shows_the_epochs_actually_finished() -> None:
    runs = [record("relu", seed, epochs=2, status="interrupted") for seed in range(2)]
    result = result_of([row("relu")], runs).model_copy(update={"status": "interrupted"})
    (table,) = result_view(result, notes=False).tables
    assert "2 of 100 epochs" in table.caption[-1] and "INTERRUPTED" in table.caption[-1]


def test_footer_counts_in_singular_and_plural() -> None:
    result = result_of([row("relu", n_seeds=1)], [record("relu", 0)])
    result = result.model_copy(update={"config": {"train": {"epochs": 1}}})
    caption = result_view(result, notes=False).tables[0].caption
    assert caption[0].startswith("1 seed;")
    assert caption[-1].startswith("1 model, 1 epoch, ")


def test_sweep_columns_align_numbers_right_and_words_left() -> None:
    rows = [
        row("relu", grid={"data.kind": kind, "train.lr": lr})
        for kind in ("moons", "xor")
        for lr in (0.1, 0.3)
    ]
    lines = md_lines(to_markdown(result_view(result_of(rows)).tables[0]))
    assert lines[1].startswith("| --- | ---: | --- |")  # kind, lr, activation


def test_the_ci95_column_writes_an_interval_with_brackets() -> None:
    from cases import member_record

    from actbench.render.columns import COLUMNS
    from actbench.stats import summarize

    (ci95,) = [column for column in COLUMNS if column.key == "ci95"]
    row = summarize([member_record("relu", s, a) for s, a in enumerate([0.2, 0.9])])[0]
    assert ci95.text(row) == "[-389.7, 499.7]"  # not "-389.7-499.7"


def test_the_lowest_train_loss_is_not_highlighted_as_best() -> None:
    """A low train loss is the net that fits the training set hardest, often overfitting: it
    sorts (--sort train_loss, lowest first) but is never marked best."""
    from cases import member_record

    from actbench.render.columns import best_rows, get, sort_rows
    from actbench.stats import summarize

    runs = [member_record("relu", 0, 0.8), member_record("tanh", 0, 0.85)]
    rows = summarize([runs[0].model_copy(update={"train_loss": 0.1}), runs[1]])
    assert best_rows(rows, get("train_loss")) == set()
    assert best_rows(rows, get("test_acc")) == {1}
    assert [r.label for r in sort_rows(rows, "train_loss")][0] == "relu"


def test_runs_keep_status_best_and_seconds_whole_at_80_columns_with_a_long_id() -> None:
    long_id = "20261204-174506-rerun-20261204-101500-dying_relu-1a2b3c4-" + "x" * 30
    saved = saved_runs()
    saved[0] = SavedRun(
        Path("runs") / long_id, saved[0].result.model_copy(update={"status": "interrupted"})
    )
    view = runs_view(saved)
    output = emitted(view)
    assert max(len(line) for line in output.splitlines()) <= WIDTH
    assert "…" not in output and "interrupted" in output
    assert output.count(" 12.3") == 3 and output.count(" 91.2") == 3
    assert long_id[:10] in output  # folded over lines, never cut: whole in csv and json
    assert runs_view(saved).records[0]["run_id"] == long_id


def test_runs_write_a_huge_seconds_value_briefly() -> None:
    saved = saved_runs()
    saved[0] = SavedRun(saved[0].path, saved[0].result.model_copy(update={"seconds": 1e308}))
    assert column_texts(runs_view(saved).tables[0], "seconds")[0] == "1e+308"
