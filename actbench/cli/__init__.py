"""The actbench command line.

This module is the console-script entry point and stays small: a Ctrl-C or SIGTERM while the
heavy modules import (typer, rich, torch) ends quietly with exit code 130. The Typer app and
its commands live in `actbench.cli.app` and one module per command family; `run` there is the
one place where errors become a line on stderr and an exit code, which `main` hands to the
process.

Interrupts: one Ctrl-C (or SIGTERM) is one request, however many arrive. While a run trains,
the pipeline's handler (`pipeline.stop_on_signals`, given `STOP`) turns it into a stop at the
next step, and the run is saved; anywhere else the first one raises KeyboardInterrupt, which
`run` reports as one line. Later signals find `STOP` set and change nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from actbench.errors import EXIT_INTERRUPTED

# Process-wide CLI state: --debug is accepted anywhere on the command line; `interrupted`: a
# signal raised KeyboardInterrupt (outside a run's own handler), to be reported by `run`.
_state = {"debug": False, "interrupted": False}
# Set by the first Ctrl-C or SIGTERM of a command line: the stop request of a run in progress,
# and the mark that makes every later signal a no-op.
STOP = threading.Event()


def _exit_now(signum: int, frame: FrameType | None) -> None:
    """Before any work has started there is nothing to save: leave at once, quietly."""
    try:
        os.write(2, b"interrupted\n")
    finally:
        os._exit(EXIT_INTERRUPTED)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Outside a run's own handler: the first signal stops the command (KeyboardInterrupt,
    reported by `run` as one line); a repeat while that happens changes nothing, so it cannot
    cut the report short or turn it into a silent exit."""
    if STOP.is_set():
        return
    STOP.set()
    _state["interrupted"] = True
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry: run the app (`run` maps errors to a stderr line and an exit code)
    and exit with its code."""
    try:
        previous = {sig: signal.signal(sig, _exit_now) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals stay as they are
        previous = {}
    from actbench.cli.app import register_commands, run

    register_commands()
    for sig in previous:
        signal.signal(sig, _interrupt)
    code = run(list(sys.argv[1:] if argv is None else argv))
    ray_io = sys.modules.get("actbench.ray_io")
    if ray_io is not None and ray_io.ray_abandoned():
        # Ray, its head lost, takes ~20 s to shut down and then logs that it gave up; the run is
        # saved and printed: leave now
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    for sig, handler in previous.items():
        # Interrupted once, the process ignores the rest: Python's shutdown puts the default
        # disposition back on handled signals (not on ignored ones), so a repeat arriving while
        # torch and matplotlib tear down would kill it by SIGINT after its one line. Otherwise
        # in-process callers (tests, scripts) get their handlers back.
        if STOP.is_set():
            signal.signal(sig, signal.SIG_IGN)
        else:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
    sys.exit(code)


__all__ = ["STOP", "main"]
