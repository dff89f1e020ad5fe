"""A run folder, a baseline and a model index are untrusted input: crafted ones cannot make
actbench read outside the folder, read without bound, allocate without bound, or crash.

Each test names the numbered item of the adversarial pass it guards (issue 24).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli, run_cli_redirected

import actbench
from actbench import cli
from actbench.errors import ActbenchError, RunFolderError
from actbench.members import MAX_INDEX_BYTES
from actbench.runs import MAX_RESULTS_BYTES, load_result

MOONS = [
    *("--set", "data.kind=moons", "--set", "data.n_samples=120", "--epochs", "2"),
    *("--seeds", "2", "--set", "activations=[relu,tanh]", "--quiet"),
]
QUICK = 5.0  # seconds: a refusal never reads or allocates first


@pytest.fixture(autouse=True)
def _isolated_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture(scope="module")
def saved_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-D run with its members' weights (report draws boundaries from them)."""
    root = tmp_path_factory.mktemp("saved") / "runs"
    outcome = run_cli_redirected("compare", *MOONS, "--out", str(root), "--format", "json")
    assert outcome.code == 0, outcome.err
    (folder,) = root.iterdir()
    return folder


@pytest.fixture
def run_dir(saved_2d: Path, tmp_path: Path) -> Path:
    """A copy of the saved run to tamper with, next to a file it must never read."""
    copy = tmp_path / "runs" / saved_2d.name
    shutil.copytree(saved_2d, copy)
    shutil.copy(copy / "models" / "relu-seed0.pt", tmp_path / "outside.pt")
    return copy


def edit_index(run_dir: Path, change: Any) -> None:
    path = run_dir / "models" / "index.json"
    index = json.loads(path.read_text())
    change(index)
    path.write_text(json.dumps(index))


def set_entry(key: str, value: Any, entry: int = 0) -> Any:
    return lambda index: index["models"][entry].__setitem__(key, value)


def model_error(run_dir: Path) -> str:
    started = time.perf_counter()
    with pytest.raises(ActbenchError) as info:
        actbench.load(run_dir).model("relu", 0)
    assert time.perf_counter() - started < QUICK
    return str(info.value)


def one_error_line(outcome: Any) -> str:
    lines = outcome.err.splitlines()
    assert outcome.code == 2 and len(lines) == 1, outcome.err
    assert lines[0].startswith("error: ") and "Traceback" not in outcome.err
    return str(lines[0])


def sparse(path: Path, size: int) -> None:
    """A file of `size` bytes that takes no disk space (its size is what is checked)."""
    with open(path, "wb") as handle:
        handle.truncate(size)


# --- 1. paths from models/index.json stay in the run folder -------------------------------------


@pytest.mark.parametrize(
    "name", ["../../outside.pt", "/etc/passwd", "sub/relu-seed0.pt", "..\\outside.pt", ".pt"]
)
def test_an_index_entry_naming_another_path_is_refused(run_dir: Path, name: str) -> None:
    edit_index(run_dir, set_entry("file", name))
    message = model_error(run_dir)
    assert "is not a model file name" in message and "index.json" in message


def test_a_model_file_linking_outside_the_run_folder_is_not_read(run_dir: Path) -> None:
    link = run_dir / "models" / "relu-seed0.pt"
    link.unlink()
    link.symlink_to(run_dir.parent.parent / "outside.pt")
    assert "leads outside its folder" in model_error(run_dir)


