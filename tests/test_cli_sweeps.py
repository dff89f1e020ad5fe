from __future__ import annotations

import csv
import io
import json
import re
import shutil
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import Outcome, run_cli, run_cli_redirected

from actbench import cli

DATA = ["--set", "data.n_samples=160", "--epochs", "2", "--seeds", "2"]
TINY = [*DATA, "--set", "activations=[relu,tanh]"]
LABELS = ["relu", "tanh"]
SEEDS = 2
LR_VALUES = [0.001, 0.1]
LR_SWEEP = ["--sweep", "train.lr=0.001,0.1"]
HIDDEN_SWEEP = ["--sweep", "model.hidden=[4],[3,3]"]
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
FIGURES = ["curves.png", "health.png", "activations.png"]
# a lower bound no row can meet (a loss of 1000)
GATE_LINE = re.compile(r"^gate failed: (\S+): train_loss_mean \d+\.\d{4} < 1000 \(short by \d")


@dataclass(frozen=True)
class Saved:
    root: Path
    run_dir: Path
    outcome: Outcome


def saved_run(root: Path, *argv: str) -> Saved:
    outcome = run_cli_redirected(*argv, "--out", str(root))
    assert outcome.code == 0, outcome.err
    (run_dir,) = root.iterdir()
    return Saved(root, run_dir, outcome)


def copy_run(saved: Saved, root: Path) -> Path:
    target = root / saved.run_dir.name
    shutil.copytree(saved.run_dir, target)
    return target


def assert_one_error_line(outcome: Outcome) -> str:
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in outcome.err + outcome.out
    return lines[0]


def md_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.strip().splitlines() if line.startswith("|")]
    return [[cell.strip().strip("*") for cell in line.strip("|").split("|")] for line in lines]


