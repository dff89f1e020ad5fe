"""The progress bar of long work (training, Ray shards): on stderr, only on a terminal; in a
Jupyter notebook, one output that updates in place and ends as a readable line."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from actbench import format as fmt

if TYPE_CHECKING:
    from actbench.experiment import ProgressEvent


def progress_bar(console: Console) -> Progress:
    """description, bar, done/total unit, elapsed, eta, status (e.g. best accuracy in %)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=None if console.width > 100 else 20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}", markup=False),
        console=console,
        transient=True,
    )


def status(event: ProgressEvent) -> str:
    """The bar's status line: 'population 1/2: 35 models, best test acc 82.1%' while training
    locally, the executor's own line (Ray's shards) otherwise."""
    if event.description or event.best_accuracy is None:
        return event.description
    what = fmt.plural(event.models, "model")
    if event.population is not None:
        number, total = event.population
        what = f"population {number}/{total}: {what}"
    return f"{what}, best test acc {fmt.percent(event.best_accuracy)}%"


@contextmanager
def progress_updates(
    console: Console, show: bool = True
) -> Iterator[Callable[[ProgressEvent], None] | None]:
    """A progress bar on `console` while the block runs, as an `on_progress` callback for
    run_experiment; None (no bar) when `show` is false."""
    if not show:
        yield None
        return
    if console.is_jupyter:
        with notebook_progress() as on_progress:
            yield on_progress
        return
    with progress_bar(console) as bar:
        task = bar.add_task("training", total=None, status="preparing", unit="")

        def on_progress(event: ProgressEvent) -> None:
            bar.update(
                task,
                completed=event.done,
                total=event.total,
                status=fmt.printable(status(event)),
                unit=event.unit,
            )

        yield on_progress


# A notebook output is redrawn at most this often (each update is a message to the browser).
NOTEBOOK_INTERVAL = 0.25  # seconds


class NotebookProgress:
    """Progress as one notebook output updated in place (a bar and a line of text), which
    ends as a line that says how the work finished: it stays readable in a saved notebook,
    where a widget would be empty. Needs IPython (there when a notebook runs)."""

    def __init__(self) -> None:
        from IPython import display

        self.started = time.perf_counter()
        self.event: ProgressEvent | None = None
        self.shown = 0.0
        self.handle = display.display(
            self._bundle("training: preparing"), raw=True, display_id=True
        )

    def __call__(self, event: ProgressEvent) -> None:
        self.event = event
        now = time.perf_counter()
        if now - self.shown >= NOTEBOOK_INTERVAL or event.done >= event.total:
            self.shown = now
            self._show(f"training: {self._done()}, {status(event)}")

    def finish(self, failed: BaseException | None = None) -> None:
        """The last line: done, stopped early (interrupted) or failed, with the time taken."""
        event = self.event
        elapsed = fmt.seconds(time.perf_counter() - self.started)
        if failed is not None:
            why = "interrupted" if isinstance(failed, KeyboardInterrupt) else type(failed).__name__
            line = f"stopped ({why})" + (f" after {self._done()}" if event else "")
        elif event is None:
            line = "done"
        elif event.done < event.total:
            line = f"stopped after {self._done()}"
        else:
            line = f"done: {self._done()}"
        if event is not None and status(event):
            line += f", {status(event)}"
        self._show(f"{line}; {elapsed}")

    def _done(self) -> str:
        event = self.event
        if event is None:
            return ""
        return f"{event.done}/{event.total} {event.unit}".rstrip()

    def _show(self, line: str) -> None:
        if self.handle is not None:
            self.handle.update(self._bundle(line), raw=True)

    def _bundle(self, line: str) -> dict[str, Any]:
        event = self.event
        done, total = (event.done, event.total) if event is not None else (0, 1)
        bar = f'<progress value="{done}" max="{max(total, 1)}" style="width:16em"></progress>'
        return {
            "text/plain": line,
            "text/html": f'<div class="actbench-progress">{bar} {html.escape(line)}</div>',
        }


@contextmanager
def notebook_progress() -> Iterator[Callable[[ProgressEvent], None]]:
    """A NotebookProgress while the block runs, finished however the block ends."""
    progress = NotebookProgress()
    try:
        yield progress
    except BaseException as exc:
        progress.finish(exc)
        raise
    progress.finish()
