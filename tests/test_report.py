from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text

from actbench import activations as registry
from actbench.report import (
    BEST_STYLE,
    SORT_KEYS,
    activation_records,
    activations_table,
    comparison_table,
    members_table,
    render_result,
    show_table,
    sort_rows,
    summary_markdown,
    summary_records,
    to_csv,
    to_markdown,
)
from actbench.runs import History, RunRecord, RunResult, SummaryRow

LABELS = (
    "identity",
    "step",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "leaky_relu_0.2",
    "softmax",
    "elu",
    "selu",
    "gelu",
    "softplus",
)
SUMMARY_HEADERS = ("activation", "train loss", "test loss", "test acc %", "dead", "dead@init")
ACC_COLUMN = 3
TEST_LOSS_COLUMN = 2


def row(label: str, **values: Any) -> SummaryRow:
    fields: dict[str, Any] = {
        "label": label,
        "activation": label.split("_0")[0],
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
        "activation": label,
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
        "history": History(train_loss=[0.5, 0.3123], test_accuracy=[0.8, 0.875]),
    }
    fields.update(values)
    return RunRecord(**fields)


def result_of(summary: list[SummaryRow], runs: list[RunRecord] | None = None) -> RunResult:
    return RunResult(
        actbench_version="0.1.0",
        run_id="20240102-030405-all-abcdef0",
        device="cpu (8 threads)",
        seconds=12.34,
        config={"train": {"epochs": 100}},
        runs=runs if runs is not None else [record(r.label, 0) for r in summary],
        summary=summary,
    )


def render(renderable: Any, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def cells(table: Table, column: int) -> list[Text]:
    found = list(table.columns[column].cells)
    assert all(isinstance(cell, Text) for cell in found)
    return found


def styled(table: Table, column: int) -> list[bool]:
    return [str(cell.style) == BEST_STYLE for cell in cells(table, column)]


@pytest.fixture
def twelve() -> RunResult:
    summary = [
        row(
            label,
            test_accuracy_mean=0.5 + 0.03 * i,
            test_loss_mean=0.9 - 0.05 * i,
            train_loss_mean=0.8 - 0.05 * i,
            dead_neurons_mean=float(i),
        )
        for i, label in enumerate(LABELS)
    ]
    return result_of(summary)


# --- comparison_table -----------------------------------------------------------------------------


def test_comparison_table_shows_every_label_in_full_at_80_columns(twelve: RunResult) -> None:
    output = render(comparison_table(twelve), width=80)
    assert "…" not in output
    lines = output.splitlines()
    for label in LABELS:
        assert any(line.split()[:1] == [label] for line in lines), label
    assert max(len(line) for line in lines) <= 80


def test_comparison_table_shows_every_header_at_80_columns(twelve: RunResult) -> None:
    output = render(comparison_table(twelve), width=80)
    for header in (*SUMMARY_HEADERS, "dormant"):
        assert header in output


def test_comparison_table_highlights_highest_accuracy() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9), row("c")]
    )
    assert styled(comparison_table(result), ACC_COLUMN) == [False, True, False]


def test_comparison_table_highlights_lowest_loss() -> None:
    result = result_of(
        [row("a", test_loss_mean=0.3), row("b", test_loss_mean=0.9), row("c", test_loss_mean=0.5)]
    )
    assert styled(comparison_table(result), TEST_LOSS_COLUMN) == [True, False, False]


def test_comparison_table_highlights_every_tied_best() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.9), row("b", test_accuracy_mean=0.9), row("c")]
    )
    assert styled(comparison_table(result), ACC_COLUMN) == [True, True, False]


def test_comparison_table_no_highlight_when_all_values_tie() -> None:
    table = comparison_table(result_of([row("a"), row("b"), row("c")]))
    for column in range(len(table.columns)):
        assert not any(styled(table, column)), table.columns[column].header


def test_comparison_table_highlight_ignores_missing_values() -> None:
    result = result_of(
        [
            row("a", test_accuracy_mean=None, test_accuracy_std=None),
            row("b", test_accuracy_mean=0.6),
            row("c", test_accuracy_mean=0.7),
        ]
    )
    assert styled(comparison_table(result), ACC_COLUMN) == [False, False, True]


def test_comparison_table_highlight_follows_sorted_rows() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9), row("c")]
    )
    table = comparison_table(result, sort="test_acc")
    assert [cell.plain for cell in cells(table, 0)] == ["b", "c", "a"]
    assert styled(table, ACC_COLUMN) == [True, False, False]


def test_comparison_table_single_seed_accuracy_has_no_plus_minus() -> None:
    result = result_of([row("relu", n_seeds=1, test_accuracy_std=None, test_loss_std=None)])
    assert [cell.plain for cell in cells(comparison_table(result), ACC_COLUMN)] == ["80.0"]


def test_comparison_table_formats_accuracy_mean_and_std() -> None:
    output = render(comparison_table(result_of([row("relu")])), width=120)
    assert "80.0 ± 12.3" in output


