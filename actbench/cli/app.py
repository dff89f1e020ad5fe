"""The Typer app, its global options, and `run`: the one place where every ActbenchError and
usage error becomes one line on stderr and an exit code. torch is imported only by the
commands that need it."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from actbench import __version__
from actbench.cli import STOP, _state
from actbench.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, ActbenchError, Interrupted

app = typer.Typer(
    name="actbench",
    help="Compare activation functions: train the same small network with each one, side by "
    "side, and see loss, accuracy and dead neurons.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: wraps at any width (never cuts a word with '...') and shows flags as flags
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        print(f"actbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks on errors.")
    ] = False,
) -> None:
    _state["debug"] = _state["debug"] or debug


def stderr_console() -> Console:
    """Messages for people: one line each (no wrapping), no automatic highlighting."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


class _Stdout(Console):
    """The results' console. A reader that leaves early (`actbench ... | head`) is not an
    error: what is left goes to /dev/null and the command ends as it would have (rich's own
    handling exits 1 on the spot, before the run's verdict and exit code)."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        _quiet_stdout()


def stdout_console() -> Console:
    return _Stdout(highlight=False)


def say(console: Console, tag: str, message: str, style: str = "") -> None:
    """'<tag> <message>' on stderr; the message is text, never markup ('[lr=0.1]' stays)."""
    from actbench.format import printable

    message = printable(message)
    if not tag:
        console.print(Text(message, style="dim"))
        return
    line = Text(tag, style=style)
    if message:
        line.append(" " + message)
    console.print(line)


def register_commands() -> None:
    """Import every command module: each adds its commands to `app` when imported."""
    from actbench.cli import bench, catalog, saved, training  # noqa: F401


def _quiet_stdout() -> None:
    """After stdout failed, send what is left to /dev/null so the exit flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run(args: list[str]) -> int:
    """Run one command line; return its exit code."""
    _state["debug"] = "--debug" in args
    _state["interrupted"] = False
    STOP.clear()
    if _state["debug"]:
        args = [arg for arg in args if arg != "--debug"]
    register_commands()
    if args[:1] == ["show"]:
        from actbench.cli.catalog import inputs_last

        args = inputs_last(args)
    stderr = stderr_console()
    command = typer.main.get_command(app)
    # No arguments: the help, exit 0 (the app's no_args_is_help, asked for as --help; outside
    # typer's standalone mode it would arrive here as a usage error).
    args = args or ["--help"]
    try:
        code = command.main(args=args, prog_name="actbench", standalone_mode=False)
    except ActbenchError as exc:
        if _state["debug"]:
            traceback.print_exc()
        if isinstance(exc, Interrupted):
            say(stderr, "interrupted:", str(exc), "red")
        else:
            say(stderr, "error:", str(exc), "red")
        code = exc.exit_code
    except typer.TyperException as exc:
        # usage errors (a bad flag or value, an unknown command: exit 2) and any other error
        # the command-line parser reports; a usage error knows its command
        if _state["debug"]:
            traceback.print_exc()
        context = getattr(exc, "ctx", None)
        hint = f" (see: {context.command_path} --help)" if context is not None else ""
        say(stderr, "error:", f"{exc.format_message()}{hint}", "red")
        code = exc.exit_code
    except (KeyboardInterrupt, typer.Abort):
        _state["interrupted"] = True
        code = EXIT_INTERRUPTED
    except BrokenPipeError:
        # `actbench ... | head`: the reader left; that is not an error of ours.
        _quiet_stdout()
        code = EXIT_OK
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
            raise  # not an output failure: a bug, shown with its traceback
        _quiet_stdout()
        say(stderr, "error:", f"cannot write the output: {exc.strerror or exc}", "red")
        code = EXIT_FAILED
    if _state["interrupted"]:
        # KeyboardInterrupt outside a run (typer turns it into a silent exit 130): say so once
        say(stderr, "interrupted", "", "red")
        code = EXIT_INTERRUPTED
    return code if isinstance(code, int) else EXIT_OK
