"""Activations beyond the built-ins: torch.nn classes by name, functions named by file or module,
functions registered in Python; what they train, measure and show, the one-line errors of a
broken one, and that a saved run never runs code unasked."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from clirun import run_cli

import actbench
from actbench import activations
from actbench.errors import ActivationError, RunFolderError
from actbench.render import columns as cols

ROOT = Path(__file__).resolve().parents[1]
SQUAREPLUS = '''
import torch


def squareplus(x, b=4.0):
    """f(x) = (x + sqrt(x^2 + b)) / 2"""
    return (x + torch.sqrt(x * x + b)) / 2


def wrong_shape(x):
    return x.sum(-1)


def nan_at_init(x):
    return torch.log(x)


def raises(x):
    raise ZeroDivisionError("no luck")


def across_units(x):
    return x.softmax(-1)


def in_place(x):
    return x.clamp_(min=0)


def leaves_torch(x):
    return torch.tensor(x.detach().numpy() * 2)


def float32_only(x):
    return torch.tanh(x).float()


class ScaledTanh(torch.nn.Module):
    """a * tanh(x), a learned"""

    def __init__(self, scale: float = 2.0):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([scale]))

    def forward(self, x):
        return torch.tanh(x) * self.scale
'''
# two hidden layers: the gradient ratio of the first to the last needs two
SMALL = ["--set", "data.n_samples=300", "--set", "model.hidden=[16,16]", "--epochs", "3"]
SMALL += ["--seeds", "2"]
SMALL_API = {
    "data": {"n_samples": 300},
    "model": {"hidden": [16, 16]},
    "train": {"epochs": 3, "seeds": 2},
}


def squareplus_torch(x: torch.Tensor) -> torch.Tensor:
    return (x + torch.sqrt(x * x + 4)) / 2


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with acts.py, as the current folder."""
    (tmp_path / "acts.py").write_text(SQUAREPLUS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def registered() -> Iterator[str]:
    name = actbench.register_activation(
        "my_squareplus", squareplus_torch, formula="(x + √(x²+4))/2"
    )
    yield name
    activations.unregister(name)


FOUR = ["relu", "torch.nn.Hardswish", "acts.py:squareplus", "my_squareplus"]
LABELS = ["relu", "torch.nn.Hardswish", "squareplus", "my_squareplus"]


def _every_column() -> str:
    return ",".join(cols.KEYS)


# --- side by side with relu, from the CLI and the API ---------------------------------------------


def test_four_kinds_side_by_side_from_the_cli_have_every_column(
    here: Path, registered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    acts = "activations=[" + ",".join(FOUR) + "]"
    outcome = run_cli(
        capsys, "compare", "--set", acts, *SMALL, "--no-save", "--format", "md",
        "--columns", _every_column(),
    )  # fmt: skip
    assert outcome.code == 0, outcome.err
    rows = [line for line in outcome.out.splitlines() if line.startswith("| ")][2:]
    cells = {row.split("|")[1].strip(): row.split("|")[2:-1] for row in rows}
    assert list(cells) == LABELS
    for label, values in cells.items():
        assert len(values) == len(cols.KEYS) - 1
        assert all(value.strip() not in ("", "-", "–") for value in values), (label, values)
    document = run_cli(capsys, "compare", "--set", acts, *SMALL, "--no-save", "--format", "json")
    for row in document.json["summary"]:
        for key in ("test_accuracy_mean", "dead_neurons_mean", "dormant_neurons_mean",
                    "saturated_mean", "grad_ratio_mean", "std_init_last_mean"):  # fmt: skip
            assert row[key] is not None and math.isfinite(row[key]), (row["label"], key)


def test_four_kinds_side_by_side_from_the_api(here: Path, registered: str) -> None:
    result = actbench.compare({**SMALL_API, "activations": FOUR})
    assert [row.label for row in result.summary] == LABELS
    for row in result.summary:
        for cell in (c.text(row) for c in cols.COLUMNS):
            assert cell not in ("", "-"), row.label
    # a registered function and the same function from a file: the same numbers
    by_label = {row.label: row for row in result.summary}
    assert by_label["squareplus"].test_accuracy_mean == by_label["my_squareplus"].test_accuracy_mean
    for run in result.runs:
        assert len(run.saturated_per_layer) == 2 and run.history.saturated_per_layer


def test_a_torch_class_with_a_builtin_twin_trains_as_the_builtin() -> None:
    result = actbench.compare({**SMALL_API, "activations": ["mish", "torch.nn.Mish"]})
    mish, twin = result.runs[0], result.runs[2]
    assert (mish.activation, twin.activation) == ("mish", "torch.nn.Mish")
    assert twin.train_loss == mish.train_loss and twin.history == mish.history
    assert activations.get("torch.nn.Mish").kernels is not None  # the autograd-free step


def test_a_member_with_a_user_activation_equals_the_same_model_trained_alone(here: Path) -> None:
    from actbench.data import make_dataset
    from actbench.reference import train_single

    result = actbench.compare({**SMALL_API, "activations": ["relu", "acts.py:squareplus"]})
    cfg = result.config
    alone = train_single(
        make_dataset(cfg.data), cfg.model.hidden, cfg.model.head, cfg.train,
        "acts.py:squareplus", {"b": 4.0}, seed=1,
    )  # fmt: skip
    member = result.model("squareplus", 1).network
    for mine, theirs in zip(member.parameters(), alone.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_a_module_class_learns_its_parameter(here: Path) -> None:
    result = actbench.train("acts.py:ScaledTanh", SMALL_API)
    assert [run.label for run in result.runs] == ["ScaledTanh", "ScaledTanh"]
    member = result.model("ScaledTanh", 0)
    scales = [float(p.detach()) for name, p in member.named_parameters() if name.endswith(".scale")]
    assert len(scales) == 2 and all(scale != 2.0 for scale in scales)  # one per hidden layer


def test_a_function_in_a_module_by_module_path(here: Path) -> None:
    result = actbench.train("acts:squareplus", SMALL_API, params={"b": 1.0})
    assert result.runs[0].label == "squareplus(b=1.0)"
    assert result.runs[0].params == {"b": 1.0}


# --- torch.nn by class name ----------------------------------------------------------------------


def test_torch_classes_take_keyword_params_validated_against_the_signature() -> None:
    result = actbench.compare(
        {**SMALL_API, "activations": [{"name": "torch.nn.CELU", "params": {"alpha": 0.5}}]}
    )
    assert result.summary[0].label == "torch.nn.CELU(alpha=0.5)"
    with pytest.raises(ActivationError, match="unknown parameter 'alpah' for activation "
                       "'torch.nn.CELU'; did you mean 'alpha'"):  # fmt: skip
        actbench.compare({"activations": [{"name": "torch.nn.CELU", "params": {"alpah": 1}}]})
    with pytest.raises(ActivationError, match="parameter 'alpha' must be a number"):
        activations.get("torch.nn.CELU").resolve_params({"alpha": "big"})
    with pytest.raises(ActivationError, match="takes no parameters"):
        activations.get("nn.hardswish").resolve_params({"inplace": True})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("torch.nn.Hardswsh", "unknown torch.nn activation 'torch.nn.Hardswsh'; did you mean "
         "'torch.nn.Hardswish'?"),
        ("torch.nn.Softmax", "torch.nn.Softmax cannot be a hidden activation here: it couples"),
        ("torch.nn.GLU", "it halves the width"),
        ("torch.nn.MultiheadAttention", "not an activation"),
    ],
)  # fmt: skip
def test_torch_names_that_are_not_activations_say_why(name: str, message: str) -> None:
    with pytest.raises(ActivationError, match=message.replace("?", r"\?")):
        activations.get(name)


def test_every_listed_torch_class_builds_and_a_required_param_must_be_given() -> None:
    for name in activations.torch_names():
        spec = activations.get(name)
        assert spec.source == "torch" and spec.name == name
        if any(param.required for param in spec.params.values()):
            with pytest.raises(ActivationError, match="needs parameter 'threshold'"):
                spec.resolve_params({})
            continue
        out = spec.build().eval()(torch.linspace(-3, 3, 7))
        assert out.shape == (7,)
    threshold = activations.get("torch.nn.Threshold")
    assert threshold.default_label({"threshold": 0.1, "value": 0.0}) == (
        "torch.nn.Threshold(threshold=0.1, value=0.0)"
    )


def test_torch_names_are_found_in_any_case_and_made_once() -> None:
    assert activations.get("nn.hardswish") is activations.get("torch.nn.Hardswish")
    assert activations.get("torch.nn.Hardswish").init_gain() == pytest.approx(math.sqrt(2))
    assert activations.get("torch.nn.Hardshrink").init_gain() == 1.0  # not known: 1


# --- a broken function: one line that names it ----------------------------------------------------


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("wrong_shape", "it returned shape [2, 8] for an input of shape [2, 8, 15]"),
        ("nan_at_init", "it returns nan at x = -10; it must be finite on [-10, 10]"),
        ("raises", "it raised ZeroDivisionError: no luck"),
        ("across_units", "it is not elementwise"),
        ("in_place", "it changes its input in place"),
        ("leaves_torch", "autograd cannot differentiate it"),
        ("float32_only", "it returns torch.float32 for a float64 input"),
        ("nowhere", "unknown function 'nowhere' in the file acts.py"),
    ],
)
def test_a_broken_function_is_one_line_that_names_it(
    here: Path, function: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_cli(capsys, "train", "--act", f"acts.py:{function}", *SMALL, "--out", "out")
    assert outcome.code == 2
    (line,) = outcome.err.strip().splitlines()
    assert line.startswith(f"error: activation 'acts.py:{function}'") or "nowhere" in line
    assert message in line
    assert not (here / "out").exists()  # nothing left behind


def test_a_function_that_raises_while_training_is_one_line(here: Path) -> None:
    (here / "flaky.py").write_text(
        "import torch\ncalls = []\n\n\ndef flaky(x):\n    calls.append(1)\n"
        "    if len(calls) > 20:\n        raise RuntimeError('out of luck')\n"
        "    return torch.tanh(x)\n"
    )
    with pytest.raises(ActivationError, match=r"^activation 'flaky.py:flaky' raised RuntimeError: "
                       "out of luck$"):  # fmt: skip
        actbench.compare({**SMALL_API, "activations": ["flaky.py:flaky"]})


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.py:f", "no file 'missing.py'"),
        ("no_such_module_here:f", "importing no_such_module_here raised ModuleNotFoundError"),
        ("acts.py:", "a code reference is module:function or file.py:function"),
        ("broken.py:f", "running broken.py raised SyntaxError (line 1)"),
    ],
)
def test_code_that_cannot_load_says_why(here: Path, name: str, message: str) -> None:
    (here / "broken.py").write_text("def f(x) return x\n")
    with pytest.raises(ActivationError, match=re.escape(message)):
        activations.get(name)


