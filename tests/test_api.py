from __future__ import annotations

import csv
import html
import io
import json
import os
import pydoc
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli, run_cli_redirected
from devices import CPU_FLAGS, pretend_cuda

import actbench
from actbench.config import Config, load_config
from actbench.errors import ActbenchError, ConfigError, RunFolderError

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
# smoke.yaml (relu, tanh, leaky_relu x 2 seeds) made smaller still
SMALL = {"data.n_samples": 200}
SMALL_CLI = ["--set", "data.n_samples=200", "--epochs", "3"]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# `small` and `saved` serve tests that compare numbers bit for bit: they train on the CPU.
@pytest.fixture(scope="module")
def small() -> actbench.Result:
    with pretend_cuda():
        return actbench.compare(SMOKE, overrides=SMALL, epochs=3, device="cpu")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> actbench.Result:
    out = tmp_path_factory.mktemp("runs")
    with pretend_cuda():
        return actbench.compare(
            SMOKE,
            overrides=SMALL,
            epochs=3,
            device="cpu",
            sweep={"train.lr": [0.001, 0.01]},
            save=True,
            save_models=True,
            out=out,
        )


def _numbers(result: Any) -> dict[str, Any]:
    """Everything but what differs between two runs of the same config (id, time, argv)."""
    return {
        "config": result.config,
        "runs": [run.model_dump(mode="json") for run in result.runs],
        "summary": [row.model_dump(mode="json") for row in result.summary],
        "status": result.status,
        "notices": result.notices,
    }


