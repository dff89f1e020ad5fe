"""The Ray executor: the same populations, split into shards, trained as Ray tasks.

A shard is a PopulationPlan holding whole activation groups of one plan. A member's result does
not depend on which other members share its population (see `actbench.engine`), so the merged
shards equal one local run. Ray is imported only here, and only when the executor is made.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

import torch

from actbench.engine import PopulationOutcome
from actbench.errors import ActbenchError, ConfigError, Interrupted
from actbench.experiment import (
    ExecutionContext,
    Executor,
    PlannedMember,
    PlanOutcome,
    PopulationPlan,
    ProgressEvent,
    check_memory,
    resolve_device,
    train_plan,
)

WAIT_SECONDS = 0.2  # how often a stop request is looked at while shards run
# Joining a cluster: Ray itself retries an unreachable address for minutes.
PROBE_SECONDS = 3.0  # a TCP connection to the address first: refused or silent fails fast
CONNECT_SECONDS = 8.0  # then ray.init, waited for at most this long
# A stop request reaches running shards through a flag actor, looked at this often; they stop
# at the next step and hand back their finished epochs, waited for at most STOP_GRACE_SECONDS.
STOP_POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 30.0


# --- sharding -----------------------------------------------------------------------------------


def activation_groups(members: Sequence[PlannedMember]) -> list[list[PlannedMember]]:
    """Runs of consecutive members with the same activation entry (all its grid points and
    seeds, as `plan` orders them)."""
    groups: list[list[PlannedMember]] = []
    for member in members:
        if groups and groups[-1][0].entry == member.entry:
            groups[-1].append(member)
        else:
            groups.append([member])
    return groups


def _balanced_split(
    groups: list[list[PlannedMember]], parts: int
) -> list[list[list[PlannedMember]]]:
    """`parts` runs of consecutive groups whose largest member count is as small as possible.

    The smallest feasible bound is found by bisection, each candidate checked by one greedy
    pass (O(n log total) for n groups: 2,000 groups take milliseconds); runs the greedy pass
    leaves to spare are made by splitting the largest run that holds several groups, which
    keeps every run within the bound.
    """
    sizes = [len(group) for group in groups]
    parts = max(1, min(parts, len(groups)))
    low, high = max(sizes), sum(sizes)
    while low < high:
        bound = (low + high) // 2
        if len(_greedy_runs(sizes, bound)) <= parts:
            high = bound
        else:
            low = bound + 1
    runs = _greedy_runs(sizes, low)
    prefix = [0, *itertools.accumulate(sizes)]
    # (-members, start, stop): the largest run first, the earliest among equals
    heap = [(-(prefix[stop] - prefix[start]), start, stop) for start, stop in runs]
    heapq.heapify(heap)
    unsplittable: list[tuple[int, int, int]] = []
    while len(heap) + len(unsplittable) < parts and heap:
        members, start, stop = heapq.heappop(heap)
        if stop - start < 2:
            unsplittable.append((members, start, stop))
            continue
        # the cut that leaves the two halves closest in size
        middle = prefix[start] - members / 2
        cut = min(range(start + 1, stop), key=lambda i: abs(prefix[i] - middle))
        heapq.heappush(heap, (-(prefix[cut] - prefix[start]), start, cut))
        heapq.heappush(heap, (-(prefix[stop] - prefix[cut]), cut, stop))
    bounds = sorted((start, stop) for _, start, stop in [*heap, *unsplittable])
    return [groups[start:stop] for start, stop in bounds]


def _greedy_runs(sizes: Sequence[int], bound: int) -> list[tuple[int, int]]:
    """(start, stop) runs of consecutive sizes, each as long as `bound` allows."""
    runs, start, total = [], 0, 0
    for index, size in enumerate(sizes):
        if total + size > bound and index > start:
            runs.append((start, index))
            start, total = index, 0
        total += size
    runs.append((start, len(sizes)))
    return runs


def shard_plans(
    plans: Sequence[PopulationPlan],
    shards: int | None,
    should_stop: Callable[[], bool] | None = None,
) -> list[PopulationPlan]:
    """Split every plan into shards of whole activation groups, members in their order.

    None: one shard per activation group of every plan. N: about N shards in all, never fewer
    than the plans nor more than the groups; each extra shard goes to the plan whose shards are
    largest, and a plan's groups are cut so its largest shard is as small as possible.
    Near-linear in the number of groups; `should_stop` is asked between plans (a stop request
    raises Interrupted: nothing has been trained).
    """
    if shards is not None and shards < 1:
        raise ConfigError(f"--shards must be at least 1 (got {shards})")
    grouped = [(p, activation_groups(p.members)) for p in plans if p.members]
    n_groups = sum(len(groups) for _, groups in grouped)
    wanted = n_groups if shards is None else min(max(shards, len(grouped)), n_groups)
    counts = [1] * len(grouped)
    # the plan whose shards are largest (members per shard) gets the next shard
    widest: list[tuple[float, int]] = [
        (-len(plan.members) / 1, index)
        for index, (plan, groups) in enumerate(grouped)
        if len(groups) > 1
    ]
    heapq.heapify(widest)
    for _ in range(wanted - len(grouped)):
        _, index = heapq.heappop(widest)
        counts[index] += 1
        if counts[index] < len(grouped[index][1]):
            heapq.heappush(widest, (-len(grouped[index][0].members) / counts[index], index))
    result = []
    for (population_plan, groups), count in zip(grouped, counts, strict=True):
        if should_stop is not None and should_stop():
            raise Interrupted("while splitting the members into shards; nothing was trained")
        for part in _balanced_split(groups, count):
            members = [member for group in part for member in group]
            result.append(PopulationPlan(population_plan.config, members))
    return result


# --- the task -----------------------------------------------------------------------------------


def train_shard(
    shard: PopulationPlan, device: str, keep_models: bool = False, stop: Any = None
) -> PlanOutcome | None:
    """Train one shard in a Ray worker: check memory where it runs, then `train_plan`.

    The worker resolves `device` itself: Ray makes the GPU it assigned visible as cuda:0.
    `stop`: a StopFlag actor; once it is set, training stops at the next step and the
    finished epochs come back ('interrupted'); a shard that had not started returns None.
    """
    torch.set_num_threads(1)  # Ray reserves one CPU per shard
    should_stop = None
    if stop is not None:
        should_stop = _stop_poller(stop)
        if _stop_requested(stop):
            return None
    resolved = resolve_device(device)
    check_memory(shard.config, len(shard.members), resolved)
    return train_plan(shard, resolved, keep_models=keep_models, should_stop=should_stop)


class StopFlag:
    """Set once by the driver on a stop request; read by the shards (a Ray actor)."""

    def __init__(self) -> None:
        self.stopped = False

    def set(self) -> None:
        self.stopped = True

    def is_set(self) -> bool:
        return self.stopped


def _stop_requested(stop: Any, timeout: float = 0.05) -> bool:
    """Ask the flag, waiting briefly: at a shard's start the actor may still be starting."""
    import ray

    try:
        return bool(ray.get(stop.is_set.remote(), timeout=timeout))
    except ray.exceptions.RayError:  # GetTimeoutError included: not known to be set
        return False


