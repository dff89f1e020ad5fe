"""The generated kinds: classification (make_classification) and the 2-D kinds, made from the
config alone and deterministic in cfg.random_state."""

from __future__ import annotations

import math

import numpy as np

from actbench.config import DataConfig
from actbench.data.dataset import RawSplit

# Spiral arms wind this many turns from the centre (r = 0) to the rim (r = 1).
SPIRAL_TURNS = 1.0
# The scikit-learn function (or our own) each kind is drawn with, for the data's fingerprint.
SOURCES = {
    "classification": "sklearn make_classification",
    "moons": "sklearn make_moons",
    "circles": "sklearn make_circles",
    "blobs": "sklearn make_blobs",
    "xor": "actbench xor",
    "spiral": "actbench spiral",
}


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


def split_generated(cfg: DataConfig) -> tuple[RawSplit, np.ndarray, np.ndarray]:
    """The train/test split of the generated points (not stratified: the split every run of a
    generated kind has had), and all the points x, y it was cut from."""
    from sklearn.model_selection import train_test_split

    x, y = generate(cfg)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=cfg.test_size, random_state=cfg.random_state
    )
    return RawSplit(x_train, x_test, y_train, y_test, cfg.n_classes), x, y