def raw_split(config: Config) -> tuple[Any, Any, Any, Any]:
    """The raw (unscaled, float64) split, as a user would make it with sklearn."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    data = config.data
    x, y = make_classification(
        n_samples=data.n_samples,
        n_features=data.n_features,
        n_informative=data.n_informative,
        n_redundant=data.n_redundant,
        n_repeated=data.n_repeated,
        n_classes=data.n_classes,
        n_clusters_per_class=data.n_clusters_per_class,
        class_sep=data.class_sep,
        flip_y=data.flip_y,
        random_state=data.random_state,
    )
    return tuple(train_test_split(x, y, test_size=data.test_size, random_state=data.random_state))


# --- the same numbers as the CLI ----------------------------------------------------------------


@pytest.mark.exact
def test_compare_equals_the_cli_json_bit_for_bit(
    small: actbench.Result, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_cli(
        capsys, "compare", str(SMOKE), *SMALL_CLI, *CPU_FLAGS, "--format", "json", "--no-save"
    )
    assert outcome.code == 0
    cli = outcome.json
    assert _numbers(small.run_result) == {key: cli[key] for key in _numbers(small.run_result)}
    flags = {"train.epochs": 3, "train.device": "cpu"}
    assert small.config == load_config(SMOKE, ["data.n_samples=200"], flags=flags)


@pytest.mark.exact
def test_train_equals_the_cli_json_and_the_same_member_of_compare(
    small: actbench.Result, capsys: pytest.CaptureFixture[str]
) -> None:
    result = actbench.train("relu", SMOKE, overrides=SMALL, epochs=3, device="cpu")
    outcome = run_cli(
        capsys,
        "train",
        str(SMOKE),
        "--act",
        "relu",
        *SMALL_CLI,
        *CPU_FLAGS,
        "--format",
        "json",
        "--no-save",
    )
    assert outcome.code == 0
    cli = outcome.json
    assert _numbers(result.run_result) == {key: cli[key] for key in _numbers(result.run_result)}
    assert [run.model_dump() for run in result.runs] == [
        run.model_dump() for run in small.runs if run.label == "relu"
    ]


@pytest.mark.exact
def test_config_as_path_mapping_or_config_resolves_the_same(small: actbench.Result) -> None:
    import yaml

    document = yaml.safe_load(SMOKE.read_text())
    from_mapping = actbench.compare(document, overrides=SMALL, epochs=3, device="cpu")
    from_config = actbench.compare(small.config)
    assert from_mapping.config == from_config.config == small.config
    assert _numbers(from_config.run_result) == _numbers(small.run_result)
    assert document == yaml.safe_load(SMOKE.read_text())  # the caller's mapping is unchanged


def test_dedicated_arguments_override_overrides_and_sweep_comes_last() -> None:
    from actbench.api import resolve

    config, _ = resolve(
        {"train": {"lr": 0.5, "epochs": 9}},
        overrides={"train.lr": 0.3, "train.epochs": 7},
        flags={"train.lr": 0.2},
        sweep={"train.epochs": [1, 2]},
    )
    assert config.train.lr == 0.2
    assert config.train.epochs == 7
    assert config.sweep == {"train.epochs": [1, 2]}


# --- errors: ActbenchError, the CLI's one line --------------------------------------------------

ERROR_CASES = [
    (
        "compare",
        {"config": "missing.yaml"},
        ["missing.yaml"],
    ),
    ("compare", {"overrides": {"train.lrr": 0.3}}, ["--set", "train.lrr=0.3"]),
    ("compare", {"overrides": {"train.epochs": 0}}, ["--set", "train.epochs=0"]),
    ("compare", {"overrides": {"model.hidden.x": 3}}, ["--set", "model.hidden.x=3"]),
    ("compare", {"overrides": {"activations": ["rleu"]}}, ["--set", "activations=[rleu]"]),
    ("compare", {"sweep": {"train.seeds": [1, 2]}}, ["--sweep", "train.seeds=1,2"]),
    ("compare", {"sweep": {"train.lr": [0.1, -1]}}, ["--sweep", "train.lr=0.1,-1"]),
    ("compare", {"sweep": {"train.lrr": [0.1]}}, ["--sweep", "train.lrr=0.1"]),
    ("compare", {"epochs": 0}, ["--epochs", "0"]),
    ("compare", {"device": "tpu"}, ["--device", "tpu"]),
    ("compare", {"baseline": "rellu"}, ["--baseline", "rellu"]),
    ("train", {}, []),
    ("train", {"act": "relu", "params": {"slope": 1}}, ["--act", "relu", "--param", "slope=1"]),
]


@pytest.mark.parametrize(("command", "kwargs", "argv"), ERROR_CASES)
def test_errors_raise_config_error_with_the_cli_message(
    command: str,
    kwargs: dict[str, Any],
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    call = actbench.compare if command == "compare" else actbench.train
    with pytest.raises(ConfigError) as raised:
        call(**kwargs)
    outcome = run_cli(capsys, command, *argv, "--no-save", "--format", "json")
    assert outcome.code == 2
    assert outcome.err.strip() == f"error: {raised.value}"


def test_api_only_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a list of values"):
        actbench.compare(sweep={"train.lr": 0.1})
    with pytest.raises(ConfigError, match="--set train.lr= needs a value"):
        actbench.compare(overrides={"train.lr": None})
    with pytest.raises(ConfigError, match="must be a path, a mapping of sections or a Config"):
        actbench.compare(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="save_models=True needs save=True"):
        actbench.compare(SMOKE, overrides=SMALL, epochs=1, save_models=True)
    with pytest.raises(RunFolderError, match="no run 'nope'"):
        actbench.load("nope", out=tmp_path)


# --- Result ---------------------------------------------------------------------------------------


def test_result_holds_the_typed_records(small: actbench.Result) -> None:
    from actbench.runs import RunRecord, SummaryRow

    assert isinstance(small.config, Config)
    assert all(isinstance(run, RunRecord) for run in small.runs)
    assert all(isinstance(row, SummaryRow) for row in small.summary)
    assert [row.label for row in small.summary] == ["relu", "tanh", "leaky_relu"]
    assert small.run_dir is None
    assert "6 models" in repr(small)


def test_to_pandas_summary_runs_and_history(small: actbench.Result, saved: actbench.Result) -> None:
    pytest.importorskip("pandas", reason="needs the pandas extra: pip install 'actbench[pandas]'")
    summary = small.to_pandas()
    assert list(summary["label"]) == ["relu", "tanh", "leaky_relu"]
    assert summary["test_accuracy_mean"].tolist() == [r.test_accuracy_mean for r in small.summary]
    runs = small.to_pandas("runs")
    assert len(runs) == 6 and "history" not in runs.columns
    assert runs["test_accuracy"].tolist() == [r.test_accuracy for r in small.runs]
    history = small.to_pandas("history")
    assert len(history) == 6 * 3
    assert {"label", "seed", "epoch", "train_loss", "test_accuracy", "dead_l1"} <= set(history)
    # sweep values lead, one column per key
    swept = saved.to_pandas()
    assert list(swept.columns[:2]) == ["train.lr", "label"]
    assert sorted(set(swept["train.lr"])) == [0.001, 0.01]
    assert len(saved.to_pandas("history").groupby(["train.lr", "label", "seed"])) == 12


def _is_flat(value: Any) -> bool:
    return not isinstance(value, list | dict)


def test_to_pandas_columns_are_flat(small: actbench.Result) -> None:
    pytest.importorskip("pandas", reason="needs the pandas extra: pip install 'actbench[pandas]'")
    summary = small.to_pandas()
    assert all(_is_flat(v) for v in summary.to_numpy().ravel())
    for row, (_, frame_row) in zip(small.summary, summary.iterrows(), strict=True):
        assert row.test_accuracy_ci95 is not None
        low, high = row.test_accuracy_ci95
        assert (frame_row["test_accuracy_ci95_low"], frame_row["test_accuracy_ci95_high"]) == (
            low,
            high,
        )
    assert "test_accuracy_ci95" not in summary.columns
    runs = small.to_pandas("runs")
    assert all(_is_flat(v) for v in runs.to_numpy().ravel())
    assert "dead_per_layer" not in runs and "params" not in runs
    leaky = runs[runs["label"] == "leaky_relu"]
    assert leaky["params.negative_slope"].tolist() == [0.01, 0.01]


def test_to_pandas_layers_is_one_row_per_member_and_layer() -> None:
    pytest.importorskip("pandas", reason="needs the pandas extra: pip install 'actbench[pandas]'")
    result = actbench.compare(SMOKE, overrides={**SMALL, "model.hidden": [6, 4]}, epochs=2)
    layers = result.to_pandas("layers")
    assert len(layers) == 2 * len(result.runs)
    assert layers["layer"].tolist()[:2] == [1, 2] and layers["width"].tolist()[:2] == [6, 4]
    first = result.runs[0]
    for column, values in (
        ("dead", first.dead_per_layer),
        ("dead_init", first.dead_per_layer_init),
        ("dormant", first.dormant_per_layer),
        ("saturated", first.saturated_per_layer),
        ("std_init", first.std_per_layer_init),
    ):
        assert layers[column].tolist()[:2] == values


def test_csv_of_compare_and_train_is_flat(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["compare", str(SMOKE)], ["train", "--act", "leaky_relu", "--seeds", "2"]):
        outcome = run_cli(capsys, *command, *SMALL_CLI, "--no-save", "--format", "csv")
        rows = list(csv.DictReader(io.StringIO(outcome.out)))
        assert rows and all(not v.startswith(("[", "{")) for row in rows for v in row.values())
    assert "params.negative_slope" in rows[0] and "dead_per_layer" not in rows[0]
    outcome = run_cli(capsys, "compare", str(SMOKE), *SMALL_CLI, "--no-save", "--format", "csv")
    header = next(csv.reader(io.StringIO(outcome.out)))
    assert {"test_accuracy_ci95_low", "test_accuracy_ci95_high"} <= set(header)


def test_to_pandas_without_pandas_says_how_to_install_it(
    small: actbench.Result, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ActbenchError, match=re.escape("pip install 'actbench[pandas]'")):
        small.to_pandas()


def test_to_pandas_unknown_table_lists_the_choices(small: actbench.Result) -> None:
    with pytest.raises(ActbenchError, match="choices: summary, runs, layers, history"):
        small.to_pandas("member")  # type: ignore[arg-type]


def test_table_and_notebook_reprs(small: actbench.Result) -> None:
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=100)
    console.print(small.table())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "test acc %" in text and "leaky_relu" in text
    markdown = small._repr_markdown_()
    assert "| activation |" in markdown and "| relu |" in markdown
    page = small._repr_html_()
    assert page.count("<tr>") == 1 + 3 and small.run_id in page
    seeds = actbench.train("tanh", SMOKE, overrides=SMALL, epochs=1)
    markdown = seeds._repr_markdown_()
    assert ": tanh**" in markdown  # the per-seed table names its activation in the title
    assert [line.split("|")[1].strip() for line in markdown.splitlines()[4:6]] == ["0", "1"]
    assert seeds._repr_html_().count("<tr") == 1 + 2 + 1  # header, two seeds, their mean


def test_notebook_html_shows_the_notes_and_highlights_best_values(small: actbench.Result) -> None:
    page = small._repr_html_()
    notes = small.view().notes
    assert notes and '<ul class="notes">' in page
    for note in notes:
        assert f"<li>{html.escape(note)}</li>" in page
    best = re.findall(r'<td class="best"><strong>([^<]+)</strong></td>', page)
    accuracy = max(row.test_accuracy_mean or 0 for row in small.summary)
    assert f"{100 * accuracy:.1f} ± " in " ".join(best)
    assert "td.best strong{color:#1a7f37}" in page  # bold green, as in the terminal


def test_plot_gives_each_figure_report_draws(saved: actbench.Result) -> None:
    from matplotlib.figure import Figure

    from actbench.plots import FIGURE_NAMES

    assert FIGURE_NAMES == ("curves", "boundary", "neurons", "health", "sweep", "activations")
    for name in ("curves", "health", "sweep", "activations", "curves.png"):
        assert isinstance(saved.plot(name), Figure)
    with pytest.raises(ActbenchError, match="figure 'boundary' has nothing to show for run .*: "
                       "it needs 2-D data"):  # fmt: skip
        saved.plot("boundary")
    with pytest.raises(ActbenchError, match="unknown figure 'curve'; did you mean 'curves'?"):
        saved.plot("curve")


def test_plot_draws_decision_boundaries_of_members_in_memory() -> None:
    from matplotlib.figure import Figure

    moons = {"data": {"kind": "moons", "n_samples": 200}, "train": {"epochs": 2, "seeds": 1}}
    result = actbench.compare({**moons, "activations": ["relu", "tanh"]})
    assert isinstance(result.plot("boundary"), Figure)
    assert isinstance(result.plot("neurons"), Figure)


def test_plot_shortens_labels_as_report_does() -> None:
    long = "relu_" + "x" * 150  # a config takes up to 200 characters; a figure shows 80
    overrides = {**SMALL, "activations": [{"name": "relu", "label": long}], "train.seeds": 1}
    figure = actbench.compare(SMOKE, overrides=overrides, epochs=2).plot("curves")
    from matplotlib.text import Text

    shown = [text.get_text() for text in figure.findobj(Text)]
    labels = [text for text in shown if text.startswith("relu_x")]
    assert labels and all(len(label) <= 80 for label in labels)


def test_train_table_has_one_row_per_seed() -> None:
    import io

    from rich.console import Console

    result = actbench.train("tanh", SMOKE, overrides=SMALL, epochs=2)
    console = Console(file=io.StringIO(), width=100)
    console.print(result.table())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "seed" in text and "mean" in text


def test_reprs_escape_labels() -> None:
    result = actbench.compare(
        overrides={
            **SMALL,
            "activations": [{"name": "relu", "label": "<b>r&u</b>"}],
            "train.seeds": 1,
            "train.epochs": 1,
        }
    )
    assert "&lt;b&gt;r&amp;u&lt;/b&gt;" in result._repr_html_()
    assert "<b>" not in result._repr_html_()


def test_figures_and_html_report(small: actbench.Result, tmp_path: Path) -> None:
    figures = small.figures(tmp_path / "figures")
    assert {p.name for p in figures} >= {"curves.png", "activations.png"}
    assert all(p.is_file() for p in figures)
    page = small.html_report(tmp_path / "report")
    assert page.name == "report.html" and "data:image/png;base64," in page.read_text()


def test_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    actbench.train("relu", overrides={**SMALL, "train.seeds": 1}, epochs=2, progress=True)
    assert capsys.readouterr().out == ""


class _Handle:
    """IPython's DisplayHandle, keeping every update."""

    def __init__(self, first: dict[str, str]) -> None:
        self.shown = [first]

    def update(self, bundle: dict[str, str], raw: bool = False) -> None:
        self.shown.append(bundle)