def _stop_poller(stop: Any) -> Callable[[], bool]:
    """should_stop for the engine, called every step: never blocks; asks the flag at most
    every STOP_POLL_SECONDS and reads the answer when it has arrived."""
    import ray

    state: dict[str, Any] = {"stopped": False, "asked": 0.0, "answer": None}

    def should_stop() -> bool:
        now = time.monotonic()
        if state["stopped"] or now - state["asked"] < STOP_POLL_SECONDS:
            return bool(state["stopped"])
        answer = state["answer"]
        if answer is not None:
            ready, _ = ray.wait([answer], timeout=0)
            if not ready:
                return False
            try:
                state["stopped"] = bool(ray.get(answer))
            except ray.exceptions.RayError:
                pass
        state["asked"], state["answer"] = now, stop.is_set.remote()
        return bool(state["stopped"])

    return should_stop


def describe_error(exc: BaseException) -> str:
    """'<ExceptionType>: <message>' on one line, for the error Ray wrapped if there is one."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    return " ".join(f"{type(exc).__name__}: {exc}".split())


# --- the executor -------------------------------------------------------------------------------


def import_ray(local: bool) -> ModuleType:
    """Import Ray, or say how to install it. `local`: a fresh import listens on loopback only."""
    if local and "ray" not in sys.modules:
        # Ray advertises the machine's address so that other nodes can join, unless clusters
        # are off (its macOS/Windows default); a local instance needs no other node. Read by
        # Ray at import, hence before it.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise ConfigError("the ray executor needs Ray: pip install 'actbench[ray]'") from None
    return ray


def start_local_ray(num_cpus: int | None = None) -> None:
    """Start a private Ray instance on this machine: loopback, no dashboard, quiet."""
    ray = import_ray(local=True)
    ray.init(
        address="local",  # never RAY_ADDRESS or a `ray start` cluster: that takes --ray-address
        num_cpus=num_cpus or os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        _node_ip_address="127.0.0.1",
    )


def _connect(
    ray: ModuleType,
    address: str | None,
    num_cpus: int | None,
    should_stop: Callable[[], bool] | None = None,
    debug: bool = False,
) -> bool:
    """Join `address` or start a local instance; True if this call started Ray.

    Bounded: an address that refuses, stays silent or never completes Ray's handshake is a
    ConfigError within about PROBE_SECONDS + CONNECT_SECONDS. A stop request (Ctrl-C) while
    connecting raises Interrupted. Ray's own log lines stay off stderr unless `debug`.
    """
    if ray.is_initialized():
        return False
    where = f"the Ray cluster at '{address}'" if address else "a local Ray instance"
    # ray.init replaces the SIGTERM handler; the CLI's graceful stop must stay in place
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        with _ray_output_hidden(debug):
            if address is None:
                # In this thread: the processes Ray starts die with the thread that started them.
                start_local_ray(num_cpus)
            else:
                _probe(address)
                _join(ray, address, should_stop)
    except ActbenchError:
        raise
    except Exception as exc:  # Ray raises ConnectionError, ValueError, RuntimeError, ...
        raise ConfigError(f"cannot start or join {where}: {describe_error(exc)}") from None
    finally:
        if sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, sigterm)
    if should_stop is not None and should_stop():
        ray.shutdown()
        raise Interrupted(f"while connecting to {where}; nothing was trained")
    return True


def _probe(address: str) -> None:
    """A TCP connection to host:port (also of ray://host:port) before Ray retries it for
    minutes; 'auto' is resolved by Ray itself."""
    target = address.removeprefix("ray://")
    host, colon, port = target.rpartition(":")
    if not colon or not port.isdigit():
        return
    host = host.strip("[]")  # [::1]:6379
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_SECONDS):
            pass
    except ConnectionRefusedError:
        reason = "nothing listens there (connection refused)"
    except TimeoutError:
        reason = f"no answer within {PROBE_SECONDS:g} s"
    except (OSError, ValueError, OverflowError) as exc:
        reason = describe_error(exc)
    else:
        return
    raise ConfigError(f"cannot join the Ray cluster at '{address}': {reason}")


def _join(ray: ModuleType, address: str, should_stop: Callable[[], bool] | None) -> None:
    """ray.init(address) in a helper thread, so that this one can give up after
    CONNECT_SECONDS and honour a stop request; a thread still stuck in Ray is left behind
    (a daemon: it does not keep the process alive)."""
    outcome: dict[str, BaseException | None] = {}

    def connect() -> None:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
            outcome["error"] = None
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc

    helper = threading.Thread(target=connect, name="actbench-ray-connect", daemon=True)
    helper.start()
    deadline = time.monotonic() + CONNECT_SECONDS
    while helper.is_alive():
        if should_stop is not None and should_stop():
            raise Interrupted(f"while joining the Ray cluster at '{address}'; nothing was trained")
        if time.monotonic() > deadline:
            raise ConfigError(
                f"cannot join the Ray cluster at '{address}': no Ray answer within "
                f"{CONNECT_SECONDS:g} s (is it a Ray head node's port?)"
            )
        helper.join(WAIT_SECONDS)
    error = outcome.get("error")
    if error is not None:
        raise error


@contextlib.contextmanager
def _ray_output_hidden(debug: bool) -> Iterator[None]:
    """Send what Ray's C++ core writes to file descriptor 2 (retries, warnings) to a
    temporary file; Python's sys.stderr keeps writing to the terminal."""
    if debug:
        yield
        return
    try:
        stderr_is_fd2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        stderr_is_fd2 = False  # captured (tests, redirect_stderr): only fd 2 needs hiding
    original = sys.stderr
    with contextlib.suppress(OSError, ValueError):
        original.flush()
    saved = os.dup(2)
    sink = tempfile.TemporaryFile()
    os.dup2(sink.fileno(), 2)
    if stderr_is_fd2:
        sys.stderr = os.fdopen(
            os.dup(saved), "w", buffering=1, encoding=original.encoding, errors=original.errors
        )
    try:
        yield
    finally:
        if stderr_is_fd2:
            replacement, sys.stderr = sys.stderr, original
            replacement.close()
        os.dup2(saved, 2)
        os.close(saved)
        sink.close()


def make_ray_executor(
    address: str | None, shards: int | None, num_cpus: int | None = None, debug: bool = False
) -> Executor:
    """An executor that trains the shards of every plan as Ray tasks.

    address: None starts a local instance (`num_cpus` CPUs, default all) for the run and stops
    it afterwards; 'auto' or 'ray://host:port' joins a running cluster, where actbench must be
    installed. A shard is retried once by Ray (worker crash or raised error), then its members
    are reported as failed. A stop request cancels the unfinished shards and keeps the finished.
    Joining is bounded (an unreachable address is a ConfigError in about 13 s) and a stop
    request while connecting raises Interrupted. debug: Ray's own log lines on stderr.
    """
    ray = import_ray(local=address is None)

    def execute(plans: Sequence[PopulationPlan], context: ExecutionContext) -> list[PlanOutcome]:
        parts = shard_plans(plans, shards, context.should_stop)
        if context.on_progress is not None and not ray.is_initialized():
            where = f"joining Ray at {address}" if address else "starting a local Ray instance"
            context.on_progress(ProgressEvent(0, len(parts), where, unit="shards"))
        started = _connect(ray, address, num_cpus, context.should_stop, debug)
        try:
            return _run_shards(ray, parts, context)
        finally:
            if started:
                ray.shutdown()

    return execute


def _run_shards(
    ray: ModuleType, parts: list[PopulationPlan], context: ExecutionContext
) -> list[PlanOutcome]:
    # Ray hides GPUs from tasks that did not ask for one, so `auto` trains on CPU workers.
    cuda = context.device.startswith("cuda")
    gpus = 1 if cuda else 0
    task = ray.remote(max_retries=1, retry_exceptions=True, num_cpus=1, num_gpus=gpus)(train_shard)
    # Which GPU is Ray's choice: a worker sees only its own, as cuda:0.
    device = "cuda" if cuda else "cpu"
    stop = ray.remote(num_cpus=0)(StopFlag).remote() if context.should_stop else None
    refs = [task.remote(part, device, context.keep_models, stop) for part in parts]
    index = {ref: number for number, ref in enumerate(refs)}
    outcomes: dict[int, PlanOutcome] = {}
    not_started: list[int] = []
    total = len(parts)

    def progress(description: str) -> None:
        if context.on_progress is not None:
            context.on_progress(ProgressEvent(len(outcomes), total, description, unit="shards"))

    def collect(ready: list[Any]) -> None:
        for ref in ready:
            number = index[ref]
            part = parts[number]
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:
                outcome = PlanOutcome(part.members, None, error=describe_error(exc))
            if outcome is None:  # the stop request came before it started
                not_started.append(number)
                continue
            outcomes[number] = outcome
            labels = ", ".join(dict.fromkeys(m.spec.label for m in part.members))
            done = "stopped" if outcome.interrupted else "done"
            progress(f"shard {number + 1}/{total} {done}: {labels}, {len(part.members)} models")

    progress(f"{total} shards on Ray")
    pending = list(refs)
    try:
        while pending:
            if context.should_stop is not None and context.should_stop():
                # Running shards stop at their next step and hand back their finished epochs.
                if stop is not None:
                    stop.set.remote()
                deadline = time.monotonic() + STOP_GRACE_SECONDS
                while pending and time.monotonic() < deadline:
                    ready, pending = ray.wait(
                        pending, num_returns=len(pending), timeout=WAIT_SECONDS
                    )
                    collect(ready)
                break
            ready, pending = ray.wait(pending, num_returns=1, timeout=WAIT_SECONDS)
            collect(ready)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if stop is not None:
            ray.kill(stop)
    result = [outcomes[number] for number in sorted(outcomes)]
    missing = [index[ref] for ref in pending] + not_started
    if missing:
        members = sum(len(parts[number].members) for number in missing)
        # No members, not failed ones: work that never ran is missing, as after a local interrupt.
        notice = (
            f"interrupted: {len(missing)} of {total} shards ({members} models) were cancelled "
            "before they started or finished and are not in the results"
        )
        result.append(PlanOutcome([], PopulationOutcome([], 0.0, True, [notice])))
    return result
