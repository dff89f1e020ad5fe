"""The one dotted-key resolver: every error path, as each caller (document keys, --set, the
Python overrides, sweep keys) reports it, and get/set on plain documents."""

from __future__ import annotations

from typing import Any

import pytest

from actbench.config import (
    Config,
    DataConfig,
    TrainConfig,
    config_from_mapping,
    load_config,
    resolve,
)
from actbench.config.paths import ROOT, get_in, schema_key, set_in
from actbench.errors import ConfigError

SECTION_CHOICES = "data, model, train, metrics, activations, sweep"
TRAIN_CHOICES = ", ".join(f"train.{name}" for name in TrainConfig.model_fields)


def error(call: Any) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    return str(info.value)


# --- the resolver itself -------------------------------------------------------------------------


def test_a_leaf_key_names_its_parts_and_no_section() -> None:
    key = schema_key(["train", "lr"])
    assert key.parts == ("train", "lr")
    assert key.dotted == "train.lr"
    assert key.is_leaf
    assert key.sub_keys() == []


def test_a_section_key_names_its_model_and_sub_keys() -> None:
    key = schema_key(["data"])
    assert key.section is DataConfig
    assert not key.is_leaf
    assert key.sub_keys() == [f"data.{name}" for name in DataConfig.model_fields]


def test_top_level_values_are_leaves() -> None:
    assert schema_key(["activations"]).is_leaf
    assert schema_key(["sweep"]).is_leaf


def test_the_root_is_the_whole_config() -> None:
    assert ROOT.section is Config
    assert schema_key([]) == ROOT


def test_unknown_section_names_a_close_match_and_the_sections() -> None:
    assert error(lambda: schema_key(["trian", "lr"])) == (
        f"unknown config key 'trian'; did you mean 'train'? choices: {SECTION_CHOICES}"
    )


def test_unknown_key_names_a_close_match_and_the_sections_keys() -> None:
    assert error(lambda: schema_key(["train", "lrr"])) == (
        f"unknown config key 'train.lrr'; did you mean 'train.lr'? choices: {TRAIN_CHOICES}"
    )


def test_a_key_that_is_not_a_string_is_unknown() -> None:
    message = error(lambda: schema_key(["train", 1]))
    assert message.startswith("unknown config key 'train.1';")


def test_a_part_below_a_leaf_is_an_error_with_the_callers_hint() -> None:
    assert error(lambda: schema_key(["train", "lr", "x"])) == (
        "config key 'train.lr' has no sub-keys"
    )
    hinted = error(lambda: schema_key(["train", "lr", "x", "y"], lambda leaf: f" ({leaf}!)"))
    assert hinted == "config key 'train.lr' has no sub-keys (train.lr!)"


# --- each caller's message -----------------------------------------------------------------------


def test_set_through_a_leaf_says_how_to_set_it() -> None:
    assert error(lambda: load_config(None, ["train.lr.x=1"])) == (
        "config key 'train.lr' has no sub-keys; use --set train.lr=VALUE"
    )
    assert error(lambda: load_config(None, ["activations.relu=1"])) == (
        "config key 'activations' has no sub-keys; use --set activations=VALUE"
    )


def test_set_and_python_overrides_report_unknown_keys_alike() -> None:
    expected = f"unknown config key 'train.lrr'; did you mean 'train.lr'? choices: {TRAIN_CHOICES}"
    assert error(lambda: load_config(None, ["train.lrr=1"])) == expected
    assert error(lambda: resolve(overrides={"train.lrr": 1})) == expected
    assert error(lambda: config_from_mapping({"train": {"lrr": 1}})) == expected


def test_document_keys_that_are_not_strings_are_unknown() -> None:
    assert error(lambda: config_from_mapping({1: 2})).startswith("unknown config key '1';")
    assert error(lambda: config_from_mapping({"train": {1.5: 2}})).startswith(
        "unknown config key 'train.1.5';"
    )


def test_a_document_section_that_is_not_a_mapping_lists_its_keys() -> None:
    message = error(lambda: config_from_mapping({"train": 5}))
    assert message == (
        "config section 'train' must be a mapping of keys "
        f"({', '.join(TrainConfig.model_fields)}), not 5"
    )


def test_set_below_a_value_set_before_is_an_error() -> None:
    assert error(lambda: load_config(None, ["data=5", "data.n_samples=10"])) == (
        "config section 'data' must be a mapping, not 5"
    )


def test_sweep_key_unknown_section() -> None:
    assert error(lambda: load_config(None, [], sweeps=["trian.lr=1,2"])) == (
        f"unknown config key 'trian'; did you mean 'train'? choices: {SECTION_CHOICES}"
    )


def test_sweep_key_below_a_leaf_names_the_sweep_key() -> None:
    assert error(lambda: load_config(None, [], sweeps=["train.lr.x=1,2"])) == (
        "config key 'train.lr' has no sub-keys (sweep key 'train.lr.x')"
    )


def test_sweep_key_that_is_a_section_lists_its_leaves() -> None:
    assert error(lambda: resolve(sweep={"train": [1, 2]})) == (
        f"sweep key 'train' is a whole section; sweep its keys one by one ({TRAIN_CHOICES})"
    )


# --- documents -----------------------------------------------------------------------------------


def test_get_in_reads_a_dotted_path() -> None:
    assert get_in({"train": {"lr": 0.1}}, ["train", "lr"]) == 0.1


def test_set_in_copies_the_mappings_on_the_way() -> None:
    shared = {"lr": 0.1, "epochs": 3}
    base = {"train": shared}
    document = dict(base)
    set_in(document, ["train", "lr"], 0.3)
    assert document == {"train": {"lr": 0.3, "epochs": 3}}
    assert shared == {"lr": 0.1, "epochs": 3}
    assert base["train"] is shared


def test_set_in_makes_missing_mappings() -> None:
    document: dict[str, Any] = {}
    set_in(document, ["train", "lr"], 0.3)
    assert document == {"train": {"lr": 0.3}}


@pytest.mark.parametrize("value", [5, 0, None, [], ""])
def test_set_in_refuses_a_value_on_the_way(value: Any) -> None:
    assert error(lambda: set_in({"data": value}, ["data", "n_samples"], 10)) == (
        f"config section 'data' must be a mapping, not {value!r}"
    )
