from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from clirun import Outcome, run_cli, run_cli_redirected
from devices import CPU_FLAGS, pretend_cuda

from actbench import __version__, cli
from actbench import activations as registry

TINY = ["--set", "data.n_samples=120", "--epochs", "2", "--set", "activations=[relu,tanh]"]
TINY_COMPARE = [*TINY, "--seeds", "2"]
DIVERGING = [
    "--set",
    "train.optimizer=sgd",
    "--lr",
    "1e6",
    "--set",
    "activations=[relu]",
    "--set",
    "data.n_samples=120",
    "--epochs",
    "3",
    "--seeds",
    "1",
    "--format",
    "json",
    "--no-save",
]
COMMANDS = ("compare", "train", "activations", "show", "runs", "report")
TOP_LEVEL_KEYS = {
    "actbench_version",
    "run_id",
    "device",
    "seconds",
    "config",
    "runs",
    "summary",
}
RUN_KEYS = {
    "label",
    "activation",
    "params",
    "seed",
    "status",
    "epochs",
    "train_loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "dead_neurons",
    "dead_per_layer",
    "dead_neurons_init",
    "dormant_neurons",
    "hidden_units",
    "history",
}
SUMMARY_KEYS = {
    "label",
    "activation",
    "n_seeds",
    "test_accuracy_mean",
    "test_accuracy_std",
    "test_loss_mean",
    "test_loss_std",
    "train_loss_mean",
    "dead_neurons_mean",
    "dead_neurons_init_mean",
    "dormant_neurons_mean",
}
RUN_FILES = ["config.yaml", "env.json", "history.csv", "results.json"]
ANSI = re.compile(r"\x1b\[")


def run_module(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actbench", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "80"},
    )


def assert_one_error_line(outcome: Outcome) -> str:
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("error:")
    assert lines[0].strip() != "error:"
    assert "Traceback" not in outcome.err + outcome.out
    return lines[0]


def md_table_lines(text: str) -> list[str]:
    """The lines of the first Markdown table (captions and notes follow it)."""
    lines = text.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i, line in enumerate(lines[start:]) if not line.startswith("|")), None)
    return lines[start:] if end is None else lines[start : start + end]


def md_rows(text: str) -> list[list[str]]:
    lines = md_table_lines(text)
    return [[cell.strip().strip("*") for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture(autouse=True)
def _isolated_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    monkeypatch.setenv("COLUMNS", "80")


@dataclass(frozen=True)
class SavedCompare:
    root: Path
    run_dir: Path
    outcome: Outcome


@pytest.fixture(scope="module")
def saved_compare(tmp_path_factory: pytest.TempPathFactory) -> SavedCompare:
    """A saved compare run, on the CPU: `train` is compared with its members bit for bit."""
    root = tmp_path_factory.mktemp("compare") / "runs"
    with pretend_cuda():
        outcome = run_cli_redirected(
            "compare", *TINY_COMPARE, *CPU_FLAGS, "--format", "json", "--out", str(root)
        )
    assert outcome.code == 0, outcome.err
    folders = list(root.iterdir())
    assert len(folders) == 1
    return SavedCompare(root, folders[0], outcome)


@pytest.fixture(scope="module")
def compare_json(saved_compare: SavedCompare) -> dict[str, Any]:
    data = saved_compare.outcome.json
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def diverged() -> Outcome:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "80")
        return run_cli_redirected("compare", *DIVERGING)


@pytest.fixture
def runs_root(saved_compare: SavedCompare, tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    shutil.copytree(saved_compare.run_dir, root / saved_compare.run_dir.name)
    return root


# --- help and version -----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    outcome = run_cli(capsys, flag)
    assert outcome.code == 0
    for command in COMMANDS:
        assert re.search(rf"\b{command}\b", outcome.out), command


def test_compare_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", "--help")
    assert outcome.code == 0
    assert "Examples" in outcome.out
    assert "actbench compare configs/all.yaml" in outcome.out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "--version")
    assert outcome.code == 0
    assert outcome.out.strip() == f"actbench {__version__}"


def test_no_arguments_prints_help_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys)
    assert outcome.code == 0
    assert "compare" in outcome.out


