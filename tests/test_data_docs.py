"""docs/data.md runs as written: its Python examples, and its commands on the example file they
make (examples/wine.csv)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from clirun import run_cli_redirected
from doc_outputs import blocks, run_python

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "data.md"


def page_blocks(language: str) -> list[str]:
    return blocks(PAGE.read_text(encoding="utf-8"), language)


def test_the_python_examples_run(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    # the measurement of a 100 MB file needs that file: not part of the suite
    examples = [block for block in page_blocks("python") if "big.csv" not in block]
    assert len(examples) >= 2
    done = run_python("\n\n".join(examples), tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wine.csv").is_file()
    assert "['malignant' 'malignant' 'malignant' 'malignant' 'malignant']" in done.stdout


def test_the_example_file_is_what_the_recipe_makes_and_its_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_wine = next(block for block in page_blocks("python") if "wine.csv" in block)
    subprocess.run([sys.executable, "-c", make_wine], cwd=tmp_path, check=True)
    shipped = ROOT / "examples" / "wine.csv"
    assert (tmp_path / "wine.csv").read_bytes() == shipped.read_bytes()
    monkeypatch.chdir(ROOT)
    lines = [
        line.split("#")[0]
        for block in page_blocks("bash")
        for line in block.splitlines()
        if line.startswith("actbench") and "examples/wine.csv" in line
    ]
    assert len(lines) == 1  # `compare` on it is a console block: tests/test_doc_outputs.py
    for line in lines:
        args = shlex.split(line)[1:] + ["--epochs", "5", "--out", str(tmp_path / "runs")]
        outcome = run_cli_redirected(*args)
        assert outcome.code == 0, (line, outcome.err)
        assert "cultivar" not in outcome.err
