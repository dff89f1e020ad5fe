"""What the docs show a command printing is what it prints today.

A number in README.md or docs/ that comes from a run lives in one of two kinds of block, and
both run here, so a change that moves a number fails until the docs are re-measured:

- a ```console block: `$ command` lines (continued with a trailing backslash), each followed
  by what it prints on stdout at 80 columns. The command runs in a reader's folder holding the
  repository's configs/, examples/ and benchmarks/, on the CPU, and its output is compared
  word for word with the page; only run ids, durations and thread counts may differ (they
  change from run to run, not with the code). `python tests/doc_outputs.py PAGE` re-measures.
- a ```pycon block: Python at `>>>` prompts with its output, as doctest runs it; the blocks
  of one page run in order, in one session.

Timings stay unchecked: they belong to a machine and its load, which the page names. A
decimal number or a percentage in the prose of a page of measured results must appear in one
of the page's checked blocks (or be one of its SETTINGS): prose may repeat a measured number,
never keep one of its own.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
from doc_outputs import (
    PAGES,
    ROOT,
    Shown,
    blocks,
    fences,
    normalised,
    outside_fences,
    reader_folder,
    run_shown,
    shown_outputs,
)

# Pages whose prose states measured results, with the numbers in their prose that are not
# measurements (settings, definitions, citations).
MEASURED: dict[str, set[str]] = {
    "README.md": {"3.10", "0.1", "10%"},
    "docs/findings.md": {"1903.06733"},  # an arXiv id
    "docs/data.md": {"1.5", "0.001"},  # the imbalance threshold, a learning rate
    "docs/activations.md": {"1%"},  # the saturation threshold
    "docs/sklearn.md": {"95%"},  # an interval's level
}
# A number in prose followed by one of these (a range's first number too) is a timing, a size or
# a speed-up, and one after "load" is the machine's load: the machine's, not the code's.
UNITS = re.compile(r"^\s?(?:(?:to|-|–)\s?\d[\d.,]*\s?)?(?:m?s\b|seconds?\b|min\b|[KMG]i?B\b|×|x\b)")
LOAD = re.compile(r"\bload(?: average)?(?: of)?\s*$")
NUMBER = re.compile(r"(?<![\w.,])\d[\d,]*\.\d+(?![\w.])|(?<![\w.,])\d[\d,]*(?:\.\d+)? ?%")

SHOWN = [shown for page in PAGES for shown in shown_outputs(page)]
_PRINTED: dict[str, subprocess.CompletedProcess[str]] = {}


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return reader_folder(tmp_path_factory.mktemp("reader"))


def test_the_docs_show_outputs() -> None:
    pages = {shown.page.name for shown in SHOWN}
    assert {"README.md", "findings.md", "data.md"} <= pages


@pytest.mark.slow
@pytest.mark.parametrize("shown", SHOWN, ids=lambda shown: shown.where)
def test_a_console_block_shows_what_its_command_prints(shown: Shown, reader: Path) -> None:
    if shown.command not in _PRINTED:  # a command shown twice runs once
        _PRINTED[shown.command] = run_shown(shown.command, reader)
    done = _PRINTED[shown.command]
    assert done.returncode == 0, (
        f"{shown.where}: `{shown.command}`: exit {done.returncode}\n{done.stderr}"
    )
    assert normalised(done.stdout) == normalised(shown.output), (
        f"{shown.where}: `{shown.command}` now prints (re-measure: "
        f"python tests/doc_outputs.py {shown.page.relative_to(ROOT)}):\n{done.stdout}"
    )


COMMENTED_VALUES = re.compile(r"^(actbench show [^#]+?)\s+#\s+(-?[\d.]+(?:\s+-?[\d.]+)*)\s*$")


def _commented_values() -> list[tuple[str, str, list[str]]]:
    """(where, command, values) of `actbench show ...   # 0.0900 0.2447` lines in shell blocks:
    the values the comment says the command prints."""
    found = []
    for page in PAGES:
        for language, first, lines in fences(page.read_text(encoding="utf-8")):
            if language != "bash":
                continue
            for offset, line in enumerate(lines):
                match = COMMENTED_VALUES.match(line)
                if match:
                    where = f"{page.relative_to(ROOT)}:{first + offset}"
                    found.append((where, match.group(1), match.group(2).split()))
    return found


COMMENTED = _commented_values()


@pytest.mark.parametrize(
    "where, command, values", COMMENTED, ids=[where for where, _, _ in COMMENTED]
)
def test_values_in_a_comment_are_what_the_command_prints(
    where: str, command: str, values: list[str], reader: Path
) -> None:
    done = run_shown(command, reader)
    assert done.returncode == 0, f"{where}: {done.stderr}"
    printed = done.stdout.split()
    at = 0
    for value in values:  # in the order the comment gives them
        assert value in printed[at:], f"{where}: `{command}` prints no {value}:\n{done.stdout}"
        at = printed.index(value, at) + 1


def _pycon_pages() -> list[Path]:
    return [
        page
        for page in PAGES
        if any(language == "pycon" for language, _, _ in fences(page.read_text(encoding="utf-8")))
    ]


@pytest.mark.slow
@pytest.mark.parametrize("page", _pycon_pages(), ids=lambda page: page.name)
def test_pycon_blocks_print_what_they_show(page: Path, reader: Path) -> None:
    pytest.importorskip("pandas", reason="the examples use the pandas extra")
    session = reader / f"{page.stem}.txt"
    pycon = blocks(page.read_text(encoding="utf-8"), "pycon")
    session.write_text("\n\n".join(pycon) + "\n", encoding="utf-8")
    # on the CPU, as the console blocks: the numbers shown are the CPU's
    done = run_shown(f"python -m doctest -o NORMALIZE_WHITESPACE {session.name}", reader)
    assert done.returncode == 0, f"{page.name}: (re-measure the page)\n{done.stdout}{done.stderr}"


def _prose(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of the lines outside fenced blocks, code spans and HTML comments."""
    for number, line in enumerate(outside_fences(text), start=1):
        yield number, re.sub(r"`[^`]*`|<!--.*?-->", "", line)