@pytest.mark.parametrize("argv", [[], ["--debug"]], ids=["nothing", "debug-only"])
def test_no_arguments_prints_what_help_prints(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    expected = run_cli(capsys, "--help")
    outcome = run_cli(capsys, *argv)
    assert (outcome.code, outcome.out, outcome.err) == (0, expected.out, "")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["frobnicate"], "error: No such command 'frobnicate'. (see: actbench --help)"),
        (["show"], "error: Missing argument 'name'. (see: actbench show --help)"),
        (["train", "--act", "relu", "--param"], "error: Option '--param' requires an argument."),
    ],
    ids=["unknown-command", "missing-argument", "option-without-value"],
)
def test_a_usage_error_is_its_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], line: str
) -> None:
    outcome = run_cli(capsys, *argv)
    assert (outcome.code, outcome.out, outcome.err) == (2, "", line + "\n")


@pytest.mark.parametrize(
    "argv", [["--help"], ["activations", "--format", "json"]], ids=["help", "activations"]
)
def test_command_does_not_import_torch(argv: list[str], tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from actbench.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr


# --- activations ----------------------------------------------------------------------------------


def test_activations_json_lists_every_activation(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "activations", "--format", "json")
    assert outcome.code == 0
    records = outcome.json
    assert isinstance(records, list)
    assert [r["name"] for r in records] == registry.names()
    for record in records:
        assert set(record) == {
            "name",
            "aliases",
            "formula",
            "range",
            "derivative",
            "typical_use",
            "params",
        }
        assert isinstance(record["aliases"], list)
        assert isinstance(record["params"], dict)


def test_activations_json_has_parameter_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    records = {r["name"]: r for r in run_cli(capsys, "activations", "--format", "json").json}
    assert records["leaky_relu"]["params"] == {"negative_slope": 0.01}
    assert records["relu"]["params"] == {}


def test_activations_csv_has_record_per_activation(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "activations", "--format", "csv")
    assert outcome.code == 0
    records = list(csv.DictReader(io.StringIO(outcome.out)))
    assert [r["name"] for r in records] == registry.names()
    by_name = {r["name"]: r for r in records}
    assert json.loads(by_name["leaky_relu"]["params"]) == {"negative_slope": 0.01}
    assert json.loads(by_name["sigmoid"]["aliases"]) == ["logistic"]


def test_activations_csv_one_line_per_activation(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "activations", "--format", "csv")
    assert len(outcome.out.strip().splitlines()) == 1 + len(registry.names())


def test_activations_md_one_line_per_activation(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "activations", "--format", "md")
    assert outcome.code == 0
    rows = md_rows(outcome.out)
    assert [row[0].split(" (")[0] for row in rows] == registry.names()
    assert rows[registry.names().index("sigmoid")][0] == "sigmoid (logistic)"


def test_activations_table_lists_every_name(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "activations")
    assert outcome.code == 0
    for name in registry.names():
        assert name in outcome.out


# --- show -----------------------------------------------------------------------------------------


def test_show_tanh_json(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "show", "tanh", "--x", "1", "2", "3", "--format", "json")
    assert outcome.code == 0
    data = outcome.json
    assert set(data) == {"activation", "params", "x", "y", "dy"}
    assert data["activation"] == "tanh"
    assert data["params"] == {}
    assert data["x"] == [1, 2, 3]
    assert data["y"] == pytest.approx([0.7616, 0.9640, 0.9951], abs=1e-4)
    assert data["dy"] == pytest.approx([0.4200, 0.0707, 0.0099], abs=1e-4)


def test_show_accepts_negative_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "show", "relu", "--x", "1", "-2", "3", "-5", "--format", "json")
    assert outcome.code == 0
    data = outcome.json
    assert data["x"] == [1, -2, 3, -5]
    assert data["y"] == [1, 0, 3, 0]
    assert data["dy"] == [1, 0, 1, 0]


