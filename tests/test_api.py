from __future__ import annotations

import csv
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


def test_to_pandas_without_pandas_says_how_to_install_it(
    small: actbench.Result, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas -> ImportError
    with pytest.raises(ActbenchError, match=re.escape("pip install 'actbench[pandas]'")):
        small.to_pandas()


def test_to_pandas_unknown_table_lists_the_choices(small: actbench.Result) -> None:
    with pytest.raises(ActbenchError, match="choices: summary, runs, history"):
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


def test_ctrl_c_stops_training_and_keeps_the_finished_epochs() -> None:
    import signal
    import threading

    timer = threading.Timer(1.0, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        result = actbench.train("relu", overrides={**SMALL, "train.seeds": 1}, epochs=10**6)
    finally:
        timer.cancel()
    assert result.run_result.status == "interrupted"
    assert 0 < result.runs[0].epochs < 10**6
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


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
