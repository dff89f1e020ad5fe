"""Runs on your own data: the fingerprint in results.json, rerun refusing changed data, figures
over the plane for 2-D files, the classes in models/index.json, the notes' chance level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clirun import run_cli

import actbench
from actbench.notes import run_notes
from actbench.runs import DataFingerprint, RunResult

FAST = ["--epochs", "2", "--seeds", "2", "--set", "activations=[relu,tanh]"]


def write_plane(path: Path, rows: int = 120) -> Path:
    """A 2-D CSV with a header and string labels."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, size=(rows, 2))
    labels = np.where(np.hypot(x[:, 0], x[:, 1]) < 0.7, "inner", "outer")
    lines = ["x,y,ring"] + [f"{a:.5f},{b:.5f},{c}" for (a, b), c in zip(x, labels, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def saved(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    """(the CSV, its saved run folder)."""
    path = write_plane(tmp_path / "ring.csv")
    out = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", "--data", str(path), "--target", "ring", *FAST,
                      "--out", str(out), "--quiet")  # fmt: skip
    assert outcome.code == 0, outcome.err
    (run_dir,) = out.iterdir()
    return path, run_dir


def test_results_json_records_the_datas_fingerprint(saved: tuple[Path, Path]) -> None:
    import hashlib

    path, run_dir = saved
    (data,) = json.loads((run_dir / "results.json").read_text())["data"]
    assert data["kind"] == "file" and data["path"] == str(path)
    assert data["size"] == path.stat().st_size
    assert data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert data["shape"] == [120, 2] and data["features"] == ["x", "y"]
    assert data["target"] == "ring" and data["classes"] == ["inner", "outer"]
    assert sum(data["class_counts"]) == 120 and data["n_test"] == 24
    assert data["points"] == [{}]


def test_rerun_reproduces_unchanged_data_and_refuses_changed_data(
    saved: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path, run_dir = saved
    same = run_cli(capsys, "rerun", str(run_dir), "--no-save")
    assert same.code == 0 and "reproduced" in same.out
    path.write_text(path.read_text().replace("inner", "inside", 1), encoding="utf-8")
    changed = run_cli(capsys, "rerun", str(run_dir), "--out", str(run_dir.parent))
    assert changed.code == 2
    (line,) = changed.err.strip().splitlines()
    assert f"error: data file '{path}' changed since run {run_dir.name}" in line
    assert len(list(run_dir.parent.iterdir())) == 1  # no new run folder
    path.unlink()
    gone = run_cli(capsys, "rerun", str(run_dir), "--no-save")
    assert gone.code == 2 and "is gone" in gone.err


def test_a_2d_file_gets_the_figures_of_the_2d_kinds(
    saved: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_dir = saved
    assert (run_dir / "models" / "index.json").is_file()  # kept for 2-D data, as for moons
    outcome = run_cli(capsys, "report", str(run_dir))
    assert outcome.code == 0, outcome.err
    assert (run_dir / "boundary.png").is_file() and (run_dir / "neurons.png").is_file()


def test_the_saved_models_predict_the_original_labels(saved: tuple[Path, Path]) -> None:
    import torch

    path, run_dir = saved
    index = json.loads((run_dir / "models" / "index.json").read_text())
    assert index["scalers"][0]["classes"] == ["inner", "outer"]
    assert {entry["n_classes"] for entry in index["models"]} == {2}
    model = actbench.load(run_dir).model("tanh", seed=1)
    rows = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1))
    with torch.no_grad():
        labels = np.asarray(model.classes_)[model(torch.tensor(rows)).argmax(1).numpy()]
    assert set(labels) <= {"inner", "outer"}


def test_a_sweep_over_bundled_kinds_records_each_data_set(tmp_path: Path) -> None:
    result = actbench.compare(
        overrides={"activations": ["relu"]},
        sweep={"data.kind": ["iris", "wine"]},
        epochs=1,
        seeds=1,
    )
    data = result.run_result.data
    assert [d.kind for d in data] == ["iris", "wine"]
    assert [d.points for d in data] == [[{"data.kind": "iris"}], [{"data.kind": "wine"}]]
    assert [d.classes for d in data] == [[0, 1, 2], [0, 1, 2]]


def test_generated_data_get_a_fingerprint_too() -> None:
    result = actbench.compare(overrides={"data.n_samples": 100, "activations": ["relu"]}, seeds=1)
    (data,) = result.run_result.data
    assert data.kind == "classification" and data.source == "sklearn make_classification"
    assert data.shape == [100, 20] and data.classes == [0, 1] and data.n_test == 20


# --- notes: chance is the majority class --------------------------------------------------------


def fingerprint(counts: list[int], test: list[int], classes: list[object]) -> DataFingerprint:
    return DataFingerprint(
        kind="file",
        source="d.csv",
        sha256="0" * 64,
        shape=[sum(counts), 3],
        classes=classes,  # type: ignore[arg-type]
        class_counts=counts,
        test_class_counts=test,
        n_train=sum(counts) - sum(test),
        n_test=sum(test),
        points=[{}],
    )


def notes_of(accuracy: float, data: DataFingerprint) -> list[str]:
    from cases import member_record

    from actbench.stats import summarize

    runs = [member_record("relu", seed, accuracy) for seed in range(3)]
    result = RunResult(
        actbench_version="0",
        run_id="r",
        device="cpu",
        seconds=1.0,
        config={"data": {"kind": "file"}},
        runs=runs,
        summary=summarize(runs),
        data=[data],
    )
    return run_notes(result)


def test_imbalanced_classes_get_a_note_and_the_majority_is_chance() -> None:
    data = fingerprint([900, 100], [180, 20], ["no", "yes"])
    notes = notes_of(0.9, data)
    assert notes[0] == (
        "the classes are imbalanced ('no': 90.0%, 'yes': 10.0% of 1,000 rows); always "
        "predicting the most common class scores 90.0%, the chance level to compare with"
    )
    assert "relu is at chance (90.0% vs 90.0% by always predicting 'no')" in notes
    assert not any("at chance" in note for note in notes_of(0.97, data))


def test_balanced_classes_get_no_balance_note() -> None:
    notes = notes_of(0.5, fingerprint([50, 50], [10, 10], [0, 1]))
    assert not any("imbalanced" in note for note in notes)
    assert "relu is at chance (50.0% vs 50.0% by guessing)" in notes
