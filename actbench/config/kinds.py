"""The data kinds and the keys each takes, with their defaults: constants the schema's
DataConfig validates against (no pydantic, no torch)."""

from __future__ import annotations

from typing import Any, Literal, get_args

SyntheticKind = Literal["classification", "moons", "circles", "xor", "spiral", "blobs"]
# scikit-learn's bundled data sets (they ship with it: nothing is downloaded)
BundledKind = Literal["digits", "iris", "wine", "breast_cancer"]
# your own data: a file (`path`), or arrays passed to the Python API (recorded by `sha256`)
OwnKind = Literal["file", "arrays"]
DataKind = Literal[SyntheticKind, BundledKind, OwnKind]
SYNTHETIC_KINDS: tuple[str, ...] = get_args(SyntheticKind)
DATA_KINDS = SYNTHETIC_KINDS  # the generated kinds (every key of theirs is in this module)
BUNDLED_KINDS: tuple[str, ...] = get_args(BundledKind)
# (rows, features, classes) of each bundled data set: known without loading it
BUNDLED_SHAPES: dict[str, tuple[int, int, int]] = {
    "digits": (1797, 64, 10),
    "iris": (150, 4, 3),
    "wine": (178, 13, 3),
    "breast_cancer": (569, 30, 2),
}
# The file types of kind file, by extension.
DATA_FILE_TYPES = (".csv", ".tsv", ".txt", ".npz", ".parquet")
# Keys every generated kind takes; the other kinds take all but n_samples.
COMMON_DATA_KEYS = ("kind", "n_samples", "test_size", "random_state")
# The keys each kind takes besides the common ones, with their defaults. One default per key
# across kinds: a sweep over data.kind carries the base point's resolved values to every point,
# so a default that differed between kinds would make `--sweep data.kind=...` disagree with
# `--set data.kind=...`.
KIND_KEYS: dict[str, dict[str, Any]] = {
    "classification": {
        "n_features": 20,
        "n_informative": 2,
        "n_redundant": 2,
        "n_repeated": 0,
        "n_classes": 2,
        "n_clusters_per_class": 2,
        "class_sep": 1.0,
        "flip_y": 0.01,
    },
    "moons": {"noise": 0.1},
    "circles": {"noise": 0.1, "factor": 0.5},
    "xor": {"noise": 0.1},
    "spiral": {"noise": 0.1, "n_classes": 2},
    "blobs": {"noise": 0.1, "n_classes": 2},
    **{kind: {} for kind in BUNDLED_KINDS},
    "file": {"path": None, "target": None, "features": None, "header": "auto"},
    "arrays": {"sha256": None},
}
KEY_DEFAULTS: dict[str, Any] = {k: v for keys in KIND_KEYS.values() for k, v in keys.items()}
SAMPLES_DEFAULT = 1000


def common_keys(kind: str) -> tuple[str, ...]:
    """The keys of COMMON_DATA_KEYS a kind takes: all for a generated kind; the others have
    as many samples as their data."""
    return COMMON_DATA_KEYS if kind in SYNTHETIC_KINDS else ("kind", "test_size", "random_state")


def is_default(key: str, value: Any) -> bool:
    """Whether a key holds the one default it has across kinds."""
    default = SAMPLES_DEFAULT if key == "n_samples" else KEY_DEFAULTS.get(key)
    if isinstance(value, str):
        return value == default
    return not isinstance(value, bool) and isinstance(value, int | float) and value == default
