"""Labelled rows from any source (a file, arrays, a bundled data set), checked and ready to
split: numeric finite features, labels mapped to classes in sorted order, a stratified split.

Every check names what is wrong in one line, as a DataError, before anything is trained.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from actbench import format as fmt
from actbench.data.dataset import RawSplit
from actbench.errors import DataError
from actbench.runs import DataFingerprint, Label

MAX_CLASSES = 10_000  # as data.n_classes allows
SHOWN = 4  # names or classes quoted in one message, then "and N more"


@dataclass(frozen=True)
class Table:
    """Rows of numeric features and their class codes, with what they were called."""

    x: np.ndarray  # [n, f] float64, every value finite
    y: np.ndarray  # [n] int64 class codes 0..k-1
    classes: tuple[Label, ...]  # class i's original label, sorted
    features: tuple[str, ...]  # the feature columns' names
    target: str | None  # the label column's name
    source: str  # what it is in messages: "'data.csv'", "X"

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def class_counts(self) -> list[int]:
        return [int(c) for c in np.bincount(self.y, minlength=self.n_classes)]

    def sha256(self) -> str:
        """Of the arrays themselves: X as float64 (with its shape), the classes and the codes."""
        digest = hashlib.sha256()
        digest.update(json.dumps([list(self.x.shape), list(self.classes)]).encode())
        digest.update(np.ascontiguousarray(self.x, dtype=np.float64).data)
        digest.update(np.ascontiguousarray(self.y, dtype=np.int64).data)
        return digest.hexdigest()

    def fingerprint(self, kind: str, split: RawSplit, **where: Any) -> DataFingerprint:
        """The fingerprint of these rows as split; `where` gives source, path, size, sha256
        (default: the arrays')."""
        test_counts = np.bincount(split.y_test, minlength=self.n_classes)
        return DataFingerprint(
            kind=kind,
            source=where.pop("source", self.source),
            sha256=where.pop("sha256", None) or self.sha256(),
            shape=[int(self.x.shape[0]), int(self.x.shape[1])],
            features=list(self.features),
            target=self.target,
            classes=list(self.classes),
            class_counts=self.class_counts(),
            test_class_counts=[int(c) for c in test_counts],
            n_train=len(split.y_train),
            n_test=len(split.y_test),
            **where,
        )


def labelled(
    x: np.ndarray,
    labels: np.ndarray | Sequence[Any],
    *,
    features: Sequence[str],
    target: str | None,
    source: str,
) -> Table:
    """Checked rows: finite numeric features, at least two classes; labels of any one type
    (strings, ints, bools, floats) become classes in sorted order."""
    codes, classes = encode_labels(labels, source, target)
    return labelled_codes(x, codes, classes, features=features, target=target, source=source)


def labelled_codes(
    x: np.ndarray,
    codes: np.ndarray,
    classes: Sequence[Label],
    *,
    features: Sequence[str],
    target: str | None,
    source: str,
    labels_from: str = "the target",
) -> Table:
    """Checked rows whose labels are class codes already (class i is classes[i]);
    `labels_from` names the labels in messages when they have no column name."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{source}: the features must be 2-D (rows x features), not {x.ndim}-D")
    check_finite(x, features, source)
    if len(codes) != len(x):
        raise DataError(f"{source} has {len(x)} rows of features but {len(codes)} labels")
    if len(x) == 0:
        raise DataError(f"{source} has no rows")
    if len(classes) < 2:
        what = f"{source}: '{target}' has" if target is not None else f"{labels_from} has"
        only = f" ({fmt.label(classes[0])})" if classes else ""
        raise DataError(
            f"{what} one class{only} in {fmt.plural(len(codes), 'row')}; a classifier needs "
            "at least 2"
        )
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"{source}: the labels have {len(classes):,} distinct values (at most "
            f"{MAX_CLASSES:,} classes); is it a continuous target? actbench compares classifiers"
        )
    return Table(
        x, np.asarray(codes, dtype=np.int64), tuple(classes), tuple(features), target, source
    )


def check_finite(x: np.ndarray, features: Sequence[str], source: str) -> None:
    """NaN (or an empty cell) and infinite values are an error that counts them by column."""
    if np.isfinite(x).all():
        return
    bad = (~np.isfinite(x)).sum(axis=0)
    columns = [(features[i], int(count)) for i, count in enumerate(bad) if count]
    shown = ", ".join(f"'{name}' ({count})" for name, count in columns[:SHOWN])
    more = f" and {len(columns) - SHOWN} more columns" if len(columns) > SHOWN else ""
    total = int(bad.sum())
    raise DataError(
        f"{source} has {fmt.plural(total, 'missing or non-finite value')} (empty, NaN or inf) "
        f"in {shown}{more}; drop or fill those rows first"
    )


def not_numeric(source: str, columns: Sequence[str], leave_out: str = "") -> DataError:
    """Feature columns that hold text, named (`columns`: each as the message quotes it), with
    how to encode them; `leave_out`: the rest of "or leave them out ..."."""
    shown = ", ".join(columns[:SHOWN])
    more = f" and {len(columns) - SHOWN} more" if len(columns) > SHOWN else ""
    which, verb = ("feature column", "is") if len(columns) == 1 else ("feature columns", "are")
    return DataError(
        f"{source}: {which} {shown}{more} {verb} not numeric; encode categories as numbers "
        "first (one 0/1 column per category, as pandas.get_dummies does) or leave them out"
        f"{leave_out}"
    )


def encode_labels(
    labels: np.ndarray | Sequence[Any], source: str, target: str | None = None
) -> tuple[np.ndarray, list[Label]]:
    """(class codes int64, the original label of each class, sorted) for labels of one type."""
    values = np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(
            f"{source}: the labels must be one per row (shape ({len(values)},)), not shape "
            f"{tuple(values.shape)}; for one-hot labels pass their argmax"
        )
    what = f"the target '{target}'" if target is not None else "the labels"
    if values.dtype.kind == "f":
        missing = int(np.isnan(values).sum())
        if missing:
            raise DataError(f"{source}: {what} has {fmt.plural(missing, 'missing label')} (NaN)")
    if values.dtype.kind == "O":
        kinds = sorted({_label_kind(v) for v in values})
        if "none" in kinds:
            count = sum(v is None for v in values)
            raise DataError(f"{source}: {what} has {fmt.plural(count, 'missing label')} (None)")
        if len(kinds) > 1:
            raise DataError(
                f"{source}: {what} mixes label types ({', '.join(kinds)}); give labels of one type"
            )
    if values.dtype.kind not in "biufUSO":
        raise DataError(f"{source}: {what} has labels of type {values.dtype}; use ints or strings")
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:
        raise DataError(f"{source}: {what} holds labels that cannot be sorted") from None
    return codes.astype(np.int64).reshape(-1), [_python(value) for value in classes]


def _label_kind(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer | float | np.floating):
        return "number"
    return type(value).__name__


def _python(value: Any) -> Label:
    """A numpy scalar as the plain Python value JSON keeps (bool, int, float or str)."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def stratified_split(table: Table, test_size: float, random_state: int) -> RawSplit:
    """train_test_split, stratified by class: each class keeps its share in both parts."""
    from sklearn.model_selection import train_test_split

    counts = table.class_counts()
    rare = [table.classes[i] for i, count in enumerate(counts) if count < 2]
    if rare:
        shown = ", ".join(fmt.label(label) for label in rare[:SHOWN])
        more = f" and {len(rare) - SHOWN} more" if len(rare) > SHOWN else ""
        which = f"class {shown} has" if len(rare) == 1 else f"classes {shown}{more} have"
        raise DataError(
            f"{table.source}: {which} one row; a stratified split needs at least 2 rows of "
            "each class (one to train on, one to test): drop or merge "
            f"{'it' if len(rare) == 1 else 'them'}"
        )
    n = len(table.y)
    n_test = math.ceil(test_size * n)
    if n_test < table.n_classes or n - n_test < table.n_classes:
        raise DataError(
            f"{table.source}: test_size {test_size} of {fmt.plural(n, 'row')} leaves "
            f"{n - n_test} training and {n_test} test rows for {table.n_classes} classes; a "
            "stratified split needs at least one row of each class in both: change "
            "data.test_size"
        )
    x_train, x_test, y_train, y_test = train_test_split(
        table.x, table.y, test_size=test_size, random_state=random_state, stratify=table.y
    )
    return RawSplit(x_train, x_test, y_train, y_test, table.n_classes)