def test_show_table_with_negative_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "show", "relu", "--x", "1", "-2", "3", "-5")
    assert outcome.code == 0
    assert re.search(r"-5\s+0\.0000\s+0\.0000", outcome.out)
    assert re.search(r"3\s+3\.0000\s+1\.0000", outcome.out)


def test_show_leaky_relu_with_param(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(
        capsys,
        "show",
        "leaky_relu",
        "--param",
        "negative_slope=0.2",
        "--x",
        "-2",
        "--format",
        "json",
    )
    assert outcome.code == 0
    data = outcome.json
    assert data["params"] == {"negative_slope": 0.2}
    assert data["y"] == pytest.approx([-0.4])
    assert data["dy"] == pytest.approx([0.2])


def test_show_without_inputs_uses_default_range(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "show", "sigmoid", "--format", "json")
    assert outcome.code == 0
    data = outcome.json
    assert data["x"] == [-3, -2, -1, 0, 1, 2, 3]
    assert data["y"][3] == pytest.approx(0.5)
    assert data["dy"][3] == pytest.approx(0.25)


def test_show_accepts_alias(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "show", "logistic", "--x", "0", "--format", "json")
    assert outcome.code == 0
    assert outcome.json["activation"] == "sigmoid"


def test_show_non_number_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "show", "sigmoid", "--x", "1", "abc")
    assert outcome.code == 2
    line = assert_one_error_line(outcome)
    assert "'abc'" in line
    assert "not a number" in line


def test_show_unknown_activation_suggests_name(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "show", "tahn", "--x", "1")
    assert outcome.code == 2
    assert "did you mean 'tanh'" in assert_one_error_line(outcome)


# --- compare: JSON contract -----------------------------------------------------------------------


def test_compare_json_exits_0(saved_compare: SavedCompare) -> None:
    assert saved_compare.outcome.code == 0


def test_compare_json_top_level_keys(compare_json: dict[str, Any]) -> None:
    assert TOP_LEVEL_KEYS <= set(compare_json)
    assert compare_json["actbench_version"] == __version__
    assert isinstance(compare_json["seconds"], float)
    assert compare_json["device"].startswith(("cpu", "cuda"))


def test_compare_json_config_is_resolved(compare_json: dict[str, Any]) -> None:
    config = compare_json["config"]
    assert config["data"]["n_samples"] == 120
    assert config["train"]["epochs"] == 2
    assert config["train"]["seeds"] == 2
    assert [a["name"] for a in config["activations"]] == ["relu", "tanh"]


def test_compare_json_one_run_per_activation_and_seed(compare_json: dict[str, Any]) -> None:
    pairs = [(r["label"], r["seed"]) for r in compare_json["runs"]]
    assert sorted(pairs) == [("relu", 0), ("relu", 1), ("tanh", 0), ("tanh", 1)]


def test_compare_json_run_fields(compare_json: dict[str, Any]) -> None:
    for run in compare_json["runs"]:
        assert RUN_KEYS <= set(run)
        assert run["status"] == "ok"
        assert run["epochs"] == 2
        assert run["params"] == {}
        assert run["hidden_units"] == 50
        assert run["dead_neurons"] == sum(run["dead_per_layer"])
        assert len(run["dead_per_layer"]) == 1
        for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
            assert isinstance(run[key], float)
        assert 0.0 <= run["test_accuracy"] <= 1.0


def test_compare_json_history_has_one_entry_per_epoch(compare_json: dict[str, Any]) -> None:
    for run in compare_json["runs"]:
        assert {"train_loss", "test_accuracy"} <= set(run["history"])
        assert len(run["history"]["train_loss"]) == 2
        assert len(run["history"]["test_accuracy"]) == 2
        assert run["history"]["test_accuracy"][-1] == pytest.approx(run["test_accuracy"])


def test_compare_json_summary_rows(compare_json: dict[str, Any]) -> None:
    summary = compare_json["summary"]
    assert [row["label"] for row in summary] == ["relu", "tanh"]
    for row in summary:
        assert SUMMARY_KEYS <= set(row)
        assert row["n_seeds"] == 2
        accuracies = [
            r["test_accuracy"] for r in compare_json["runs"] if r["label"] == row["label"]
        ]
        assert row["test_accuracy_mean"] == pytest.approx(sum(accuracies) / len(accuracies))


