"""Views and the one way to write them: `emit(view, fmt, console)`.

A command builds a `View` (tables of formatted cells for people, flat records for CSV, a
document for JSON) and hands it to `emit`, which writes it as a rich table, Markdown, CSV or
JSON. No command formats its own output, so every command honours every `--format`.

Tables are designed for 80 columns: numbers are never cut; text columns (labels) wrap;
columns marked optional are left out, with a note saying so, when even wrapped text does not
make the table fit.

Every text of a view (titles, captions, headers, cells, notes) may come from a results.json or
a baseline someone else wrote; `emit` makes it safe for where it goes through the formatter,
here and only here: `terminal_text` (control characters shown as escapes), `to_markdown_text`
(and HTML escaped), `to_csv` (formula-looking text neutralised), `json_text` (NaN/inf as null).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from pydantic import BaseModel
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from actbench.format import csv_cell, markdown, printable

# The output formats: the one list, in the order --help shows them (the CLI's --format choices
# are made from it). table is for people; the others are plain text for pipes.
Format = Literal["table", "json", "csv", "md"]
FORMATS: tuple[Format, ...] = get_args(Format)
BEST_STYLE = "bold green"
MIN_TEXT_WIDTH = 10  # a text column is never squeezed below this
# Characters a stream that cannot encode them gets in plain ASCII instead.
ASCII_FALLBACK = {"±": "+/-", "Δ": "d", "×": "x", "…": "...", "≤": "<=", "≥": ">=", "τ": "tau"}


@dataclass(frozen=True)
class Cell:
    """One formatted value. `best`: the best value of its column (highlighted)."""

    text: str
    best: bool = False
    style: str = ""


@dataclass(frozen=True)
class Column:
    """numeric: right-aligned. wrap: the text may wrap (never for numbers or identifiers,
    which are never cut either). optional: may be left out when the table does not fit."""

    header: str
    numeric: bool = True
    wrap: bool = False
    style: str = ""
    optional: bool = False
    # an identifier that may fold over lines, last of all, when the table cannot fit otherwise
    # (a long run id): folded, it is still whole, where a cut one would push others out
    fold: bool = False
    # a value repeated down a section is shown once in the terminal (sweep grid values);
    # Markdown and CSV repeat it on every row
    merge: bool = False


def text_column(header: str, **kwargs: Any) -> Column:
    """A left-aligned column whose text may wrap (labels, descriptions)."""
    return Column(header, numeric=False, wrap=True, **kwargs)


@dataclass
class TableView:
    title: str
    columns: list[Column]
    sections: list[list[list[Cell]]] = field(default_factory=list)  # rows, in sections
    caption: list[str] = field(default_factory=list)
    name: str = ""  # what kind of table (summary, baseline, members): a class in HTML

    def add_section(self, rows: list[list[Cell]]) -> None:
        if rows:
            self.sections.append(rows)

    @property
    def rows(self) -> list[list[Cell]]:
        return [row for section in self.sections for row in section]


@dataclass
class View:
    """Everything one command shows, in every format."""

    tables: list[TableView] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # CSV: one flat dict per row
    document: Any = None  # JSON: a pydantic model or plain data
    notes: list[str] = field(default_factory=list)  # plain-language lines under the tables


def cells(*texts: str) -> list[Cell]:
    return [Cell(text) for text in texts]


# --- emit ---------------------------------------------------------------------------------------


TERMINAL_NOTES = 8  # notes a terminal table shows; every other format shows them all


def shortened(notes: list[str], most: int = TERMINAL_NOTES) -> list[str]:
    """The first notes and a count of the rest, when there are more than `most`."""
    if len(notes) <= most:
        return notes
    more = len(notes) - (most - 1)
    return [
        *notes[: most - 1],
        f"... and {more} more notes (all of them: results.json, --format md, report --markdown)",
    ]


def emit(view: View, fmt: Format, console: Console) -> None:
    """Write `view` to `console` as a table (for people) or json/csv/md (plain text)."""
    if fmt == "table":
        ascii_only = not _can_encode(console, "±")
        for table in view.tables:
            console.print(to_rich(table, console.width, ascii_only))
        for note in shortened(view.notes):
            console.print(Text("- " + terminal_text(note, ascii_only)))
        return
    if fmt == "json":
        text = json_text(view.document)
    elif fmt == "csv":
        text = to_csv(view.records)
    else:
        text = "\n".join(to_markdown(table) for table in view.tables)
        if view.notes:
            text += "\n" + "".join(f"- {to_markdown_text(note)}\n" for note in view.notes)
    if not _can_encode(console, text):
        text = _safe(text, True)
    try:
        console.file.write(text)
        console.file.flush()
    except BrokenPipeError:
        console.on_broken_pipe()  # the reader left (`| head`): the console says what happens


def json_text(document: Any) -> str:
    """JSON that any parser reads: a NaN or infinity (from a hand-edited results.json) is null,
    as the record types write it."""
    if isinstance(document, BaseModel):
        return document.model_dump_json(indent=2) + "\n"
    return json.dumps(_finite(document), indent=2, allow_nan=False, default=_jsonable) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _can_encode(console: Console, text: str) -> bool:
    encoding = getattr(console.file, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _safe(text: str, ascii_only: bool) -> str:
    if not ascii_only:
        return text
    for char, plain in ASCII_FALLBACK.items():
        text = text.replace(char, plain)
    return text.encode("ascii", "replace").decode("ascii")


# --- rich ---------------------------------------------------------------------------------------


def _width(text: str) -> int:
    return max((cell_len(line) for line in text.split("\n")), default=0)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def fit_columns(table: TableView, width: int) -> tuple[list[int], list[int]]:
    """(indices of the columns shown, their widths) so the table fits `width` characters.

    Numbers and identifiers keep their natural width. Text columns shrink (their text wraps)
    down to their longest word; optional columns are left out, rightmost first, if that is not
    enough; and only then do long words fold, down to MIN_TEXT_WIDTH.
    """
    rows = table.rows
    natural = [
        max([_width(col.header), *(_width(row[i].text) for row in rows if i < len(row))])
        for i, col in enumerate(table.columns)
    ]
    shown = list(range(len(table.columns)))

    def minimum(i: int, fold: int) -> int:
        col = table.columns[i]
        if not col.wrap:
            return min(natural[i], MIN_TEXT_WIDTH) if col.fold and fold > 1 else natural[i]
        if fold:  # long words break across lines
            return min(natural[i], MIN_TEXT_WIDTH)
        words = [_longest_word(col.header), *(_longest_word(row[i].text) for row in rows)]
        return min(natural[i], max(MIN_TEXT_WIDTH, *words))

    def total(indices: list[int], sizes: dict[int, int]) -> int:
        # every column is padded by one space on its right, and columns are one space apart
        return sum(sizes[i] + 1 for i in indices) + len(indices) - 1

    # whole words if the table can fit that way, else folded words; optional columns go first
    optional = [i for i in shown if table.columns[i].optional]
    while optional and total(shown, {i: minimum(i, 0) for i in shown}) > width:
        shown.remove(optional.pop())
    sizes = {i: natural[i] for i in shown}
    excess = total(shown, sizes) - width
    # shrink the widest text column first, one character at a time: down to whole words, and
    # only where that is not enough, folding words; then fold identifiers that allow it
    for fold in (0, 1, 2):
        while excess > 0:
            candidates = [i for i in shown if sizes[i] > minimum(i, fold)]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: sizes[i])
            sizes[widest] -= 1
            excess -= 1
    return shown, [sizes[i] for i in shown]


def to_rich(table: TableView, width: int, ascii_only: bool = False) -> Table:
    """The rich Table of a view, fitted to `width` (see fit_columns)."""
    shown, widths = fit_columns(table, width)
    hidden = [table.columns[i].header.replace("\n", " ") for i in range(len(table.columns))]
    hidden = [h for i, h in enumerate(hidden) if i not in shown]
    caption = list(table.caption)
    if hidden:
        caption.append(f"not shown at this width: {', '.join(hidden)} (--format md shows all)")
    table_width = sum(widths) + 2 * len(widths) - 1
    texts = [table.title, *caption]
    rich_table = Table(
        title=Text(terminal_text(table.title, ascii_only), style="italic") if table.title else None,
        caption=Text(terminal_text("\n".join(caption), ascii_only), style="dim")
        if caption
        else None,
        header_style="bold",
        box=box.SIMPLE_HEAVY,
        show_edge=False,
        padding=(0, 1, 0, 0),
        min_width=min(width, max(table_width, *(_width(t) for t in texts))),
        safe_box=True,
    )
    for i, size in zip(shown, widths, strict=True):
        col = table.columns[i]
        rich_table.add_column(
            Text(terminal_text(col.header, ascii_only), style="bold"),
            justify="right" if col.numeric else "left",
            style=col.style,
            no_wrap=not (col.wrap or col.fold),
            overflow="fold",
            min_width=size,
            max_width=size if col.wrap or col.fold else None,
        )
    for number, section in enumerate(table.sections):
        if number:
            rich_table.add_section()
        previous: list[Cell] | None = None
        for row in section:
            shown_cells = [
                Cell("")
                if table.columns[i].merge and previous is not None and previous[i] == row[i]
                else row[i]
                for i in shown
            ]
            rich_table.add_row(*(_rich_cell(cell, ascii_only) for cell in shown_cells))
            previous = row
    return rich_table


def _rich_cell(cell: Cell, ascii_only: bool) -> Text:
    style = BEST_STYLE if cell.best else cell.style
    return Text(terminal_text(cell.text, ascii_only), style=style)


def printable_lines(text: str) -> str:
    return "\n".join(printable(line) for line in text.split("\n"))


def terminal_text(text: str, ascii_only: bool = False) -> str:
    """Any text of a view, for a terminal: its lines kept, control characters (escape
    sequences that would retitle or clear it) shown as escapes."""
    return _safe(printable_lines(text), ascii_only)


# --- markdown and csv ---------------------------------------------------------------------------


def to_markdown_text(text: str) -> str:
    """One table cell or line of Markdown: | escaped, no line breaks, control chars shown, HTML
    escaped (see format.markdown)."""
    return markdown(text)


def to_markdown(table: TableView) -> str:
    """A GitHub table under its title in bold; text columns left-aligned, numbers right; best
    values in bold; the caption follows in italics."""
    headers = [to_markdown_text(col.header) for col in table.columns]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---:" if col.numeric else "---" for col in table.columns) + " |",
    ]
    for row in table.rows:
        texts = [to_markdown_text(cell.text) for cell in row]
        texts = [f"**{t}**" if cell.best and t else t for t, cell in zip(texts, row, strict=True)]
        lines.append("| " + " | ".join(texts) + " |")
    text = "\n".join(lines) + "\n"
    if table.title:
        text = f"**{to_markdown_text(table.title)}**\n\n" + text
    if table.caption:
        text += "\n" + "".join(f"_{to_markdown_text(line)}_  \n" for line in table.caption)
    return text


def to_html(table: TableView, strong_best: bool = False) -> str:
    """An HTML table (every text escaped) in a sideways-scrolling box, the caption below it.

    Classes: text columns `text`, sweep columns `grid`, best values `best`, warnings `bad`,
    and `next-point` on the first row of every section after the first. `strong_best`: best
    values in <strong> as well, for pages without report.html's style sheet (a notebook).
    """
    from html import escape

    def attribute(classes: list[str]) -> str:
        return f' class="{" ".join(classes)}"' if classes else ""

    header = "".join(
        f'<th scope="col"{attribute([] if col.numeric else ["text"])}>'
        f"{escape(col.header.replace(chr(10), ' '))}</th>"
        for col in table.columns
    )
    body = []
    for number, section in enumerate(table.sections):
        for i, row in enumerate(section):
            cells = []
            for col, cell in zip(table.columns, row, strict=True):
                classes = [] if col.numeric else ["text"]
                classes += ["grid"] if col.merge else []
                classes += ["best"] if cell.best else []
                classes += ["bad"] if "red" in cell.style else []
                text = escape(printable_lines(cell.text))
                if strong_best and cell.best and text:
                    text = f"<strong>{text}</strong>"
                cells.append(f"<td{attribute(classes)}>{text}</td>")
            row_class = attribute(["next-point"]) if number and i == 0 else ""
            body.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    html = (
        f"<table{attribute([table.name] if table.name else [])}><thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
    notes = "".join(f'<p class="note">{escape(line)}</p>' for line in table.caption)
    return f'<div class="scroll">{html}</div>{notes}'


def to_csv(records: Sequence[dict[str, Any]]) -> str:
    """A header and one row per record; lists and dicts as JSON, None as empty. Numbers are
    written as numbers; text that a spreadsheet would take for a formula gets a leading `'`
    (format.csv_cell), headers included."""
    if not records:
        return ""
    fields = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([csv_cell(key) for key in fields])
    for record in records:
        writer.writerow([_csv_value(record.get(key)) for key in fields])
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, list | dict | tuple):
        return json.dumps(value)
    return csv_cell(value)