def test_a_models_folder_linking_outside_is_not_read(run_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.move(run_dir / "models", elsewhere)
    (run_dir / "models").symlink_to(elsewhere)
    with pytest.raises(RunFolderError, match="leads outside its folder"):
        actbench.load(run_dir)


def test_report_refuses_a_traversing_index_in_one_line(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    edit_index(run_dir, set_entry("file", "../../outside.pt"))
    line = one_error_line(run_cli(capsys, "report", str(run_dir), "--format", "json"))
    assert "not a model file name" in line


def test_a_results_json_linking_outside_is_not_read(run_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "results.json"
    shutil.move(run_dir / "results.json", outside)
    (run_dir / "results.json").symlink_to(outside)
    with pytest.raises(RunFolderError, match="leads outside its folder"):
        load_result(run_dir)


# --- 5. bounded reads and allocations -----------------------------------------------------------


def test_a_huge_results_json_is_refused_before_reading(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    sparse(run_dir / "results.json", MAX_RESULTS_BYTES + 1)
    started = time.perf_counter()
    outcome = run_cli(capsys, "runs", "--out", str(run_dir.parent))
    assert time.perf_counter() - started < QUICK
    assert "256 MiB" in outcome.err and "skipped" in outcome.err
    line = one_error_line(run_cli(capsys, "report", str(run_dir), "--no-plots"))
    assert "more than the 256 MiB a results.json may be" in line
    with pytest.raises(RunFolderError, match="256 MiB"):
        actbench.load(run_dir)


def test_a_huge_baseline_file_is_refused_before_reading(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.json"
    sparse(baseline, 1536 * 2**20)
    started = time.perf_counter()
    outcome = run_cli(capsys, "compare", "--baseline-file", str(baseline), "--no-save")
    assert time.perf_counter() - started < QUICK
    line = one_error_line(outcome)
    assert "is 1.5 GiB, more than the 256 MiB a baseline file may be" in line


def test_a_huge_index_is_refused_before_reading(run_dir: Path) -> None:
    sparse(run_dir / "models" / "index.json", MAX_INDEX_BYTES + 1)
    with pytest.raises(RunFolderError, match="64 MiB"):
        actbench.load(run_dir)


@pytest.mark.parametrize("hidden", [[30000, 30000], [1000000, 1000000], [49]])
def test_an_index_shape_the_config_never_trained_is_refused_before_allocating(
    run_dir: Path, hidden: list[int]
) -> None:
    edit_index(run_dir, set_entry("hidden", hidden))
    message = model_error(run_dir)
    assert "is not a shape this run trained (hidden [50], softmax head, 2 classes)" in message


def test_a_config_and_index_both_claiming_a_huge_shape_need_a_file_that_holds_it(
    run_dir: Path,
) -> None:
    results = run_dir / "results.json"
    data = json.loads(results.read_text())
    data["config"]["model"]["hidden"] = [30000, 30000]
    results.write_text(json.dumps(data))
    edit_index(run_dir, set_entry("hidden", [30000, 30000]))
    assert "too small for its shape" in model_error(run_dir)  # 3.6 GB of weights: none read


def test_a_model_file_larger_than_its_shape_is_not_read(run_dir: Path) -> None:
    sparse(run_dir / "models" / "relu-seed0.pt", 10 * 2**20)
    assert "a model file of this shape may be" in model_error(run_dir)


def test_a_fifo_in_place_of_results_json_does_not_block(run_dir: Path) -> None:
    (run_dir / "results.json").unlink()
    os.mkfifo(run_dir / "results.json")
    started = time.perf_counter()
    with pytest.raises(RunFolderError, match="is not a regular file"):
        load_result(run_dir)
    assert time.perf_counter() - started < QUICK


# --- 13. damaged model files are one line, not a traceback -------------------------------------


def truncate(run_dir: Path) -> None:
    path = run_dir / "models" / "relu-seed0.pt"
    path.write_bytes(path.read_bytes()[:-100])


def empty(run_dir: Path) -> None:
    (run_dir / "models" / "relu-seed0.pt").write_bytes(b"")


def other_shape(run_dir: Path) -> None:
    import torch

    state = {"weight": torch.zeros(2000)}
    torch.save(state, run_dir / "models" / "relu-seed0.pt")


def garbage(run_dir: Path) -> None:
    (run_dir / "models" / "relu-seed0.pt").write_bytes(os.urandom(2000) * 4)


def scaler_out_of_range(run_dir: Path) -> None:
    edit_index(run_dir, set_entry("scaler", 7))


def scaler_not_finite(run_dir: Path) -> None:
    edit_index(run_dir, lambda index: index["scalers"][0].__setitem__("scale", [0.0, 1.0]))


def missing(run_dir: Path) -> None:
    (run_dir / "models" / "relu-seed0.pt").unlink()


DAMAGE = {
    "truncated": (truncate, "is corrupt"),
    "empty": (empty, "too small for its shape"),
    "wrong-shape": (other_shape, "is corrupt"),
    "garbage": (garbage, "is corrupt"),
    "scaler-out-of-range": (scaler_out_of_range, "scaler 7 does not exist"),
    "scaler-zero": (scaler_not_finite, "holds a scale of 0 or below"),
    "missing": (missing, "is missing"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_model_file_is_a_run_folder_error(run_dir: Path, damage: str) -> None:
    spoil, expected = DAMAGE[damage]
    spoil(run_dir)
    assert expected in model_error(run_dir)


@pytest.mark.parametrize("damage", ["empty", "truncated", "missing"])
def test_report_on_a_damaged_model_file_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], run_dir: Path, damage: str
) -> None:
    spoil, expected = DAMAGE[damage]
    spoil(run_dir)  # empty: was 'interrupted', exit 130; missing: dropped from boundary.png
    line = one_error_line(run_cli(capsys, "report", str(run_dir), "--format", "json"))
    assert expected in line and "relu-seed0.pt" in line


# --- 2. strings from a results.json reach a terminal or Markdown escaped ------------------------

ESCAPES = "\x1b]0;pwned\x07\x1b[2J"
HTML = '<img src=x onerror="alert(1)">'


def craft(run_dir: Path, text: str) -> None:
    """Put `text` in every string of results.json a view shows."""
    path = run_dir / "results.json"
    data = json.loads(path.read_text())
    data["run_id"] = f"run{text}"
    data["device"] = f"cpu{text}"
    data["notices"] = [f"notice{text}"]
    data["notes"] = [f"note{text}"]
    for row in [*data["runs"], *data["summary"]]:
        row["label"] = f"{row['label']}{text}"
        row["grid"] = {"data.kind": f"moons{text}"}
    data["runs"][0]["status"] = "failed"
    data["runs"][0]["error"] = f"RuntimeError: boom{text}"
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("fmt", ["table", "md", "csv"])
def test_escape_sequences_in_a_results_json_never_reach_the_terminal(
    capsys: pytest.CaptureFixture[str], run_dir: Path, fmt: str
) -> None:
    craft(run_dir, ESCAPES)
    outcome = run_cli(capsys, "report", str(run_dir), "--no-plots", "--format", fmt)
    assert outcome.code == 0, outcome.err
    assert "\x1b" not in outcome.out + outcome.err and "\x07" not in outcome.out + outcome.err
    assert "x1b]0;pwned" in outcome.out  # shown, as an escape


def test_escape_sequences_never_reach_report_md_or_the_runs_table(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    craft(run_dir, ESCAPES)
    outcome = run_cli(capsys, "report", str(run_dir), "--no-plots", "--markdown")
    assert outcome.code == 0, outcome.err
    report = (run_dir / "report.md").read_text()
    assert "\x1b" not in report and "\x07" not in report and "run\\x1b]0;pwned" in report
    listing = run_cli(capsys, "runs", "--out", str(run_dir.parent))
    assert "\x1b" not in listing.out + listing.err


# --- 3. Markdown carries no HTML; CSV cells cannot start a formula -------------------------------


def rendered(markdown_text: str) -> str:
    """HTML from a CommonMark renderer that passes raw HTML through (the unsafe setting)."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": True}).render(markdown_text))


def test_html_in_a_results_json_is_text_in_markdown(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    craft(run_dir, HTML)
    outcome = run_cli(capsys, "report", str(run_dir), "--no-plots", "--format", "md", "--markdown")
    assert outcome.code == 0, outcome.err
    assert "<img" not in outcome.out  # labels, grid values, title, caption, notes
    for text in (outcome.out, (run_dir / "report.md").read_text()):
        html = rendered(text)
        assert "<img src=x" not in html and "&lt;img src=x onerror=" in html


@pytest.mark.parametrize("text", [HTML, "`" + HTML + "``", "a|b\\|<c>&amp;"])
def test_the_markdown_formatters_render_as_the_text_itself(text: str) -> None:
    from actbench.format import markdown, markdown_code

    assert "<img" not in rendered(markdown(text))
    assert "<img" not in rendered(markdown_code(text))


def test_csv_cells_that_look_like_formulas_are_neutralised_and_numbers_stay_numbers(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    path = run_dir / "results.json"
    data = json.loads(path.read_text())
    data["summary"][0]["label"] = '+HYPERLINK("http://x")'
    data["summary"][1]["label"] = "-2+3"
    data["summary"][0]["diff_mean"] = -0.05
    data["summary"][0]["grid"] = {"model.note": "@SUM(A1:A2)"}
    path.write_text(json.dumps(data))
    outcome = run_cli(capsys, "report", str(run_dir), "--no-plots", "--format", "csv")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(outcome.out)))
    assert [row["label"][:2] for row in rows] == ["'+", "'-"]
    assert float(rows[0]["diff_mean"]) == -0.05  # a number, written as one
    assert rows[0]["grid.model.note"] == "'@SUM(A1:A2)"
    for line in outcome.out.splitlines()[1:]:
        assert not line.startswith(("=", "+", "-", "@"))


def test_history_csv_neutralises_labels_too() -> None:
    from actbench.runs import RunResult, history_csv

    result = RunResult.model_validate(
        {
            "actbench_version": "0",
            "run_id": "r",
            "device": "cpu",
            "seconds": 1.0,
            "config": {},
            "summary": [],
            "runs": [
                {
                    "label": "=1+1",
                    "activation": "-relu",
                    "seed": 0,
                    "hidden_units": 1,
                    "epochs": 1,
                    "train_loss": -0.5,
                    "test_loss": None,
                    "train_accuracy": None,
                    "test_accuracy": None,
                    "dead_per_layer": [0],
                    "dead_neurons": 0,
                    "dead_neurons_init": 0,
                    "dormant_neurons": 0,
                    "history": {"train_loss": [-0.5], "test_accuracy": [0.5]},
                }
            ],
        }
    )
    row = history_csv(result).splitlines()[1]
    assert row.startswith("'=1+1,'-relu,0,1,-0.5,0.5")


# --- 12. gates fail closed ----------------------------------------------------------------------


def baseline_file(saved: Path, tmp_path: Path, change: Any, *, raw: str | None = None) -> Path:
    data = json.loads((saved / "results.json").read_text())
    change(data)
    path = tmp_path / "baseline.json"
    text = json.dumps(data)
    path.write_text(text if raw is None else text.replace(raw, "NaN"))
    return path


def gate(capsys: pytest.CaptureFixture[str], baseline: Path, *args: str) -> Any:
    return run_cli(capsys, "compare", *MOONS, "--baseline-file", str(baseline), "--no-save", *args)


def test_a_baseline_row_without_accuracy_fails_the_gate(
    capsys: pytest.CaptureFixture[str], saved_2d: Path, tmp_path: Path
) -> None:
    baseline = baseline_file(
        saved_2d, tmp_path, lambda d: d["summary"][0].__setitem__("test_accuracy_mean", None)
    )
    outcome = gate(capsys, baseline)
    assert outcome.code == 1  # was 0: 'not in the baseline, not checked'
    (line,) = outcome.gate_lines
    assert "the baseline's test_accuracy_mean is missing, so this row cannot be checked" in line


def test_a_nan_in_the_baseline_fails_the_gate(
    capsys: pytest.CaptureFixture[str], saved_2d: Path, tmp_path: Path
) -> None:
    baseline = baseline_file(
        saved_2d,
        tmp_path,
        lambda d: d["summary"][1].__setitem__("test_accuracy_mean", 0.123456789),
        raw="0.123456789",
    )
    assert "NaN" in baseline.read_text()
    outcome = gate(capsys, baseline)
    assert outcome.code == 1  # was 0: NaN compared False with everything
    (line,) = outcome.gate_lines
    assert "the baseline's test_accuracy_mean is nan" in line


def test_a_baseline_without_any_accuracy_is_refused_before_training(
    capsys: pytest.CaptureFixture[str], saved_2d: Path, tmp_path: Path
) -> None:
    def no_accuracy(data: dict[str, Any]) -> None:
        for row in data["summary"]:
            row["test_accuracy_mean"] = None

    line = one_error_line(gate(capsys, baseline_file(saved_2d, tmp_path, no_accuracy)))
    assert "has no test_accuracy_mean (null or NaN) for any row of this run" in line


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "config: none in the baseline"),
        ({"data": 5, "model": [1], "train": "x", "activations": 3}, "(and 17 more)"),
    ],
    ids=["empty", "wrong-types"],
)
def test_a_baseline_config_that_cannot_be_compared_is_refused(
    capsys: pytest.CaptureFixture[str],
    saved_2d: Path,
    tmp_path: Path,
    config: dict[str, Any],
    expected: str,
) -> None:
    baseline = baseline_file(saved_2d, tmp_path, lambda d: d.__setitem__("config", config))
    line = one_error_line(gate(capsys, baseline))  # empty: was exit 0; wrong types: traceback
    assert "was made with other settings" in line and expected in line


def test_an_interrupted_baseline_is_refused(
    capsys: pytest.CaptureFixture[str], saved_2d: Path, tmp_path: Path
) -> None:
    baseline = baseline_file(saved_2d, tmp_path, lambda d: d.__setitem__("status", "interrupted"))
    line = one_error_line(gate(capsys, baseline))
    assert "was interrupted: its numbers are partial" in line


def test_max_regression_without_a_baseline_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *MOONS, "--max-regression", "0.05", "--out", str(root))
    assert "--max-regression needs --baseline-file" in one_error_line(outcome)
    assert not root.exists()


# --- 10. rerun: a verdict whatever the disk does, and no half folders ----------------------------


def new_folders(run_dir: Path) -> list[Path]:
    return [path for path in run_dir.parent.iterdir() if path != run_dir]


def test_rerun_on_a_full_disk_prints_its_verdict_and_keeps_no_half_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, run_dir: Path
) -> None:
    from actbench import runs

    def disk_full(result: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "history_csv", disk_full)
    outcome = run_cli(capsys, "rerun", str(run_dir), "--out", str(run_dir.parent))
    assert outcome.code == 1
    assert outcome.out == f"reproduced: all 4 runs of {run_dir.name} match exactly\n"
    (line,) = outcome.err.splitlines()
    assert "No space left on device; nothing was kept" in line
    assert new_folders(run_dir) == []


def test_a_rerun_stopped_before_its_first_epoch_leaves_no_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, run_dir: Path
) -> None:
    import contextlib
    import threading

    @contextlib.contextmanager
    def stopped(*args: object, **kwargs: object) -> Any:
        event = threading.Event()
        event.set()  # Ctrl-C before the first step
        yield event

    monkeypatch.setattr("actbench.pipeline.stop_on_signals", stopped)
    outcome = run_cli(capsys, "rerun", str(run_dir), "--out", str(run_dir.parent))
    assert outcome.code == 130
    assert new_folders(run_dir) == []  # no epoch finished: nothing to keep, not a bare config
    (line,) = outcome.err.splitlines()
    assert line == "interrupted: the rerun stopped before it finished"


def test_a_rerun_interrupted_before_training_leaves_no_folder(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, run_dir: Path
) -> None:
    from actbench.errors import Interrupted

    def interrupted(*args: object, **kwargs: object) -> None:
        raise Interrupted("while joining the Ray cluster; nothing was trained")

    monkeypatch.setattr("actbench.pipeline.run_experiment", interrupted)
    outcome = run_cli(capsys, "rerun", str(run_dir), "--out", str(run_dir.parent))
    assert outcome.code == 130
    assert outcome.err.startswith("interrupted: while joining")
    assert new_folders(run_dir) == []


def test_a_rerun_refused_for_its_device_leaves_no_folder(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has the device")
    results = run_dir / "results.json"
    data = json.loads(results.read_text())
    data["config"]["train"]["device"] = "cuda"
    results.write_text(json.dumps(data))
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("device: auto", "device: cuda"))
    outcome = run_cli(capsys, "rerun", str(run_dir), "--out", str(run_dir.parent))
    assert "cuda" in one_error_line(outcome)
    assert new_folders(run_dir) == []


# --- 14. the smaller items ----------------------------------------------------------------------


def test_rerun_says_when_config_yaml_was_edited(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.001", "lr: 0.5"))
    line = one_error_line(run_cli(capsys, "rerun", str(run_dir), "--out", str(run_dir.parent)))
    assert "config.yaml was edited after the run: train.lr: 0.001 in results.json, 0.5 in" in line
    assert new_folders(run_dir) == []


def test_rerun_of_a_2d_run_keeps_its_models(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    outcome = run_cli(capsys, "rerun", str(run_dir), "--out", str(run_dir.parent))
    assert outcome.code == 0, outcome.err
    (folder,) = new_folders(run_dir)
    assert (folder / "models" / "index.json").is_file()
    assert len(list((folder / "models").glob("*.pt"))) == 4


def test_a_results_json_with_a_byte_order_mark_is_read(run_dir: Path) -> None:
    path = run_dir / "results.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_result(run_dir).run_id == run_dir.name


def test_runs_lists_a_folder_holding_nan_and_huge_seconds(
    capsys: pytest.CaptureFixture[str], run_dir: Path
) -> None:
    path = run_dir / "results.json"
    data = json.loads(path.read_text())
    data["seconds"] = 1e308
    data["summary"][0]["test_accuracy_mean"] = 0.123456789
    path.write_text(json.dumps(data).replace("0.123456789", "NaN"))
    listing = run_cli(capsys, "runs", "--out", str(run_dir.parent), "--format", "json")
    assert listing.code == 0, listing.err  # was a traceback: NaN is not JSON
    (record,) = listing.json
    assert record["best_label"] == data["summary"][1]["label"]  # NaN is not the best
    table = run_cli(capsys, "runs", "--out", str(run_dir.parent))
    assert "1e+308" in table.out  # was a 309-digit number that blanked the table


def test_figures_of_a_label_matplotlib_cannot_draw_leave_stderr_alone(run_dir: Path) -> None:
    import warnings

    from actbench.plots import write_figures

    craft(run_dir, "\x1b\x07")
    result = load_result(run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = write_figures(result, run_dir / "figures")
    assert written and [str(w.message) for w in caught] == []  # was: Glyph 27 missing ...


def test_a_model_asked_for_by_a_string_seed_says_so(run_dir: Path) -> None:
    with pytest.raises(ActbenchError, match=r"seed must be an integer, like 0 \(got '0'\)"):
        actbench.load(run_dir).model("relu", seed="0")  # type: ignore[arg-type]


def test_a_baseline_that_is_not_json_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    baseline = tmp_path / "baseline.json"
    baseline.write_text("label,acc\nrelu,0.8\n")
    line = one_error_line(run_cli(capsys, "compare", "--baseline-file", str(baseline)))
    assert "is not JSON: invalid JSON" in line.replace("Invalid", "invalid")
    assert "validation error for RunResult" not in line
