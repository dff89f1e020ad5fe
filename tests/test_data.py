"""The synthetic data of every kind: split sizes, scaling fit on train only, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from actbench.config import DataConfig
from actbench.data import generate, make_dataset, split_raw


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


# --- kinds --------------------------------------------------------------------------------------

TWO_D_KINDS = ["moons", "circles", "xor", "spiral", "blobs"]


def test_default_kind_is_the_old_make_classification_path() -> None:
    # The code before data kinds existed, verbatim: the default data must not change.
    from sklearn.preprocessing import StandardScaler

    x, y = make_classification(
        n_samples=1000,
        n_features=20,
        n_informative=2,
        n_redundant=2,
        n_repeated=0,
        n_classes=2,
        n_clusters_per_class=2,
        class_sep=1.0,
        flip_y=0.01,
        random_state=42,
    )
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=42)
    scaler = StandardScaler().fit(x_train)
    data = make_dataset(DataConfig())
    assert torch.equal(
        data.x_train, torch.as_tensor(scaler.transform(x_train), dtype=torch.float32)
    )
    assert torch.equal(data.x_test, torch.as_tensor(scaler.transform(x_test), dtype=torch.float32))
    assert torch.equal(data.y_train, torch.as_tensor(y_train))
    assert torch.equal(data.y_test, torch.as_tensor(y_test))


@pytest.mark.parametrize("kind", TWO_D_KINDS)
def test_2d_kind_shapes_dtypes_and_classes(kind: str) -> None:
    data = make_dataset(DataConfig(kind=kind))  # type: ignore[arg-type]
    assert data.x_train.shape == (800, 2)
    assert data.x_test.shape == (200, 2)
    assert data.x_train.dtype == torch.float32
    assert data.y_train.dtype == torch.int64
    assert data.n_features == 2
    assert data.n_classes == 2
    assert set(data.y_train.tolist()) == {0, 1}
    assert set(data.y_test.tolist()) == {0, 1}


@pytest.mark.parametrize("kind", TWO_D_KINDS)
def test_2d_kinds_are_balanced(kind: str) -> None:
    raw = split_raw(DataConfig(kind=kind, n_samples=1001))  # type: ignore[arg-type]
    counts = np.bincount(np.concatenate([raw.y_train, raw.y_test]))
    assert counts.sum() == 1001
    assert counts.max() - counts.min() <= 1


@pytest.mark.parametrize(("kind", "classes"), [("spiral", 3), ("blobs", 4)])
def test_n_classes_of_spiral_and_blobs(kind: str, classes: int) -> None:
    data = make_dataset(DataConfig(kind=kind, n_classes=classes))  # type: ignore[arg-type]
    assert data.n_classes == classes
    assert set(data.y_train.tolist()) == set(range(classes))


@pytest.mark.parametrize("kind", ["classification", *TWO_D_KINDS])
def test_kind_is_deterministic_in_random_state(kind: str) -> None:
    a = make_dataset(DataConfig(kind=kind, n_samples=200))  # type: ignore[arg-type]
    b = make_dataset(DataConfig(kind=kind, n_samples=200))  # type: ignore[arg-type]
    c = make_dataset(DataConfig(kind=kind, n_samples=200, random_state=7))  # type: ignore[arg-type]
    assert torch.equal(a.x_train, b.x_train)
    assert torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)


@pytest.mark.parametrize("kind", ["classification", *TWO_D_KINDS])
def test_scaler_is_fit_on_the_training_split_of_every_kind(kind: str) -> None:
    cfg = DataConfig(kind=kind)  # type: ignore[arg-type]
    data, raw = make_dataset(cfg), split_raw(cfg)
    assert data.scaler_mean.dtype == np.float64
    assert np.allclose(data.scaler_mean, raw.x_train.mean(0), rtol=0, atol=1e-12)
    assert np.allclose(data.scaler_scale, raw.x_train.std(0), rtol=1e-12)
    assert torch.allclose(data.x_train.mean(0), torch.zeros(data.n_features), atol=1e-5)
    assert not np.allclose(data.scaler_mean, raw.x_test.mean(0), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["classification", "moons", "spiral"])
def test_standardise_maps_the_raw_test_split_to_x_test_exactly(kind: str) -> None:
    cfg = DataConfig(kind=kind)  # type: ignore[arg-type]
    data, raw = make_dataset(cfg), split_raw(cfg)
    assert torch.equal(data.standardise(raw.x_test), data.x_test)
    assert torch.equal(data.standardise(torch.as_tensor(raw.x_train)), data.x_train)
    assert np.array_equal(raw.y_test, data.y_test.numpy())


def test_extent_covers_every_point_with_a_margin() -> None:
    raw = split_raw(DataConfig(kind="moons"))
    x_min, x_max, y_min, y_max = raw.extent(margin=0.1)
    points = np.concatenate([raw.x_train, raw.x_test])
    width, height = np.ptp(points[:, 0]), np.ptp(points[:, 1])
    assert x_min == pytest.approx(points[:, 0].min() - 0.1 * width)
    assert x_max == pytest.approx(points[:, 0].max() + 0.1 * width)
    assert y_min == pytest.approx(points[:, 1].min() - 0.1 * height)
    assert y_max == pytest.approx(points[:, 1].max() + 0.1 * height)


def test_extent_needs_2d_data() -> None:
    with pytest.raises(ValueError, match="20 features"):
        split_raw(DataConfig(n_samples=100)).extent()


def test_moons_and_circles_are_sklearns() -> None:
    from sklearn.datasets import make_circles, make_moons

    x, _ = make_moons(n_samples=100, noise=0.3, random_state=5)
    assert np.array_equal(
        generate(DataConfig(kind="moons", n_samples=100, noise=0.3, random_state=5))[0], x
    )
    x, _ = make_circles(n_samples=100, noise=0.0, factor=0.3, random_state=5)
    cfg = DataConfig(kind="circles", n_samples=100, noise=0.0, factor=0.3, random_state=5)
    assert np.array_equal(generate(cfg)[0], x)


def test_circles_inner_radius_is_factor_of_the_outer() -> None:
    x, y = generate(DataConfig(kind="circles", noise=0.0, factor=0.3))
    radius = np.linalg.norm(x, axis=1)
    assert np.allclose(radius[y == 0], 1.0)
    assert np.allclose(radius[y == 1], 0.3)


def test_xor_label_is_the_sign_disagreement_of_the_clean_point() -> None:
    x, y = generate(DataConfig(kind="xor", noise=0.0))
    assert np.array_equal(y, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(np.int64))
    assert np.abs(x).max() <= 1.0


def test_spiral_arms_wind_from_the_centre_to_radius_one() -> None:
    x, y = generate(DataConfig(kind="spiral", noise=0.0, n_classes=3))
    radius = np.linalg.norm(x, axis=1)
    assert radius.max() <= 1.0
    assert radius.max() > 0.99
    assert np.bincount(y).tolist() == [334, 333, 333]


def test_blobs_have_noise_as_their_std() -> None:
    x, y = generate(DataConfig(kind="blobs", noise=0.5, n_samples=20_000))
    centre = x[y == 0].mean(0)
    assert np.allclose(centre, [1.0, 0.0], atol=0.03)
    assert np.allclose(x[y == 0].std(0), 0.5, atol=0.02)


def _linear_test_accuracy(kind: str) -> float:
    from sklearn.linear_model import LogisticRegression

    data = make_dataset(DataConfig(kind=kind))  # type: ignore[arg-type]
    model = LogisticRegression().fit(data.x_train.numpy(), data.y_train.numpy())
    return float(model.score(data.x_test.numpy(), data.y_test.numpy()))


@pytest.mark.parametrize("kind", ["circles", "xor"])
def test_circles_and_xor_are_not_linearly_separable(kind: str) -> None:
    assert _linear_test_accuracy(kind) < 0.65


@pytest.mark.parametrize("kind", ["blobs", "moons"])
def test_blobs_and_moons_are_mostly_linearly_separable(kind: str) -> None:
    assert _linear_test_accuracy(kind) > 0.8