def test_comparison_table_marks_diverged_label() -> None:
    table = comparison_table(result_of([row("relu", n_diverged=2), row("tanh")]))
    first = cells(table, 0)[0]
    assert first.plain == "relu (2 diverged)"
    assert str(first.style) == "red"


# --- sort_rows ------------------------------------------------------------------------------------


SORT_ROWS = [
    row(
        "tanh",
        train_loss_mean=0.2,
        test_loss_mean=0.5,
        test_accuracy_mean=0.8,
        dead_neurons_mean=0.0,
        dead_neurons_init_mean=2.0,
        dormant_neurons_mean=4.0,
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
        dead_neurons_mean=7.0,
        dead_neurons_init_mean=1.0,
        dormant_neurons_mean=5.0,
    ),
    row(
        "sigmoid",
        train_loss_mean=0.3,
        test_loss_mean=0.4,
        test_accuracy_mean=0.7,
        dead_neurons_mean=2.0,
        dead_neurons_init_mean=0.0,
        dormant_neurons_mean=3.0,
    ),
]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("activation", ["elu", "relu", "sigmoid", "tanh"]),
        ("train_loss", ["relu", "tanh", "sigmoid", "elu"]),
        ("test_loss", ["sigmoid", "tanh", "relu", "elu"]),
        ("test_acc", ["relu", "tanh", "sigmoid", "elu"]),
        ("dead", ["tanh", "sigmoid", "relu", "elu"]),
        ("dead_init", ["sigmoid", "relu", "tanh", "elu"]),
        ("dormant", ["sigmoid", "tanh", "relu", "elu"]),
    ],
)
def test_sort_rows_best_first_missing_last(key: str, expected: list[str]) -> None:
    assert [r.label for r in sort_rows(SORT_ROWS, key)] == expected


def test_sort_rows_covers_every_sort_key() -> None:
    assert set(SORT_KEYS) == {
        "activation",
        "train_loss",
        "test_loss",
        "test_acc",
        "dead",
        "dead_init",
        "dormant",
    }


def test_cli_sort_choices_are_the_table_columns() -> None:
    from actbench.cli import SortKey

    assert [key.value for key in SortKey] == list(SORT_KEYS)


def test_sort_rows_none_keeps_order_and_copies() -> None:
    rows = list(SORT_ROWS)
    sorted_rows = sort_rows(rows, None)
    assert sorted_rows == rows
    assert sorted_rows is not rows


def test_sort_rows_is_stable_for_ties() -> None:
    rows = [row("b"), row("a"), row("c", test_accuracy_mean=0.99)]
    assert [r.label for r in sort_rows(rows, "test_acc")] == ["c", "b", "a"]


# --- members_table --------------------------------------------------------------------------------


def members_result(statuses: tuple[str, ...] = ("ok", "ok", "ok")) -> RunResult:
    runs = [
        record(
            "leaky_relu_0.2",
            seed,
            status=status,
            epochs=100 if status == "ok" else 17,
            train_loss=0.3123 if status == "ok" else None,
            test_loss=0.4123 if status == "ok" else None,
        )
        for seed, status in enumerate(statuses)
    ]
    summary = [
        row(
            "leaky_relu_0.2",
            n_seeds=len(statuses),
            test_accuracy_mean=0.8733,
            test_accuracy_std=0.1467,
            n_diverged=sum(s != "ok" for s in statuses),
        )
    ]
    return result_of(summary, runs)


MEMBER_HEADERS = (
    "seed",
    "train loss",
    "test loss",
    "train acc",
    "test acc",
    "dead",
    "dead@init",
    "dormant",
)


def test_members_table_fits_80_columns_without_truncation() -> None:
    output = render(members_table(members_result()), width=80)
    assert "…" not in output
    for header in MEMBER_HEADERS:
        assert header in output


def test_members_table_one_row_per_seed_and_a_mean_row() -> None:
    table = members_table(members_result())
    assert [str(cell) for cell in table.columns[0].cells][:3] == ["0", "1", "2"]
    assert table.row_count == 4
    assert "mean" in render(table, width=160)


def test_members_table_keeps_its_columns_when_a_run_is_not_ok() -> None:
    table = members_table(members_result(("ok", "diverged", "ok")))
    assert [column.header for column in table.columns] == list(MEMBER_HEADERS)


def test_members_table_marks_a_diverged_seed_and_explains_it() -> None:
    output = render(members_table(members_result(("ok", "diverged", "ok"))), width=80)
    assert "*1" in output
    assert "*1: diverged in epoch 18; frozen after epoch 17" in output
    assert "…" not in output


def test_members_table_single_seed_has_no_mean_row() -> None:
    table = members_table(members_result(("ok",)))
    assert table.row_count == 1


# --- machine formats ------------------------------------------------------------------------------


