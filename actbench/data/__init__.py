"""Every data kind -> standardised train/test tensors (the scaler fit on train only), the
classes' original labels and the data's fingerprint.

`make_dataset(cfg)` gives what training uses. `split_raw(cfg)` gives the same split before
standardisation (float64), for plots over the input plane: `split_raw(cfg).extent()` is the
plane to draw, and `dataset.standardise(points)` turns raw points into a member's inputs.
`describe(cfg)` tells the data's size before any of it is made or read (the memory guard);
`check(cfg)` reads and checks it before a run starts. The kinds live in their modules:
synthetic (generated from the config), bundled (scikit-learn's), files (kind file; delimited
text in delimited.py), arrays (the Python API's X and y); table.py checks and splits the
labelled rows of all but the generated ones. Everything is deterministic in
cfg.random_state.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from actbench.config import BUNDLED_KINDS, BUNDLED_SHAPES, DataConfig
from actbench.data import arrays, bundled, files
from actbench.data.dataset import Dataset, DataShape, RawSplit, standardised
from actbench.data.synthetic import SOURCES, SPIRAL_TURNS, generate, split_generated
from actbench.data.table import Table, stratified_split
from actbench.errors import DataError
from actbench.runs import DataFingerprint

__all__ = [
    "SPIRAL_TURNS",
    "DataShape",
    "Dataset",
    "RawSplit",
    "check",
    "check_unchanged",
    "describe",
    "generate",
    "is_planar",
    "make_dataset",
    "split_raw",
]


def _table(cfg: DataConfig) -> tuple[Table, dict[str, Any]]:
    """The labelled rows of a kind that is not generated, and where they came from."""
    if cfg.kind in BUNDLED_KINDS:
        return bundled.read_bundled(cfg), {"source": bundled.source(cfg.kind)}
    if cfg.kind == "arrays":
        assert cfg.sha256 is not None  # the schema asks for it
        # kept under the sha256 of its arrays: no need to hash them again
        return arrays.kept(cfg.sha256), {"source": "arrays", "sha256": cfg.sha256}
    data = files.read_file(cfg)
    where = {"source": cfg.path, "path": cfg.path, "size": data.size, "sha256": data.sha256}
    return data.table, where


def _prepared(cfg: DataConfig) -> tuple[RawSplit, tuple[Any, ...], DataFingerprint]:
    """The data read or made and split: (the split, its classes, its fingerprint). A generated
    kind's classes are its indices (the empty tuple says so)."""
    if cfg.is_synthetic:
        raw, x, y = split_generated(cfg)
        table = Table(x, y, tuple(range(cfg.n_classes)), (), None, cfg.kind)
        return raw, (), table.fingerprint(cfg.kind, raw, source=SOURCES[cfg.kind])
    table, where = _table(cfg)
    raw = stratified_split(table, cfg.test_size, cfg.random_state)
    return raw, table.classes, table.fingerprint(cfg.kind, raw, **where)


def split_raw(cfg: DataConfig) -> RawSplit:
    """The train/test split before standardisation: stratified by class, but for the
    generated kinds (their split is the one they have always had)."""
    if cfg.is_synthetic:
        return split_generated(cfg)[0]
    table, _ = _table(cfg)
    return stratified_split(table, cfg.test_size, cfg.random_state)


def check(cfg: DataConfig) -> DataFingerprint:
    """Read and check the data (a DataError names what is wrong) and split it: its
    fingerprint. A file read here is not read again for training."""
    return _prepared(cfg)[2]


def make_dataset(cfg: DataConfig) -> Dataset:
    """The same data for every member: deterministic in cfg.random_state, on the CPU."""
    return standardised(*_prepared(cfg))


def describe(cfg: DataConfig) -> DataShape:
    """The data's sizes before any of it is made or read: from the config (generated and
    bundled kinds), the kept arrays, or a file's size and head (estimated)."""
    if cfg.is_synthetic:
        return DataShape(cfg.n_samples, cfg.n_inputs, cfg.n_classes, cfg.n_train, cfg.n_test)
    if cfg.kind in BUNDLED_SHAPES:
        rows, features, classes = BUNDLED_SHAPES[cfg.kind]
        n_test = math.ceil(cfg.test_size * rows)
        return DataShape(rows, features, classes, rows - n_test, n_test)
    if cfg.kind == "arrays":
        assert cfg.sha256 is not None
        table = arrays.kept(cfg.sha256)
        rows, features = table.x.shape
        n_test = math.ceil(cfg.test_size * rows)
        return DataShape(rows, features, table.n_classes, rows - n_test, n_test)
    return files.estimate(cfg)


def is_planar(cfg: DataConfig) -> bool:
    """Points in the plane: a 2-D generated kind, or a file's or arrays' two features."""
    if cfg.is_synthetic:
        return cfg.is_2d
    if cfg.kind in BUNDLED_KINDS:
        return False
    return describe(cfg).n_features == 2


def check_unchanged(fingerprint: DataFingerprint, run: str) -> None:
    """A data file must be what it was when run `run` read it: same size and SHA-256."""
    if fingerprint.path is None:
        return
    path = Path(fingerprint.path)
    if not path.is_file():
        raise DataError(f"data file '{path}' of run {run} is gone; rerun needs the same data")
    size = path.stat().st_size
    sha = files.file_sha256(path) if size == fingerprint.size else None
    if sha != fingerprint.sha256:
        then = f"{fingerprint.size:,} bytes, sha256 {fingerprint.sha256[:12]}"
        now = f"{size:,} bytes" + (f", sha256 {sha[:12]}" if sha else "")
        raise DataError(
            f"data file '{path}' changed since run {run} ({then} then, {now} now); rerun "
            "needs the same data"
        )