# --- registered in Python ------------------------------------------------------------------------


def test_registered_names_are_listed_shown_and_checked(
    registered: str, capsys: pytest.CaptureFixture[str]
) -> None:
    listing = run_cli(capsys, "activations", "--format", "json").json
    assert listing[-1]["name"] == "my_squareplus" and listing[-1]["formula"] == "(x + √(x²+4))/2"
    shown = run_cli(capsys, "show", "my_squareplus", "--x", "0", "--format", "json").json
    assert shown["y"] == [1.0] and shown["dy"] == [0.5]
    assert activations.get("My-Squareplus") is activations.get(registered)


def test_registering_checks_the_name_and_the_function() -> None:
    with pytest.raises(ActivationError, match="'relu' is a built-in activation"):
        actbench.register_activation("relu", torch.relu)
    with pytest.raises(ActivationError, match="'swish' is an alias of 'silu'"):
        actbench.register_activation("swish", torch.relu)
    with pytest.raises(ActivationError, match="must be a letter, then letters"):
        actbench.register_activation("my act", torch.relu)
    with pytest.raises(ActivationError, match="'bad': it returned shape"):
        actbench.register_activation("bad", lambda x: x[0])
    with pytest.raises(ActivationError, match="gain must be a positive number"):
        actbench.register_activation("ok", torch.relu, gain=0)
    assert "bad" not in activations.registered_names()


