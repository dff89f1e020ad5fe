"""report.html: one self-contained page per run (figures inline, no network, light and dark).

Every value goes through html.escape: labels are user text and may hold `<` or `&`. The page
has no scripts, no links and no external resources, so it can be mailed, attached to a CI job
or opened offline, and reads the same at phone (~390 px) and desktop widths: tables scroll
sideways in their own box; figures take the window's width (up to their own, wider than the
text) and open at full size when clicked (a checkbox per figure, no script).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

import yaml

from actbench import format as fmt
from actbench.plots import CAPTIONS
from actbench.render.results import members_table, result_view
from actbench.render.view import to_html
from actbench.runs import RunResult, write_atomic

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
body { margin: 0; background: var(--bg); color: var(--fg); container-type: inline-size;
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
.gates-passed { color: var(--best); font-weight: 700; }
figure { margin: 1.2em 0; position: relative; left: 50%; transform: translateX(-50%);
  width: min(calc(100cqw - 32px), var(--natural, 100%)); }
figure img { display: block; max-width: 100%; height: auto; background: #ffffff;
  border: 1px solid var(--rule); border-radius: 6px; cursor: zoom-in; }
.zoom:checked + figure { position: fixed; inset: 0; z-index: 10; width: auto; margin: 0;
  transform: none; overflow: auto; padding: 12px; background: var(--bg); }
.zoom:checked + figure img { max-width: none; cursor: zoom-out; }
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
    shape = f"{fmt.plural(len(labels), 'activation')} × {fmt.plural(len(seeds), 'seed')}" + (
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
        f'<p class="meta">{fmt.plural(len(result.runs), "model")} ({escape(shape)}) on '
        f"{escape(result.device)}, {fmt.seconds(result.seconds)}.</p>",
    ]
    if result.status == "interrupted":
        parts.append(
            '<p class="status">Interrupted: partial results of the epochs that finished.</p>'
        )
    parts.append("</header>")
    if result.notices:
        parts += ['<ul class="notices">', *_items(result.notices), "</ul>"]
    parts += _gates(result)
    view = result_view(result, per_member=len({run.label for run in result.runs}) == 1)
    parts += ['<section id="results">', "<h2>Results</h2>"]
    parts += [to_html(table) for table in view.tables]
    if view.notes:
        parts += ['<ul class="notes">', *_items(view.notes), "</ul>"]
    if not view.tables or view.tables[0].name != "members":
        parts += [
            "<details>",
            f"<summary>Every member ({len(result.runs)})</summary>",
            to_html(members_table(result)),
            "</details>",
        ]
    parts.append("</section>")
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


def _gates(result: RunResult) -> list[str]:
    """The CI gates' verdict (nothing when the run had no gates)."""
    gates = result.gates
    if gates is None:
        return []
    given = "; ".join(f"<code>{escape(gate)}</code>" for gate in gates.checked)
    verdict = (
        f'<p class="gates-passed">Gates passed: {given}</p>'
        if gates.passed
        else f'<p class="status">Gates failed ({fmt.plural(len(gates.failures), "failure")}): '
        f"{given}</p>"
    )
    return [
        '<section id="gates">',
        "<h2>Gates</h2>",
        verdict,
        *(["<ul>", *_items(gates.failures), "</ul>"] if gates.failures else []),
        *(['<ul class="notes">', *_items(gates.notes), "</ul>"] if gates.notes else []),
        "</section>",
    ]


def _items(lines: Iterable[str]) -> list[str]:
    return [f"<li>{escape(line)}</li>" for line in lines]


def _figure(path: Path) -> str:
    raw = path.read_bytes()
    data = base64.b64encode(raw).decode("ascii")
    mime = IMAGE_TYPES[path.suffix.lower()]
    caption = CAPTIONS.get(path.stem, path.stem)
    stem = escape(path.stem)
    width = png_width(raw)
    style = f' style="--natural: {width}px"' if width else ""
    return (
        f'<input type="checkbox" class="zoom" id="zoom-{stem}" hidden>'
        f'<figure id="figure-{stem}"{style}>'
        f'<label for="zoom-{stem}" title="click to enlarge; click again to close">'
        f'<img src="data:{mime};base64,{data}" alt="{stem}"></label>'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def png_width(data: bytes) -> int | None:
    """The pixel width in a PNG's header (None for anything else)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big")


def _key_values(values: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><th scope="row" class="text">{escape(str(key))}</th>'
        f'<td class="text">{escape(_plain(value))}</td></tr>'
        for key, value in values.items()
    )
    return f'<div class="scroll"><table class="environment"><tbody>{rows}</tbody></table></div>'


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)