def test_compare_json_stdout_is_clean(saved_compare: SavedCompare) -> None:
    outcome = saved_compare.outcome
    assert not ANSI.search(outcome.out)
    assert not ANSI.search(outcome.err)
    assert outcome.out.lstrip().startswith("{")
    assert "epochs" not in outcome.err
    assert "saved" in outcome.err


@pytest.mark.parametrize(("fmt", "header_lines"), [("csv", 1), ("md", 2)])
def test_compare_tabular_formats_one_line_per_activation(
    capsys: pytest.CaptureFixture[str], fmt: str, header_lines: int
) -> None:
    outcome = run_cli(capsys, "compare", *TINY_COMPARE, "--format", fmt, "--no-save")
    assert outcome.code == 0
    lines = md_table_lines(outcome.out) if fmt == "md" else outcome.out.strip().splitlines()
    assert len(lines) == header_lines + 2
    assert lines[0].lstrip("| ").startswith(("label", "activation"))
    assert [line.lstrip("| ").split(",")[0].split(" ")[0] for line in lines[-2:]] == [
        "relu",
        "tanh",
    ]
    assert not ANSI.search(outcome.out)


def test_compare_sort_test_acc_orders_best_first(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(
        capsys,
        "compare",
        *TINY_COMPARE,
        "--set",
        "activations=[relu,tanh,identity]",
        "--format",
        "md",
        "--sort",
        "test_acc",
        "--no-save",
    )
    assert outcome.code == 0
    rows = md_rows(outcome.out)
    accuracies = [float(row[3].split("±")[0]) for row in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    assert sorted(row[0] for row in rows) == ["identity", "relu", "tanh"]


def test_compare_print_config_reflects_flags(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    outcome = run_cli(
        capsys,
        "compare",
        "--print-config",
        "--set",
        "model.hidden=[3,3]",
        "--set",
        "activations=[relu,{name: leaky_relu, params: {negative_slope: 0.2}}]",
        "--seeds",
        "3",
        "--epochs",
        "4",
        "--lr",
        "0.5",
        "--out",
        str(out),
    )
    assert outcome.code == 0
    config = yaml.safe_load(outcome.out)
    assert config["model"]["hidden"] == [3, 3]
    assert config["train"]["seeds"] == 3
    assert config["train"]["epochs"] == 4
    assert config["train"]["lr"] == 0.5
    assert [a["label"] for a in config["activations"]] == ["relu", "leaky_relu(negative_slope=0.2)"]
    assert not out.exists()


def test_compare_flag_overrides_set(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(
        capsys, "compare", "--print-config", "--set", "train.epochs=9", "--epochs", "4"
    )
    assert yaml.safe_load(outcome.out)["train"]["epochs"] == 4


def test_print_config_output_is_a_valid_config(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first = run_cli(capsys, "compare", "--print-config", *TINY_COMPARE)
    path = tmp_path / "resolved.yaml"
    path.write_text(first.out)
    second = run_cli(capsys, "compare", str(path), "--print-config")
    assert second.code == 0
    assert yaml.safe_load(second.out) == yaml.safe_load(first.out)


# --- train ----------------------------------------------------------------------------------------


def test_train_runs_one_activation_over_seeds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    outcome = run_cli(
        capsys, "train", "--act", "relu", *TINY, "--seeds", "2", "--format", "json", "--no-save"
    )
    assert outcome.code == 0
    data = outcome.json
    assert [(r["activation"], r["seed"]) for r in data["runs"]] == [("relu", 0), ("relu", 1)]
    assert [row["label"] for row in data["summary"]] == ["relu"]


@pytest.mark.exact
def test_train_matches_the_same_member_of_compare(
    capsys: pytest.CaptureFixture[str], compare_json: dict[str, Any]
) -> None:
    argv = ["train", "--act", "relu", *TINY, *CPU_FLAGS, "--seeds", "1", "--format", "json"]
    outcome = run_cli(capsys, *argv, "--no-save")
    assert outcome.code == 0
    (alone,) = outcome.json["runs"]
    (member,) = [r for r in compare_json["runs"] if r["label"] == "relu" and r["seed"] == 0]
    for key in ("train_loss", "test_loss", "test_accuracy", "train_accuracy", "history"):
        assert alone[key] == member[key], key


def test_train_without_act_and_several_activations_is_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    outcome = run_cli(capsys, "train", *TINY, "--seeds", "1", "--out", str(out))
    assert outcome.code == 2
    assert "--act" in assert_one_error_line(outcome)
    assert not out.exists()


def test_train_param_without_act_is_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    outcome = run_cli(
        capsys,
        "train",
        "--param",
        "negative_slope=0.2",
        "--set",
        "activations=[leaky_relu]",
        "--out",
        str(out),
    )
    assert outcome.code == 2
    assert "--act" in assert_one_error_line(outcome)
    assert not out.exists()


def test_train_param_sets_activation_label(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(
        capsys, "train", "--act", "leaky_relu", "--param", "negative_slope=0.2", "--print-config"
    )
    assert outcome.code == 0
    (entry,) = yaml.safe_load(outcome.out)["activations"]
    assert entry["params"] == {"negative_slope": 0.2}


# --- error paths ----------------------------------------------------------------------------------


ERROR_CASES = [
    pytest.param(
        ["compare", *TINY_COMPARE, "--set", "activations=[rleu]"],
        {},
        "did you mean 'relu'",
        id="unknown-activation",
    ),
    pytest.param(
        ["compare", "{tmp}/bad.yaml", *TINY_COMPARE],
        {"bad.yaml": "train:\n  epochs: [1\n"},
        "invalid YAML",
        id="malformed-yaml",
    ),
    pytest.param(
        ["compare", "{tmp}/typo.yaml", *TINY_COMPARE],
        {"typo.yaml": "train:\n  epoch: 3\n"},
        "unknown config key 'train.epoch'",
        id="unknown-key-in-file",
    ),
    pytest.param(
        ["compare", *TINY_COMPARE, "--set", "train.epoch=3"],
        {},
        "did you mean 'train.epochs'",
        id="unknown-key-in-set",
    ),
    pytest.param(
        ["compare", *TINY_COMPARE, "--set", "train.batch_size=abc"],
        {},
        "train.batch_size",
        id="wrong-type-in-set",
    ),
    pytest.param(
        ["compare", "{tmp}/type.yaml", *TINY_COMPARE],
        {"type.yaml": "train:\n  lr: fast\n"},
        "train.lr",
        id="wrong-type-in-file",
    ),
    pytest.param(
        ["compare", *TINY_COMPARE, "--epochs", "0"],
        {},
        "train.epochs",
        id="impossible-value",
    ),
    pytest.param(
        ["compare", "{tmp}/missing.yaml", *TINY_COMPARE],
        {},
        "not found",
        id="missing-config-file",
    ),
    pytest.param(
        ["compare", "{tmp}", *TINY_COMPARE],
        {},
        "directory",
        id="config-is-a-directory",
    ),
    pytest.param(
        ["compare", *TINY_COMPARE, "--set", "train.lr"],
        {},
        "KEY=VALUE",
        id="set-without-equals",
    ),
    pytest.param(
        ["compare", *TINY_COMPARE, "--device", "cuda:7"],
        {},
        "cuda:7",
        id="device-cuda-7",
    ),
    pytest.param(
        ["compare", *TINY_COMPARE, "--device", "gpu"],
        {},
        "unknown device 'gpu'",
        id="device-unknown",
    ),
    pytest.param(
        ["train", "--act", "relu", "--param", "negative_slope=0.2", *TINY],
        {},
        "negative_slope",
        id="param-not-taken",
    ),
]

OUT = ["--out", "{tmp}/runs"]
USAGE_CASES = [
    pytest.param(["compare", *TINY_COMPARE, *OUT, "--format", "xml"], id="bad-format"),
    pytest.param(["compare", *TINY_COMPARE, *OUT, "--bogus"], id="unknown-option"),
    pytest.param(["compare", *TINY_COMPARE, *OUT, "--epochs", "abc"], id="non-integer-option"),
    pytest.param(["compare", *TINY_COMPARE, *OUT, "--sort", "speed"], id="bad-sort"),
    pytest.param(["frobnicate"], id="unknown-command"),
    pytest.param(["show"], id="missing-argument"),
]


def _argv(template: Sequence[str], tmp_path: Path) -> list[str]:
    return [arg.replace("{tmp}", str(tmp_path)) for arg in template]


@pytest.mark.parametrize(("argv", "files", "fragment"), ERROR_CASES)
def test_error_is_one_line_exit_2_and_no_run_folder(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    argv: list[str],
    files: dict[str, str],
    fragment: str,
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "runs"
    outcome = run_cli(capsys, *_argv(argv, tmp_path), "--out", str(out))
    assert outcome.code == 2
    line = assert_one_error_line(outcome)
    assert fragment in line
    assert outcome.out == ""
    assert not out.exists()


def test_device_cuda_without_cuda_is_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; 'cuda' is a valid device here")
    out = tmp_path / "runs"
    outcome = run_cli(capsys, "compare", *TINY_COMPARE, "--device", "cuda", "--out", str(out))
    assert outcome.code == 2
    assert "CUDA is not available" in assert_one_error_line(outcome)
    assert not out.exists()


@pytest.mark.parametrize("argv", USAGE_CASES)
def test_usage_error_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    outcome = run_cli(capsys, *_argv(argv, tmp_path))
    assert outcome.code == 2
    assert_one_error_line(outcome)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("position", ["first", "last"])
def test_debug_shows_traceback_and_still_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, position: str
) -> None:
    argv = ["compare", "--set", "train.epoch=3", "--out", str(tmp_path / "runs")]
    argv = ["--debug", *argv] if position == "first" else [*argv, "--debug"]
    outcome = run_cli(capsys, *argv)
    assert outcome.code == 2
    assert "Traceback" in outcome.err
    assert "error: unknown config key 'train.epoch'" in outcome.err


def test_console_script_config_error_has_no_traceback(tmp_path: Path) -> None:
    done = run_module("compare", "--set", "activations=[rleu]", "--out", "runs", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: unknown activation 'rleu'")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()


def test_console_script_usage_error_has_no_traceback(tmp_path: Path) -> None:
    done = run_module("compare", "--bogus", "--out", "runs", cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert done.returncode == 2
    assert done.stderr.startswith("error:")


# --- divergence -----------------------------------------------------------------------------------


def test_diverged_run_exits_1(diverged: Outcome) -> None:
    assert diverged.code == 1


def test_diverged_run_is_reported_in_json(diverged: Outcome) -> None:
    (run,) = diverged.json["runs"]
    assert run["status"] == "diverged"
    assert run["epochs"] < 3
    assert diverged.json["summary"][0]["n_diverged"] == 1


def test_diverged_run_names_member_on_stderr(diverged: Outcome) -> None:
    assert "error:" in diverged.err
    assert "relu seed 0" in diverged.err
    assert "Traceback" not in diverged.err


def test_diverged_error_is_one_line(diverged: Outcome) -> None:
    lines = diverged.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error:")


def test_allow_diverged_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_cli(capsys, "compare", *DIVERGING, "--allow-diverged")
    assert outcome.code == 0
    assert outcome.json["runs"][0]["status"] == "diverged"


# --- run folders ----------------------------------------------------------------------------------


def test_compare_writes_one_complete_run_folder(saved_compare: SavedCompare) -> None:
    assert [p.name for p in saved_compare.root.iterdir()] == [saved_compare.run_dir.name]
    assert sorted(p.name for p in saved_compare.run_dir.iterdir()) == RUN_FILES


def test_saved_results_match_stdout(saved_compare: SavedCompare) -> None:
    saved = json.loads((saved_compare.run_dir / "results.json").read_text())
    assert saved == saved_compare.outcome.json
    assert saved["run_id"] == saved_compare.run_dir.name


def test_saved_config_yaml_is_the_resolved_config(saved_compare: SavedCompare) -> None:
    config = yaml.safe_load((saved_compare.run_dir / "config.yaml").read_text())
    assert config == saved_compare.outcome.json["config"]


def test_saved_history_csv_has_row_per_member_and_epoch(saved_compare: SavedCompare) -> None:
    lines = (saved_compare.run_dir / "history.csv").read_text().splitlines()
    assert lines[0].startswith("label,activation,seed,epoch,train_loss,test_accuracy,dead_l1,")
    assert len(lines) == 1 + 4 * 2


def test_saved_env_json_names_versions(saved_compare: SavedCompare) -> None:
    env = json.loads((saved_compare.run_dir / "env.json").read_text())
    assert env["actbench"] == __version__
    assert {"python", "torch", "device"} <= set(env)


def test_no_save_writes_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "runs"
    outcome = run_cli(
        capsys, "compare", *TINY, "--seeds", "1", "--format", "json", "--no-save", "--out", str(out)
    )
    assert outcome.code == 0
    assert not out.exists()
    assert "saved" not in outcome.err


def test_save_models_writes_loadable_state_dicts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import torch

    from actbench.model import init_model

    out = tmp_path / "runs"
    outcome = run_cli(
        capsys,
        "compare",
        *TINY_COMPARE,
        "--save-models",
        "--format",
        "json",
        "--quiet",
        "--out",
        str(out),
    )
    assert outcome.code == 0
    (run_dir,) = out.iterdir()
    models = sorted(p.name for p in (run_dir / "models").glob("*.pt"))
    assert models == ["relu-seed0.pt", "relu-seed1.pt", "tanh-seed0.pt", "tanh-seed1.pt"]
    for name in models:
        model = init_model(0, 20, (50,), 2, name.split("-")[0])
        state = torch.load(run_dir / "models" / name, weights_only=True)
        model.load_state_dict(state)
    initial = init_model(0, 20, (50,), 2, "relu").state_dict()
    trained = torch.load(run_dir / "models" / "relu-seed0.pt", weights_only=True)
    assert any(not torch.equal(initial[k], trained[k]) for k in initial)


def test_saving_same_run_id_again_gets_a_new_folder(
    saved_compare: SavedCompare, runs_root: Path
) -> None:
    from actbench.config import validate
    from actbench.experiment import Experiment
    from actbench.pipeline import prepare_run_dir, save_experiment
    from actbench.runs import load_result

    result = load_result(saved_compare.run_dir)
    config = validate(yaml.safe_load((saved_compare.run_dir / "config.yaml").read_text()))
    run_dir = prepare_run_dir(runs_root, result.run_id, config)
    second = save_experiment(Experiment(config, "defaults", result), run_dir)
    assert second.name == f"{saved_compare.run_dir.name}-2"
    assert json.loads((second / "results.json").read_text())["run_id"] == second.name
    original = saved_compare.run_dir.name
    assert (runs_root / original / "results.json").read_text() == (
        saved_compare.run_dir / "results.json"
    ).read_text()


# --- runs -----------------------------------------------------------------------------------------


def test_runs_table_lists_saved_run(capsys: pytest.CaptureFixture[str], runs_root: Path) -> None:
    outcome = run_cli(capsys, "runs", "--out", str(runs_root))
    assert outcome.code == 0
    (run_dir,) = runs_root.iterdir()
    assert run_dir.name in outcome.out


def test_runs_json_lists_saved_run(capsys: pytest.CaptureFixture[str], runs_root: Path) -> None:
    outcome = run_cli(capsys, "runs", "--out", str(runs_root), "--format", "json")
    assert outcome.code == 0
    (run_dir,) = runs_root.iterdir()
    (record,) = outcome.json
    assert record["run_id"] == run_dir.name
    assert record["models"] == 4
    assert record["activations"] == 2
    assert record["status"] == "ok"


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_runs_reports_broken_folder_and_lists_good_one(
    capsys: pytest.CaptureFixture[str], runs_root: Path, fmt: str
) -> None:
    (good,) = runs_root.iterdir()
    broken = runs_root / "20991231-235959-broken-0000000"
    broken.mkdir()
    (broken / "results.json").write_text("{corrupt")
    outcome = run_cli(capsys, "runs", "--out", str(runs_root), "--format", fmt)
    assert outcome.code == 0
    assert good.name in outcome.out
    assert broken.name not in outcome.out
    assert broken.name in outcome.err.replace("\n", "")
    assert "Traceback" not in outcome.err


def test_runs_reports_each_broken_folder_on_one_line(
    capsys: pytest.CaptureFixture[str], runs_root: Path
) -> None:
    broken = runs_root / "20991231-235959-broken-0000000"
    broken.mkdir()
    (broken / "results.json").write_text("{corrupt")
    outcome = run_cli(capsys, "runs", "--out", str(runs_root), "--format", "json")
    lines = outcome.err.splitlines()
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("skipped ")
    assert str(broken) in lines[0]


def test_runs_empty_folder_exits_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    outcome = run_cli(capsys, "runs", "--out", str(tmp_path / "nothing"))
    assert outcome.code == 0
    assert "no runs" in outcome.err


# --- report ---------------------------------------------------------------------------------------


def test_report_json_reproduces_results_json(
    capsys: pytest.CaptureFixture[str], saved_compare: SavedCompare
) -> None:
    run_id = saved_compare.run_dir.name
    outcome = run_cli(
        capsys, "report", run_id, "--out", str(saved_compare.root), "--format", "json"
    )
    assert outcome.code == 0
    assert outcome.out == (saved_compare.run_dir / "results.json").read_text()


def test_report_accepts_unique_prefix(
    capsys: pytest.CaptureFixture[str], saved_compare: SavedCompare
) -> None:
    prefix = saved_compare.run_dir.name[:12]
    outcome = run_cli(
        capsys, "report", prefix, "--out", str(saved_compare.root), "--format", "json"
    )
    assert outcome.code == 0
    assert outcome.json["run_id"] == saved_compare.run_dir.name


def test_report_accepts_folder_path(
    capsys: pytest.CaptureFixture[str], saved_compare: SavedCompare, tmp_path: Path
) -> None:
    outcome = run_cli(
        capsys, "report", str(saved_compare.run_dir), "--out", str(tmp_path), "--format", "json"
    )
    assert outcome.code == 0
    assert outcome.json["run_id"] == saved_compare.run_dir.name


def test_report_table_shows_every_label(
    capsys: pytest.CaptureFixture[str], saved_compare: SavedCompare
) -> None:
    outcome = run_cli(
        capsys, "report", saved_compare.run_dir.name, "--out", str(saved_compare.root)
    )
    assert outcome.code == 0
    assert re.search(r"^\s*relu\s", outcome.out, re.MULTILINE)
    assert re.search(r"^\s*tanh\s", outcome.out, re.MULTILINE)


def test_report_unknown_run_is_usage_error(
    capsys: pytest.CaptureFixture[str], saved_compare: SavedCompare
) -> None:
    outcome = run_cli(capsys, "report", "no-such-run", "--out", str(saved_compare.root))
    assert outcome.code == 2
    assert "no-such-run" in assert_one_error_line(outcome)


def test_report_corrupt_results_is_usage_error(
    capsys: pytest.CaptureFixture[str], runs_root: Path
) -> None:
    broken = runs_root / "broken-run"
    broken.mkdir()
    (broken / "results.json").write_text('{"run_id": 3')
    outcome = run_cli(capsys, "report", "broken-run", "--out", str(runs_root))
    assert outcome.code == 2
    assert "corrupt" in assert_one_error_line(outcome)


def test_report_ambiguous_prefix_is_usage_error(
    capsys: pytest.CaptureFixture[str], runs_root: Path
) -> None:
    (good,) = runs_root.iterdir()
    shutil.copytree(good, runs_root / f"{good.name}-2")
    outcome = run_cli(capsys, "report", good.name[:8], "--out", str(runs_root))
    assert outcome.code == 2
    assert "be more specific" in assert_one_error_line(outcome)
