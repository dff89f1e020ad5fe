"""The CI job of docs/ci.md, run as written: its steps as a shell script, in each case it names.

Each `run:` step runs as GitHub runs it (`bash -eo pipefail`), in a checkout-like folder with
this repository's smoke config and a baseline; a step after a failed one runs only with
`if: always()`. The install step and the `uses:` actions are GitHub's own and are left out;
the artifact step's `path` must hold every file report.md links.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ci.md"


def job_steps() -> list[dict[str, object]]:
    """The steps of the job in docs/ci.md's first YAML block."""
    text = DOC.read_text(encoding="utf-8")
    (block,) = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)[:1]
    (job,) = yaml.safe_load(block)["jobs"].values()
    steps: list[dict[str, object]] = job["steps"]
    return steps


def baseline_command() -> str:
    """The documented line that makes ci/baseline.json."""
    text = DOC.read_text(encoding="utf-8")
    (line,) = [line for line in text.splitlines() if "> ci/baseline.json" in line]
    return line


@dataclass
class Job:
    codes: dict[str, int]  # step name -> exit code (steps skipped after a failure: absent)
    summary: str
    folder: Path
    artifact: Path | None


def run_job(folder: Path) -> Job:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "GITHUB_STEP_SUMMARY": str(folder / "summary.md"),
    }
    codes: dict[str, int] = {}
    failed = False
    artifact = None
    for number, step in enumerate(job_steps()):
        always = str(step.get("if", "")) == "always()"
        if failed and not always:
            continue
        uses = str(step.get("uses", ""))
        if uses.startswith("actions/upload-artifact"):
            with_ = step.get("with")
            assert isinstance(with_, dict)
            artifact = folder / str(with_["path"])
            continue
        script = str(step.get("run", ""))
        if uses or "pip install" in script:
            continue  # GitHub's checkout and Python, and the install: this test's venv
        name = str(step.get("name", number))
        done = subprocess.run(
            ["bash", "-eo", "pipefail", "-c", script],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        codes[name] = done.returncode
        failed |= done.returncode != 0
    summary_file = folder / "summary.md"
    summary = summary_file.read_text(encoding="utf-8") if summary_file.exists() else ""
    return Job(codes, summary, folder, artifact)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout-like folder: configs/smoke.yaml and a ci/baseline.json made by the documented
    command."""
    (tmp_path / "configs").mkdir()
    shutil.copy(ROOT / "configs" / "smoke.yaml", tmp_path / "configs" / "smoke.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        ["bash", "-eo", "pipefail", "-c", baseline_command()],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return tmp_path


def _artifact_holds_the_report(job: Job) -> None:
    assert job.artifact is not None and job.artifact.is_dir()
    (report,) = job.artifact.glob("*/report.md")
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", report.read_text(encoding="utf-8")):
        assert (report.parent / link).is_file(), link


def _saved_verdict(job: Job) -> dict[str, object]:
    (results,) = (job.folder / "runs").glob("*/results.json")
    gates = json.loads(results.read_text(encoding="utf-8"))["gates"]
    assert isinstance(gates, dict)
    return gates


def test_the_job_passes_when_the_gates_pass(checkout: Path) -> None:
    job = run_job(checkout)
    assert job.codes == {"compare and gate": 0, "report": 0}
    assert "## Gates\n\n**Passed**: `--fail-under test_accuracy_mean=0.6`;" in job.summary
    assert "## Results" in job.summary and "## Figures" in job.summary
    assert _saved_verdict(job)["failures"] == []
    _artifact_holds_the_report(job)


def test_a_failed_gate_fails_the_job_with_the_reason_in_the_summary(checkout: Path) -> None:
    baseline = checkout / "ci" / "baseline.json"
    result = json.loads(baseline.read_text(encoding="utf-8"))
    for row in result["summary"]:  # the baseline was 10 points better: a regression
        row["test_accuracy_mean"] += 0.1
    baseline.write_text(json.dumps(result), encoding="utf-8")
    job = run_job(checkout)
    assert job.codes == {"compare and gate": 1, "report": 0}
    failures = _saved_verdict(job)["failures"]
    assert isinstance(failures, list) and len(failures) == 3
    assert "**Failed** (3 failures)" in job.summary
    assert all(f"- {failure}" in job.summary for failure in failures)
    _artifact_holds_the_report(job)


def test_a_diverged_run_fails_the_job_and_the_summary_shows_it(checkout: Path) -> None:
    config = checkout / "configs" / "smoke.yaml"
    text = config.read_text(encoding="utf-8")
    diverging = yaml.safe_load(text)
    diverging["train"] |= {"optimizer": "sgd", "lr": 1e20}
    config.write_text(yaml.safe_dump(diverging), encoding="utf-8")
    (checkout / "ci" / "baseline.json").unlink()
    subprocess.run(  # a baseline of the same settings, so only the divergence fails the job
        [sys.executable, "-m", "actbench", "compare", str(config), "--format", "json"]
        + ["--no-save", "--allow-diverged"],
        cwd=checkout,
        stdout=(checkout / "ci" / "baseline.json").open("w"),
        check=True,
        timeout=300,
    )
    job = run_job(checkout)
    assert job.codes == {"compare and gate": 1, "report": 0}
    assert "diverged" in job.summary
    _artifact_holds_the_report(job)


def test_a_baseline_of_other_settings_fails_before_training_and_the_summary_says_why(
    checkout: Path,
) -> None:
    baseline = checkout / "ci" / "baseline.json"
    result = json.loads(baseline.read_text(encoding="utf-8"))
    result["config"]["data"]["n_samples"] = 999
    baseline.write_text(json.dumps(result), encoding="utf-8")
    job = run_job(checkout)
    assert job.codes == {"compare and gate": 2, "report": 0}
    assert job.summary.startswith("### actbench: no run to report")
    assert "error: the baseline ci/baseline.json was made with other settings: " in job.summary
    assert "data.n_samples" in job.summary
    assert not (checkout / "runs").exists()
