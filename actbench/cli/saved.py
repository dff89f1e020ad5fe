"""The commands that read saved runs: runs, report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from actbench.cli.app import app, say, stderr_console, stdout_console
from actbench.cli.options import TABLE, AllowCodeOpt, ColumnsOpt, FormatOpt, OutOpt, SortOpt
from actbench.cli.training import EXAMPLES
from actbench.errors import RunFolderError

if TYPE_CHECKING:
    from actbench.plots import ModelSource
from actbench.render import emit


def saved_models(run_dir: Path, allow_code: bool = False) -> ModelSource | None:
    """The members saved in a run folder (models/index.json), or None."""
    from actbench.members import INDEX_FILE

    if not (run_dir / "models" / INDEX_FILE).is_file():
        return None
    from actbench.api import load

    return load(run_dir, allow_code=allow_code).model


RunArg = Annotated[str, typer.Argument(help="Run id (or a unique prefix), or a run folder path.")]


@app.command(
    "runs",
    short_help="Saved runs, newest first.",
    epilog=EXAMPLES + "  actbench runs\n  actbench runs --out ci-runs --format json",
)
def list_runs_command(out: OutOpt = Path("runs"), fmt: FormatOpt = TABLE) -> None:
    """List saved runs, newest first (broken folders are reported and skipped)."""
    from actbench.render.listing import runs_view
    from actbench.runs import list_runs

    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out '{out}' is a file, not a folder of runs")
    listing = list_runs(out)
    stderr = stderr_console()
    for path, reason in listing.broken:
        say(stderr, "skipped", f"{path}: {reason}", "yellow")
    if fmt is TABLE and not listing.complete:
        say(stderr, "", f"no runs in '{out}' yet; start one with: actbench compare")
        return
    emit(runs_view(listing.complete), fmt.value, stdout_console())


@app.command(
    short_help="Show a saved run again; write its figures.",
    epilog=EXAMPLES + "  actbench report 20261123-101500-dying_relu-1a2b3c4\n"
    "  actbench report runs/20261123-101500-dying_relu-1a2b3c4 --markdown --html\n"
    "  actbench report 2026 --format json --no-plots   (a unique prefix of the id)",
)
def report(
    run: RunArg,
    out: OutOpt = Path("runs"),
    fmt: FormatOpt = TABLE,
    sort: SortOpt = None,
    columns: ColumnsOpt = None,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Write PNG figures into the run folder.")
    ] = True,
    markdown: Annotated[
        bool,
        typer.Option(
            "--markdown", help="Also write report.md (table and figures) into the run folder."
        ),
    ] = False,
    html: Annotated[
        bool,
        typer.Option(
            "--html",
            help="Also write report.html into the run folder: one self-contained page (tables, "
            "figures, notes, config) to open in a browser or attach.",
        ),
    ] = False,
    allow_code: AllowCodeOpt = False,
) -> None:
    """Show a saved run again without retraining; write its figures into its folder."""
    from actbench.activations import (
        saved_activation_names,
        saved_run_code,
        saved_run_problem,
    )
    from actbench.render.results import result_view
    from actbench.render.view import to_markdown
    from actbench.runs import load_result, resolve_run, write_atomic

    run_dir = resolve_run(run, out)
    result = load_result(run_dir)
    figures = plots or markdown or html
    how = f"actbench report {run_dir.name} --allow-code"
    if figures:  # the tables need no code; the figures draw and run the activations
        names = saved_activation_names(result)
        problem = saved_run_problem(run_dir.name, names, allow_code=allow_code, how=how)
        if problem:
            raise RunFolderError(f"{problem} (--no-plots shows the tables alone)")
    per_member = len({r.label for r in result.runs}) == 1
    view = result_view(
        result, per_member=per_member, sort=sort.value if sort else None, columns=columns
    )
    emit(view, fmt.value, stdout_console())
    stderr = stderr_console()
    written: list[Path] = []
    try:
        if figures:
            from actbench.plots import write_figures

            with saved_run_code(allow_code, how):
                written = write_figures(result, run_dir, saved_models(run_dir, allow_code))
        if markdown:
            from actbench.plots import report_markdown

            tables = "\n".join(to_markdown(table) for table in view.tables)
            write_atomic(run_dir / "report.md", report_markdown(result, written, tables))
            written.append(run_dir / "report.md")
        if html:
            from actbench.html import write_html_report

            written.append(write_html_report(result, run_dir, written))
    except OSError as exc:
        raise RunFolderError(f"cannot write into '{run_dir}': {exc.strerror or exc}") from None
    for path in written:
        say(stderr, "", f"wrote {path}")
