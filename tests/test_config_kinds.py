"""data.kind and its keys, model.init: validation, resolved config, sweeps."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actbench.config import (
    COMMON_DATA_KEYS,
    DATA_KINDS,
    KIND_KEYS,
    Config,
    DataConfig,
    grid_points,
    load_config,
    validate,
)
from actbench.errors import ConfigError
from actbench.experiment import run_experiment
from actbench.resources import estimate_memory

CONFIGS = Path(__file__).parents[1] / "configs"


def config_error(overrides: list[str], sweeps: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides, sweeps=sweeps or [])
    return str(info.value)


# --- defaults and the resolved config -----------------------------------------------------------


def test_default_kind_and_init() -> None:
    config = load_config()
    assert config.data.kind == "classification"
    assert config.model.init == "default"


@pytest.mark.parametrize("kind", DATA_KINDS)
def test_resolved_config_lists_exactly_the_kinds_keys(kind: str) -> None:
    config = load_config(None, [f"data.kind={kind}"])
    assert list(config.to_dict()["data"]) == [
        key for key in DataConfig.model_fields if key in {*COMMON_DATA_KEYS, *KIND_KEYS[kind]}
    ]


@pytest.mark.parametrize("kind", DATA_KINDS)
def test_keys_left_out_take_the_kinds_defaults(kind: str) -> None:
    data = load_config(None, [f"data.kind={kind}"]).data
    assert data.kind_params() == KIND_KEYS[kind]


def test_default_data_section_is_the_old_one_plus_kind() -> None:
    assert load_config().to_dict()["data"] == {
        "kind": "classification",
        "n_samples": 1000,
        "n_features": 20,
        "n_informative": 2,
        "n_redundant": 2,
        "n_repeated": 0,
        "n_classes": 2,
        "n_clusters_per_class": 2,
        "class_sep": 1.0,
        "flip_y": 0.01,
        "test_size": 0.2,
        "random_state": 42,
    }


def test_moons_print_config_is_clean() -> None:
    data = load_config(None, ["data.kind=moons", "data.noise=0.2"]).to_dict()["data"]
    assert data == {
        "kind": "moons",
        "n_samples": 1000,
        "noise": 0.2,
        "test_size": 0.2,
        "random_state": 42,
    }


@pytest.mark.parametrize(
    "overrides",
    [
        ["data.kind=circles", "data.factor=0.3", "data.noise=0.05"],
        ["data.kind=spiral", "data.n_classes=3"],
        ["data.kind=blobs", "data.n_classes=4", "data.noise=0.5", "model.init=lecun"],
    ],
)
def test_kind_configs_round_trip(overrides: list[str]) -> None:
    config = load_config(None, overrides)
    assert validate(yaml.safe_load(config.to_yaml())) == config


def test_2d_kinds_have_two_inputs() -> None:
    assert load_config(None, ["data.kind=xor"]).data.n_inputs == 2
    assert load_config().data.n_inputs == 20


def test_memory_estimate_of_2d_data_counts_two_features() -> None:
    flat = estimate_memory(load_config(), 10)
    plane = estimate_memory(load_config(None, ["data.kind=moons"]), 10)
    assert plane["data"] == flat["data"] // 10
    assert plane["parameters"] < flat["parameters"]


# --- keys that do not apply ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (["data.kind=moons", "data.n_features=5"], ["n_features", "kind moons", "takes noise"]),
        (["data.kind=moons", "data.factor=0.3"], ["factor", "kind moons"]),
        (["data.kind=xor", "data.class_sep=2"], ["class_sep", "kind xor"]),
        (["data.kind=circles", "data.n_classes=3"], ["n_classes", "kind circles", "2 classes"]),
        (["data.noise=0.2"], ["noise", "kind classification", "n_features"]),
        (["data.kind=spiral", "data.factor=0.4"], ["factor", "kind spiral", "n_classes"]),
    ],
    ids=[
        "moons-n_features",
        "moons-factor",
        "xor-class_sep",
        "circles-3-classes",
        "classification-noise",
        "spiral-factor",
    ],
)
def test_key_the_kind_does_not_take_is_an_error(overrides: list[str], fragments: list[str]) -> None:
    message = config_error(overrides)
    assert all(fragment in message for fragment in fragments), message


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (["data.kind=moons", "data.noise=-0.1"], ["data.noise", "greater than or equal to 0"]),
        (["data.kind=circles", "data.factor=1"], ["data.factor", "less than 1"]),
        (["data.kind=spiral", "data.n_classes=1"], ["data.n_classes", "2"]),
        (["data.kind=swirl"], ["data.kind", "moons", "spiral"]),
        (["model.init=he"], ["model.init", "kaiming", "lecun"]),
    ],
)
def test_bad_kind_values_are_errors(overrides: list[str], fragments: list[str]) -> None:
    message = config_error(overrides)
    assert all(fragment in message for fragment in fragments), message


def test_a_full_classification_config_can_switch_kind() -> None:
    # all.yaml writes every classification key out at its default: they say nothing about xor.
    config = load_config(CONFIGS / "all.yaml", ["data.kind=xor"])
    assert config.data.kind == "xor"
    assert config.data.n_features is None


def test_a_changed_classification_key_cannot_switch_kind() -> None:
    message = config_error(["data.n_features=10", "data.kind=moons"])
    assert "n_features does not apply to kind moons" in message


def test_sigmoid_head_on_a_binary_2d_kind() -> None:
    config = load_config(None, ["data.kind=circles", "model.head=sigmoid"])
    assert config.data.n_classes == 2


def test_sigmoid_head_on_a_three_arm_spiral_is_an_error() -> None:
    message = config_error(["data.kind=spiral", "data.n_classes=3", "model.head=sigmoid"])
    assert "head sigmoid" in message


# --- sweeps -------------------------------------------------------------------------------------


def test_sweep_over_kinds_gives_each_point_its_kinds_config() -> None:
    config = load_config(None, [], sweeps=["data.kind=classification,circles,xor,spiral"])
    points = grid_points(config)
    assert [p.values for p in points] == [
        {"data.kind": kind} for kind in ("classification", "circles", "xor", "spiral")
    ]
    assert [p.config.data.kind for p in points] == ["classification", "circles", "xor", "spiral"]
    assert points[1].config.data.kind_params() == {"noise": 0.1, "factor": 0.5}
    assert points[0].config.data.n_features == 20
    assert points[3].config.data.n_features is None


def test_sweep_over_kinds_from_a_2d_base_keeps_its_noise() -> None:
    config = load_config(
        None, ["data.kind=moons", "data.noise=0.25"], sweeps=["data.kind=moons,circles,xor"]
    )
    assert [p.config.data.noise for p in grid_points(config)] == [0.25, 0.25, 0.25]


def test_sweep_point_a_key_does_not_apply_to_is_named() -> None:
    message = config_error(
        ["data.kind=circles", "data.factor=0.3"], sweeps=["data.kind=circles,moons"]
    )
    assert message.startswith("sweep point data.kind=moons:"), message
    assert "factor does not apply to kind moons" in message


def test_swept_config_round_trips() -> None:
    config = load_config(CONFIGS / "all.yaml", [], sweeps=["data.kind=circles,spiral"])
    again = validate(yaml.safe_load(config.to_yaml()))
    assert again == config
    assert [p.config for p in grid_points(again)] == [p.config for p in grid_points(config)]


def test_sweep_over_init_schemes() -> None:
    config = load_config(None, [], sweeps=["model.init=default,kaiming,xavier,lecun"])
    assert [p.config.model.init for p in grid_points(config)] == [
        "default",
        "kaiming",
        "xavier",
        "lecun",
    ]


def _small(overrides: list[str], sweeps: list[str]) -> Config:
    base = ["data.n_samples=200", "train.epochs=2", "train.seeds=2", "activations=[identity,relu]"]
    return load_config(None, [*base, *overrides], sweeps=sweeps)


def test_compare_over_kinds_trains_every_point_on_its_data() -> None:
    experiment = run_experiment(_small([], ["data.kind=classification,moons"]), "kinds")
    runs = experiment.result.runs
    assert {r.grid["data.kind"] for r in runs} == {"classification", "moons"}
    assert len(runs) == 8
    assert all(r.status == "ok" for r in runs)


def test_init_scheme_changes_the_numbers_and_default_keeps_them() -> None:
    def losses(overrides: list[str]) -> list[float | None]:
        experiment = run_experiment(_small(overrides, []), "init")
        return [r.test_loss for r in experiment.result.runs]

    assert losses(["model.init=default"]) == losses([])
    assert losses(["model.init=lecun"]) != losses([])


# --- shipped configs ----------------------------------------------------------------------------


def test_playground_sweeps_the_2d_kinds() -> None:
    config = load_config(CONFIGS / "playground.yaml")
    assert [p.config.data.kind for p in grid_points(config)] == [
        "moons",
        "circles",
        "xor",
        "spiral",
    ]
    assert {"identity", "tanh", "relu"} <= {a.name for a in config.activations}


def test_vanishing_is_a_deep_net_trained_with_sgd() -> None:
    config = load_config(CONFIGS / "vanishing.yaml")
    assert len(config.model.hidden) >= 6
    assert config.train.optimizer == "sgd"
    assert {a.name for a in config.activations} >= {"sigmoid", "relu"}


def test_init_yaml_compares_schemes_at_depth_20() -> None:
    config = load_config(CONFIGS / "init.yaml")
    assert config.model.hidden == (100,) * 20
    assert [p.config.model.init for p in grid_points(config)] == ["default", "lecun", "kaiming"]
    assert [a.name for a in config.activations] == ["selu", "relu", "tanh"]


def test_identity_is_at_chance_on_circles_where_relu_fits() -> None:
    config = load_config(
        None,
        [
            "data.kind=circles",
            "data.n_samples=400",
            "model.hidden=[16]",
            "train.epochs=30",
            "train.lr=0.01",
            "train.seeds=2",
            "activations=[identity,relu]",
        ],
    )
    summary = {
        row.label: row.test_accuracy_mean for row in run_experiment(config, "c").result.summary
    }
    assert summary["identity"] is not None and summary["identity"] < 0.65
    assert summary["relu"] is not None and summary["relu"] > 0.9
