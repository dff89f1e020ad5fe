"""Bounded, confined reads of files that came from outside: a run folder, a baseline.

A run folder can be copied from anywhere, so each of its files is read as untrusted input:
within its folder once every link is resolved, a regular file (a FIFO would block forever),
and no larger than its limit, checked before a byte is read. Each refusal is one
RunFolderError naming the file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from actbench import format as fmt
from actbench.errors import RunFolderError


def read_untrusted(path: Path, limit: int, *, inside: Path | None = None, what: str = "") -> bytes:
    """The bytes of a file that came with a run folder or a baseline, read defensively: a
    regular file (a FIFO or device would block or never end), within `inside` once every
    link is resolved (when given), and at most `limit` bytes, checked before reading. Each
    refusal is a RunFolderError naming the file; a missing file is FileNotFoundError."""
    what = what or path.name
    if inside is not None:
        confined(path, inside)
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RunFolderError(f"cannot read '{path}': {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RunFolderError(f"'{path}' is not a regular file: not read as {what}")
        if info.st_size > limit:
            raise RunFolderError(_too_large(path, info.st_size, limit, what))
        blob = handle.read(limit + 1)
    if len(blob) > limit:  # it grew while we looked
        raise RunFolderError(_too_large(path, len(blob), limit, what))
    return blob


def confined(path: Path, folder: Path) -> Path:
    """`path`, once it is known to stay within `folder` with every link resolved."""
    if not _within(path, folder):
        raise RunFolderError(
            f"'{path}' leads outside its folder '{folder}' (a link or '..'): not read"
        )
    return path


def _within(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _too_large(path: Path, size: int, limit: int, what: str) -> str:
    return (
        f"'{path}' is {fmt.size(size)}, more than the {fmt.size(limit)} a {what} may be: not read"
    )
