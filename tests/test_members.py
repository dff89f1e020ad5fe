from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import torch

from actbench.config import DataConfig, validate
from actbench.data import make_dataset
from actbench.errors import ActbenchError, RunFolderError
from actbench.experiment import plan
from actbench.members import (
    ModelIndex,
    Standardize,
    build_model,
    find_entry,
    fit_scaler,
    index_models,
    read_index,
    unique_filenames,
)
from actbench.model import init_model
from actbench.population import MemberSpec


def test_scaler_gives_the_training_inputs_bit_for_bit() -> None:
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    cfg = DataConfig(n_samples=300, n_features=7, n_informative=3, random_state=5)
    x, y = make_classification(
        n_samples=300, n_features=7, n_informative=3, n_redundant=2, flip_y=0.01, random_state=5
    )
    x_train, x_test, _, _ = train_test_split(x, y, test_size=cfg.test_size, random_state=5)
    scaler = fit_scaler(cfg)
    standardize = Standardize(scaler.mean, scaler.scale)
    data = make_dataset(cfg)
    assert torch.equal(standardize(torch.as_tensor(x_train)), data.x_train)
    assert torch.equal(standardize(torch.as_tensor(x_test)), data.x_test)


def test_scaler_survives_the_json_round_trip() -> None:
    scaler = fit_scaler(DataConfig())
    index = ModelIndex(scalers=[scaler])
    again = ModelIndex.model_validate_json(index.to_json()).scalers[0]
    assert again.mean == scaler.mean and again.scale == scaler.scale


@pytest.mark.parametrize(
    "stems",
    [
        ["a_b-seed0", "a_b-seed0", "a_b-seed0"],  # labels a/b, a_b, a?b
        ["ReLU-seed0", "relu-seed0"],  # one file on case-insensitive file systems
        ["x-seed0", "x-seed0", "x-seed0-2"],
    ],
)
def test_file_names_are_unique(stems: list[str]) -> None:
    names = unique_filenames(stems)
    assert len({name.lower() for name in names}) == len(stems)
    assert names[0] == f"{stems[0]}.pt"


def test_labels_and_sweep_values_that_print_alike_get_distinct_files() -> None:
    config = validate(
        {
            "activations": [
                {"name": "relu", "label": "a/b"},
                {"name": "relu", "label": "a_b"},
                {"name": "relu", "label": "a?b"},
            ],
            "train": {"seeds": 1},
            "sweep": {"train.lr": [0.001, 0.0010001, 0.00100001]},
        }
    )
    points, populations = plan(config)
    kept = [
        (member.spec, points[member.point], bytes([i]))
        for population in populations
        for i, member in enumerate(population.members)
    ]
    models, index = index_models(kept)
    assert len(models) == len(kept) == 9
    assert [entry.file for entry in index.models] == list(models)
    members = {(e.label, e.grid["train.lr"]) for e in index.models}
    assert len(members) == 9
    assert "a_b-lr_0.001-seed0.pt" in models
    assert all(len(name) < 130 for name in models)


def test_long_labels_make_short_file_names() -> None:
    config = validate({"activations": [{"name": "relu", "label": "x" * 200}]})
    points, populations = plan(config)
    kept = [(m.spec, points[m.point], b"") for m in populations[0].members]
    models, _ = index_models(kept)
    assert all(len(name) <= 123 for name in models)


def _index_of(labels_seeds_grids: list[tuple[str, int, dict[str, float]]]) -> ModelIndex:
    return ModelIndex.model_validate(
        {
            "scalers": [{"mean": [0.0], "scale": [1.0]}],
            "models": [
                {
                    "file": f"{label}-{seed}-{i}.pt",
                    "label": label,
                    "activation": "relu",
                    "grid": grid,
                    "seed": seed,
                    "hidden": [3],
                    "head": "softmax",
                    "n_features": 1,
                    "n_classes": 2,
                    "scaler": 0,
                }
                for i, (label, seed, grid) in enumerate(labels_seeds_grids)
            ],
        }
    )


def test_find_entry_by_label_seed_and_grid() -> None:
    index = _index_of([("relu", 0, {"train.lr": 0.1}), ("relu", 0, {"train.lr": 0.3})])
    assert find_entry(index, "relu", 0, {"train.lr": 0.3}).file == "relu-0-1.pt"
    assert find_entry(index, "relu", 0, {"lr": 0.1}).file == "relu-0-0.pt"
    with pytest.raises(
        ActbenchError, match=re.escape('one of: {"train.lr": 0.1}, {"train.lr": 0.3}')
    ):
        find_entry(index, "relu", 0, None)
    with pytest.raises(ActbenchError, match="unknown label 'tanh'"):
        find_entry(index, "tanh", 0, None)


def test_build_model_folds_the_scaler_in_front_of_the_network() -> None:
    network = init_model(3, 2, (4,), 2, "tanh")
    buffer = io.BytesIO()
    torch.save(network.state_dict(), buffer)
    index = ModelIndex.model_validate(
        {
            "scalers": [{"mean": [1.0, -2.0], "scale": [2.0, 0.5]}],
            "models": [
                {
                    "file": "t.pt",
                    "label": "tanh",
                    "activation": "tanh",
                    "seed": 3,
                    "hidden": [4],
                    "head": "softmax",
                    "n_features": 2,
                    "n_classes": 2,
                    "scaler": 0,
                }
            ],
        }
    )
    model = build_model(index.models[0], index.scalers[0], buffer.getvalue())
    raw = torch.tensor([[3.0, -1.0]], dtype=torch.float64)
    assert not model.training
    assert torch.equal(model(raw), network(torch.tensor([[1.0, 2.0]])))


def test_read_index_none_without_models_and_clear_error_when_corrupt(tmp_path: Path) -> None:
    assert read_index(tmp_path) is None
    (tmp_path / "index.json").write_text(json.dumps({"models": [{"file": 3}]}))
    with pytest.raises(RunFolderError, match="index.json' is unreadable or corrupt"):
        read_index(tmp_path)


def test_member_spec_is_what_the_index_records() -> None:
    config = validate({"activations": [{"name": "leaky_relu", "params": {"negative_slope": 0.2}}]})
    points, populations = plan(config)
    spec = populations[0].members[0].spec
    assert isinstance(spec, MemberSpec)
    _, index = index_models([(spec, points[0], b"")])
    entry = index.models[0]
    assert entry.params == {"negative_slope": 0.2} and entry.label == spec.label
