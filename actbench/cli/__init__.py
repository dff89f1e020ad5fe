"""The actbench command line.

This module is the console-script entry point and stays small: a Ctrl-C or SIGTERM while the
heavy modules import (typer, rich, torch) ends quietly with exit code 130. The Typer app and
its commands live in `actbench.cli.app` and one module per command family; `run` there is the
one place where errors become a line on stderr and an exit code, which `main` hands to the
process.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from actbench.errors import EXIT_INTERRUPTED

# Process-wide CLI state: --debug is accepted anywhere on the command line.
_state = {"debug": False}


def _exit_now(signum: int, frame: FrameType | None) -> None:
    """Before any work has started there is nothing to save: leave at once, quietly."""
    try:
        os.write(2, b"interrupted\n")
    finally:
        os._exit(EXIT_INTERRUPTED)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry: run the app (`run` maps errors to a stderr line and an exit code)
    and exit with its code."""
    in_main_thread = signal.getsignal(signal.SIGINT) is not None
    try:
        previous = {sig: signal.signal(sig, _exit_now) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals stay as they are
        previous = {}
        in_main_thread = False
    from actbench.cli.app import register_commands, run

    register_commands()
    if in_main_thread:
        for sig in previous:
            signal.signal(sig, signal.default_int_handler)
    sys.exit(run(list(sys.argv[1:] if argv is None else argv)))


__all__ = ["main"]
