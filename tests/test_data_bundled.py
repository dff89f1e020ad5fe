"""scikit-learn's bundled data sets as data kinds, and the default network on them against
scikit-learn's own MLPClassifier with the same settings on the same split."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from clirun import run_cli

import actbench
from actbench.config import BUNDLED_KINDS, BUNDLED_SHAPES, load_config
from actbench.data import describe, make_dataset

ROOT = Path(__file__).resolve().parents[1]
# A few points: the two differ in init (PyTorch's vs Glorot's) and in the binary head (two
# softmax logits vs one logistic unit); iris and wine test on 30 and 36 rows (~3 points each).
TOLERANCE = 0.04
SEEDS = 3  # docs/data.md has the table over 5 (python benchmarks/sklearn_mlp.py)


@pytest.mark.parametrize("kind", BUNDLED_KINDS)
def test_bundled_kinds_have_their_known_shape(kind: str) -> None:
    cfg = load_config(None, [f"data.kind={kind}"]).data
    rows, features, classes = BUNDLED_SHAPES[kind]
    data = make_dataset(cfg)
    assert data.n_features == features and data.n_classes == classes
    assert len(data.y_train) + len(data.y_test) == rows
    assert data.classes == tuple(range(classes))
    shape = describe(cfg)
    assert (shape.n_samples, shape.n_features, shape.n_classes) == (rows, features, classes)
    assert data.fingerprint is not None and data.fingerprint.source.startswith("sklearn load_")


def test_bundled_kinds_take_only_the_split_keys() -> None:
    assert load_config(None, ["data.kind=wine"]).to_dict()["data"] == {
        "kind": "wine",
        "test_size": 0.2,
        "random_state": 42,
    }


@pytest.mark.parametrize("kind", BUNDLED_KINDS)
def test_each_bundled_kind_trains_from_the_cli_and_the_api(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--set", f"data.kind={kind}", "--epochs", "2", "--seeds", "1"]
    cli = run_cli(
        capsys, "compare", *args, "--set", "activations=[relu,tanh]", "--format", "json",
        "--no-save",
    )  # fmt: skip
    assert cli.code == 0, cli.err
    api = actbench.compare(
        overrides={"data.kind": kind, "activations": ["relu", "tanh"]}, epochs=2, seeds=1
    )
    assert [r["test_accuracy"] for r in cli.json["runs"]] == [r.test_accuracy for r in api.runs]
    assert cli.json["data"][0]["kind"] == kind
    trained = actbench.train("relu", overrides={"data.kind": kind}, epochs=2, seeds=1)
    assert trained.runs[0].test_accuracy == api.runs[0].test_accuracy


def test_real_yaml_compares_digits_and_breast_cancer() -> None:
    config = load_config(ROOT / "configs" / "real.yaml")
    assert config.sweep == {"data.kind": ["digits", "breast_cancer"]}
    assert {"identity", "sigmoid", "tanh", "relu"} <= {a.name for a in config.activations}


def peer() -> ModuleType:
    """benchmarks/sklearn_mlp.py: the MLPClassifier with the default network's settings."""
    spec = importlib.util.spec_from_file_location(
        "sklearn_mlp", ROOT / "benchmarks" / "sklearn_mlp.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize("kind", BUNDLED_KINDS)
def test_the_default_network_is_within_a_few_points_of_sklearns_mlp(kind: str) -> None:
    mlp = peer()
    ours = mlp.actbench_accuracy(kind, SEEDS)
    for activation, name in mlp.ACTIVATIONS.items():
        theirs = mlp.sklearn_accuracy(kind, name, SEEDS)
        assert abs(ours[activation] - theirs) <= TOLERANCE, (kind, activation, ours, theirs)