def grid_and_label(data: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    return [(row["grid"], row["label"]) for row in data["summary"]]


@pytest.fixture(autouse=True)
def _isolated_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture(scope="module")
def lr_sweep(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    root = tmp_path_factory.mktemp("lr_sweep") / "runs"
    return saved_run(root, "compare", *TINY, *LR_SWEEP, "--format", "json")


@pytest.fixture(scope="module")
def lr_sweep_json(lr_sweep: Saved) -> dict[str, Any]:
    data = lr_sweep.outcome.json
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def cross_sweep() -> dict[str, Any]:
    outcome = run_cli_redirected(
        "compare", *TINY, *LR_SWEEP, *HIDDEN_SWEEP, "--format", "json", "--no-save"
    )
    assert outcome.code == 0, outcome.err
    data = outcome.json
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def yaml_sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = tmp_path_factory.mktemp("yaml_sweep") / "lr.yaml"
    config.write_text("sweep:\n  train.lr: [0.001, 0.1]\n", encoding="utf-8")
    outcome = run_cli_redirected("compare", str(config), *TINY, "--format", "json", "--no-save")
    assert outcome.code == 0, outcome.err
    data = outcome.json
    assert isinstance(data, dict)
    return data


# --- sweeps: JSON -------------------------------------------------------------------------------


def test_sweep_runs_carry_their_grid_point(lr_sweep_json: dict[str, Any]) -> None:
    grids = [run["grid"] for run in lr_sweep_json["runs"]]
    assert all(list(grid) == ["train.lr"] for grid in grids)
    assert sorted({grid["train.lr"] for grid in grids}) == LR_VALUES


def test_sweep_summary_has_one_row_per_point_and_label_in_grid_order(
    lr_sweep_json: dict[str, Any],
) -> None:
    assert grid_and_label(lr_sweep_json) == [
        ({"train.lr": lr}, label) for lr in LR_VALUES for label in LABELS
    ]


def test_sweep_trains_every_point_label_and_seed(lr_sweep_json: dict[str, Any]) -> None:
    members = {
        (run["grid"]["train.lr"], run["label"], run["seed"]) for run in lr_sweep_json["runs"]
    }
    assert len(lr_sweep_json["runs"]) == len(LR_VALUES) * len(LABELS) * SEEDS
    assert len(members) == len(LR_VALUES) * len(LABELS) * SEEDS


def test_sweep_summary_rows_aggregate_every_seed(lr_sweep_json: dict[str, Any]) -> None:
    assert [row["n_seeds"] for row in lr_sweep_json["summary"]] == [SEEDS] * 4


def test_two_sweeps_make_the_cross_product(cross_sweep: dict[str, Any]) -> None:
    points = [
        {"train.lr": lr, "model.hidden": hidden} for lr in LR_VALUES for hidden in ([4], [3, 3])
    ]
    assert grid_and_label(cross_sweep) == [(point, label) for point in points for label in LABELS]


def test_two_sweeps_train_every_member(cross_sweep: dict[str, Any]) -> None:
    assert len(cross_sweep["runs"]) == 4 * len(LABELS) * SEEDS


def test_hidden_sweep_values_are_lists(cross_sweep: dict[str, Any]) -> None:
    assert {json.dumps(run["grid"]["model.hidden"]) for run in cross_sweep["runs"]} == {
        "[4]",
        "[3, 3]",
    }


def test_hidden_sweep_shapes_the_networks(cross_sweep: dict[str, Any]) -> None:
    for row in cross_sweep["summary"]:
        assert row["hidden_units"] == sum(row["grid"]["model.hidden"])


def test_yaml_sweep_block_is_kept_in_the_config(yaml_sweep: dict[str, Any]) -> None:
    assert yaml_sweep["config"]["sweep"] == {"train.lr": LR_VALUES}


def test_yaml_sweep_block_trains_the_same_members_as_the_flag(
    yaml_sweep: dict[str, Any], lr_sweep_json: dict[str, Any]
) -> None:
    def members(data: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (run["grid"], run["label"], run["seed"], run["test_accuracy"], run["train_loss"])
            for run in data["runs"]
        ]

    assert members(yaml_sweep) == members(lr_sweep_json)


# --- sweeps: tables -----------------------------------------------------------------------------


def test_sweep_table_has_short_key_column_and_values(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", *TINY, *LR_SWEEP, "--no-save")
    assert outcome.code == 0, outcome.err
    assert re.search(r"^\s*lr\s+activation\s", outcome.out, re.MULTILINE), outcome.out
    assert re.search(r"^\s*0\.001\s+relu\s", outcome.out, re.MULTILINE), outcome.out
    assert re.search(r"^\s*0\.1\s+relu\s", outcome.out, re.MULTILINE), outcome.out


def test_sweep_markdown_has_a_grid_column(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", *TINY, *LR_SWEEP, "--no-save", "--format", "md")
    assert outcome.code == 0, outcome.err
    header, _, *body = md_rows(outcome.out)
    assert header[:2] == ["lr", "activation"]
    assert [(cells[0], cells[1]) for cells in body] == [
        ("0.001", "relu"),
        ("0.001", "tanh"),
        ("0.1", "relu"),
        ("0.1", "tanh"),
    ]


def test_sweep_csv_has_a_grid_column(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", *TINY, *LR_SWEEP, "--no-save", "--format", "csv")
    assert outcome.code == 0, outcome.err
    rows = list(csv.DictReader(io.StringIO(outcome.out)))
    assert [(row["grid.train.lr"], row["label"]) for row in rows] == [
        ("0.001", "relu"),
        ("0.001", "tanh"),
        ("0.1", "relu"),
        ("0.1", "tanh"),
    ]


# --- sweeps: errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("train.lr", "--sweep expects KEY=V1,V2"),
        ("train.lrr=0.001,0.1", "unknown config key 'train.lrr'; did you mean 'train.lr'?"),
        ("train.lr=-1,0.1", "sweep point train.lr=-1: train.lr:"),
        ("train.seeds=1,2", "sweep key 'train.seeds' cannot be swept"),
        ("train={lr: 0.01}", "sweep key 'train' is a whole section; sweep its keys one by one"),
        ("train.lr=0.01,0.01,1e-2", "0.01, 0.01 and 1e-2 are all 0.01; give each value once"),
        ("model.hidden=50,[50]", "50 and [50] are both [50]; give each value once"),
    ],
)
def test_sweep_error_is_one_line_exit_2_and_no_run_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str, expected: str
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *TINY, "--sweep", spec, "--out", str(root))
    assert outcome.code == 2
    assert expected in assert_one_error_line(outcome)
    assert not root.exists()


# --- --baseline ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def versus_relu() -> dict[str, Any]:
    outcome = run_cli_redirected(
        "compare", *TINY, "--baseline", "relu", "--format", "json", "--no-save"
    )
    assert outcome.code == 0, outcome.err
    data = outcome.json
    assert isinstance(data, dict)
    return data


def summary_row(data: dict[str, Any], label: str) -> dict[str, Any]:
    (row,) = [row for row in data["summary"] if row["label"] == label]
    assert isinstance(row, dict)
    return row


def test_baseline_row_names_the_baseline(versus_relu: dict[str, Any]) -> None:
    assert summary_row(versus_relu, "tanh")["baseline"] == "relu"


def test_baseline_diff_is_the_mean_paired_difference(versus_relu: dict[str, Any]) -> None:
    accuracy = {(run["label"], run["seed"]): run["test_accuracy"] for run in versus_relu["runs"]}
    expected = statistics.fmean(
        accuracy[("tanh", seed)] - accuracy[("relu", seed)] for seed in range(SEEDS)
    )
    assert summary_row(versus_relu, "tanh")["diff_mean"] == pytest.approx(expected, abs=1e-12)


def test_baseline_p_value_is_a_probability(versus_relu: dict[str, Any]) -> None:
    p_value = summary_row(versus_relu, "tanh")["p_value"]
    assert p_value is None or 0.0 <= p_value <= 1.0


def test_baseline_diff_has_a_confidence_interval(versus_relu: dict[str, Any]) -> None:
    row = summary_row(versus_relu, "tanh")
    low, high = row["diff_ci95"]
    assert low <= row["diff_mean"] <= high


def test_baseline_row_of_the_baseline_itself_has_no_diff(versus_relu: dict[str, Any]) -> None:
    row = summary_row(versus_relu, "relu")
    assert (row["baseline"], row["diff_mean"], row["diff_ci95"], row["p_value"]) == (
        None,
        None,
        None,
        None,
    )


def test_baseline_table_shows_the_paired_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", *TINY, "--baseline", "relu", "--no-save")
    assert outcome.code == 0, outcome.err
    assert re.search(r"test accuracy\s+vs\s+relu", outcome.out), outcome.out


def test_unknown_baseline_label_exits_2_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *TINY, "--baseline", "relux", "--out", str(root))
    assert outcome.code == 2
    assert "did you mean 'relu'?" in assert_one_error_line(outcome)
    assert not root.exists()


# --- --fail-under -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing_gate(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    root = tmp_path_factory.mktemp("failing_gate") / "runs"
    outcome = run_cli_redirected(
        "compare",
        *TINY,
        "--fail-under",
        "train_loss_mean=1000",
        "--format",
        "json",
        "--out",
        str(root),
    )
    folders = list(root.iterdir()) if root.is_dir() else []
    assert len(folders) == 1, outcome.err
    return Saved(root, folders[0], outcome)


def test_fail_under_met_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(
        capsys, "compare", *TINY, "--fail-under", "test_accuracy_mean=0.0", "--no-save"
    )
    assert outcome.code == 0, outcome.err
    assert "gate failed" not in outcome.err


def test_fail_under_missed_exits_1(failing_gate: Saved) -> None:
    assert failing_gate.outcome.code == 1


def test_fail_under_reports_one_line_per_row(failing_gate: Saved) -> None:
    lines = failing_gate.outcome.gate_lines
    matches = [GATE_LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [match.group(1) for match in matches if match] == LABELS


def test_fail_under_missed_still_saves_the_run(failing_gate: Saved) -> None:
    saved = json.loads((failing_gate.run_dir / "results.json").read_text(encoding="utf-8"))
    assert saved == failing_gate.outcome.json


def test_fail_under_missed_still_prints_the_results(failing_gate: Saved) -> None:
    assert [row["label"] for row in failing_gate.outcome.json["summary"]] == LABELS


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("test_accuracy_mean", "--fail-under expects [LABEL:]KEY=VALUE"),
        ("test_acc_mean=0.8", "did you mean 'test_accuracy_mean'?"),
        ("test_accuracy_mean=high", "'high' is not a number"),
        ("gelu:test_accuracy_mean=0.8", "unknown --fail-under label 'gelu'"),
    ],
)
def test_bad_fail_under_exits_2_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str, expected: str
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *TINY, "--fail-under", spec, "--out", str(root))
    assert outcome.code == 2
    assert expected in assert_one_error_line(outcome)
    assert not root.exists()


