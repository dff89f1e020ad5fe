"""The docs' checked blocks: ```console blocks (`$ command` and what it prints) and the
measured numbers of the prose. tests/test_doc_outputs.py checks them; after a change that
moves a number, `python tests/doc_outputs.py README.md docs/findings.md` re-measures the
console blocks of those pages in place (then read the prose around them again).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# What changes from one run to the next without the code changing.
VOLATILE = [
    (re.compile(r"\b\d{8}-\d{6}-[\w.-]+?-[0-9a-f]{7}\b"), "<run-id>"),
    (re.compile(r"\b\d+(?:\.\d+)? m?s\b"), "<seconds>"),
    (re.compile(r"\(\d+ threads?\)"), "(<threads>)"),
]
# The folders of the repository a reader's working folder has.
READER_HAS = ("configs", "examples", "benchmarks")


@dataclass(frozen=True)
class Shown:
    """One `$ command` of a console block and the output the page shows for it."""

    page: Path
    line: int  # of the `$ ` line
    output_line: int  # of its output's first line
    end: int  # the line after its output
    command: str
    output: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fences(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """(language, line number of the block's first line, lines) of every fenced block."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = re.match(r"^\s*```(\w*)\s*$", lines[index])
        if not match:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            end += 1
        yield match.group(1), index + 2, lines[index + 1 : end]
        index = end + 1


def outside_fences(text: str) -> list[str]:
    """The page's lines with every fenced block blanked, fences included: its prose (line i of
    the page is item i - 1)."""
    lines = text.splitlines()
    for _, first, block in fences(text):
        for index in range(first - 2, first + len(block)):
            if 0 <= index < len(lines):
                lines[index] = ""
    return lines


def blocks(text: str, *languages: str) -> list[str]:
    """The text of every fenced block in one of `languages`, in the page's order."""
    return ["\n".join(lines) for language, _, lines in fences(text) if language in languages]


def shown_outputs(page: Path) -> list[Shown]:
    """Every `$ command` of the page's console blocks, with the output shown under it."""
    found: list[Shown] = []
    for language, first, lines in fences(page.read_text(encoding="utf-8")):
        if language != "console":
            continue
        index = 0
        while index < len(lines):
            if not lines[index].startswith("$ "):
                raise ValueError(f"{page.name}:{first + index}: output before a `$ ` command")
            start, command = index, lines[index][2:]
            while command.endswith("\\") and index + 1 < len(lines):
                index += 1
                command = command[:-1].rstrip() + " " + lines[index].strip()
            index += 1
            output_at = index
            while index < len(lines) and not lines[index].startswith("$ "):
                index += 1
            output = "\n".join(lines[output_at:index])
            found.append(
                Shown(page, first + start, first + output_at, first + index, command, output)
            )
    return found


def normalised(text: str) -> str:
    """The words of an output, its run ids, durations and thread counts blanked."""
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def environment() -> dict[str, str]:
    """A reader's shell at 80 columns, on the CPU (whose numbers are the same bit for bit on
    every run), with this Python's `actbench` first on the PATH."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "80",
        "NO_COLOR": "1",
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "1",
    }


def reader_folder(folder: Path) -> Path:
    """Make `folder` a reader's working folder: the repository's configs, examples, ..."""
    for name in READER_HAS:
        if not (folder / name).exists():
            (folder / name).symlink_to(ROOT / name, target_is_directory=True)
    return folder


def run_shown(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """A documented shell command, as a reader runs it in `folder`."""
    return _run(["bash", "-c", command], folder)


def run_python(code: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """A page's Python examples, pasted into one script, as a reader runs them in `folder`."""
    return _run([sys.executable, "-c", code], folder)


def _run(argv: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=folder, capture_output=True, text=True, timeout=900, env=environment()
    )


def refresh(page: Path, folder: Path) -> int:
    """Rewrite the outputs of the page's console blocks with what the commands print now;
    returns how many changed."""
    lines = page.read_text(encoding="utf-8").splitlines()
    changed = 0
    for shown in reversed(shown_outputs(page)):
        done = run_shown(shown.command, folder)
        if done.returncode != 0:
            raise SystemExit(f"{shown.where}: `{shown.command}` failed:\n{done.stderr}")
        fresh = [line.rstrip() for line in done.stdout.rstrip("\n").splitlines()]
        if normalised("\n".join(fresh)) != normalised(shown.output):
            changed += 1
        lines[shown.output_line - 1 : shown.end - 1] = fresh
    page.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return changed


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        for name in sys.argv[1:]:
            print(f"{name}: {refresh(Path(name).resolve(), reader_folder(Path(scratch)))} changed")
