"""What Ray may do to an actbench process, kept in bounds: its output (off stdout, and off
stderr unless --debug), a head that dies (noticed within seconds), and a shutdown that would
wait on a dead head (left to a background thread)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

# The head is asked (a TCP connection to its GCS) this often while shards run, and is lost
# after this many refusals or silences in a row: a dead head refuses at once, so about 2 s
# (Ray's own driver waits 60 s, then ends the process with nothing saved).
HEAD_CHECK_SECONDS = 1.0
HEAD_MISSES = 2
# Set when a lost head left Ray's shutdown running in the background: the command line exits
# without waiting for it (ray_abandoned).
_abandoned = threading.Event()


def describe_error(exc: BaseException) -> str:
    """'<ExceptionType>: <message>' on one line, for the error Ray wrapped if there is one."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def unreachable(host: str, port: int, seconds: float) -> str | None:
    """Why a TCP connection to host:port fails, or None when it succeeds."""
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=seconds):  # [::1]
            return None
    except ConnectionRefusedError:
        return "nothing listens there (connection refused)"
    except TimeoutError:
        return f"no answer within {seconds:g} s"
    except (OSError, ValueError, OverflowError) as exc:
        return describe_error(exc)


class HeadWatch:
    """Whether the Ray head still answers: a TCP connection to its GCS every
    HEAD_CHECK_SECONDS, lost after HEAD_MISSES failures in a row. A GCS this process cannot
    reach from the start (Ray Client, a head behind a gateway) is not watched."""

    def __init__(self, ray: ModuleType) -> None:
        self.address: str | None = None
        self.misses, self.asked = 0, time.monotonic()
        try:
            address = str(ray.get_runtime_context().gcs_address)
        except Exception:  # Ray Client has no GCS address here
            return
        host, _, port = address.rpartition(":")
        if port.isdigit() and unreachable(host, int(port), HEAD_CHECK_SECONDS) is None:
            self.address, self.host, self.port = address, host, int(port)

    def lost(self) -> bool:
        if self.address is None or time.monotonic() - self.asked < HEAD_CHECK_SECONDS:
            return False
        self.asked = time.monotonic()
        failed = unreachable(self.host, self.port, HEAD_CHECK_SECONDS) is not None
        self.misses = self.misses + 1 if failed else 0
        return self.misses >= HEAD_MISSES


@contextlib.contextmanager
def ray_output_hidden(debug: bool) -> Iterator[Callable[[], str]]:
    """While Ray runs for actbench, only actbench writes to stdout and stderr.

    What Ray's C++ core writes to file descriptors 1 and 2 (retries, warnings, 'Failed to
    connect to GCS') goes to a temporary file, and so does what its Python threads print to
    sys.stdout (raylet errors: '(raylet) A worker died ...'): stdout carries actbench's output
    alone (`--format json > f` stays JSON whatever Ray prints), while sys.stderr keeps
    writing to the terminal. debug: Ray's lines go to stderr instead. Yields a function that
    returns what Ray has written so far.
    """
    original = {"stdout": sys.stdout, "stderr": sys.stderr}
    for stream in original.values():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    saved = {1: os.dup(1), 2: os.dup(2)}
    sink = tempfile.TemporaryFile()
    opened = []
    if debug:
        os.dup2(saved[2], 1)  # Ray's stdout lines to stderr
        sys.stdout = sys.stderr
    else:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        if _on_fd(original["stderr"], 2):  # not captured (tests): the terminal, via a copy
            sys.stderr = _text_stream(os.dup(saved[2]), original["stderr"])
            opened.append(sys.stderr)
        sys.stdout = _text_stream(os.dup(sink.fileno()), original["stdout"])
        opened.append(sys.stdout)

    def ray_said() -> str:
        sys.stdout.flush()
        return os.pread(sink.fileno(), 1 << 20, 0).decode("utf-8", "replace")

    try:
        yield ray_said
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = original["stdout"], original["stderr"]
        for stream in opened:
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        if _abandoned.is_set():
            _keep_away(saved, original)
        else:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
        sink.close()


def _keep_away(saved: dict[int, int], original: dict[str, Any]) -> None:
    """Ray's shutdown, left running in the background, writes to file descriptors 1 and 2
    until the process ends ('Failed to connect to GCS', ...): they stay pointed at /dev/null,
    and sys.stdout / sys.stderr write to the terminal through copies of the originals."""
    null = os.open(os.devnull, os.O_WRONLY)
    for name, fd in (("stdout", 1), ("stderr", 2)):
        os.dup2(null, fd)
        if _on_fd(original[name], fd):
            setattr(sys, name, _text_stream(saved[fd], original[name]))
        else:  # captured (tests): the captured stream, as it was
            os.close(saved[fd])
    os.close(null)


def _on_fd(stream: Any, fd: int) -> bool:
    try:
        return bool(stream.fileno() == fd)
    except (AttributeError, OSError, ValueError):
        return False


def _text_stream(fd: int, like: Any) -> Any:
    return os.fdopen(
        fd,
        "w",
        buffering=1,
        encoding=getattr(like, "encoding", None) or "utf-8",
        errors=getattr(like, "errors", None) or "replace",
    )


def ray_abandoned() -> bool:
    """Whether a lost head left Ray's shutdown running in the background (it takes ~20 s and
    ends with Ray's own log lines): the command line then exits without waiting for it."""
    return _abandoned.is_set()


def shutdown(ray: ModuleType, head_lost: bool) -> None:
    if not head_lost:
        ray.shutdown()
        return
    # with its head gone, Ray's shutdown waits on it for ~15 s: not on the user's time
    threading.Thread(target=ray.shutdown, name="actbench-ray-shutdown", daemon=True).start()
    _abandoned.set()
