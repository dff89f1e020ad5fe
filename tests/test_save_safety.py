"""Nothing lost, nothing misleading at the edges of a run: an unusable --out is found before
training, a failed save still prints the results, signals at start-up and while saving end
with exit 130, and a broken or ASCII-only output stream ends cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clirun import actbench_process, one_epoch_cpu, run_cli, wait_for_cpu

from actbench import cli

TINY = [
    "--set",
    "data.n_samples=120",
    "--epochs",
    "2",
    "--seeds",
    "1",
    "--set",
    "activations=[relu,tanh]",
]


@pytest.fixture(autouse=True)
def _isolated_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    monkeypatch.setenv("COLUMNS", "80")


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err
    return lines[0]


def test_out_that_is_a_file_is_refused_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    started = time.perf_counter()
    outcome = run_cli(capsys, "compare", *TINY, "--epochs", "1000", "--out", str(target))
    assert outcome.code == 2
    assert str(target) in one_error_line(outcome.err)
    assert time.perf_counter() - started < 5  # no training happened
    assert target.read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_is_refused_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = tmp_path / "locked"
    root.mkdir()
    root.chmod(0o500)
    try:
        outcome = run_cli(capsys, "compare", *TINY, "--out", str(root))
    finally:
        root.chmod(0o700)
    assert outcome.code == 2
    assert "cannot create a run folder" in one_error_line(outcome.err)


def test_empty_out_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", *TINY, "--out", "")
    assert outcome.code == 2
    assert "needs a folder" in one_error_line(outcome.err)


def test_a_config_name_over_the_file_name_limit_is_refused_before_training(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / ("x" * 240 + ".yaml")
    config.write_text("train: {epochs: 1000}\n")
    outcome = run_cli(capsys, "compare", str(config), *TINY[:2], "--out", str(tmp_path / "r"))
    # either the name is shortened and the run works, or it is refused at once
    if outcome.code != 0:
        assert outcome.code == 2
        one_error_line(outcome.err)
    else:
        (folder,) = (tmp_path / "r").iterdir()
        assert len(folder.name) < 255


def test_a_failed_save_still_prints_the_results_and_says_what_was_lost(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actbench import runs

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "history_csv", lambda result: disk_full())
    root = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *TINY, "--format", "json", "--out", str(root))
    assert outcome.code == 1
    assert [run["label"] for run in outcome.json["runs"]] == ["relu", "tanh"]
    line = one_error_line(outcome.err.replace(f"saved {root}", ""))
    assert "No space left on device" in line and "results are printed" in line


def test_no_save_prints_no_run_id(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", *TINY, "--no-save")
    assert outcome.code == 0
    assert "actbench (not saved)" in outcome.out
    json_outcome = run_cli(capsys, "compare", *TINY, "--no-save", "--format", "json")
    assert json_outcome.json["run_id"] == ""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_start_up_exits_130_quietly(tmp_path: Path, signum: int) -> None:
    process = actbench_process("compare", *TINY, "--out", str(tmp_path / "runs"), cwd=tmp_path)
    time.sleep(0.15)  # importing: before any training
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stdout == ""


def test_sigterm_during_training_exits_130_with_the_finished_epochs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    started = one_epoch_cpu("compare", *TINY, cwd=tmp_path)
    process = actbench_process(
        "compare", *TINY, "--epochs", "100000", "--format", "json", "--out", str(runs), cwd=tmp_path
    )
    wait_for_cpu(process, started + 1.0)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stdout, stderr
    result = json.loads(stdout)
    assert result["status"] == "interrupted"
    (folder,) = runs.iterdir()
    assert json.loads((folder / "results.json").read_text()) == result


def test_stdout_on_a_full_device_ends_with_one_line_and_exit_1(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "actbench", "activations", "--format", "json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("error: cannot write the output")


@pytest.mark.parametrize("command", [["compare", "--help"], ["activations"], ["show", "tanh"]])
def test_an_ascii_only_stream_gets_ascii(tmp_path: Path, command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actbench", *command],
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "ascii", "LC_ALL": "C", "COLUMNS": "80"},
    )
    assert done.returncode == 0, done.stderr
    done.stdout.decode("ascii")  # nothing outside ASCII was written


def test_an_ascii_stream_gets_plus_minus_in_the_comparison(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actbench", "compare", *TINY, "--seeds", "2", "--no-save"],
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "ascii", "COLUMNS": "80", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("ascii")
    assert "+/-" in text and "±" not in text


def test_labels_with_escape_sequences_never_reach_the_terminal_raw(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = run_cli(
        capsys, "compare", *TINY, "--set", 'activations=[{name: relu, label: "a\\e[2Jb"}]'
    )
    assert "\x1b" not in outcome.out + outcome.err
