"""Kind file: a data file, by its extension, as a checked Table; its shape estimated from its
size (and head) before it is read, for the memory guard; its bytes' SHA-256.

.csv/.tsv/.txt: actbench.data.delimited (no pandas). .npz: arrays X and y (numpy.savez).
.parquet: through pandas and pyarrow, the optional extra `pip install 'actbench[parquet]'`.
A file read once is kept while it is unchanged (path, size, modification time), so a run
reads it once though it is checked before training and trained on after.
"""

from __future__ import annotations

import hashlib
import math
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from actbench.config import DataConfig
from actbench.data.arrays import numeric_columns
from actbench.data.dataset import DataShape
from actbench.data.delimited import (
    DELIMITERS,
    check_unique,
    column_index,
    columns_of,
    feature_columns,
    read_delimited,
    sniff,
)
from actbench.data.table import Table, labelled
from actbench.errors import DataError

PARQUET_HINT = "pip install 'actbench[parquet]'"
DELIMITED = tuple(DELIMITERS)  # the delimited-text suffixes
KEEP = 2  # tables kept in memory while their files are unchanged
# Bytes per value beyond the arrays trained on, while a file is read: the parse buffer and its
# growth (a delimited file), the array as stored and as float64 (npz), Arrow and pandas
# copies (parquet).
READ_BYTES_PER_VALUE = {".npz": 16, ".parquet": 24}
DEFAULT_READ_BYTES_PER_VALUE = 20


@dataclass(frozen=True)
class FileData:
    """A file's checked table, and what its bytes were."""

    table: Table
    size: int
    sha256: str


_KEPT: OrderedDict[tuple[Any, ...], FileData] = OrderedDict()


def existing(cfg: DataConfig) -> Path:
    """data.path, which must be a file that is not empty."""
    assert cfg.path is not None  # the schema asks for it
    path = Path(cfg.path)
    if not path.exists():
        raise DataError(f"data file '{path}' not found")
    if path.is_dir():
        raise DataError(f"data path '{path}' is a directory, not a data file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DataError(f"cannot read data file '{path}': {exc.strerror or exc}") from None
    if size == 0:
        raise DataError(f"data file '{path}' is empty")
    return path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_file(cfg: DataConfig) -> FileData:
    """The file's rows as a checked Table (kept while the file is unchanged)."""
    path = existing(cfg)
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, cfg.target, cfg.features, cfg.header)
    found = _KEPT.get(key)
    if found is not None:
        _KEPT.move_to_end(key)
        return found
    try:
        table = _read(path, cfg)
        data = FileData(table, stat.st_size, file_sha256(path))
    except PermissionError as exc:
        raise DataError(f"cannot read data file '{path}': {exc.strerror}") from None
    _KEPT[key] = data
    while len(_KEPT) > KEEP:
        _KEPT.popitem(last=False)
    return data


def _read(path: Path, cfg: DataConfig) -> Table:
    suffix = path.suffix.lower()
    if suffix in DELIMITED:
        return read_delimited(path, cfg.target, cfg.features, cfg.header)
    if suffix == ".npz":
        return _read_npz(path, cfg)
    return _read_parquet(path, cfg)


# --- .npz ---------------------------------------------------------------------------------------


def _open_npz(path: Path) -> Any:
    try:
        return np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(
            f"'{path.name}' is not a NumPy .npz archive ({exc}); save one with "
            "numpy.savez(path, X=features, y=labels)"
        ) from None


def _npz_keys(path: Path, names: list[str], target: int | str | None) -> tuple[str, str]:
    x_key = next((key for key in ("X", "x") if key in names), None)
    y_key = str(target) if target is not None else "y"
    missing = [key for key, found in (("X", x_key), (y_key, y_key in names)) if not found]
    if missing:
        raise DataError(
            f"'{path.name}' has no array {' or '.join(missing)} (arrays: "
            f"{', '.join(names) or 'none'}); save it with numpy.savez(path, X=features, y=labels)"
        )
    assert x_key is not None
    return x_key, y_key


