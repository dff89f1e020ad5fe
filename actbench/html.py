"""report.html: one self-contained page per run (figures inline, no network, light and dark).

Every value goes through html.escape: labels are user text and may hold `<` or `&`. The page
has no scripts, no links and no external resources, so it can be mailed, attached to a CI job
or opened offline, and reads the same at phone (~390 px) and desktop widths: tables scroll
sideways in their own box, figures scale down.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

import yaml

from actbench.config import format_value, short_key
from actbench.plots import CAPTIONS
from actbench.report import SUMMARY_COLUMNS, _best, grid_sections
from actbench.runs import RunResult, SummaryRow, write_atomic

REPORT_FILE = "report.html"
IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

STYLE = """
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #ffffff; --muted: #57606a;
  --rule: #d0d7de; --head: #f6f8fa; --best: #1a7f37; --warn-bg: #fff8c5; --warn: #7d4e00;
  --bad: #cf222e; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8d96a0; --rule: #30363d; --head: #161b22;
    --best: #3fb950; --warn-bg: #2e2a1a; --warn: #e3b341; --bad: #f85149; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.35rem; margin: 0.2em 0; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.6em 0 0.5em; padding-bottom: 0.2em;
  border-bottom: 1px solid var(--rule); }
p.meta, figcaption, .note { color: var(--muted); font-size: 0.9rem; }
p.note { margin: -0.4em 0 1em; }
.scroll { overflow-x: auto; max-width: 100%; margin: 0.8em 0; border: 1px solid var(--rule);
  border-radius: 6px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; width: max-content;
  min-width: 100%; }
th, td { padding: 4px 10px; text-align: right; white-space: nowrap;
  border-bottom: 1px solid var(--rule); }
th { background: var(--head); font-weight: 600; }
th.text, td.text { text-align: left; }
td.grid { color: var(--muted); }
tr.next-point > td { border-top: 2px solid var(--muted); }
td.best { color: var(--best); font-weight: 700; }
td.bad { color: var(--bad); }
.notices { background: var(--warn-bg); color: var(--warn); border-radius: 6px;
  padding: 8px 12px 8px 28px; }
.status { color: var(--bad); font-weight: 700; }
figure { margin: 1.2em 0; }
figure img { display: block; max-width: 100%; height: auto; background: #ffffff;
  border: 1px solid var(--rule); border-radius: 6px; }
pre { background: var(--head); border: 1px solid var(--rule); border-radius: 6px;
  padding: 10px; overflow-x: auto; font-size: 0.85rem; line-height: 1.4; }
