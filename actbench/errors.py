"""Typed errors. Raised deep down, turned into one line on stderr and an exit code by the CLI."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable
from typing import Any

from actbench.format import printable

EXIT_OK = 0
EXIT_FAILED = 1  # a run diverged, a member failed, or a CI gate was not met
EXIT_USAGE = 2  # bad config, flag, path or device
EXIT_INTERRUPTED = 130

MAX_MESSAGE = 2000  # characters of one error line


class ActbenchError(Exception):
    """Base class of every error actbench reports to the user (never with a traceback)."""

    exit_code = EXIT_USAGE

    def __str__(self) -> str:
        # Messages quote user input (labels, keys, devices): one terminal line, no escape
        # sequences, and never megabytes long however large the input.
        text = printable(super().__str__())
        return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


class ConfigError(ActbenchError):
    """The config file, a --set override or a flag is invalid."""


class ActivationError(ConfigError):
    """Unknown activation or activation parameter."""


class DataError(ConfigError):
    """The data cannot be used: a data file that is missing, unreadable or unfit to train on."""


class DeviceError(ActbenchError):
    """The requested device does not exist on this machine."""


class RunFolderError(ActbenchError):
    """A saved run cannot be found or read."""


class ResourceError(ActbenchError):
    """The requested population would not fit in memory."""


class SaveWarning(UserWarning):
    """The Python API trained a run but could not save it: the Result is returned with the
    reason in `Result.save_error`, as the CLI prints the results and says the save failed."""


class Interrupted(ActbenchError):
    """A stop request (Ctrl-C, SIGTERM) came before anything was trained: nothing to save."""

    exit_code = EXIT_INTERRUPTED


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 6
_BRIEF.maxlevel = 3


def brief(value: Any) -> str:
    """repr(value), shortened with '...' (a value quoted in an error may be huge)."""
    return _BRIEF.repr(value)


def did_you_mean(word: str, *candidate_lists: Iterable[str]) -> str:
    """' did you mean 'x'?' for the closest candidate (earlier lists win), else ''."""
    for candidates in candidate_lists:
        match = difflib.get_close_matches(word.lower(), list(candidates), n=1, cutoff=0.6)
        if match:
            return f" did you mean '{match[0]}'?"
    return ""


def unknown(
    kind: str,
    word: str,
    choices: Iterable[str],
    *,
    also_matches: Iterable[str] = (),
    where: str = "",
    shown: str | None = None,
) -> str:
    """The one-line message for an unknown name: a close match if any, then every valid choice.

    `also_matches` are accepted spellings (aliases): suggested only when no listed choice is
    close, never listed. `shown` is the spelling the user typed, if `word` was normalised.
    """
    options = list(choices)
    hint = did_you_mean(word, options, also_matches)
    return f"unknown {kind} '{shown or word}'{where};{hint} choices: {', '.join(options)}"
