"""Every command honours --format: json parses, csv has a header and rows of equal length, md
has a separator row; and at COLUMNS=80 the table of every command cuts nothing with '…'."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import run_cli, run_cli_redirected

from actbench import cli

TINY = ["--set", "data.n_samples=120", "--epochs", "2", "--seeds", "2"]
BENCH = [
    "bench",
    "--epochs",
    "1",
    "--seeds",
    "1",
    "--n-samples",
    "100",
    "--activations",
    "relu",
    "--ways",
    "population",
    "--repeat",
    "1",
]
COMMANDS = {
    "runs": ["runs"],  # --out: the folder of the saved_runs fixture
    "bench": BENCH,
    "activations": ["activations"],
    "show": ["show", "tanh", "--x", "1", "2"],
    "compare": ["compare", *TINY, "--set", "activations=[relu,tanh]", "--no-save"],
    "train": ["train", "--act", "relu", *TINY, "--no-save"],
}
MD_SEPARATOR = re.compile(r"^\|( -{3,}:? \|)+$")
Run = Callable[[str, str], str]  # (command, format) -> stdout


@pytest.fixture(scope="module")
def saved_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("formats") / "runs"
    argv = COMMANDS["compare"][:-1]  # without --no-save
    outcome = run_cli_redirected(*argv, "--quiet", "--format", "json", "--out", str(root))
    assert outcome.code == 0, outcome.err
    return root


@pytest.fixture(autouse=True)
def _cli_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture
def command_output(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run one command of COMMANDS with --format; its stdout (exit code 0 asserted)."""

    def run(name: str, form: str) -> str:
        argv = list(COMMANDS[name])
        if name == "runs":
            argv += ["--out", str(request.getfixturevalue("saved_runs"))]
        outcome = run_cli(capsys, *argv, "--format", form)
        assert outcome.code == 0, outcome.err
        return outcome.out

    return run


@pytest.mark.parametrize("name", COMMANDS)
def test_json_parses(name: str, command_output: Run) -> None:
    assert json.loads(command_output(name, "json"))


@pytest.mark.parametrize("name", COMMANDS)
def test_csv_has_a_header_and_rows_of_equal_length(name: str, command_output: Run) -> None:
    rows = list(csv.reader(io.StringIO(command_output(name, "csv"))))
    assert len(rows) >= 2
    assert {len(row) for row in rows} == {len(rows[0])}


@pytest.mark.parametrize("name", COMMANDS)
def test_md_has_a_separator_row(name: str, command_output: Run) -> None:
    lines = command_output(name, "md").splitlines()
    assert any(MD_SEPARATOR.match(line) for line in lines)


@pytest.mark.parametrize("name", COMMANDS)
def test_table_cuts_nothing_at_80_columns(name: str, command_output: Run) -> None:
    assert "…" not in command_output(name, "table")


@pytest.mark.parametrize(
    "command", ["", "compare", "train", "rerun", "bench", "activations", "show", "runs", "report"]
)
def test_help_fits_80_columns_without_cutting_anything(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    outcome = run_cli(capsys, *([command] if command else []), "--help")
    assert outcome.code == 0
    # '...' after an argument means "repeatable"; anywhere else it would be a cut
    text = "\n".join(
        line.replace("[X]...", "")
        for line in outcome.out.splitlines()
        if not line.startswith("Usage:")
    )
    assert "…" not in text and "..." not in text
    assert "<bool>" not in outcome.out
    assert max(len(line) for line in outcome.out.splitlines()) <= 80