.environment td { white-space: normal; overflow-wrap: anywhere; min-width: 12em; }
details > summary { cursor: pointer; margin: 0.6em 0; }
footer { margin: 2em 0 1em; color: var(--muted); font-size: 0.85rem; }
"""


def write_html_report(result: RunResult, run_dir: Path, figures: Sequence[Path]) -> Path:
    """Write run_dir/report.html: tables, the image files among `figures` inline, notices,
    config and environment. Returns its path."""
    path = run_dir / REPORT_FILE
    write_atomic(path, report_html(result, figures))
    return path


def report_html(result: RunResult, figures: Sequence[Path]) -> str:
    """The whole page as text."""
    labels = list(dict.fromkeys(run.label for run in result.runs))
    seeds = {run.seed for run in result.runs}
    points = {repr(run.grid) for run in result.runs}
    shape = f"{len(labels)} activations × {len(seeds)} seeds" + (
        f" × {len(points)} grid points" if len(points) > 1 else ""
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>actbench {escape(result.run_id)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        "<main>",
        "<header>",
        f"<h1>actbench run <code>{escape(result.run_id)}</code></h1>",
        f'<p class="meta">{len(result.runs)} models ({escape(shape)}) on '
        f"{escape(result.device)}, {result.seconds:.1f} s.</p>",
    ]
    if result.status == "interrupted":
        parts.append(
            '<p class="status">Interrupted: partial results of the epochs that finished.</p>'
        )
    parts.append("</header>")
    if result.notices:
        parts += ['<ul class="notices">', *_items(result.notices), "</ul>"]
    parts += ['<section id="results">', "<h2>Results</h2>", summary_html(result)]
    versus = baseline_html(result)
    if versus:
        parts.append(versus)
    parts += [
        "<details>",
        f"<summary>Every member ({len(result.runs)})</summary>",
        members_html(result),
        "</details>",
        "</section>",
    ]
    images = [figure for figure in figures if figure.suffix.lower() in IMAGE_TYPES]
    if images:
        parts += ['<section id="figures">', "<h2>Figures</h2>"]
        parts += [_figure(figure) for figure in images]
        parts.append("</section>")
    config_yaml = yaml.safe_dump(result.config, sort_keys=False, default_flow_style=None)
    parts += [
        '<section id="config">',
        "<h2>Config</h2>",
        f"<pre>{escape(config_yaml)}</pre>",
        "</section>",
        '<section id="environment">',
        "<h2>Environment</h2>",
        _key_values(result.environment),
        "</section>",
        f"<footer>actbench {escape(result.actbench_version)}</footer>",
        "</main>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _items(lines: Iterable[str]) -> list[str]:
    return [f"<li>{escape(line)}</li>" for line in lines]


def _cell(text: str, classes: Sequence[str] = ()) -> str:
    attribute = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{attribute}>{escape(text)}</td>"


def _header(texts: Iterable[tuple[str, bool]]) -> str:
    """A header row from (text, is a text column) pairs: text columns align left."""
    cells = "".join(
        f'<th scope="col" class="text">{escape(text)}</th>'
        if text_column
        else f'<th scope="col">{escape(text)}</th>'
        for text, text_column in texts
    )
    return f"<thead><tr>{cells}</tr></thead>"


def _wrap(table: str, note: str = "") -> str:
    """A table in its own sideways-scrolling box; the note below it wraps to the page width."""
    below = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<div class="scroll">{table}</div>{below}'


def _grid_keys(rows: Sequence[SummaryRow]) -> list[str]:
    return list(rows[0].grid) if rows else []


def summary_html(result: RunResult) -> str:
    """The comparison table: one row per activation (per grid point), best values marked."""
    rows = result.summary
    grid_keys = _grid_keys(rows)
    seeds = rows[0].n_seeds if rows else 0
    units = sorted({row.hidden_units for row in rows})
    caption = (
        f"mean over {seeds} seeds (± std)" if seeds > 1 else "1 seed"
    ) + f"; dead/dormant: of {'/'.join(map(str, units))} hidden units; best values in bold"
    body = []
    for number, section in enumerate(grid_sections(rows, None)):
        best = {column.key: _best(section, column) for column in SUMMARY_COLUMNS}
        for i, row in enumerate(section):
            cells = [_cell(format_value(row.grid[k]), ["grid"]) for k in grid_keys]
            for column in SUMMARY_COLUMNS:
                classes = []
                if column.higher_is_better is None:
                    classes.append("text")
                if i in best[column.key]:
                    classes.append("best")
                if column.key == "activation" and row.n_diverged:
                    classes.append("bad")
                cells.append(_cell(column.text(row), classes))
            # a rule between grid points, as the terminal table's sections
            row_class = ' class="next-point"' if number and i == 0 else ""
            body.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    header = _header(
        [(short_key(k), False) for k in grid_keys]
        + [(c.header, c.higher_is_better is None) for c in SUMMARY_COLUMNS]
    )
    table = f'<table class="summary">{header}<tbody>{"".join(body)}</tbody></table>'
    return _wrap(table, caption)


def _signed_pp(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def _verdict(row: SummaryRow) -> str:
    if row.significant is None or row.diff_mean is None:
        return "n/a"
    if not row.significant:
        return "ns"
    return "better" if row.diff_mean > 0 else "worse"


def baseline_html(result: RunResult) -> str:
    """Paired differences in test accuracy against the baseline label; '' without one."""
    rows = [row for row in result.summary if row.baseline is not None]
    if not rows:
        return ""
    grid_keys = _grid_keys(rows)
    body = []
    for row in rows:
        interval = (
            f"[{_signed_pp(row.diff_ci95[0])}, {_signed_pp(row.diff_ci95[1])}]"
            if row.diff_ci95
            else "-"
        )
        cells = [_cell(format_value(row.grid[k]), ["grid"]) for k in grid_keys]
        cells += [
            _cell(row.label, ["text"]),
            _cell(_signed_pp(row.diff_mean)),
            _cell(interval),
            _cell("-" if row.p_value is None else f"{row.p_value:.3f}"),
            _cell(_verdict(row), ["text"]),
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    header = _header(
        [(short_key(k), False) for k in grid_keys]
        + [("activation", True), ("Δ acc (pp)", False), ("95% CI", False), ("p", False)]
        + [("", True)]
    )
    caption = (
        f"test accuracy vs {rows[0].baseline}, paired over the same seeds; "
        "p: paired t-test; ns: p ≥ 0.05"
    )
    table = f'<table class="baseline">{header}<tbody>{"".join(body)}</tbody></table>'
    return _wrap(table, caption)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def members_html(result: RunResult) -> str:
    """One row per member: label, grid values, seed, status and final metrics."""
    grid_keys = list(dict.fromkeys(key for run in result.runs for key in run.grid))
    body = []
    for run in result.runs:
        cells = [_cell(run.label, ["text"])]
        cells += [
            _cell(format_value(run.grid[k]) if k in run.grid else "", ["grid"]) for k in grid_keys
        ]
        cells += [
            _cell(str(run.seed)),
            _cell(run.status, ["text"] + (["bad"] if run.status != "ok" else [])),
            _cell(str(run.epochs)),
            _cell(_num(run.train_loss)),
            _cell(_num(run.test_loss)),
            _cell(_pct(run.test_accuracy)),
            _cell(_count(run.dead_neurons)),
            _cell(_count(run.dead_neurons_init)),
            _cell(_count(run.dormant_neurons)),
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    header = _header(
        [("activation", True)]
        + [(short_key(k), False) for k in grid_keys]
        + [("seed", False), ("status", True)]
        + [
            (text, False)
            for text in (
                "epochs",
                "train loss",
                "test loss",
                "test acc %",
                "dead",
                "dead@init",
                "dormant",
            )
        ]
    )
    return _wrap(f'<table class="members">{header}<tbody>{"".join(body)}</tbody></table>')


def _figure(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    mime = IMAGE_TYPES[path.suffix.lower()]
    caption = CAPTIONS.get(path.stem, path.stem)
    return (
        f'<figure id="figure-{escape(path.stem)}">'
        f'<img src="data:{mime};base64,{data}" alt="{escape(path.stem)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _key_values(values: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><th scope="row" class="text">{escape(str(key))}</th>'
        f'<td class="text">{escape(_plain(value))}</td></tr>'
        for key, value in values.items()
    )
    return _wrap(f'<table class="environment"><tbody>{rows}</tbody></table>')


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)