def _read_npz(path: Path, cfg: DataConfig) -> Table:
    with _open_npz(path) as archive:
        x_key, y_key = _npz_keys(path, list(archive.files), cfg.target)
        try:
            x, y = archive[x_key], archive[y_key]
            names = archive["feature_names"] if "feature_names" in archive.files else None
        except ValueError:
            raise DataError(
                f"'{path.name}' holds Python objects (pickled); save X as numbers and y as "
                "numbers or strings"
            ) from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"'{path.name}' is damaged: {exc}") from None
    source = f"'{path.name}'"
    if x.ndim != 2:
        raise DataError(f"{source}: X must be 2-D (rows x features), not shape {x.shape}")
    columns = [str(name) for name in names] if names is not None else []
    if len(columns) != x.shape[1]:
        columns = [str(index) for index in range(x.shape[1])]
    if cfg.features is not None:
        picked = feature_columns(path, columns, None, cfg.features)
        x, columns = x[:, picked], [columns[index] for index in picked]
    values = numeric_columns(x, columns, source)
    return labelled(values, y, features=columns, target=y_key, source=source)


def _npz_shape(path: Path, cfg: DataConfig) -> tuple[int, int]:
    """(rows, features) of the archive's X, from its header: nothing else is read."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name.removesuffix(".npy") for name in archive.namelist()]
            x_key, _ = _npz_keys(path, names, cfg.target)
            with archive.open(f"{x_key}.npy") as member:
                major, _ = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if major == 1
                    else np.lib.format.read_array_header_2_0
                )
                shape, _, _ = read_header(member)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"'{path.name}' is not a NumPy .npz archive ({exc})") from None
    if len(shape) != 2:
        raise DataError(f"'{path.name}': X must be 2-D (rows x features), not shape {shape}")
    features = len(cfg.features) if cfg.features is not None else shape[1]
    return int(shape[0]), int(features)


# --- .parquet -----------------------------------------------------------------------------------


def _pyarrow() -> Any:
    try:
        import pandas  # noqa: F401
        import pyarrow.parquet
    except ImportError:
        raise DataError(f".parquet files need pandas and pyarrow: {PARQUET_HINT}") from None
    return pyarrow.parquet


def _not_parquet(path: Path, exc: Exception) -> DataError:
    return DataError(f"cannot read '{path.name}' as Parquet: {' '.join(str(exc).split())}")


def _read_parquet(path: Path, cfg: DataConfig) -> Table:
    parquet = _pyarrow()
    try:
        frame = parquet.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow's errors (ArrowInvalid & co.) share no public base
        raise _not_parquet(path, exc) from None
    names = [str(name) for name in frame.columns]
    check_unique(path, names)
    frame.columns = names
    assert cfg.target is not None  # the schema asks for one
    label = column_index(path, names, cfg.target, "target")
    picked = feature_columns(path, names, label, cfg.features)
    columns = [names[index] for index in picked]
    source = f"'{path.name}'"
    values = numeric_columns(frame[columns], columns, source)
    labels = frame[names[label]]
    if labels.isna().any():
        raise DataError(
            f"{source}: the target '{names[label]}' has {int(labels.isna().sum())} missing "
            "labels; drop the unlabelled rows"
        )
    return labelled(values, labels.to_numpy(), features=columns, target=names[label], source=source)


# --- the shape before reading -------------------------------------------------------------------


def estimate(cfg: DataConfig) -> DataShape:
    """Rows, features and the memory to read them, from the file's size and head (a delimited
    file), its arrays' headers (.npz) or its metadata (.parquet): the file is not read."""
    path = existing(cfg)
    size = path.stat().st_size
    suffix = path.suffix.lower()
    if suffix in DELIMITED:
        layout = sniff(path, cfg.header)
        _, chosen = columns_of(path, layout, cfg.target, cfg.features)
        rows = max(1, round(size / layout.bytes_per_row) - layout.header)
        features, columns, estimated = len(chosen), len(layout.names), True
    elif suffix == ".npz":
        rows, features = _npz_shape(path, cfg)
        columns, estimated = features + 1, False
    else:
        parquet = _pyarrow()
        try:
            metadata = parquet.ParquetFile(path).metadata
        except Exception as exc:  # a damaged file: pyarrow's errors share no public base
            raise _not_parquet(path, exc) from None
        rows, columns, estimated = metadata.num_rows, metadata.num_columns, False
        features = len(cfg.features) if cfg.features is not None else columns - 1
    per_value = READ_BYTES_PER_VALUE.get(suffix, DEFAULT_READ_BYTES_PER_VALUE)
    n_test = math.ceil(cfg.test_size * rows)
    return DataShape(
        n_samples=rows,
        n_features=features,
        n_classes=2,  # not known before reading; the memory it takes is small either way
        n_train=rows - n_test,
        n_test=n_test,
        read_bytes=rows * columns * per_value,
        file_bytes=size,
        estimated=estimated,
    )