def test_fail_over_upper_bound_fails_the_rows_above_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = run_cli(
        capsys, "compare", *TINY, "--fail-over", "relu:train_loss_mean=0", "--no-save"
    )
    assert outcome.code == 1
    assert [line.split(":")[1].split()[0] for line in outcome.gate_lines] == ["relu"]


def test_fail_over_percent_for_a_fraction_is_refused_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(
        capsys, "compare", *TINY, "--fail-over", "test_accuracy_mean=90", "--out", str(root)
    )
    assert outcome.code == 2
    assert "for 90% write 0.9" in assert_one_error_line(outcome)
    assert not root.exists()


def test_baseline_made_with_other_settings_is_refused_before_training(
    capsys: pytest.CaptureFixture[str], failing_gate: Saved, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(
        capsys,
        "compare",
        *TINY,
        "--epochs",
        "3",
        "--baseline-file",
        str(failing_gate.run_dir),
        "--out",
        str(root),
    )
    assert outcome.code == 2
    assert "was made with other settings: train.epochs" in assert_one_error_line(outcome)
    assert not root.exists()


def test_fail_under_per_label_fails_only_that_label(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(
        capsys,
        "compare",
        *TINY,
        "--fail-under",
        "tanh:train_loss_mean=1000",
        "--no-save",
        "--format",
        "json",
    )
    assert outcome.code == 1
    assert [line.split()[2] for line in outcome.gate_lines] == ["tanh:"]


# --- --baseline-file ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rerun(lr_sweep: Saved) -> Outcome:
    return run_cli_redirected(
        "compare",
        *TINY,
        *LR_SWEEP,
        "--baseline-file",
        str(lr_sweep.run_dir / "results.json"),
        "--max-regression",
        "0.0",
        "--format",
        "json",
        "--no-save",
    )


@pytest.fixture(scope="module")
def regressed(lr_sweep: Saved, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    data = json.loads((lr_sweep.run_dir / "results.json").read_text(encoding="utf-8"))
    for row in data["summary"]:
        row["test_accuracy_mean"] += 0.5
    raised = tmp_path_factory.mktemp("regressed") / "raised.json"
    raised.write_text(json.dumps(data), encoding="utf-8")
    return run_cli_redirected(
        "compare",
        *TINY,
        *LR_SWEEP,
        "--baseline-file",
        str(raised),
        "--max-regression",
        "0.0",
        "--format",
        "json",
        "--no-save",
    )


def test_identical_rerun_passes_zero_regression(rerun: Outcome) -> None:
    assert rerun.code == 0, rerun.err


def test_identical_rerun_matches_every_baseline_row(rerun: Outcome) -> None:
    assert "not in the baseline" not in rerun.err


def test_identical_rerun_is_bit_identical(rerun: Outcome, lr_sweep_json: dict[str, Any]) -> None:
    assert rerun.json["summary"] == lr_sweep_json["summary"]


def test_regression_beyond_allowance_exits_1(regressed: Outcome) -> None:
    assert regressed.code == 1


def test_regression_names_the_shortfall_for_every_row(regressed: Outcome) -> None:
    lines = regressed.gate_lines
    assert len(lines) == len(LR_VALUES) * len(LABELS), regressed.err
    assert all("down 0.5000 (allowed 0)" in line for line in lines), lines


def test_regression_line_names_the_grid_point(regressed: Outcome) -> None:
    assert [line.split(":")[1].strip() for line in regressed.gate_lines] == [
        "relu [lr=0.001]",
        "tanh [lr=0.001]",
        "relu [lr=0.1]",
        "tanh [lr=0.1]",
    ]


def test_missing_baseline_file_exits_2_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    missing = tmp_path / "old" / "results.json"
    outcome = run_cli(capsys, "compare", *TINY, "--baseline-file", str(missing), "--out", str(root))
    assert outcome.code == 2
    assert str(missing) in assert_one_error_line(outcome)
    assert not root.exists()


def test_huge_sweep_grid_is_refused_with_its_size_even_for_print_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    values = ",".join(str(i + 1) for i in range(100))
    sweeps = ["--sweep", f"train.epochs={values}", "--sweep", f"train.batch_size={values}"]
    outcome = run_cli(
        capsys,
        "compare",
        *TINY,
        *sweeps,
        "--sweep",
        f"data.random_state={values}",
        "--print-config",
    )
    assert outcome.code == 2
    assert "the sweep has 1,000,000 grid points" in assert_one_error_line(outcome)


def test_fail_under_with_a_percent_exits_2_with_a_hint_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(
        capsys, "compare", *TINY, "--fail-under", "test_accuracy_mean=80", "--out", str(root)
    )
    assert outcome.code == 2
    assert "for 80% write 0.8" in assert_one_error_line(outcome)
    assert not root.exists()


@pytest.fixture(scope="module")
def other_settings(lr_sweep: Saved) -> Outcome:
    """The lr sweep's baseline, compared with a run on other data."""
    return run_cli_redirected(
        "compare",
        *TINY,
        *LR_SWEEP,
        "--set",
        "data.class_sep=2",
        "--baseline-file",
        str(lr_sweep.run_dir),
        "--format",
        "json",
        "--no-save",
    )


def test_baseline_with_other_settings_is_not_compared_silently(other_settings: Outcome) -> None:
    assert other_settings.code in (1, 2), other_settings.err
    assert "data.class_sep: 2 here, 1 in the baseline" in other_settings.err


def test_baseline_without_any_matching_row_does_not_pass(
    capsys: pytest.CaptureFixture[str], lr_sweep: Saved
) -> None:
    outcome = run_cli(
        capsys,
        "compare",
        *TINY,
        "--sweep",
        "train.lr=0.5,0.9",
        "--baseline-file",
        str(lr_sweep.run_dir),
        "--no-save",
        "--format",
        "json",
    )
    assert outcome.code in (1, 2), outcome.err
    assert "no row for any (grid point, activation) of this run" in outcome.err


def test_nan_max_regression_does_not_pass(
    capsys: pytest.CaptureFixture[str], lr_sweep: Saved
) -> None:
    outcome = run_cli(
        capsys,
        "compare",
        *TINY,
        *LR_SWEEP,
        "--baseline-file",
        str(lr_sweep.run_dir),
        "--max-regression",
        "nan",
        "--no-save",
        "--format",
        "json",
    )
    assert outcome.code == 2
    assert "--max-regression must be a finite number >= 0" in outcome.err


def test_negative_max_regression_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *TINY, "--max-regression", "-0.1", "--out", str(root))
    assert outcome.code == 2
    assert "--max-regression must be a finite number >= 0" in assert_one_error_line(outcome)
    assert not root.exists()


# --- train with a sweep -------------------------------------------------------------------------


def test_train_with_a_sweep_has_one_row_per_grid_point(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(
        capsys, "train", "--act", "relu", *DATA, *LR_SWEEP, "--format", "json", "--no-save"
    )
    assert outcome.code == 0, outcome.err
    assert grid_and_label(outcome.json) == [({"train.lr": lr}, "relu") for lr in LR_VALUES]


# --- report -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    root = tmp_path_factory.mktemp("plain") / "runs"
    return saved_run(root, "compare", *TINY, "--format", "json")


@pytest.fixture(scope="module")
def plain_report(plain_run: Saved, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    root = tmp_path_factory.mktemp("plain_report") / "runs"
    run_dir = copy_run(plain_run, root)
    outcome = run_cli_redirected("report", run_dir.name, "--out", str(root))
    assert outcome.code == 0, outcome.err
    return Saved(root, run_dir, outcome)


@pytest.fixture(scope="module")
def sweep_report(lr_sweep: Saved, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    root = tmp_path_factory.mktemp("sweep_report") / "runs"
    run_dir = copy_run(lr_sweep, root)
    outcome = run_cli_redirected("report", run_dir.name, "--out", str(root), "--markdown")
    assert outcome.code == 0, outcome.err
    return Saved(root, run_dir, outcome)


def test_report_writes_figures_into_the_run_folder(plain_report: Saved) -> None:
    for name in FIGURES:
        assert (plain_report.run_dir / name).read_bytes().startswith(b"\x89PNG"), name


def test_report_without_a_sweep_writes_no_sweep_figure(plain_report: Saved) -> None:
    assert not (plain_report.run_dir / "sweep.png").exists()


def test_report_without_markdown_writes_no_report_md(plain_report: Saved) -> None:
    assert not (plain_report.run_dir / "report.md").exists()


def test_report_prints_every_written_path(plain_report: Saved) -> None:
    assert plain_report.outcome.err.splitlines() == [
        f"wrote {plain_report.run_dir / name}" for name in FIGURES
    ]


def test_report_rerenders_the_table(plain_report: Saved) -> None:
    out = plain_report.outcome.out
    assert plain_report.run_dir.name in out
    for label in LABELS:
        assert re.search(rf"^\s*{label}\s+\d", out, re.MULTILINE), out


def test_report_of_a_numeric_sweep_writes_sweep_figure(sweep_report: Saved) -> None:
    assert (sweep_report.run_dir / "sweep.png").read_bytes().startswith(b"\x89PNG")


def test_report_markdown_references_every_figure(sweep_report: Saved) -> None:
    page = (sweep_report.run_dir / "report.md").read_text(encoding="utf-8")
    for name in [*FIGURES, "sweep.png"]:
        assert f"]({name})" in page, name


def test_report_markdown_holds_the_sweep_table(sweep_report: Saved) -> None:
    page = (sweep_report.run_dir / "report.md").read_text(encoding="utf-8")
    assert "| lr | activation |" in page


def test_report_markdown_path_is_printed(sweep_report: Saved) -> None:
    assert f"wrote {sweep_report.run_dir / 'report.md'}" in sweep_report.outcome.err.splitlines()


def test_report_no_plots_writes_no_png(
    capsys: pytest.CaptureFixture[str], plain_run: Saved, tmp_path: Path
) -> None:
    run_dir = copy_run(plain_run, tmp_path)
    outcome = run_cli(capsys, "report", run_dir.name, "--out", str(tmp_path), "--no-plots")
    assert outcome.code == 0, outcome.err
    assert list(run_dir.glob("*.png")) == []


def test_report_no_plots_still_renders_the_table(
    capsys: pytest.CaptureFixture[str], plain_run: Saved, tmp_path: Path
) -> None:
    run_dir = copy_run(plain_run, tmp_path)
    outcome = run_cli(capsys, "report", run_dir.name, "--out", str(tmp_path), "--no-plots")
    assert run_dir.name in outcome.out


# --- shipped sweep configs ----------------------------------------------------------------------

DYING_RELU_LRS = [0.001, 0.01, 0.1, 0.3, 1.0]
DEEP_NARROW_SHAPES = [[2] * 3, [2] * 10, [2] * 20, [3] * 10, [5] * 10]


@pytest.mark.parametrize(
    ("name", "sweep"),
    [
        ("dying_relu.yaml", {"train.lr": DYING_RELU_LRS}),
        ("deep_narrow.yaml", {"model.hidden": DEEP_NARROW_SHAPES}),
    ],
)
def test_shipped_config_prints_its_sweep(
    capsys: pytest.CaptureFixture[str], name: str, sweep: dict[str, Any]
) -> None:
    outcome = run_cli(capsys, "compare", str(CONFIGS / name), "--print-config")
    assert outcome.code == 0, outcome.err
    assert yaml.safe_load(outcome.out)["sweep"] == sweep


def test_dying_relu_config_trains_every_grid_point_and_activation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = run_cli(
        capsys,
        "compare",
        str(CONFIGS / "dying_relu.yaml"),
        *DATA,
        "--allow-diverged",
        "--format",
        "json",
        "--no-save",
    )
    assert outcome.code == 0, outcome.err
    assert grid_and_label(outcome.json) == [
        ({"train.lr": lr}, label)
        for lr in DYING_RELU_LRS
        for label in ("relu", "leaky_relu", "elu")
    ]
