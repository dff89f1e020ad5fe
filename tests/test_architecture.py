"""The layering of docs/architecture.md: imports go one way, and the leaves stay leaves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "actbench"

# Modules below the run pipeline: they compute, and never show or judge.
CORE = (
    "format",
    "errors",
    "config",
    "activations",
    "data",
    "model",
    "population",
    "step",
    "fused",
    "engine",
    "probe",
    "metrics",
    "optim",
    "threads",
    "runs",
    "stats",
    "members",
    "experiment",
    "resources",
    "untrusted",
    "distributed",
    "sharding",
    "ray_io",
)
ABOVE_CORE = ("render", "plots", "cli", "api", "pipeline", "notes", "gates", "html")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(part for part in parts if part != "__init__")


def _imports(path: Path) -> set[str]:
    """Every actbench module the file imports, at any depth of its code, as a dotted name."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "actbench":
                found |= {alias.name for alias in node.names}
            elif node.module.startswith("actbench."):
                found.add(node.module.removeprefix("actbench."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("actbench.")
                for a in node.names
                if a.name.startswith("actbench.")
            }
    return found


FILES = sorted(PACKAGE.rglob("*.py"))


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module(p))
def test_core_modules_never_import_what_shows_or_judges(path: Path) -> None:
    if _top(_module(path)) not in CORE:
        return
    upward = {name for name in _imports(path) if _top(name) in ABOVE_CORE}
    assert not upward, f"{_module(path)} imports {sorted(upward)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: _module(p))
def test_only_the_command_line_imports_the_command_line(path: Path) -> None:
    if _top(_module(path)) in ("cli", "__main__"):
        return
    assert not {name for name in _imports(path) if _top(name) == "cli"}, _module(path)


def test_the_formatter_is_a_leaf() -> None:
    assert _imports(PACKAGE / "format.py") == set()


def test_no_module_is_over_500_lines() -> None:
    long = {_module(p): n for p in FILES if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long
