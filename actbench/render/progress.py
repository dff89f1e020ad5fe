"""The progress bar of long work (training, Ray shards): on stderr, only on a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


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
