"""scikit-learn's bundled data sets (digits, iris, wine, breast_cancer): they ship with it,
nothing is downloaded. Their labels are the integer targets sklearn gives (0, 1, ...)."""

from __future__ import annotations

from actbench.config import DataConfig
from actbench.data.table import Table, labelled

LOADERS = {
    "digits": "load_digits",
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
}


def source(kind: str) -> str:
    return f"sklearn {LOADERS[kind]}"


def read_bundled(cfg: DataConfig) -> Table:
    """The whole data set as a checked Table (the feature names are sklearn's)."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, LOADERS[cfg.kind])()
    names = [str(name) for name in getattr(bunch, "feature_names", [])]
    if len(names) != bunch.data.shape[1]:
        names = [str(index) for index in range(bunch.data.shape[1])]
    return labelled(bunch.data, bunch.target, features=names, target=None, source=cfg.kind)
