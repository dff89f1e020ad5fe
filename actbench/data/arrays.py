"""Arrays in memory as data: NumPy arrays, pandas DataFrames/Series and torch tensors passed
to the Python API (`compare(X=..., y=...)`), and the tables of .npz and .parquet files.

Arrays passed to the API are kept in this process under their SHA-256 (the config's
`data.sha256`, kind arrays); a saved run keeps them in its folder as data.npz instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from actbench.data.table import Table, encode_labels, labelled_codes, not_numeric
from actbench.errors import DataError

# Arrays of the API's recent runs, by SHA-256: a notebook's Result can still draw figures.
_KEPT: OrderedDict[str, Table] = OrderedDict()
KEEP = 8
# A run folder keeps array data up to this size (X as float64); larger: save them to a file.
MAX_STORED_BYTES = 256 * 2**20
STORED_FILE = "data.npz"


def _module(value: Any) -> str:
    return type(value).__module__.split(".")[0]


def _is_frame(value: Any) -> bool:
    return _module(value) == "pandas" and hasattr(value, "columns")


def _plain(value: Any) -> Any:
    """A torch tensor as a NumPy array (on the CPU); anything else as it is."""
    if _module(value) == "torch" and hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value


def numeric_columns(x: Any, names: Sequence[str], source: str) -> np.ndarray:
    """A 2-D array (or DataFrame) of numbers as float64; columns that are not numbers are an
    error that names them and says how to encode them."""
    if _is_frame(x):
        import pandas as pd

        bad = [
            str(name)
            for name in x.columns
            if not (pd.api.types.is_numeric_dtype(x[name]) or pd.api.types.is_bool_dtype(x[name]))
        ]
        if bad:
            raise not_numeric(source, [f"'{name}'" for name in bad])
        return np.column_stack(
            [x[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in x.columns]
        ).reshape(len(x), len(x.columns))
    array = np.asarray(x)
    if array.ndim != 2:
        hint = ": for one feature use X.reshape(-1, 1)" if array.ndim == 1 else ""
        raise DataError(
            f"{source} must be 2-D (rows x features), not shape {tuple(array.shape)}{hint}"
        )
    if array.dtype.kind in "biuf":
        return array.astype(np.float64, copy=False)
    if array.dtype.kind == "c":
        raise DataError(f"{source} holds complex numbers; give real features")
    bad = []
    for column in range(array.shape[1]):
        try:
            array[:, column].astype(np.float64)
        except (TypeError, ValueError):
            bad.append(names[column])
    if bad:
        raise not_numeric(source, [f"'{name}'" for name in bad])
    return array.astype(np.float64)


def table_of(X: Any, y: Any) -> Table:
    """The Python API's X and y (NumPy, pandas or torch) as a checked Table."""
    X, y = _plain(X), _plain(y)
    if X is None or y is None:
        raise DataError("pass both X (features) and y (labels), or neither")
    if _is_frame(y):
        if len(y.columns) != 1:
            raise DataError(f"y must be one label per row, not {len(y.columns)} columns")
        y = y.iloc[:, 0]
    target = str(y.name) if _module(y) == "pandas" and getattr(y, "name", None) else None
    if _module(y) == "pandas":
        y = y.to_numpy()
    if _is_frame(X):
        names = [str(name) for name in X.columns]
        if len(set(names)) != len(names):
            twice = next(name for name in names if names.count(name) > 1)
            raise DataError(f"X: column name '{twice}' is used twice; give each its own name")
    else:
        shape = np.shape(X)
        names = [str(index) for index in range(shape[1])] if len(shape) == 2 else []
    x = numeric_columns(X, names, "X")
    if len(np.shape(y)) >= 1 and len(y) != len(x):
        raise DataError(f"X has {len(x)} rows but y has {len(y)} labels; give one label per row")
    codes, classes = encode_labels(y, "y", target)
    return labelled_codes(
        x, codes, classes, features=names, target=target, source="X", labels_from="y"
    )


def keep(table: Table) -> str:
    """Keep the arrays for this process's runs; their SHA-256 (data.sha256) names them."""
    sha = table.sha256()
    _KEPT[sha] = table
    _KEPT.move_to_end(sha)
    while len(_KEPT) > KEEP:
        _KEPT.popitem(last=False)
    return sha


def kept(sha: str) -> Table:
    """The arrays kept under this SHA-256, or a DataError saying how to get them back."""
    table = _KEPT.get(sha)
    if table is None:
        raise DataError(
            f"the arrays of data.sha256 {sha[:12]}... are not in this process: pass them again "
            "(compare(X=..., y=...)), or use the saved run (its folder keeps them as "
            f"{STORED_FILE})"
        )
    return table


def check_storable(table: Table) -> None:
    """Array data a run folder can keep (MAX_STORED_BYTES), else a DataError saying what to do."""
    size = table.x.nbytes
    if size > MAX_STORED_BYTES:
        raise DataError(
            f"X is {size / 2**20:,.0f} MiB; a run folder keeps at most "
            f"{MAX_STORED_BYTES // 2**20} MiB of array data: save them to a file "
            "(numpy.savez(path, X=X, y=y)) and use data.kind file, or pass save=False"
        )


def store(table: Table, folder: Path) -> Path:
    """The arrays as a compressed .npz in `folder` (X float64, y the original labels, the
    feature names): kind file reads them back exactly."""
    path = folder / STORED_FILE
    labels = np.asarray(list(table.classes))[table.y]
    with path.open("wb") as handle:
        np.savez_compressed(
            handle, X=table.x, y=labels, feature_names=np.asarray(list(table.features), dtype=str)
        )
    return path
