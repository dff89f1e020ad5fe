from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

import actbench
from actbench.html import REPORT_FILE, write_html_report
from actbench.runs import RunResult

LABEL = "<b>leaky & co</b>"


@dataclass
class Page:
    """What html.parser saw: every start tag with its attributes, and text per tag path."""

    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    text: dict[str, list[str]] = field(default_factory=dict)

    def count(self, tag: str) -> int:
        return sum(1 for name, _ in self.tags if name == tag)

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


class _Collector(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack:
            self.page.text.setdefault(self.stack[-1], []).append(data)


def parse(text: str) -> Page:
    collector = _Collector()
    collector.feed(text)
    collector.close()
    assert collector.stack == [], f"unclosed tags: {collector.stack}"
    return collector.page


@dataclass(frozen=True)
class Report:
    result: RunResult
    figures: list[Path]
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A sweep with a baseline, a notice, and a label that needs escaping."""
    result = actbench.compare(
        overrides={
            "data.n_samples": 200,
            "train.batch_size": 500,  # more than the training split: a notice
            "activations": ["relu", {"name": "leaky_relu", "label": LABEL}],
        },
        sweep={"train.lr": [0.01, 0.1]},
        seeds=3,
        epochs=3,
        baseline="relu",
    )
    run_dir = tmp_path_factory.mktemp("run")
    figures = result.figures(run_dir)
    (run_dir / "report.md").write_text("# not an image\n")
    path = write_html_report(result.run_result, run_dir, [*figures, run_dir / "report.md"])
    return Report(result.run_result, figures, path)


def test_writes_report_html_in_the_run_folder(report: Report) -> None:
    assert report.path == report.figures[0].parent / REPORT_FILE
    assert report.text.startswith("<!DOCTYPE html>")


def test_structure(report: Report) -> None:
    page = parse(report.text)
    assert page.count("html") == page.count("head") == page.count("body") == 1
    assert page.count("h1") == 1
    assert report.result.run_id in "".join(page.text["title"])
    assert page.attrs("meta")[1] == {
        "name": "viewport",
        "content": "width=device-width, initial-scale=1",
    }
    sections = [attrs.get("id") for attrs in page.attrs("section")]
    assert sections == ["results", "figures", "config", "environment"]
    classes = [attrs.get("class") for attrs in page.attrs("table")]
    assert classes == ["summary", "baseline", "members", "environment"]
    # summary: one row per label and grid point (+ the header); members: one per run
    rows = page.count("tr")
    environment = len(report.result.environment)
    summary = 1 + len(report.result.summary)
    baseline = 1 + sum(row.baseline is not None for row in report.result.summary)
    means = sum(row.n_seeds > 1 for row in report.result.summary)
    members = 1 + len(report.result.runs) + means
    assert rows == summary + baseline + members + environment


def test_every_figure_inline_as_a_data_uri(report: Report) -> None:
    page = parse(report.text)
    sources = [attrs["src"] for attrs in page.attrs("img")]
    expected = [
        "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        for path in report.figures
    ]
    assert sources == expected
    assert len(report.figures) >= 3  # curves, health, sweep, activations
    assert len(page.attrs("figcaption")) == len(page.attrs("img")) == page.count("figure")


def test_no_external_references(report: Report) -> None:
    text = report.text
    page = parse(text)
    assert "http://" not in text and "https://" not in text
    assert page.count("link") == page.count("script") == page.count("iframe") == 0
    for _, attrs in page.tags:
        assert "href" not in attrs
        if "src" in attrs:
            assert (attrs["src"] or "").startswith("data:")
    assert "@import" not in text and "url(" not in text
    assert "report.md" not in text  # not an image: left out


def test_labels_notices_and_config_are_escaped_text(report: Report) -> None:
    text = report.text
    assert "&lt;b&gt;leaky &amp; co&lt;/b&gt;" in text and LABEL not in text
    page = parse(text)
    cells = page.text["td"]
    assert cells.count(LABEL) == 2 + 2 + 2 * (3 + 1)  # summary, baseline, members + mean, per lr
    notices = page.text["li"]
    assert any("train.batch_size 500 exceeds" in notice for notice in notices)
    (config,) = page.text["pre"]
    assert yaml.safe_load(config) == report.result.config


def test_light_and_dark_colours_and_scrolling_tables(report: Report) -> None:
    text = report.text
    assert "@media (prefers-color-scheme: dark)" in text
    assert ".scroll { overflow-x: auto" in text
    assert "max-width: 100%" in text


# --- a real browser -----------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, out: Path, width: int, height: int, *, dark: bool = False) -> Path:
    """Render page with headless Chromium (no network, throwaway profile) into a PNG."""
    assert CHROMIUM is not None
    profile = out.parent / f"profile-{out.stem}"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={out}",
        f"--window-size={width},{height}",
    ]
    if dark:
        flags += ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
    subprocess.run(
        [CHROMIUM, *flags, page.resolve().as_uri()], capture_output=True, timeout=120, check=True
    )
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
@pytest.mark.parametrize("width", [390, 1280])
def test_chromium_renders_the_page(report: Report, tmp_path: Path, width: int) -> None:
    from matplotlib import image

    shot = screenshot(report.path, tmp_path / f"shot-{width}.png", width, 1600)
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (1600, width)
    rgb = (pixels[..., :3] * 255).astype("uint8").reshape(-1, 3)
    colours = {tuple(pixel) for pixel in rgb[:: max(1, len(rgb) // 20000)]}
    assert len(colours) > 50  # text, tables and figures, not a blank or error page
    # the page is light by default: mostly white background
    assert pixels[..., :3].mean() > 0.8


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
def test_chromium_dark_mode_is_dark(report: Report, tmp_path: Path) -> None:
    from matplotlib import image

    light = image.imread(screenshot(report.path, tmp_path / "light.png", 800, 500))
    dark = image.imread(screenshot(report.path, tmp_path / "dark.png", 800, 500, dark=True))
    assert dark[..., :3].mean() < 0.4 < light[..., :3].mean()


MEASURE = """<script>
let right = 0;
for (const element of document.querySelectorAll("body *")) {
  if (!element.parentElement.closest(".scroll, pre")) {
    right = Math.max(right, element.getBoundingClientRect().right);
  }
}
document.title = "right=" + Math.ceil(right);
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
def test_chromium_phone_width_nothing_overflows_but_scroll_boxes(
    report: Report, tmp_path: Path
) -> None:
    """Laid out 390 px wide, every element ends within 390 px; wide tables and the config
    scroll inside their own boxes. (A copy of the page with a measuring script: the report
    itself has none.)"""
    assert CHROMIUM is not None
    phone = report.text.replace("</head>", "<style>html { width: 390px; }</style></head>")
    measured = tmp_path / "measured.html"
    measured.write_text(phone.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=500,800",
            "--dump-dom",
            measured.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (title,) = parse(done.stdout).text["title"]
    assert title.startswith("right=")
    assert 300 < int(title.removeprefix("right=")) <= 390


def _measured_title(text: str, script: str, tmp_path: Path, window: str) -> str:
    """The document title a measuring script set, on a copy of the page in headless Chromium."""
    assert CHROMIUM is not None
    page = tmp_path / f"measured-{window}.html"
    page.write_text(text.replace("</body>", script + "</body>"), encoding="utf-8")
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / ('profile-' + window)}",
            f"--window-size={window}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    (title,) = parse(done.stdout).text["title"]
    return title


FIGURE_WIDTHS = """<script>
const images = [...document.querySelectorAll("figure img")];
document.title = images.map(i => Math.round(i.getBoundingClientRect().width) + "/" +
  i.naturalWidth + "@" + Math.round(i.getBoundingClientRect().left)).join(" ");
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium)")
def test_chromium_figures_use_a_wide_window_and_open_at_full_size(
    report: Report, tmp_path: Path
) -> None:
    """At 1280 px a wide figure is laid out wider than the 1100 px text column (up to its own
    width), within the window; ticking its checkbox (a click on the figure) shows it at full
    size in a scrolling overlay."""
    sizes = _measured_title(report.text, FIGURE_WIDTHS, tmp_path, "1280,900").split()
    shown = [tuple(int(v) for v in s.replace("@", "/").split("/")) for s in sizes]
    for width, natural, left in shown:
        assert left >= 0 and left + width <= 1280
        assert width >= min(natural, 1280 - 32 - 20)  # the window less margins and a scrollbar
    assert max(width for width, _, _ in shown) > 1100
    zoomed = report.text.replace('class="zoom" id=', 'class="zoom" checked id=', 1)
    first = _measured_title(zoomed, FIGURE_WIDTHS, tmp_path, "800,600").split()[0]
    width, natural, _ = (int(v) for v in first.replace("@", "/").split("/"))
    assert natural > 800 - 32 and abs(width - natural) <= 2  # full size (and its border)
