"""Delimited text files (.csv, .tsv, .txt) with Python's csv module and numpy: no pandas.

The delimiter is sniffed (csv.Sniffer) from the first 64 KiB, or is a tab for .tsv; a header
row is detected (no number in it, numbers below it) unless data.header says. Rows are parsed
one by one into one float64 buffer (8 bytes a value, however the file spells them) and label
codes, so the peak memory is the numbers themselves, not Python objects per cell.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
import sys
import warnings
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from actbench import format as fmt
from actbench.data.table import Table, encode_labels, labelled_codes, not_numeric
from actbench.errors import DataError, unknown

SAMPLE_BYTES = 64 * 1024  # the head read to sniff the delimiter and the header
MAX_LINE_BYTES = 16 * 2**20  # a first line longer than this is not a table
ENCODING = "utf-8-sig"  # UTF-8, with or without a byte-order mark (Excel writes one)
DELIMITERS = {".csv": ",;\t|", ".tsv": "\t", ".txt": ",;\t| "}
TRUE, FALSE = "true", "false"
DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+")


@dataclass(frozen=True)
class Layout:
    """How a delimited file is laid out, from its head."""

    delimiter: str
    header: bool
    names: list[str]  # the columns' names: the header's, or "0", "1", ... without one
    bytes_per_row: float  # in the head: to estimate the rows of the whole file
    quotechar: str = '"'

    def dialect(self) -> dict[str, Any]:
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quotechar,
            "skipinitialspace": self.delimiter == " ",
            "strict": False,
        }


def _name(path: Path) -> str:
    return f"'{path.name}'"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_head(path: Path) -> str:
    """The first lines of the file (at least SAMPLE_BYTES of them, whole lines), decoded."""
    size = SAMPLE_BYTES
    with path.open("rb") as handle:
        while True:
            blob = handle.read(size)
            whole = len(blob) < size
            cut = blob if whole else blob[: blob.rfind(b"\n") + 1]
            if cut or whole:
                break
            if size >= MAX_LINE_BYTES:
                raise DataError(
                    f"{_name(path)}: the first line is longer than {MAX_LINE_BYTES // 2**20} MiB;"
                    " is it a delimited text file?"
                )
            handle.seek(0)
            size *= 4
    if b"\0" in cut:
        raise DataError(f"{_name(path)} holds NUL bytes: it is not a text file (UTF-8 expected)")
    try:
        return cut.decode(ENCODING)
    except UnicodeDecodeError as exc:
        raise _encoding_error(path, cut, exc.start) from None


def _encoding_error(path: Path, blob: bytes | None = None, offset: int | None = None) -> DataError:
    """Where the first byte that is not UTF-8 is (found by decoding again, in chunks)."""
    if offset is None or blob is None:
        decoder = codecs.getincrementaldecoder("utf-8")()
        done, lines = 0, 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    blob, offset = chunk, exc.start
                    offset_in_file = done + exc.start
                    break
                done += len(chunk)
                lines += chunk.count(b"\n")
            else:
                return DataError(f"{_name(path)} is not UTF-8 text; save it as UTF-8")
        line = lines + blob[:offset].count(b"\n") + 1
    else:
        offset_in_file = offset
        line = blob[:offset].count(b"\n") + 1
    return DataError(
        f"{_name(path)} is not UTF-8 text: byte 0x{blob[offset]:02x} at offset {offset_in_file:,} "
        f"(line {line}); save it as UTF-8 (Excel: CSV UTF-8; iconv -f latin1 -t utf-8)"
    )


def sniff(path: Path, header: str | bool) -> Layout:
    """The delimiter, whether the first row is a header, and the columns' names."""
    text = read_head(path)
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(f"{_name(path)} is empty: no rows")
    suffix = path.suffix.lower()
    candidates = DELIMITERS[suffix]
    sample = "\n".join(lines[:200])
    quotechar = '"'
    if len(candidates) == 1:
        delimiter = candidates
    else:
        try:
            sniffed = csv.Sniffer().sniff(sample, delimiters=candidates)
            delimiter, quotechar = sniffed.delimiter, sniffed.quotechar or '"'
        except csv.Error:
            delimiter = _most_regular(lines[:200], candidates)
    head = Layout(delimiter, False, [], 0.0, quotechar)
    rows = [row for row in csv.reader(lines[:200], **head.dialect()) if row]
    first = rows[0]
    if len(first) < 2:
        raise DataError(
            f"{_name(path)} has one column (delimiter tried: {_shown_delimiter(delimiter)}); "
            "a table needs feature columns and a label column"
        )
    if header == "auto":
        header = _looks_like_header(first, rows[1:])
    if header:
        names = [cell.strip() or str(index) for index, cell in enumerate(first)]
        check_unique(path, names)
    else:
        names = [str(index) for index in range(len(first))]
    return Layout(delimiter, bool(header), names, len(text.encode()) / len(lines), quotechar)


