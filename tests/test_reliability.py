"""Whole-process behaviour: signals, concurrent runs, resource guard, reproducibility."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import actbench_process, exit_code, one_epoch_cpu, wait_for_cpu

TINY = ["--set", "data.n_samples=160", "--seeds", "2", "--set", "activations=[relu,tanh]"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_training_and_saves_the_finished_epochs(
    tmp_path: Path, signum: signal.Signals
) -> None:
    runs = tmp_path / "runs"
    started = one_epoch_cpu("compare", *TINY, cwd=tmp_path)
    process = actbench_process(
        "compare",
        *TINY,
        "--epochs",
        "100000",
        "--format",
        "json",
        "--out",
        str(runs),
        cwd=tmp_path,
    )
    wait_for_cpu(process, started + 1.0)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stderr and "partial results in" in stderr
    (run_dir,) = list(runs.iterdir())
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["status"] == "interrupted"
    assert json.loads(stdout)["status"] == "interrupted"
    for run in saved["runs"]:
        assert run["status"] == "interrupted"
        assert run["epochs"] >= 1
        assert len(run["history"]["train_loss"]) == run["epochs"]


def test_two_runs_started_together_get_distinct_folders(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = ["compare", *TINY, "--epochs", "2", "--quiet", "--format", "json", "--out", str(runs)]
    first, second = actbench_process(*args, cwd=tmp_path), actbench_process(*args, cwd=tmp_path)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == second.returncode == 0, outputs
    folders = sorted(p.name for p in runs.iterdir())
    assert len(folders) == 2
    ids = sorted(json.loads(out)["run_id"] for out, _ in outputs)
    assert ids == folders
    for folder in folders:
        assert json.loads((runs / folder / "results.json").read_text())["run_id"] == folder


def test_the_same_config_gives_bit_identical_results_in_two_processes(tmp_path: Path) -> None:
    # pinned: bit-identical across processes is the CPU's promise (docs/reliability.md)
    args = ["compare", *TINY, "--device", "cpu", "--epochs", "3", "--no-save", "--quiet"]
    args += ["--format", "json"]
    first = subprocess.run(
        [sys.executable, "-m", "actbench", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    second = subprocess.run(
        [sys.executable, "-m", "actbench", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert json.loads(first.stdout)["runs"] == json.loads(second.stdout)["runs"]


def test_a_population_too_big_for_memory_is_refused_before_any_work(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "actbench",
            "compare",
            "--set",
            "data.n_samples=200000000",
            "--seeds",
            "500",
            "--out",
            str(runs),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "GiB" in lines[0] and "available" in lines[0] and "fewer members" in lines[0]
    assert not runs.exists()


def test_memory_estimate_grows_with_members_and_samples() -> None:
    from actbench.config import load_config
    from actbench.resources import estimate_memory

    small = sum(estimate_memory(load_config(), 10).values())
    more_members = sum(estimate_memory(load_config(), 1000).values())
    more_samples = sum(estimate_memory(load_config(None, ["data.n_samples=1000000"]), 10).values())
    assert small < more_members
    assert small < more_samples


def test_rerun_of_a_saved_run_reproduces_it_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    assert exit_code(["compare", *TINY, "--epochs", "2", "--quiet", "--out", str(runs)]) == 0
    (run_dir,) = list(runs.iterdir())
    capsys.readouterr()
    assert exit_code(["rerun", run_dir.name, "--out", str(runs), "--no-save"]) == 0
    assert "reproduced: all 4 runs" in capsys.readouterr().out


def test_rerun_says_which_runs_differ(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert exit_code(["compare", *TINY, "--epochs", "2", "--quiet", "--out", str(runs)]) == 0
    (run_dir,) = list(runs.iterdir())
    saved = json.loads((run_dir / "results.json").read_text())
    saved["runs"][1]["test_accuracy"] = 0.123
    (run_dir / "results.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert exit_code(["rerun", str(run_dir), "--no-save"]) == 1
    output = capsys.readouterr()
    assert "NOT reproduced: 1 of 4 runs differ" in output.out
    assert "relu seed 1: test_accuracy differ" in output.out
    assert "versions, device and threads are the same" in output.err


def test_a_stop_before_the_first_epoch_shows_no_table_and_leaves_no_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C before any epoch finished: no table of untrained networks (with notes such as
    'sigmoid is at chance'), one line, exit 130, and no run folder."""
    import contextlib
    import threading
    from collections.abc import Iterator

    from clirun import run_cli

    from actbench import pipeline

    @contextlib.contextmanager
    def stopped(*args: object, **kwargs: object) -> Iterator[threading.Event]:
        event = threading.Event()
        event.set()
        yield event

    monkeypatch.setattr(pipeline, "stop_on_signals", stopped)
    runs = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *TINY, "--epochs", "5", "--out", str(runs))
    assert outcome.code == 130
    assert outcome.out == ""
    assert outcome.err.strip() == "interrupted: before the first epoch finished; nothing saved"
    assert not runs.exists()


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path, fmt: str) -> None:
    """`actbench compare ... | head`: the pipe closes before the results are written; the run
    still ends as it would have (exit 0), with nothing on stderr but its own lines."""
    process = actbench_process(
        "compare", *TINY, "--epochs", "2", "--format", fmt, "--no-save", cwd=tmp_path
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before anything is written
    assert process.wait(timeout=120) == 0
    assert process.stderr is not None
    stderr = process.stderr.read()
    assert "Traceback" not in stderr and "Broken pipe" not in stderr, stderr
