"""Drive the actbench CLI in-process, through `main` as the console script does."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
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