def _notebook(monkeypatch: pytest.MonkeyPatch) -> list[_Handle]:
    """Progress as in a notebook: a Jupyter console, displays kept in the list returned."""
    display = pytest.importorskip("IPython.display", reason="IPython: a notebook's progress")
    from rich import console

    handles: list[_Handle] = []

    def fake_display(bundle: dict[str, str], raw: bool, display_id: bool) -> _Handle:
        handles.append(_Handle(bundle))
        return handles[-1]

    monkeypatch.setattr(display, "display", fake_display)
    monkeypatch.setattr(console, "_is_jupyter", lambda: True)
    return handles


def test_progress_in_a_notebook_updates_one_output_and_ends_as_a_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handles = _notebook(monkeypatch)
    actbench.train("relu", overrides={**SMALL, "train.seeds": 2}, epochs=3, progress=True)
    (handle,) = handles
    lines = [bundle["text/plain"] for bundle in handle.shown]
    assert lines[0] == "training: preparing"
    assert re.fullmatch(r"done: 3/3 epochs, 2 models, best test acc \d+\.\d%; \d+\.\d s", lines[-1])
    assert '<progress value="3" max="3"' in handle.shown[-1]["text/html"]


def test_progress_in_a_notebook_says_when_training_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actbench.render.progress import notebook_progress

    handles = _notebook(monkeypatch)
    with pytest.raises(ActbenchError), notebook_progress():
        raise ActbenchError("no")
    assert handles[0].shown[-1]["text/plain"].startswith("stopped (ActbenchError); ")