def test_to_csv_summary_header_is_summary_row_fields() -> None:
    text = to_csv(summary_records(result_of([row("relu"), row("tanh")])))
    lines = text.splitlines()
    assert lines[0].split(",") == [f for f in SummaryRow.model_fields if f != "grid"]
    assert len(lines) == 3


def test_to_csv_none_becomes_empty_cell() -> None:
    text = to_csv(summary_records(result_of([row("relu", test_accuracy_std=None)])))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed[0]["test_accuracy_std"] == ""
    assert parsed[0]["test_accuracy_mean"] == "0.8"


def test_to_csv_quotes_commas() -> None:
    text = to_csv([{"name": "a,b", "value": 1}])
    assert list(csv.reader(io.StringIO(text))) == [["name", "value"], ["a,b", "1"]]


def test_to_csv_empty_is_empty_string() -> None:
    assert to_csv([]) == ""


def test_to_markdown_escapes_pipes_in_cells() -> None:
    text = to_markdown(["name", "formula"], [["abs", "|x|"]])
    assert text.splitlines()[2] == "| abs | \\|x\\| |"


def test_to_markdown_header_separator_and_rows() -> None:
    text = to_markdown(["a", "b", "c"], [["1", "2", "3"], ["4", "5", "6"]])
    assert text.splitlines() == [
        "| a | b | c |",
        "| --- | ---: | ---: |",
        "| 1 | 2 | 3 |",
        "| 4 | 5 | 6 |",
    ]


def test_summary_markdown_bolds_best_values() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9), row("c")]
    )
    lines = summary_markdown(result).splitlines()
    assert "**90.0 ± 12.3**" in lines[3]
    assert "**" not in lines[2].split("|")[4]


# --- render_result --------------------------------------------------------------------------------


def console_buffer(width: int = 80) -> Console:
    return Console(file=io.StringIO(), width=width, color_system=None)


@pytest.mark.parametrize("per_member", [False, True])
def test_render_result_json_is_exactly_to_json(per_member: bool) -> None:
    result = result_of([row("relu"), row("tanh")])
    console = console_buffer(width=20)
    render_result(result, "json", console, per_member=per_member)
    output = console.file.getvalue()
    assert output == result.to_json() + "\n"
    assert RunResult.model_validate(json.loads(output)) == result


def test_render_result_csv_summary_has_one_line_per_label() -> None:
    console = console_buffer()
    render_result(result_of([row("relu"), row("tanh")]), "csv", console, per_member=False)
    lines = console.file.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["label", "relu", "tanh"]


def test_render_result_csv_per_member_has_one_line_per_run() -> None:
    console = console_buffer()
    render_result(members_result(), "csv", console, per_member=True)
    parsed = list(csv.DictReader(io.StringIO(console.file.getvalue())))
    assert [r["seed"] for r in parsed] == ["0", "1", "2"]
    assert "history" not in parsed[0]


def test_render_result_md_sorted() -> None:
    result = result_of(
        [row("a", test_accuracy_mean=0.7), row("b", test_accuracy_mean=0.9), row("c")]
    )
    console = console_buffer()
    render_result(result, "md", console, per_member=False, sort="test_acc")
    lines = console.file.getvalue().splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["b", "c", "a"]


def test_render_result_table_single_seed_without_plus_minus() -> None:
    result = result_of([row("relu", n_seeds=1, test_accuracy_std=None, test_loss_std=None)])
    console = console_buffer(width=120)
    render_result(result, "table", console, per_member=False)
    output = console.file.getvalue()
    assert "relu" in output
    assert "±" not in output


@pytest.mark.parametrize("fmt", ["json", "csv", "md"])
def test_render_result_machine_formats_have_no_ansi(fmt: str) -> None:
    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system="truecolor")
    result = result_of([row("a"), row("b", test_accuracy_mean=0.9)])
    render_result(result, fmt, console, per_member=False)
    assert "\x1b" not in console.file.getvalue()


# --- activations and show -------------------------------------------------------------------------


def test_activations_table_renders_every_name() -> None:
    specs = [registry.get(name) for name in registry.names()]
    output = render(activations_table(specs), width=120)
    for name in registry.names():
        assert name in output


def test_activation_records_keys() -> None:
    records = activation_records([registry.get("leaky_relu")])
    assert set(records[0]) == {
        "name",
        "aliases",
        "formula",
        "range",
        "derivative",
        "typical_use",
        "params",
    }
    assert records[0]["params"] == {"negative_slope": 0.01}


def test_show_table_formats_four_decimals() -> None:
    table = show_table("tanh", {}, [1.0, -2.5], [0.7615941762924194, -0.98661], [0.41997, 0.0266])
    output = render(table, width=80)
    assert "0.7616" in output
    assert "0.4200" in output
    assert "-0.9866" in output
    assert "-2.5" in output


def test_show_table_title_lists_params() -> None:
    table = show_table("leaky_relu", {"negative_slope": 0.2}, [1.0], [1.0], [1.0])
    assert table.title == "leaky_relu (negative_slope=0.2)"
