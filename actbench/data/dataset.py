"""What training takes from any data kind: the raw split, the standardised tensors and the
data's shape.

`RawSplit` is the train/test split before standardisation (float64, as read or generated);
`standardised(split, ...)` fits the scaler on its training part only and gives the `Dataset`
a population trains on. `DataShape` is what the memory guard and the thread policy need to
know before any data is made or read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from actbench.runs import DataFingerprint, Label


@dataclass(frozen=True)
class Dataset:
    x_train: Tensor  # [n_train, n_features] float32, standardised
    y_train: Tensor  # [n_train] int64
    x_test: Tensor
    y_test: Tensor
    n_classes: int
    # The StandardScaler fit on the raw training split: x = (raw - scaler_mean) / scaler_scale.
    scaler_mean: np.ndarray  # [n_features] float64
    scaler_scale: np.ndarray  # [n_features] float64
    # The original label of each class (class i is classes[i]; sorted), and where the data
    # came from (results.json's `data`).
    classes: tuple[Label, ...] = ()
    fingerprint: DataFingerprint | None = None

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def standardise(self, raw: np.ndarray | Tensor) -> Tensor:
        """Raw points [n, n_features] -> the float32 inputs a member sees (on the CPU).

        The same float64 arithmetic as the scaler's transform: the raw test split gives
        x_test bit for bit.
        """
        values = raw.detach().cpu().double().numpy() if isinstance(raw, Tensor) else raw
        scaled = (np.asarray(values, dtype=np.float64) - self.scaler_mean) / self.scaler_scale
        return torch.as_tensor(scaled, dtype=torch.float32)

    def to(self, device: torch.device | str) -> Dataset:
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )


@dataclass(frozen=True)
class RawSplit:
    """The train/test split before standardisation."""

    x_train: np.ndarray  # [n_train, n_features] float64
    x_test: np.ndarray  # [n_test, n_features] float64
    y_train: np.ndarray  # [n_train] int64
    y_test: np.ndarray  # [n_test] int64
    n_classes: int = 2

    def extent(self, margin: float = 0.1) -> tuple[float, float, float, float]:
        """(x_min, x_max, y_min, y_max) of every point of a 2-D split, widened by `margin`
        times the range on each side: the input plane to draw a decision boundary over."""
        if self.x_train.shape[1] != 2:
            raise ValueError(f"the data have {self.x_train.shape[1]} features, not 2")
        points = np.concatenate([self.x_train, self.x_test])
        low, high = points.min(0), points.max(0)
        pad = margin * (high - low)
        return (
            float(low[0] - pad[0]),
            float(high[0] + pad[0]),
            float(low[1] - pad[1]),
            float(high[1] + pad[1]),
        )


@dataclass(frozen=True)
class DataShape:
    """Sizes of a data config's data, known (or, for a file not yet read, estimated from its
    size) before any of it is made or read."""

    n_samples: int
    n_features: int
    n_classes: int
    n_train: int
    n_test: int
    read_bytes: int = 0  # memory to read it besides the arrays trained on (a file's parse)
    file_bytes: int | None = None  # the file's size on disk
    estimated: bool = False  # n_samples estimated from the file's size


def standardised(
    raw: RawSplit,
    classes: tuple[Label, ...] = (),
    fingerprint: DataFingerprint | None = None,
) -> Dataset:
    """The Dataset of a split: the scaler fit on the training part only (the test part must not
    leak into training), float32 tensors on the CPU."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(raw.x_train)
    return Dataset(
        x_train=torch.as_tensor(scaler.transform(raw.x_train), dtype=torch.float32),
        y_train=torch.as_tensor(raw.y_train, dtype=torch.int64),
        x_test=torch.as_tensor(scaler.transform(raw.x_test), dtype=torch.float32),
        y_test=torch.as_tensor(raw.y_test, dtype=torch.int64),
        n_classes=raw.n_classes,
        scaler_mean=np.asarray(scaler.mean_, dtype=np.float64),
        scaler_scale=np.asarray(scaler.scale_, dtype=np.float64),
        classes=classes or tuple(range(raw.n_classes)),
        fingerprint=fingerprint,
    )
