"""The Ray executor: the same populations, split into shards, trained as Ray tasks.

A shard is a PopulationPlan holding whole activation groups of one plan (`actbench.sharding`).
A member's result does not depend on which other members share its population (see
`actbench.engine`), so the merged shards equal one local run. Ray is imported only here, and
only when the executor is made.

While Ray runs for actbench, only actbench writes to stdout and stderr
(`ray_io.ray_output_hidden`), and the Ray head is watched: a head that stops answering is
noticed within seconds, the shards that finished are kept, and the rest are reported as failed,
naming the lost head.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import torch

from actbench.engine import PopulationOutcome
from actbench.errors import ActbenchError, ConfigError, Interrupted
from actbench.experiment import (
    ExecutionContext,
    Executor,
    PlanOutcome,
    PopulationPlan,
    ProgressEvent,
    train_plan,
)
from actbench.ray_io import HeadWatch, describe_error, ray_output_hidden
from actbench.ray_io import shutdown as _shutdown
from actbench.ray_io import unreachable as _unreachable
from actbench.resources import check_memory, resolve_device
from actbench.sharding import activation_groups, shard_plans

WAIT_SECONDS = 0.2  # how often a stop request is looked at while shards run
# Joining a cluster: Ray itself retries an unreachable address for minutes.
PROBE_SECONDS = 3.0  # a TCP connection to the address first: refused or silent fails fast
CONNECT_SECONDS = 20.0  # then ray.init, waited for at most this long (a busy machine: ~10 s)
# A stop request reaches running shards through a flag actor, looked at this often; they stop
# at the next step and hand back their finished epochs, waited for at most STOP_GRACE_SECONDS.
STOP_POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 30.0

__all__ = [
    "activation_groups",
    "describe_error",
    "make_ray_executor",
    "shard_plans",
    "train_shard",
]


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
    ray_said: Callable[[], str] | None = None,
) -> bool:
    """Join `address` or start a local instance; True if this call started Ray.

    Bounded: an address that refuses, stays silent or never completes Ray's handshake is a
    ConfigError within about PROBE_SECONDS + CONNECT_SECONDS; a head that wants a token says
    so. A stop request (Ctrl-C) while connecting raises Interrupted. `ray_said`: what Ray has
    logged so far (from ray_io.ray_output_hidden), to name a failure it only logs.
    """
    if ray.is_initialized():
        return False
    where = f"the Ray cluster at '{address}'" if address else "a local Ray instance"
    # ray.init replaces the SIGTERM handler; the CLI's graceful stop must stay in place
    sigterm = signal.getsignal(signal.SIGTERM)
    try:
        if address is None:
            # In this thread: the processes Ray starts die with the thread that started them.
            start_local_ray(num_cpus)
        else:
            _probe(address)
            _join(ray, address, should_stop, ray_said)
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
    reason = _unreachable(host, int(port), PROBE_SECONDS)
    if reason is not None:
        raise ConfigError(f"cannot join the Ray cluster at '{address}': {reason}")


# What Ray logs when the head refuses a driver without the cluster's token (Ray >= 2.50).
TOKEN_REFUSED = ("InvalidAuthToken", "Unauthenticated")


def _join(
    ray: ModuleType,
    address: str,
    should_stop: Callable[[], bool] | None,
    ray_said: Callable[[], str] | None = None,
) -> None:
    """ray.init(address) in a helper thread, so that this one can give up after
    CONNECT_SECONDS and honour a stop request; a thread still stuck in Ray is left behind
    (a daemon: it does not keep the process alive). A head that refuses the driver's token
    (Ray only logs it, and retries) is named as such at once."""
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
        refused = _token_refused(ray_said() if ray_said is not None else "")
        if refused is not None:
            raise ConfigError(
                f"cannot join the Ray cluster at '{address}': it requires an authentication "
                f"token and refused this one ({refused}); give this process the "
                "cluster's token (RAY_AUTH_MODE=token, and RAY_AUTH_TOKEN or the token file; "
                "see Ray's token authentication guide)"
            )
        if time.monotonic() > deadline:
            raise ConfigError(
                f"cannot join the Ray cluster at '{address}': no Ray answer within "
                f"{CONNECT_SECONDS:g} s (is it a Ray head node's port?)"
            )
        helper.join(WAIT_SECONDS)
    error = outcome.get("error")
    if error is not None:
        raise error


def _token_refused(said: str) -> str | None:
    """Ray's own words, 'Authentication token is missing or incorrect', from its log line
    where a head refused this process's token; None where it did not."""
    for line in said.splitlines():
        for word in TOKEN_REFUSED:
            if word in line:
                return line.rpartition(f"{word}: ")[2].strip() or word
    return None


