"""Everything actbench shows: views built from results, written by one `emit(view, fmt,
console)` as a table, JSON, CSV or Markdown. Values are written by `actbench.format`, the
one formatter.

- view.py: the View/TableView/Cell model, emit, the 80-column fitting, Markdown, CSV
- columns.py: the comparison table's columns (sort keys, --columns)
- results.py: compare / train / report / baseline views
- catalog.py: activations and show; listing.py: saved runs; bench.py: the benchmark
- progress.py: the progress bar
"""

from actbench.render.view import FORMATS, Format, View, emit

__all__ = ["FORMATS", "Format", "View", "emit"]