def test_registering_again_replaces_and_a_gain_reaches_kaiming_init() -> None:
    try:
        actbench.register_activation("twice", torch.tanh)
        actbench.register_activation(
            "twice", torch.relu, gain=math.sqrt(2), saturation="derivative"
        )
        spec = activations.get("twice")
        assert spec.init_gain() == math.sqrt(2)
        assert float(spec.build()(torch.tensor(-1.0))) == 0.0
    finally:
        activations.unregister("twice")


# --- a saved run never runs code unasked ---------------------------------------------------------

MARKED = SQUAREPLUS + "\nopen('imported', 'a').write('x')\n"


def _actbench(here: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actbench", *args], capture_output=True, text=True, cwd=here,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "100"},
    )  # fmt: skip


def _python(here: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=here,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip


@pytest.mark.slow
def test_a_saved_run_runs_its_code_only_when_asked(here: Path) -> None:
    (here / "acts.py").write_text(MARKED)
    trained = _actbench(here, "compare", "--set", "activations=[relu,acts.py:squareplus]", *SMALL,
                        "--save-models")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    (here / "imported").unlink()
    (run_id,) = os.listdir(here / "runs")
    for args in (["rerun", run_id, "--no-save"], ["report", run_id], ["report", run_id, "--html"]):
        refused = _actbench(here, *args)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1
        assert f"run {run_id} trains code: acts.py:squareplus (runs the file acts.py)" in (
            refused.stderr
        )
        assert "--allow-code" in refused.stderr
    for args in (["runs"], ["report", run_id, "--no-plots"]):
        assert _actbench(here, *args).returncode == 0
    loading = _python(here, f"import actbench; actbench.load({run_id!r})")
    assert "pass allow_code=True to actbench.load" in loading.stderr
    assert not (here / "imported").exists()
    assert _actbench(here, "rerun", run_id, "--no-save", "--allow-code").returncode == 0
    assert (here / "imported").exists()
    loaded = _python(here, f"import actbench; print(actbench.load({run_id!r}, allow_code=True)"
                     ".model('squareplus', 0).predict([[0.0] * 20]))")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr


def test_a_saved_run_with_a_registered_name_says_to_register_it_again(here: Path) -> None:
    try:
        actbench.register_activation("gone_soon", squareplus_torch)
        result = actbench.compare(
            {**SMALL_API, "activations": ["gone_soon"]}, save=True, out="runs"
        )
    finally:
        activations.unregister("gone_soon")
    with pytest.raises(RunFolderError, match="uses 'gone_soon', not built in: registered with "
                       "actbench.register_activation where it was trained"):  # fmt: skip
        actbench.load(result.run_id)
    try:
        actbench.register_activation("gone_soon", squareplus_torch)
        assert actbench.load(result.run_id).summary[0].label == "gone_soon"
    finally:
        activations.unregister("gone_soon")


def test_code_this_session_loaded_is_no_surprise(here: Path) -> None:
    result = actbench.compare({**SMALL_API, "activations": ["acts.py:squareplus"]}, save=True)
    assert actbench.load(result.run_id).summary[0].label == "squareplus"
    with activations.refusing_code("ask first"):
        assert activations.get("acts.py:squareplus").short == "squareplus"
        with pytest.raises(ActivationError, match="runs the file other.py; .*: ask first"):
            activations.get("other.py:f")
