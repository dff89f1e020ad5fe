"""Synthetic classification data: make_classification, split, standardise (fit on train only)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from actbench.config import DataConfig


@dataclass(frozen=True)
class Dataset:
    x_train: Tensor  # [n_train, n_features] float32
    y_train: Tensor  # [n_train] int64
    x_test: Tensor
    y_test: Tensor
    n_classes: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.n_classes,
        )


def make_dataset(cfg: DataConfig) -> Dataset:
    """The same data for every member: deterministic in cfg.random_state, on the CPU."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(
        n_samples=cfg.n_samples,
        n_features=cfg.n_features,
        n_informative=cfg.n_informative,
        n_redundant=cfg.n_redundant,
        n_repeated=cfg.n_repeated,
        n_classes=cfg.n_classes,
        n_clusters_per_class=cfg.n_clusters_per_class,
        class_sep=cfg.class_sep,
        flip_y=cfg.flip_y,
        random_state=cfg.random_state,
    )
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=cfg.test_size, random_state=cfg.random_state
    )
    # Fit the scaler on the training split only: the test split must not leak into training.
    scaler = StandardScaler().fit(x_train)
    return Dataset(
        x_train=torch.as_tensor(scaler.transform(x_train), dtype=torch.float32),
        y_train=torch.as_tensor(y_train, dtype=torch.int64),
        x_test=torch.as_tensor(scaler.transform(x_test), dtype=torch.float32),
        y_test=torch.as_tensor(y_test, dtype=torch.int64),
        n_classes=cfg.n_classes,
    )