def test_ctrl_c_stops_training_and_keeps_the_finished_epochs() -> None:
    import signal
    import threading

    # the handler the caller had (Python's default, or SIG_IGN in a shell's background job)
    before = signal.getsignal(signal.SIGINT)
    # imported and warmed first, so that the signal finds epochs finished (a stop before the
    # first one keeps nothing, by design)
    actbench.train("relu", overrides={**SMALL, "train.seeds": 1}, epochs=1)
    timer = threading.Timer(1.0, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        result = actbench.train("relu", overrides={**SMALL, "train.seeds": 1}, epochs=10**6)
    finally:
        timer.cancel()
    assert result.run_result.status == "interrupted"
    assert 0 < result.runs[0].epochs < 10**6
    assert signal.getsignal(signal.SIGINT) is before


# --- saved runs and trained members -------------------------------------------------------------


def test_save_writes_a_run_folder_that_load_reads_back(saved: actbench.Result) -> None:
    assert saved.run_dir is not None and saved.run_dir.name == saved.run_id
    out = saved.run_dir.parent
    for reference in (saved.run_id, saved.run_id[:17], saved.run_dir):
        again = actbench.load(reference, out=out)
        assert again.config == saved.config
        assert again.runs == saved.runs and again.summary == saved.summary
        assert again.run_dir == saved.run_dir


def test_save_without_models_keeps_them_in_memory_only(tmp_path: Path) -> None:
    result = actbench.train("relu", overrides=SMALL, epochs=1, seeds=1, save=True, out=tmp_path)
    assert result.run_dir is not None and not (result.run_dir / "models").exists()
    result.model("relu", 0)  # still in memory
    with pytest.raises(ActbenchError, match="has no saved models; .*--save-models"):
        actbench.load(result.run_dir).model("relu", 0)


def test_model_files_without_an_index_are_explained(saved: actbench.Result, tmp_path: Path) -> None:
    assert saved.run_dir is not None
    old = shutil.copytree(saved.run_dir, tmp_path / saved.run_id)
    (old / "models" / "index.json").unlink()
    with pytest.raises(ActbenchError, match="has model files but no models/index.json"):
        actbench.load(old).model("relu", 0, {"lr": 0.01})


def test_models_index_maps_every_file_to_its_member(saved: actbench.Result) -> None:
    assert saved.run_dir is not None
    index = json.loads((saved.run_dir / "models" / "index.json").read_text())
    files = sorted(p.name for p in (saved.run_dir / "models").glob("*.pt"))
    assert sorted(entry["file"] for entry in index["models"]) == files
    assert len(files) == len(saved.runs)
    members = {(e["label"], e["seed"], e["grid"]["train.lr"]) for e in index["models"]}
    assert members == {(r.label, r.seed, r.grid["train.lr"]) for r in saved.runs}
    entry = index["models"][0]
    assert entry["hidden"] == [50] and entry["head"] == "softmax"
    assert entry["n_features"] == 20 and entry["n_classes"] == 2
    assert len(index["scalers"]) == 1 and len(index["scalers"][0]["mean"]) == 20


def _accuracy(model: Any, x: Any, y: Any) -> float:
    import torch

    with torch.no_grad():
        logits = model(torch.as_tensor(x))
    return int((logits.argmax(-1).numpy() == y).sum()) / len(y)


@pytest.mark.exact
def test_model_in_memory_reproduces_every_member_on_raw_features(small: actbench.Result) -> None:
    _, x_test, _, y_test = raw_split(small.config)
    for run in small.runs:
        assert _accuracy(small.model(run.label, run.seed), x_test, y_test) == run.test_accuracy


def test_model_predicts_on_numpy_pandas_and_torch_input(small: actbench.Result) -> None:
    pandas = pytest.importorskip("pandas", reason="needs the pandas extra")
    import numpy as np
    import torch

    _, x_test, _, y_test = raw_split(small.config)
    for run in small.runs:
        model = small.model(run.label, run.seed)
        predicted = model.predict(x_test)
        assert predicted.tolist() == model.predict(pandas.DataFrame(x_test)).tolist()
        assert predicted.tolist() == model.predict(torch.as_tensor(x_test)).tolist()
        assert model.score(x_test, y_test) == run.test_accuracy
        assert model.score(pandas.DataFrame(x_test), pandas.Series(y_test)) == run.test_accuracy
        proba = model.predict_proba(x_test)
        assert proba.shape == (len(x_test), 2) and np.allclose(proba.sum(1), 1)
        assert (proba.argmax(1) == predicted).all()
        assert list(model.classes_) == [0, 1]
        # still a torch module from raw features to logits (a NumPy array is taken too)
        assert torch.equal(model(x_test), model(torch.as_tensor(x_test)))
        assert model.module is model and model(x_test).shape == (len(x_test), 2)
    with pytest.raises(
        ValueError, match=r"X has shape \[3, 5\]; this member takes \[samples, 20\]"
    ):
        model.predict(np.zeros((3, 5)))


def test_model_predicts_the_saved_labels_when_the_index_has_them(
    saved: actbench.Result,
) -> None:
    from actbench.members import ModelIndex, build_model

    assert saved.run_dir is not None
    models = saved.run_dir / "models"
    index = ModelIndex.model_validate_json((models / "index.json").read_text())
    scaler = index.scalers[0].model_copy(update={"classes": ["no", "yes"]})
    entry = index.models[0]
    model = build_model(entry, scaler, (models / entry.file).read_bytes())
    _, x_test, _, y_test = raw_split(saved.config)
    assert list(model.classes_) == ["no", "yes"]
    labels = model.predict(x_test)
    assert set(labels) <= {"no", "yes"}
    assert model.score(x_test, [["no", "yes"][v] for v in y_test]) == saved.runs[0].test_accuracy
    again = ModelIndex.model_validate_json(index.model_copy(update={"scalers": [scaler]}).to_json())
    assert again.scalers[0].classes == ["no", "yes"]


@pytest.mark.exact
def test_model_picks_the_grid_point(saved: actbench.Result) -> None:
    _, x_test, _, y_test = raw_split(saved.config)
    for run in saved.runs:
        for grid in ({"train.lr": run.grid["train.lr"]}, {"lr": run.grid["train.lr"]}):
            model = saved.model(run.label, run.seed, grid)
            assert _accuracy(model, x_test, y_test) == run.test_accuracy
    with pytest.raises(ActbenchError, match="trained at 2 grid points; pick one with grid="):
        saved.model("relu", 0)
    with pytest.raises(ActbenchError, match="no grid point"):
        saved.model("relu", 0, {"train.lr": 0.5})


def test_model_unknown_label_or_seed_lists_the_choices(small: actbench.Result) -> None:
    with pytest.raises(ActbenchError, match="did you mean 'relu'"):
        small.model("rleu")
    with pytest.raises(ActbenchError, match="has no seed 7; seeds: 0, 1"):
        small.model("relu", 7)


@pytest.mark.exact
def test_loaded_model_reproduces_test_accuracy_in_a_fresh_process(tmp_path: Path) -> None:
    """A run saved by the CLI with --save-models, used from another process."""
    out = tmp_path / "runs"
    outcome = run_cli_redirected(
        "compare",
        str(SMOKE),
        *SMALL_CLI,
        *CPU_FLAGS,
        "--sweep",
        "train.lr=0.001,0.01",
        "--save-models",
        "--quiet",
        "--format",
        "json",
        "--out",
        str(out),
    )
    assert outcome.code == 0
    (run_dir,) = out.iterdir()
    script = textwrap.dedent(
        f"""
        import json, sys
        import torch
        from sklearn.datasets import make_classification
        from sklearn.model_selection import train_test_split
        import actbench

        run = actbench.load({str(run_dir)!r})
        data = run.config.data
        x, y = make_classification(
            n_samples=data.n_samples, n_features=data.n_features,
            n_informative=data.n_informative, n_redundant=data.n_redundant,
            n_repeated=data.n_repeated, n_classes=data.n_classes,
            n_clusters_per_class=data.n_clusters_per_class, class_sep=data.class_sep,
            flip_y=data.flip_y, random_state=data.random_state)
        _, x_test, _, y_test = train_test_split(
            x, y, test_size=data.test_size, random_state=data.random_state)
        model = run.model("relu", 0, grid={{"train.lr": 0.01}})
        with torch.no_grad():
            predicted = model(torch.as_tensor(x_test)).argmax(1).numpy()
        accuracy = int((predicted == y_test).sum()) / len(y_test)
        reported = next(r.test_accuracy for r in run.runs
                        if r.label == "relu" and r.seed == 0 and r.grid["train.lr"] == 0.01)
        print(json.dumps([accuracy, reported]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=ONE_THREAD, check=True
    )
    accuracy, reported = json.loads(done.stdout)
    assert accuracy == reported


@pytest.mark.exact
def test_prelu_and_sigmoid_head_members_are_rebuilt_exactly() -> None:
    result = actbench.compare(
        device="cpu",
        overrides={
            **SMALL,
            "activations": ["prelu", "tanh"],
            "model.head": "sigmoid",
            "model.hidden": [16, 8],
            "train.seeds": 2,
            "train.epochs": 3,
        },
    )
    _, x_test, _, y_test = raw_split(result.config)
    import torch

    for run in result.runs:
        model = result.model(run.label, run.seed)
        with torch.no_grad():
            predicted = (model(torch.as_tensor(x_test)).squeeze(-1) > 0).long().numpy()
        assert int((predicted == y_test).sum()) / len(y_test) == run.test_accuracy


# --- the package ----------------------------------------------------------------------------------


def test_import_actbench_does_not_import_torch() -> None:
    code = "import actbench, sys; actbench.__doc__; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=ONE_THREAD)


def test_cli_help_does_not_import_torch() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "actbench", "--help"],
        capture_output=True,
        text=True,
        env=ONE_THREAD,
        check=True,
    )
    assert "compare" in done.stdout
    assert not re.search(r"\|\s+torch\b", done.stderr)


def test_help_shows_the_api() -> None:
    page = pydoc.render_doc(actbench, renderer=pydoc.plaintext)
    for name in ("compare(", "train(", "load(", "class Result", "ActbenchError"):
        assert name in page
    assert set(actbench.__all__) <= set(dir(actbench))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        actbench.nope  # noqa: B018


# --- the README's examples ----------------------------------------------------------------------


def _readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_readme_python_examples_run(tmp_path: Path) -> None:
    pytest.importorskip("pandas", reason="the examples use the pandas extra")
    blocks = _readme_python_blocks()
    assert blocks, "the README has a Python API section with examples"
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    script = "\n\n".join(blocks)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=ONE_THREAD,
    )
    assert done.returncode == 0, done.stderr


def test_history_frame_and_csv_put_health_at_the_probed_epochs(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    result = actbench.compare(
        SMOKE,
        overrides={**SMALL, "metrics.health_every": 2, "activations": ["relu"]},
        epochs=5,
        seeds=1,
        save=True,
        out=tmp_path,
    )
    run = result.runs[0]
    assert run.history.health_epochs == [1, 2, 4, 5]
    frame = result.to_pandas("history").set_index("epoch")
    assert frame["dormant_l1"].isna().tolist() == [False, False, True, False, False]
    for index, epoch in enumerate(run.history.health_epochs):
        assert frame.loc[epoch, "saturated_l1"] == run.history.saturated_per_layer[index][0]
    assert result.run_dir is not None
    rows = list(csv.DictReader(io.StringIO((result.run_dir / "history.csv").read_text())))
    assert [row["saturated_l1"] != "" for row in rows] == [True, True, False, True, True]
    assert float(rows[3]["saturated_l1"]) == run.history.saturated_per_layer[2][0]
