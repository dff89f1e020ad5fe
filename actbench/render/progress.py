"""The progress bar of long work (training, Ray shards): on stderr, only on a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

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
