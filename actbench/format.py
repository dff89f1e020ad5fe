"""The one formatter of values: numbers, percents, counts, sweep points, hidden shapes, labels.

Tables, Markdown, figures, gate messages and error messages all write values through these
functions, so a value reads the same everywhere. Plain functions, no imports from the rest of
actbench: the config layer uses them for its error messages.

It is also the one place text from outside (a label, a run id, a device, a notice or error read
from a results.json, a baseline or a run folder) is made safe for where it goes: `printable`
for a terminal, `markdown` and `markdown_code` for Markdown, `csv_cell` for a CSV cell.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MISSING = "-"  # a value that does not exist (the std of one seed, a failed member's loss)


def number(value: float | None, digits: int = 3) -> str:
    """A loss or other real number: fixed decimals; very large or small values in 3 digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if value != 0 and (abs(value) >= 1e4 or abs(value) < 10 ** -(digits + 1)):
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def fixed(value: float, digits: int) -> str:
    """A real number with exactly `digits` decimals however large or small: a measured value
    next to the bound it is checked against, and the margin it misses by (0.7812)."""
    return f"{value:.{digits}f}"


def significant(value: float | None, digits: int = 2) -> str:
    """A value that may span orders of magnitude (a ratio): 0.73, 1.1e-04."""
    if value is None or math.isnan(value):
        return MISSING
    return f"{value:.{digits}g}"


def percent(fraction: float | None, std: float | None = None) -> str:
    """A fraction as a percentage with one decimal, with ± std (also a fraction) if given."""
    if fraction is None or math.isnan(fraction):
        return MISSING
    text = f"{100 * fraction:.1f}"
    if std is not None and math.isfinite(std):
        text += f" ± {100 * std:.1f}"
    return text


def points(fraction: float | None) -> str:
    """A difference of two fractions in signed percentage points: +1.2."""
    if fraction is None or math.isnan(fraction):
        return MISSING
    return f"{100 * fraction:+.1f}"


def interval(bounds: Sequence[float] | None) -> str:
    """A confidence interval of a difference, in percentage points: [-0.4, +2.1]."""
    if not bounds:
        return MISSING
    return f"[{points(bounds[0])}, {points(bounds[1])}]"


def p_value(value: float | None) -> str:
    """A p-value: 0.031, or < 0.001 (three decimals cannot say how small)."""
    if value is None or math.isnan(value):
        return MISSING
    return "< 0.001" if 0 < value < 0.001 else f"{value:.3f}"


def p_clause(value: float | None) -> str:
    """A p-value in a sentence: 'p = 0.031', 'p < 0.001'."""
    text = p_value(value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def count(mean: float | None) -> str:
    """A count, or a mean count over seeds: 3, 2.4."""
    if mean is None or math.isnan(mean):
        return MISSING
    return f"{mean:.0f}" if float(mean).is_integer() else f"{mean:.1f}"


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 600 else f"{value / 60:.1f} min"


def size(n_bytes: int) -> str:
    """A file or memory size in binary units: 512 bytes, 64 KiB, 1.5 GiB."""
    if n_bytes < 1024:
        return plural(n_bytes, "byte")
    amount = float(n_bytes)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        amount /= 1024
        if amount < 1024 or unit == "TiB":
            break
    return f"{amount:.0f} {unit}" if amount.is_integer() else f"{amount:.1f} {unit}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 epoch', '2 epochs', '1 thread'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def hidden(widths: Sequence[int]) -> str:
    """Hidden layer widths in Python's list notation: [50], [8, 8], and [2]*10 for ten
    layers of 2 units (the expression that builds that list)."""
    widths = list(widths)
    if len(widths) > 3 and all(w == widths[0] for w in widths):
        return f"[{widths[0]}]*{len(widths)}"
    return "[" + ", ".join(str(w) for w in widths) + "]"


def value(item: Any) -> str:
    """A config or sweep value: 0.001, 1e-05, true, relu, [8, 8], [2]*10, {k: v}."""
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, float):
        return f"{item:g}"
    if isinstance(item, list | tuple):
        if all(isinstance(v, int) and not isinstance(v, bool) for v in item) and item:
            return hidden(item)
        return "[" + ", ".join(value(v) for v in item) + "]"
    if isinstance(item, Mapping):
        return "{" + ", ".join(f"{k}: {value(v)}" for k, v in item.items()) + "}"
    if item is None:
        return MISSING
    return str(item)


def key_names(keys: Iterable[str]) -> dict[str, str]:
    """Dotted config keys -> short column names: 'train.lr' -> 'lr', unless two keys share
    their last part (then the full key)."""
    unique = list(dict.fromkeys(keys))
    last = [key.rsplit(".", 1)[-1] for key in unique]
    return {
        key: (short if last.count(short) == 1 else key)
        for key, short in zip(unique, last, strict=True)
    }


def grid_point(grid: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """A sweep grid point: 'lr=0.001, hidden=[8, 8]' ('' without a sweep)."""
    names = names if names is not None else key_names(grid)
    return ", ".join(f"{names.get(k, k)}={value(v)}" for k, v in grid.items())


def member(label: str, seed: int, grid: Mapping[str, Any] | None = None) -> str:
    """Which member: 'relu seed 3 [lr=0.1]'."""
    where = grid_point(grid) if grid else ""
    return f"{label} seed {seed}" + (f" [{where}]" if where else "")


def label(item: Any) -> str:
    """A class's original label in a sentence: strings quoted ('yes'), others as values (1,
    true, 0.5)."""
    return f"'{printable(item)}'" if isinstance(item, str) else value(item)


def params(values: Mapping[str, Any]) -> str:
    """Activation parameters: 'negative_slope=0.2, ste=true'."""
    return ", ".join(f"{k}={value(v)}" for k, v in values.items())


def markdown(text: str) -> str:
    """Text as one line of Markdown, or one table cell: control characters shown as escapes,
    line breaks as spaces, `\\` and `|` escaped, and `&`, `<`, `>` as HTML entities, so that a
    renderer that allows HTML shows a label like `<img onerror=...>` as text and runs nothing."""
    flat = " ".join(printable(part) for part in text.split("\n"))
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return flat.replace("\\", "\\\\").replace("|", "\\|")


def markdown_code(text: str) -> str:
    """Text as an inline code span: shown literally (HTML included) by every CommonMark
    renderer; the fence is longer than any run of backticks inside, as CommonMark asks."""
    flat = " ".join(printable(part) for part in text.split("\n"))
    fence = "`" * (max((len(run) for run in re.findall("`+", flat)), default=0) + 1)
    padding = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{padding}{flat}{padding}{fence}"


# Leading characters a spreadsheet reads as the start of a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(item: Any) -> Any:
    """A CSV cell: numbers stay numbers (a negative loss is written as -0.5 and read back as
    one); text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
    leading `'`, as OWASP's CSV-injection guidance recommends, and control characters are
    shown as escapes (CSV on stdout may be read in a terminal)."""
    if not isinstance(item, str):
        return item
    if item.startswith(FORMULA_START):
        item = "'" + item
    return printable(item)


def printable(text: str) -> str:
    """Text with control characters (escape sequences, newlines) shown as escapes, so a label
    can never retitle or clear the terminal, or break a table row; always one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