def _looks_like_header(first: list[str], rows: list[list[str]]) -> bool:
    """Whether the first row names the columns: a vote over the columns, as csv.Sniffer's
    has_header does it (text above a column of numbers: a name; a number above numbers: data);
    a lone row without numbers is a header."""
    if not rows:
        return not any(_is_number(cell) for cell in first)
    votes = 0
    for column, cell in enumerate(first):
        below = [row[column] for row in rows if column < len(row) and row[column].strip()]
        if below and all(_is_number(value) for value in below):
            votes += -1 if _is_number(cell) else 1
    return votes > 0


def _most_regular(lines: Sequence[str], candidates: str) -> str:
    """The candidate that splits every line into the same number (> 1) of fields, most
    fields first; ',' when none does."""
    best, fields = ",", 1
    for candidate in candidates:
        counts = {line.count(candidate) for line in lines}
        if len(counts) == 1 and (count := counts.pop()) + 1 > fields:
            best, fields = candidate, count + 1
    return best


def _shown_delimiter(delimiter: str) -> str:
    return {"\t": "tab", " ": "space"}.get(delimiter, f"'{delimiter}'")


def column_index(
    path: Path, names: list[str], column: int | str, key: str, header: bool = True
) -> int:
    """A column named, or given by its 0-based index (negative: from the end)."""
    if isinstance(column, str) and column in names:
        return names.index(column)
    as_int = column if isinstance(column, int) else _integer(column)
    if as_int is not None:
        if -len(names) <= as_int < len(names):
            return as_int % len(names)
        raise DataError(
            f"data.{key} {as_int} is not a column of {_name(path)}: it has {len(names)} "
            f"columns, 0 to {len(names) - 1}"
        )
    if header:
        raise DataError(
            unknown(f"data.{key} column", str(column), names, where=f" in {_name(path)}")
        )
    raise DataError(
        f"data.{key} '{column}' names no column of {_name(path)}: it has no header row (line 1 "
        f"holds data), so its {len(names)} columns go by index, 0 to {len(names) - 1}; if line "
        "1 names the columns, set data.header: true"
    )


