"""The Python API's own data: compare(X=..., y=...) and train(act, X=..., y=...) with NumPy,
pandas and torch; saved runs keep the arrays (data.npz), so rerun and report still work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from clirun import run_cli

import actbench
from actbench.errors import ActbenchError, DataError

SMALL: dict[str, Any] = {"epochs": 3, "seeds": 2, "overrides": {"activations": ["relu", "tanh"]}}


def plane(rows: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Two features, string labels: a 2-D data set of your own."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, 2))
    return x, np.where(x[:, 0] * x[:, 1] > 0, "same", "differ")


def numbers(result: actbench.Result) -> list[tuple[str, int, float | None, float | None]]:
    return [(r.label, r.seed, r.test_accuracy, r.train_loss) for r in result.runs]


def test_numpy_arrays_train_with_their_labels_as_classes() -> None:
    x, y = plane()
    result = actbench.compare(X=x, y=y, **SMALL)
    (data,) = result.run_result.data
    assert data.kind == "arrays" and data.source == "arrays"
    assert data.classes == ["differ", "same"] and data.shape == [160, 2]
    assert result.config.data.kind == "arrays"
    assert all(run.status == "ok" for run in result.runs)


def test_numpy_pandas_and_torch_give_the_same_numbers() -> None:
    pandas = pytest.importorskip("pandas")
    x, y = plane()
    expected = numbers(actbench.compare(X=x, y=y, **SMALL))
    frame = pandas.DataFrame(x, columns=["a", "b"])
    assert numbers(actbench.compare(X=frame, y=pandas.Series(y, name="kind"), **SMALL)) == expected
    codes = torch.tensor((y == "same").astype(np.int64))
    result = actbench.compare(X=torch.tensor(x), y=codes, **SMALL)
    assert numbers(result) == expected
    assert result.run_result.data[0].classes == [0, 1]


def test_train_takes_arrays_too() -> None:
    x, y = plane()
    trained = actbench.train("tanh", X=x, y=y, epochs=3, seeds=2)
    compared = actbench.compare(X=x, y=y, **SMALL)
    assert numbers(trained) == [n for n in numbers(compared) if n[0] == "tanh"]


def test_a_saved_run_keeps_the_arrays_so_rerun_and_report_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = plane()
    out = tmp_path / "runs"
    saved = actbench.compare(X=x, y=y, save=True, out=out, **SMALL)
    assert saved.run_dir is not None and (saved.run_dir / "data.npz").is_file()
    assert saved.config.data.kind == "file"
    assert saved.config.data.path == str((saved.run_dir / "data.npz").resolve())
    assert numbers(saved) == numbers(actbench.compare(X=x, y=y, **SMALL))

    rerun = run_cli(capsys, "rerun", saved.run_id, "--out", str(out), "--no-save")
    assert rerun.code == 0 and "reproduced" in rerun.out
    report = run_cli(capsys, "report", saved.run_id, "--out", str(out))
    assert report.code == 0, report.err
    assert (saved.run_dir / "boundary.png").is_file() and (saved.run_dir / "neurons.png").is_file()
    # the stored file trains the same from the command line
    cli = run_cli(
        capsys, "compare", "--data", str(saved.run_dir / "data.npz"), "--epochs", "3",
        "--seeds", "2", "--set", "activations=[relu,tanh]", "--format", "json", "--no-save",
    )  # fmt: skip
    assert [r["test_accuracy"] for r in cli.json["runs"]] == [n[2] for n in numbers(saved)]


def test_models_know_the_original_labels(tmp_path: Path) -> None:
    x, y = plane()
    result = actbench.compare(X=x, y=y, save=True, save_models=True, out=tmp_path, **SMALL)
    index = json.loads((result.run_dir / "models" / "index.json").read_text())
    assert index["scalers"][0]["classes"] == ["differ", "same"]
    loaded = actbench.load(result.run_id, out=tmp_path)
    model = loaded.model("tanh", seed=0)
    assert list(model.classes_) == ["differ", "same"]
    predicted = model.predict(x)  # the original labels
    with torch.no_grad():
        from_logits = model.classes_[model(torch.tensor(x)).argmax(1).numpy()]
    assert (predicted == from_logits).all()
    accuracy = float((predicted == y).mean())
    assert model.score(x, y) == accuracy
    run = next(r for r in result.runs if r.label == "tanh" and r.seed == 0)
    assert run.train_accuracy is not None and run.test_accuracy is not None
    # the whole data set: 80% training, 20% test
    assert accuracy == pytest.approx(0.8 * run.train_accuracy + 0.2 * run.test_accuracy)


def test_models_of_generated_data_have_integer_classes() -> None:
    result = actbench.compare(
        overrides={"data.n_samples": 100, "activations": ["relu"]}, epochs=1, seeds=1
    )
    assert list(result.model("relu").classes_) == [0, 1]


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros(10), np.arange(10) % 2, "X must be 2-D.*X.reshape\\(-1, 1\\)"),
        (np.zeros((10, 2)), np.arange(9) % 2, "X has 10 rows but y has 9 labels"),
        (np.zeros((10, 2)), np.zeros(10), "has one class \\(0\\) in 10 rows"),
        (
            np.array([[1.0, np.nan]] * 10),
            np.arange(10) % 2,
            "10 missing or non-finite values .* in '1' \\(10\\)",
        ),
        (np.zeros((10, 2)), np.array([1, "a"] * 5, dtype=object), "mixes label types"),
        (np.zeros((10, 2)), np.ones((10, 3)), "y: the labels must be one per row"),
        (np.array([["a", 1]] * 10, dtype=object), np.arange(10) % 2, "column '0' is not numeric"),
    ],
)
def test_bad_arrays_are_one_clear_error(x: Any, y: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        actbench.compare(X=x, y=y, **SMALL)


def test_a_dataframe_names_its_text_columns() -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"a": range(10), "city": ["Oslo"] * 10, "b": range(10)})
    with pytest.raises(DataError, match="feature column 'city' is not numeric.*get_dummies"):
        actbench.compare(X=frame, y=np.arange(10) % 2, **SMALL)


def test_arrays_too_large_to_keep_are_refused_before_a_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actbench.data.arrays as arrays

    monkeypatch.setattr(arrays, "MAX_STORED_BYTES", 1000)
    x, y = plane()
    with pytest.raises(DataError, match="a run folder keeps at most 0 MiB.*save=False"):
        actbench.compare(X=x, y=y, save=True, out=tmp_path / "runs", **SMALL)
    assert not (tmp_path / "runs").exists()
    actbench.compare(X=x, y=y, **SMALL)  # without saving, they are fine


def test_arrays_kind_without_the_arrays_says_how_to_get_them() -> None:
    with pytest.raises(ActbenchError, match="not in this process: pass them again"):
        actbench.compare(overrides={"data.kind": "arrays", "data.sha256": "0" * 64})
