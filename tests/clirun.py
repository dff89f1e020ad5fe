"""Drive the actbench CLI in-process, through `main` as the console script does, or as a
child process."""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actbench import cli


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def gate_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("gate failed:")]


def exit_code(argv: Sequence[str]) -> int:
    """main(argv)'s exit code (main always ends in sys.exit)."""
    try:
        cli.main(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    raise AssertionError("main() returned without sys.exit")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    capsys.readouterr()
    code = exit_code(argv)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def run_cli_redirected(*argv: str) -> Outcome:
    """For module-scoped fixtures, where capsys is not available: a 100-column terminal."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "100")
        patch.setitem(cli._state, "debug", False)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = exit_code(argv)
    return Outcome(code, out.getvalue(), err.getvalue())


# --- as a child process --------------------------------------------------------------------------


def actbench_process(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """`python -m actbench ARGS` as a child process, its output piped as text, with one thread
    and `env` over this process's environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "actbench", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
        **popen,
    )


def one_epoch_cpu(*args: str, cwd: Path) -> float:
    """The CPU seconds of a whole 1-epoch run of `actbench ARGS`: a longer run of the same
    command that has spent more has finished epochs (a stop before the first one keeps
    nothing, by design). Start-up costs seconds of CPU, and CPU time, unlike wall time, does
    not grow with the machine's load."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = actbench_process(*args, "--epochs", "1", "--no-save", cwd=cwd)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def wait_for_cpu(process: subprocess.Popen[str], seconds: float) -> None:
    """Block until the child has spent `seconds` of CPU time; fail if it ends first or never
    gets there."""
    import psutil

    child = psutil.Process(process.pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if sum(child.cpu_times()[:2]) >= seconds:
            return
        time.sleep(0.05)
    raise AssertionError(f"the child never spent {seconds:.1f} s of CPU time")
