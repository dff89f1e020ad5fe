"""Synthetic data of every kind: generate, split, standardise (the scaler is fit on train only).

`make_dataset(cfg)` gives what training uses: standardised float32 tensors and the scaler.
`split_raw(cfg)` gives the same split before standardisation (float64, as the generators make
it), for plots over the input plane: `split_raw(cfg).extent()` is the plane to draw, and
`dataset.standardise(points)` turns raw points into the inputs a member was trained on.
Everything is deterministic in cfg.random_state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from actbench.config import DataConfig

# Spiral arms wind this many turns from the centre (r = 0) to the rim (r = 1).
SPIRAL_TURNS = 1.0


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
        return Dataset(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.n_classes,
            self.scaler_mean,
            self.scaler_scale,
        )


@dataclass(frozen=True)
class RawSplit:
    """The train/test split before standardisation."""

    x_train: np.ndarray  # [n_train, n_features] float64
    x_test: np.ndarray  # [n_test, n_features] float64
    y_train: np.ndarray  # [n_train] int64
    y_test: np.ndarray  # [n_test] int64

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


def generate(cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """All cfg.n_samples points of the kind, before the split: x float64 [n, f], y int64 [n]."""
    from sklearn.datasets import make_blobs, make_circles, make_classification, make_moons

    n, seed, params = cfg.n_samples, cfg.random_state, cfg.kind_params()
    if cfg.kind == "classification":
        x, y = make_classification(n_samples=n, random_state=seed, **params)
    elif cfg.kind == "moons":
        x, y = make_moons(n_samples=n, noise=params["noise"], random_state=seed)
    elif cfg.kind == "circles":
        x, y = make_circles(
            n_samples=n, noise=params["noise"], factor=params["factor"], random_state=seed
        )
    elif cfg.kind == "blobs":
        x, y = make_blobs(
            n_samples=n,
            centers=_unit_circle(params["n_classes"]),
            cluster_std=params["noise"],
            random_state=seed,
        )
    elif cfg.kind == "xor":
        x, y = _xor(n, params["noise"], np.random.default_rng(seed))
    elif cfg.kind == "spiral":
        x, y = _spiral(n, params["n_classes"], params["noise"], np.random.default_rng(seed))
    else:  # pragma: no cover - the config admits only the kinds above
        raise ValueError(f"unknown data kind {cfg.kind!r}")
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def _unit_circle(count: int) -> np.ndarray:
    """Blob centres evenly spaced on the unit circle: equally far apart, whatever the count."""
    angles = 2 * math.pi * np.arange(count) / count
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform on [-1, 1]^2, class 1 where the two coordinates differ in sign, half the points
    in each class; the label is that of the clean point, then Gaussian noise moves it."""
    y = np.repeat(np.arange(2, dtype=np.int64), [n - n // 2, n // 2])
    x = rng.uniform(-1.0, 1.0, size=(n, 2))
    # Mirroring a point's y coordinate flips its class and keeps the distribution uniform.
    x[:, 1] = np.where((x[:, 0] * x[:, 1] < 0) == y.astype(bool), x[:, 1], -x[:, 1])
    return x + noise * rng.standard_normal((n, 2)), y


def _spiral(
    n: int, arms: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`arms` interleaved spiral arms from the centre to radius 1, one class each."""
    counts = [n // arms + (arm < n % arms) for arm in range(arms)]
    y = np.repeat(np.arange(arms, dtype=np.int64), counts)
    radius = rng.uniform(0.0, 1.0, size=n)
    angle = 2 * math.pi * (y / arms + SPIRAL_TURNS * radius)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return x + noise * rng.standard_normal((n, 2)), y


def split_raw(cfg: DataConfig) -> RawSplit:
    """The train/test split of the generated points, before standardisation."""
    from sklearn.model_selection import train_test_split

    x, y = generate(cfg)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=cfg.test_size, random_state=cfg.random_state
    )
    return RawSplit(x_train, x_test, y_train, y_test)


def make_dataset(cfg: DataConfig) -> Dataset:
    """The same data for every member: deterministic in cfg.random_state, on the CPU."""
    from sklearn.preprocessing import StandardScaler

    raw = split_raw(cfg)
    # Fit the scaler on the training split only: the test split must not leak into training.
    scaler = StandardScaler().fit(raw.x_train)
    return Dataset(
        x_train=torch.as_tensor(scaler.transform(raw.x_train), dtype=torch.float32),
        y_train=torch.as_tensor(raw.y_train, dtype=torch.int64),
        x_test=torch.as_tensor(scaler.transform(raw.x_test), dtype=torch.float32),
        y_test=torch.as_tensor(raw.y_test, dtype=torch.int64),
        n_classes=cfg.n_classes,
        scaler_mean=np.asarray(scaler.mean_, dtype=np.float64),
        scaler_scale=np.asarray(scaler.scale_, dtype=np.float64),
    )
