"""How many CPU threads a population trains with (`train.threads`).

A population step is a handful of small batched GEMMs plus elementwise kernels. Splitting that
across threads gains little (about 1.2x from 1 to 2 threads for the benchmark's reference
setup on a quiet 2-core machine), and on a busy machine every OpenMP barrier waits for a thread
the scheduler has parked: with one other busy process, 2 threads were 3.8-4.5x slower than on
a quiet machine while 1 thread stayed within 1.6x. So `auto` uses more than one thread only
when the work per step is large enough to share and the cores are idle right now.

The thread count never changes the numbers on the CPU (tested for every activation with 1 and
2 threads): reported sums accumulate in float64, and no kernel's result depends on how its
work is split. So `auto` may change the count while training (`ThreadGovernor`): the machine
that was quiet when a run started may not stay quiet.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

# Multiply-adds of one training step (forward + backward, all members) per thread below which
# another thread does not pay for its synchronisation. The reference setup (35 members,
# batch 64, 20-50-2) does ~7.4M per step and gains ~1.2x from a second idle core; a population
# of a few members does not.
WORK_PER_THREAD = 2_000_000


SAMPLE_SECONDS = 0.1  # how long `auto` watches the CPUs before choosing
_cache: tuple[float, MachineState] | None = None


@dataclass(frozen=True)
class MachineState:
    """The numbers `auto` decides from."""

    cpus: int  # cores this process may run on
    load: float  # cores busy with other work now (sampled), or the 1-minute load average
    pinned: int | None = None  # OMP_NUM_THREADS when set: the user's cap


def machine_state() -> MachineState:
    """Usable cores, how many of them are busy, and OMP_NUM_THREADS.

    Busy cores are sampled over SAMPLE_SECONDS while this process waits (so they are other
    processes' work): the 1-minute load average lags by a minute and counts a run that just
    ended, ours included. Where sampling is not possible, the load average. Reused for a few
    seconds, so a sweep of many populations samples once.
    """
    global _cache
    now = time.monotonic()
    if _cache is not None and now - _cache[0] < 5.0:
        return _cache[1]
    cpus = _usable_cpus()
    try:
        import psutil

        busy = psutil.cpu_percent(interval=SAMPLE_SECONDS) / 100 * (os.cpu_count() or cpus)
    except Exception:  # no psutil support on this platform: fall back to the load average
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            busy = 0.0
    state = MachineState(cpus, max(0.0, busy), _pinned())
    _cache = (now, state)
    return state


def _usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _pinned() -> int | None:
    """OMP_NUM_THREADS when set to a count: the user's cap."""
    pinned = os.environ.get("OMP_NUM_THREADS", "")
    return int(pinned) if pinned.isdigit() and int(pinned) else None


def _cpu_seconds() -> tuple[float, float, float]:
    """(now, busy CPU seconds of the whole machine, CPU seconds of this process) so far."""
    import psutil

    machine = psutil.cpu_times()
    busy = (
        machine.user
        + machine.system
        + sum(getattr(machine, name, 0.0) for name in ("nice", "irq", "softirq", "steal"))
    )
    own = psutil.Process().cpu_times()
    return time.monotonic(), busy, own.user + own.system


GOVERN_SECONDS = 0.25  # the shortest stretch of training the governor judges the load over


class ThreadGovernor:
    """`train.threads: auto` while training: after each epoch, how many cores other processes
    kept busy since it last looked (the machine's busy CPU time less this process's own), and
    the thread count `auto_threads` gives for that now, set for the next epochs.

    One look costs two reads of /proc; a stretch shorter than GOVERN_SECONDS is not judged
    (noise), so a fast run looks a few times a second at most. Changing the count changes no
    number, only how fast the next epochs run.
    """

    def __init__(
        self,
        work: int,
        threads: int,
        sample: Callable[[], tuple[float, float, float]] | None = None,
    ) -> None:
        self.work = work
        self.threads = threads
        self.cpus, self.pinned = _usable_cpus(), _pinned()
        self.sample = sample or _cpu_seconds
        self.epochs: Counter[int] = Counter()
        try:
            self.mark: tuple[float, float, float] | None = self.sample()
        except Exception:  # no CPU accounting on this platform: keep the count
            self.mark = None

    def after_epoch(self) -> int:
        """Count the epoch just trained, then set the thread count for the next ones."""
        self.epochs[self.threads] += 1
        if self.mark is None:
            return self.threads
        now = self.sample()
        wall = now[0] - self.mark[0]
        if wall < GOVERN_SECONDS:
            return self.threads
        others = max(0.0, (now[1] - self.mark[1]) - (now[2] - self.mark[2])) / wall
        self.mark = now
        count = auto_threads(self.work, MachineState(self.cpus, others, self.pinned))
        if count != self.threads:
            torch.set_num_threads(count)
            self.threads = count
        return count

    @property
    def most_used(self) -> int:
        """The count most epochs trained with."""
        return self.epochs.most_common(1)[0][0] if self.epochs else self.threads


def step_work(members: int, batch_size: int, widths: Sequence[int]) -> int:
    """Multiply-adds of one training step: forward, grad_x and grad_W of every layer."""
    per_sample = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    return 3 * members * batch_size * per_sample


def auto_threads(work: int, state: MachineState) -> int:
    """Threads for a step of `work` multiply-adds on a machine in `state`.

    Idle cores are the cores less the busy ones rounded to a whole process: a busy neighbour
    (~1 core busy of two) leaves one core, so one thread. Then at most one thread
    per WORK_PER_THREAD multiply-adds, and never more than an explicit OMP_NUM_THREADS.
    """
    idle = state.cpus - int(state.load + 0.5)
    by_work = max(1, work // WORK_PER_THREAD)
    cap = state.cpus if state.pinned is None else min(state.cpus, state.pinned)
    return max(1, min(cap, idle, by_work))


def resolve_threads(setting: int | str, work: int, state: MachineState | None = None) -> int:
    """`train.threads` -> a thread count: an int as given, `auto` from the work and the load."""
    if isinstance(setting, int):
        return setting
    if setting != "auto":
        raise ValueError(f"train.threads must be 'auto' or a count >= 1 (got {setting!r})")
    pinned = os.environ.get("OMP_NUM_THREADS", "")
    if state is None and (work < 2 * WORK_PER_THREAD or pinned == "1"):
        return 1  # one thread whatever the machine does: no need to watch it
    return auto_threads(work, state if state is not None else machine_state())


@contextmanager
def using_threads(count: int) -> Iterator[int]:
    """Run the block with `count` intra-op threads, then put the previous count back."""
    previous = torch.get_num_threads()
    if count != previous:
        torch.set_num_threads(count)
    try:
        yield count
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