def _numbers(text: str) -> set[str]:
    found = {number.replace(" %", "%") for number in NUMBER.findall(text)}
    return found | {number.rstrip("%") for number in found}


def unchecked_numbers(page: Path, settings: Collection[str] = ()) -> list[str]:
    """Measured-looking numbers in the prose that no checked block of the page shows."""
    text = page.read_text(encoding="utf-8")
    checked = _numbers("\n".join(blocks(text, "console", "pycon")))
    found = []
    for line, prose in _prose(text):
        for match in NUMBER.finditer(prose):
            number = match.group(0).replace(" %", "%")
            machine = UNITS.match(prose[match.end() :]) or LOAD.search(prose[: match.start()])
            if machine or number in checked or number in settings:
                continue
            found.append(f"{page.name}:{line}: {number}")
    return found


@pytest.mark.parametrize("name", sorted(MEASURED))
def test_measured_numbers_in_prose_come_from_a_checked_block(name: str) -> None:
    assert unchecked_numbers(ROOT / name, MEASURED[name]) == []


def test_the_checks_read_console_blocks_and_catch_a_number_of_its_own(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "relu scores 83.3 % and 61 %; it took 8.4 s (8.1 to 9.3 s), 3× faster at load 1.5; "
        "lr 0.3.\n\n"
        "```console\n$ actbench compare --set activations=[relu] \\\n    --seeds 2\n"
        "relu  83.3 ± 0.4\n       2 models, cpu (2 threads), 1.1 s, 20261204-201605-all-37a4d9a\n"
        "$ actbench show relu --x 1\n1.0000\n```\n",
        encoding="utf-8",
    )
    first, second = shown_outputs(page)
    assert (first.line, first.output_line, first.end) == (4, 6, 8)
    assert first.command == "actbench compare --set activations=[relu] --seeds 2"
    assert (
        normalised(first.output) == "relu 83.3 ± 0.4 2 models, cpu (<threads>), <seconds>, <run-id>"
    )
    assert (second.command, second.output) == ("actbench show relu --x 1", "1.0000")
    assert unchecked_numbers(page, {"0.3"}) == ["page.md:1: 61%"]