def _integer(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def columns_of(
    path: Path, layout: Layout, target: int | str | None, features: Sequence[int | str] | None
) -> tuple[int, list[int]]:
    """(the target column, the feature columns) as indices."""
    if target is None:  # the schema asks for one; a caller that skipped it gets the last
        target = -1
    label = column_index(path, layout.names, target, "target", layout.header)
    return label, feature_columns(path, layout.names, label, features, layout.header)


def feature_columns(
    path: Path,
    names: list[str],
    label: int | None,
    features: Sequence[int | str] | None,
    header: bool = True,
) -> list[int]:
    """The feature columns as indices: `features`, or every column but the target column
    `label` (None where the labels are not among the columns, as in an .npz archive)."""
    if features is None:
        return [index for index in range(len(names)) if index != label]
    chosen = [column_index(path, names, item, "features", header) for item in features]
    if label is not None and label in chosen:
        raise DataError(
            f"data.features lists the target column '{names[label]}'; a model must "
            "not see its own labels"
        )
    if len(set(chosen)) != len(chosen):
        raise DataError("data.features lists a column twice")
    if not chosen:
        raise DataError("data.features is empty; give at least one feature column")
    return chosen


def check_unique(path: Path, names: list[str]) -> None:
    """One name per column."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise DataError(
                f"{_name(path)}: column name '{name}' is used twice (columns {seen[name]} and "
                f"{index}); give each column its own name"
            )
        seen[name] = index


@dataclass
class _Problems:
    """What went wrong in the rows, collected over the whole file so one message can say it."""

    not_numbers: dict[int, tuple[str, int]]  # column -> (first offending cell, its line)
    no_label: list[int]  # lines with an empty label

    def __init__(self) -> None:
        self.not_numbers = {}
        self.no_label = []


def read_delimited(
    path: Path, target: int | str | None, features: Sequence[int | str] | None, header: str | bool
) -> Table:
    """The file's rows as a checked Table (see actbench.data.table.labelled).

    numpy's loadtxt parses the numbers (a C parser, ~3x faster than float() per cell) and the
    csv module the labels; a file loadtxt refuses is parsed row by row, which finds every cell
    that is not a number, so that the error can name its columns."""
    layout = sniff(path, header)
    label, chosen = columns_of(path, layout, target, features)
    numbers = _numbers(path, layout, chosen)
    parsed = _parse(path, layout, label, chosen, with_values=numbers is None)
    if numbers is not None and len(numbers) != len(parsed.codes):  # they disagree on a row
        numbers = None
        parsed = _parse(path, layout, label, chosen, with_values=True)
    codes, code_of, problems = parsed.codes, parsed.code_of, parsed.problems
    rows = len(codes)
    if rows == 0:
        raise DataError(f"{_name(path)} has a header but no data rows")
    _report(path, layout, chosen, problems)
    if problems.no_label:
        first = problems.no_label[0]
        raise DataError(
            f"{_name(path)}: the target '{layout.names[label]}' is empty on line {first}; every "
            "row needs a label: drop the unlabelled rows"
        )
    x = numbers if numbers is not None else np.frombuffer(parsed.values, dtype=np.float64)
    x = x.reshape(rows, len(chosen))
    labels = _typed(list(code_of))  # each distinct label text once, in the order first seen
    if any(isinstance(value, float) and math.isnan(value) for value in labels):
        raise DataError(
            f"{_name(path)}: the target '{layout.names[label]}' has NaN labels; every row needs "
            "a label: drop the unlabelled rows"
        )
    # each class once, sorted ("1" and "01" are one class), as for labels from arrays
    recode, classes = encode_labels(labels, _name(path), layout.names[label])
    return labelled_codes(
        x,
        recode[np.frombuffer(codes, dtype=np.int64)],
        classes,
        features=[layout.names[index] for index in chosen],
        target=layout.names[label],
        source=_name(path),
    )


def _numbers(path: Path, layout: Layout, chosen: list[int]) -> np.ndarray | None:
    """The feature columns by numpy's loadtxt; None where it refuses the file (a cell that is
    not a number, an empty one, a short row) or cannot split it (spaces)."""
    if layout.delimiter == " ":
        return None
    try:
        with warnings.catch_warnings():  # an empty file: said in one line below
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(
                path,
                dtype=np.float64,
                delimiter=layout.delimiter,
                quotechar=layout.quotechar,
                comments=None,
                skiprows=int(layout.header),
                usecols=chosen,
                encoding=ENCODING,
                ndmin=2,
            )
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class _Parsed:
    """A row-by-row read: the label codes, and the feature values when they were parsed."""

    values: array[float]
    codes: array[int]
    code_of: dict[str, int]
    problems: _Problems


def _parse(
    path: Path, layout: Layout, label: int, chosen: list[int], *, with_values: bool
) -> _Parsed:
    """Every row by the csv module: its label (and its features, `with_values`), checking
    that each row has one field per column."""
    width = len(layout.names)
    values: array[float] = array("d")
    codes: array[int] = array("q")
    code_of: dict[str, int] = {}
    problems = _Problems()
    pick = itemgetter(*chosen) if len(chosen) > 1 else (lambda row: (row[chosen[0]],))
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with path.open(encoding=ENCODING, newline="") as handle:
            reader = csv.reader(handle, **layout.dialect())
            if layout.header:
                next(reader, None)
            for row in reader:
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # a blank line
                    raise _ragged(path, layout, reader.line_num, len(row))
                if with_values:
                    start = len(values)
                    try:
                        values.extend(map(float, pick(row)))
                    except ValueError:
                        del values[start:]
                        values.extend(_slowly(pick(row), chosen, reader.line_num, problems))
                text = row[label].strip()
                code = code_of.get(text)
                if code is None:
                    if not text:
                        problems.no_label.append(reader.line_num)
                    code = code_of[text] = len(code_of)
                codes.append(code)
    except UnicodeDecodeError:
        raise _encoding_error(path) from None
    except csv.Error as exc:
        delimiter = _shown_delimiter(layout.delimiter)
        raise DataError(f"{_name(path)}: cannot read it as {delimiter}-delimited: {exc}") from None
    return _Parsed(values, codes, code_of, problems)


def _slowly(
    cells: Sequence[str], columns: Sequence[int], line: int, problems: _Problems
) -> list[float]:
    """A row with a cell float() refuses: empty cells are missing values (NaN, reported with
    the other non-finite values), other text is a column that is not numeric."""
    parsed = []
    for column, cell in zip(columns, cells, strict=True):
        try:
            parsed.append(float(cell))
        except ValueError:
            parsed.append(float("nan"))
            if cell.strip():
                problems.not_numbers.setdefault(column, (cell.strip(), line))
    return parsed


def _ragged(path: Path, layout: Layout, line: int, fields: int) -> DataError:
    what = "the header has" if layout.header else "line 1 has"
    return DataError(
        f"{_name(path)}: line {line} has {fmt.plural(fields, 'field')} but {what} "
        f"{len(layout.names)} (delimiter {_shown_delimiter(layout.delimiter)}); every row "
        "needs one value per column"
    )


def _report(path: Path, layout: Layout, chosen: list[int], problems: _Problems) -> None:
    """Feature columns that hold text: name them and say how to encode them."""
    if not problems.not_numbers:
        return
    found = sorted(problems.not_numbers.items())
    quoted = [
        f"'{layout.names[column]}' ('{fmt.printable(cell)[:20]}' on line {line})"
        for column, (cell, line) in found
    ]
    lines = {line for _, (_, line) in found}
    hint = ""
    if lines == {1} and not layout.header:
        hint = "; line 1 looks like a header: set data.header: true"
    elif any(DECIMAL_COMMA.fullmatch(cell) for cell, _ in problems.not_numbers.values()):
        hint = "; they look like decimal commas: write the numbers with decimal points (0.5)"
    raise not_numeric(_name(path), quoted, f" with data.features{hint}")


def _typed(texts: list[str]) -> list[Any]:
    """Label texts as the values they spell: all integers -> int, all numbers -> float, all
    true/false (any case) -> bool, else the strings themselves."""
    converters: list[Callable[[str], Any]] = [int, float, _boolean]
    for convert in converters:
        try:
            return [convert(text) for text in texts]
        except ValueError:
            continue
    return texts


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered == TRUE:
        return True
    if lowered == FALSE:
        return False
    raise ValueError(text)
