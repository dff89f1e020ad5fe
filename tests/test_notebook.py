"""docs/notebook.ipynb executed as `jupyter nbconvert --execute` runs it: the table with its
notes, a figure, a finished progress line, and no errors (skipped without the notebook extra:
pip install -e ".[notebook]")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

for module in ("nbconvert", "nbformat", "ipykernel", "jupyter_core", "pandas"):
    pytest.importorskip(module, reason="needs the notebook extra: pip install -e '.[notebook]'")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "notebook.ipynb"


def _without(name: str) -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != name}


def _text(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def test_the_committed_notebook_has_no_outputs() -> None:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> list[list[dict[str, Any]]]:
    """The outputs of every code cell of the executed notebook."""
    folder = tmp_path_factory.mktemp("notebook")
    shutil.copy(NOTEBOOK, folder / "notebook.ipynb")
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=600", "--output", "executed.ipynb", "notebook.ipynb"],
        capture_output=True, text=True, cwd=folder, timeout=900,
        env={**_without("MPLBACKEND"), "OMP_NUM_THREADS": "1"},  # the notebook's own backend
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    cells = json.loads((folder / "executed.ipynb").read_text(encoding="utf-8"))["cells"]
    return [cell["outputs"] for cell in cells if cell["cell_type"] == "code"]


@pytest.mark.slow
def test_the_notebook_runs_without_errors(executed: list[list[dict[str, Any]]]) -> None:
    errors = [o for outputs in executed for o in outputs if o["output_type"] == "error"]
    assert errors == []
    streams = [_text(o["text"]) for outputs in executed for o in outputs if "text" in o]
    assert not any("Traceback" in text or "Warning" in text for text in streams), streams


@pytest.mark.slow
def test_the_result_shows_its_table_with_notes_and_best_values(
    executed: list[list[dict[str, Any]]],
) -> None:
    (result,) = [o for o in executed[0] if o["output_type"] == "execute_result"]
    page = _text(result["data"]["text/html"])
    assert page.count("<tr") == 1 + 4  # the header and four activations
    assert '<td class="best"><strong>' in page
    assert '<ul class="notes"><li>' in page


@pytest.mark.slow
def test_progress_ends_as_a_finished_line(executed: list[list[dict[str, Any]]]) -> None:
    (progress,) = [o for o in executed[0] if o["output_type"] == "display_data"]
    line = _text(progress["data"]["text/plain"])
    assert line.startswith("done: 20/20 epochs, 12 models, best test acc ")
    assert line.endswith(" s") and "<progress" in _text(progress["data"]["text/html"])


@pytest.mark.slow
def test_a_figure_and_the_estimators_show(executed: list[list[dict[str, Any]]]) -> None:
    (figure,) = executed[1]
    assert "image/png" in figure["data"]
    assert "test_accuracy_ci95_low" in _text(executed[2][0]["data"]["text/plain"])
    assert float(_text(executed[3][0]["data"]["text/plain"])) > 0.8
    assert "'activation'" in _text(executed[4][0]["data"]["text/plain"])