def make_ray_executor(
    address: str | None, shards: int | None, num_cpus: int | None = None, debug: bool = False
) -> Executor:
    """An executor that trains the shards of every plan as Ray tasks.

    address: None (or 'local') starts a private instance (`num_cpus` CPUs, default all; on
    loopback, no dashboard) for the run and stops it afterwards; 'auto' or 'ray://host:port'
    joins a running cluster, where actbench must be installed. A shard is retried once by Ray
    (worker crash or raised error), then its members are reported as failed. A stop request
    cancels the unfinished shards and keeps the finished. A head that stops answering is
    noticed within seconds (ray_io.HeadWatch): the finished shards are kept, the
    others' members are reported as failed, naming the head. Joining is bounded (an
    unreachable address is a ConfigError within about PROBE_SECONDS + CONNECT_SECONDS) and a
    stop request while connecting raises Interrupted. debug: Ray's own log lines on stderr.
    """
    # 'local' is Ray's own word for "start a new instance here": the private one, on loopback
    # (ray.init(address='local') would advertise the machine's address, on every interface)
    if address == "local":
        address = None
    ray = import_ray(local=address is None)

    def execute(plans: Sequence[PopulationPlan], context: ExecutionContext) -> list[PlanOutcome]:
        parts = shard_plans(plans, shards, context.should_stop)
        if context.on_progress is not None and not ray.is_initialized():
            where = f"joining Ray at {address}" if address else "starting a local Ray instance"
            context.on_progress(ProgressEvent(0, len(parts), where, unit="shards"))
        with ray_output_hidden(debug) as ray_said:
            started = _connect(ray, address, num_cpus, context.should_stop, ray_said)
            lost: list[str] = []
            try:
                return _run_shards(ray, parts, context, lost)
            finally:
                if started:
                    _shutdown(ray, head_lost=bool(lost))

    return execute


def _run_shards(
    ray: ModuleType, parts: list[PopulationPlan], context: ExecutionContext, lost: list[str]
) -> list[PlanOutcome]:
    """Train the shards as Ray tasks; `lost` gets the head's address if it stops answering."""
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
    head = HeadWatch(ray)

    def progress(description: str) -> None:
        if context.on_progress is not None:
            context.on_progress(ProgressEvent(len(outcomes), total, description, unit="shards"))

    def collect(ready: list[Any]) -> None:
        for ref in ready:
            number = index[ref]
            part = parts[number]
            try:
                # bounded: with the head gone, an object on its node may never arrive
                outcome = ray.get(ref, timeout=STOP_GRACE_SECONDS)
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
                while pending and time.monotonic() < deadline and not head.lost():
                    ready, pending = ray.wait(
                        pending, num_returns=len(pending), timeout=WAIT_SECONDS
                    )
                    collect(ready)
                break
            ready, pending = ray.wait(pending, num_returns=1, timeout=WAIT_SECONDS)
            collect(ready)
            if pending and head.lost():
                lost.append(str(head.address))
                break
    finally:
        if not lost:  # with the head gone these calls would wait on it
            for ref in pending:
                ray.cancel(ref, force=True)
            if stop is not None:
                ray.kill(stop)
    result = [outcomes[number] for number in sorted(outcomes)]
    if lost:
        # Work the head took with it is failed members, named, as for a shard that crashed.
        reason = (
            f"lost with the Ray head at {lost[0]}, which stopped answering after "
            f"{len(outcomes)} of {total} shards finished (those are kept)"
        )
        missing = [index[ref] for ref in pending]
        for number in sorted(missing):
            result.append(PlanOutcome(parts[number].members, None, error=reason))
        return result
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
