"""The synthetic data: split sizes, scaling fit on train only, determinism."""

from __future__ import annotations

import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from actbench.config import DataConfig
from actbench.data import make_dataset


def test_shapes_and_dtypes_of_the_default_data() -> None:
    data = make_dataset(DataConfig())
    assert data.x_train.shape == (800, 20)
    assert data.x_test.shape == (200, 20)
    assert data.x_train.dtype == torch.float32
    assert data.y_train.dtype == torch.int64
    assert data.n_features == 20
    assert data.n_classes == 2


def test_scaler_is_fit_on_the_training_split_only() -> None:
    data = make_dataset(DataConfig())
    assert torch.allclose(data.x_train.mean(0), torch.zeros(20), atol=1e-5)
    assert torch.allclose(data.x_train.std(0, unbiased=False), torch.ones(20), atol=1e-4)
    assert not torch.allclose(data.x_test.mean(0), torch.zeros(20), atol=1e-3)


def test_labels_and_split_are_sklearns() -> None:
    cfg = DataConfig(n_samples=300, n_classes=3, n_informative=3, random_state=7)
    x, y = make_classification(
        n_samples=300,
        n_features=20,
        n_informative=3,
        n_redundant=2,
        n_classes=3,
        flip_y=0.01,
        random_state=7,
    )
    _, _, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=7)
    data = make_dataset(cfg)
    assert data.y_train.tolist() == y_train.tolist()
    assert data.y_test.tolist() == y_test.tolist()
    assert data.n_classes == 3


def test_same_config_gives_identical_data() -> None:
    a, b = make_dataset(DataConfig(n_samples=100)), make_dataset(DataConfig(n_samples=100))
    assert torch.equal(a.x_train, b.x_train)
    assert torch.equal(a.y_test, b.y_test)


def test_random_state_changes_the_data() -> None:
    a = make_dataset(DataConfig(n_samples=100, random_state=1))
    b = make_dataset(DataConfig(n_samples=100, random_state=2))
    assert not torch.equal(a.x_train, b.x_train)
