"""The Ray executor: sharding, local == Ray on the CPU, failed and cancelled shards, the CLI.

One local Ray instance (2 CPUs, loopback, no dashboard) serves the whole module. Ray is not
imported at collection: the first import decides whether it listens on loopback only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from pydantic import BaseModel

from actbench import cli, distributed, ray_io
from actbench.config import Config, load_config
from actbench.distributed import (
    activation_groups,
    describe_error,
    import_ray,
    make_ray_executor,
    shard_plans,
    start_local_ray,
    train_shard,
)
from actbench.errors import ConfigError, Interrupted
from actbench.experiment import (
    ExecutionContext,
    PlanOutcome,
    PopulationPlan,
    ProgressEvent,
    plan,
    run_experiment,
)

pytestmark = pytest.mark.ray

SWEEP = [
    "data.n_samples=160",
    "train.epochs=3",
    "train.seeds=2",
    "activations=[relu, tanh, leaky_relu]",
    "sweep={train.lr: [0.001, 0.01]}",
]
TINY_CLI = [
    "--set",
    "data.n_samples=120",
    "--epochs",
    "2",
    "--seeds",
    "2",
    "--set",
    "activations=[relu,tanh]",
    "--format",
    "json",
]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs the ray extra: pip install 'actbench[ray]'")
    start_local_ray(num_cpus=2)
    ray = import_ray(local=True)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def sweep() -> Config:
    return load_config(None, SWEEP)


def _members(shards: Sequence[PopulationPlan]) -> list[tuple[int, int, int]]:
    return [(m.point, m.entry, m.spec.seed) for s in shards for m in s.members]


# --- sharding (no Ray needed) -------------------------------------------------------------------


def test_default_is_one_shard_per_activation_with_all_its_learning_rates(sweep: Config) -> None:
    _, plans = plan(sweep)
    shards = shard_plans(plans, None)
    assert len(shards) == 3
    for shard in shards:
        assert shard.config is plans[0].config
        assert len({m.entry for m in shard.members}) == 1
        assert {m.spec.lr for m in shard.members} == {0.001, 0.01}
        assert len(shard.members) == 2 * 2
    assert _members(shards) == _members(plans)


def test_shards_never_split_an_activation_group(sweep: Config) -> None:
    _, plans = plan(sweep)
    for count in range(1, 8):
        shards = shard_plans(plans, count)
        assert len(shards) == min(count, 3)
        assert _members(shards) == _members(plans)
        entries = [m.entry for s in shards for m in s.members]
        for shard in shards:
            own = {m.entry for m in shard.members}
            assert sum(entries.count(e) for e in own) == len(shard.members)


def test_shards_are_balanced_and_never_cross_populations() -> None:
    config = load_config(
        None,
        [
            "train.seeds=3",
            "activations=[relu, tanh, elu, gelu]",
            "sweep={model.hidden: [[4], [3, 3]]}",
        ],
    )
    _, plans = plan(config)
    assert len(plans) == 2
    assert [len(s.members) for s in shard_plans(plans, None)] == [3] * 8
    assert [len(s.members) for s in shard_plans(plans, 1)] == [12, 12]
    assert [len(s.members) for s in shard_plans(plans, 4)] == [6, 6, 6, 6]
    assert [len(s.members) for s in shard_plans(plans, 5)] == [3, 3, 6, 6, 6]
    assert [len(s.members) for s in shard_plans(plans, 100)] == [3] * 8
    for shard in shard_plans(plans, 3):
        assert len({m.point for m in shard.members}) == 1


def test_activation_groups_are_runs_of_one_entry(sweep: Config) -> None:
    _, (population,) = plan(sweep)
    groups = activation_groups(population.members)
    assert [[m.spec.label for m in g][0] for g in groups] == ["relu", "tanh", "leaky_relu"]
    assert all(len(g) == 4 for g in groups)


def test_zero_shards_is_a_config_error(sweep: Config) -> None:
    _, plans = plan(sweep)
    with pytest.raises(ConfigError, match="at least 1"):
        shard_plans(plans, 0)


def test_errors_are_one_line_and_name_the_error_ray_wrapped() -> None:
    class Wrapped(Exception):
        cause = ValueError("bad\nvalue")

    assert describe_error(Wrapped("traceback text")) == "ValueError: bad value"
    assert describe_error(RuntimeError("worker died")) == "RuntimeError: worker died"


def test_missing_ray_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'actbench\[ray\]'"):
        make_ray_executor(None, None)


def test_a_shard_returns_plain_python_values(sweep: Config) -> None:
    _, plans = plan(sweep)
    shard = shard_plans(plans, None)[0]
    threads = torch.get_num_threads()
    try:
        outcome = train_shard(shard, "cpu", keep_models=True)
    finally:
        torch.set_num_threads(threads)

    def walk(value: Any) -> Iterator[Any]:
        yield value
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                if field.name not in ("members", "config"):  # the plan sent in
                    yield from walk(getattr(value, field.name))
        elif isinstance(value, BaseModel):  # the run records: fields of plain values
            for name in type(value).model_fields:
                yield from walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    assert outcome.trained is not None and len(outcome.models) == len(shard.members)
    leaves = [
        v for v in walk(outcome) if not dataclasses.is_dataclass(v) and not isinstance(v, BaseModel)
    ]
    plain = (bool, int, float, str, bytes, list, dict, type(None))
    assert all(isinstance(v, plain) for v in leaves), {type(v) for v in leaves}


# --- on Ray -------------------------------------------------------------------------------------


def test_ray_listens_on_loopback_only(ray_instance: Any) -> None:
    assert ray_instance.util.get_node_ip_address() == "127.0.0.1"


def test_ray_results_equal_a_local_run(ray_instance: Any, sweep: Config) -> None:
    local = run_experiment(sweep, "t").result
    events: list[ProgressEvent] = []
    remote = run_experiment(
        sweep, "t", executor=make_ray_executor(None, None), on_progress=events.append
    ).result
    assert remote.status == local.status == "ok"
    assert len(remote.runs) == 3 * 2 * 2
    for a, b in zip(local.runs, remote.runs, strict=True):
        assert (a.label, a.grid, a.seed) == (b.label, b.grid, b.seed)
        assert a.train_loss == b.train_loss and a.test_accuracy == b.test_accuracy
        assert a.dead_per_layer == b.dead_per_layer and a.history == b.history
    assert remote.runs == local.runs
    assert remote.summary == local.summary
    assert [(e.done, e.total) for e in events] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    done = sorted(e.description for e in events[1:])
    assert done == [
        "shard 1/3 done: relu, 4 models",
        "shard 2/3 done: tanh, 4 models",
        "shard 3/3 done: leaky_relu, 4 models",
    ]
    assert ray_instance.is_initialized()  # not started here, so not stopped here


def _sabotaged(plans: Sequence[PopulationPlan], shard: int) -> list[PopulationPlan]:
    """The default shards, with every member of one given an activation the worker rejects."""
    shards = shard_plans(plans, None)
    broken = [
        dataclasses.replace(m, spec=dataclasses.replace(m.spec, activation="no_such_activation"))
        for m in shards[shard].members
    ]
    shards[shard] = PopulationPlan(shards[shard].config, broken)
    return shards


def test_a_shard_that_raises_fails_alone(ray_instance: Any, sweep: Config) -> None:
    ray_executor = make_ray_executor(None, None)

    def executor(plans: Sequence[PopulationPlan], context: ExecutionContext) -> list[PlanOutcome]:
        return ray_executor(_sabotaged(plans, 1), context)

    result = run_experiment(sweep, "t", executor=executor).result
    assert result.status == "ok"
    by_label: dict[str, set[str]] = {}
    for record in result.runs:
        by_label.setdefault(record.label, set()).add(record.status)
    assert by_label == {"relu": {"ok"}, "tanh": {"failed"}, "leaky_relu": {"ok"}}
    failed = [r for r in result.runs if r.status == "failed"]
    assert len(failed) == 4
    for record in failed:
        assert record.error is not None
        assert record.error.startswith("ActivationError: unknown activation 'no_such_activation'")
        assert "\n" not in record.error


def test_a_stop_request_keeps_finished_shards_and_the_finished_epochs_of_running_ones(
    ray_instance: Any,
) -> None:
    # long enough that running shards see the stop request (they poll it every 0.5 s)
    config = load_config(None, [*SWEEP, "train.epochs=3000"])
    events: list[ProgressEvent] = []

    def stop() -> bool:
        return bool(events) and events[-1].done >= 1

    experiment = run_experiment(
        config,
        "t",
        executor=make_ray_executor(None, None),
        on_progress=events.append,
        should_stop=stop,
    )
    result = experiment.result
    assert experiment.interrupted
    assert 4 <= len(result.runs) <= 12 and len(result.runs) % 4 == 0  # whole shards of 4
    finished = [r for r in result.runs if r.status == "ok"]
    stopped = [r for r in result.runs if r.status != "ok"]
    assert len(finished) >= 4 and all(r.epochs == 3000 for r in finished)
    assert {r.status for r in stopped} <= {"interrupted"}
    assert all(r.epochs < 3000 and len(r.history.train_loss) == r.epochs for r in stopped)
    # something was stopped: members with their finished epochs, or shards not yet started
    assert stopped or any("cancelled" in notice for notice in result.notices)


def test_a_running_shard_stops_at_the_flag_and_hands_back_its_finished_epochs(
    ray_instance: Any, sweep: Config
) -> None:
    long = load_config(None, [*SWEEP, "train.epochs=100000"])
    _, plans = plan(long)
    shard = shard_plans(plans, None)[0]
    flag = ray_instance.remote(num_cpus=0)(distributed.StopFlag).remote()
    ref = ray_instance.remote(num_cpus=1)(train_shard).remote(shard, "cpu", False, flag)
    ready, _ = ray_instance.wait([ref], timeout=5)  # training: it runs for minutes unless stopped
    assert ready == []
    flag.set.remote()
    outcome = ray_instance.get(ref, timeout=60)
    assert outcome.interrupted
    assert outcome.trained is not None and len(outcome.trained.members) == len(shard.members)
    for member in outcome.trained.members:
        assert member.status == "interrupted"
        assert 1 <= member.epochs < 100000
        assert len(member.history.train_loss) == member.epochs


def test_a_shard_that_starts_after_the_stop_request_returns_nothing(
    ray_instance: Any, sweep: Config
) -> None:
    _, plans = plan(sweep)
    shard = shard_plans(plans, None)[0]
    flag = ray_instance.remote(num_cpus=0)(distributed.StopFlag).remote()
    ray_instance.get(flag.set.remote())
    ref = ray_instance.remote(num_cpus=1)(train_shard).remote(shard, "cpu", False, flag)
    assert ray_instance.get(ref, timeout=60) is None


# --- the command line ---------------------------------------------------------------------------


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
            return code, out.getvalue(), err.getvalue()
    raise AssertionError("main() returned without sys.exit")


def test_compare_on_ray_has_the_shape_and_numbers_of_a_local_run(
    ray_instance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    local_code, local_out, _ = _cli("compare", *TINY_CLI, "--out", str(tmp_path / "local"))
    code, out, err = _cli("compare", *TINY_CLI, "--executor", "ray", "--out", str(tmp_path / "ray"))
    assert (local_code, code) == (0, 0), err
    local, remote = json.loads(local_out), json.loads(out)
    assert remote.keys() == local.keys()
    assert [r.keys() for r in remote["runs"]] == [r.keys() for r in local["runs"]]
    assert remote["runs"] == local["runs"]
    assert remote["summary"] == local["summary"]
    (run_dir,) = (tmp_path / "ray").iterdir()
    (local_dir,) = (tmp_path / "local").iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(p.name for p in local_dir.iterdir())
    assert json.loads((run_dir / "results.json").read_text())["runs"] == remote["runs"]


@pytest.mark.parametrize("flag", [["--shards", "2"], ["--ray-address", "auto"]])
def test_ray_flags_without_the_ray_executor_exit_2(
    flag: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    code, out, err = _cli("compare", *TINY_CLI, "--no-save", *flag)
    assert code == 2
    assert err.startswith("error:") and "--executor ray" in err
    assert len(err.strip().splitlines()) == 1 and out == ""


def test_without_an_address_the_executor_starts_and_stops_its_own_ray(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs the ray extra: pip install 'actbench[ray]'")
    script = textwrap.dedent(
        """
        import ray
        from actbench.config import load_config
        from actbench.distributed import make_ray_executor
        from actbench.experiment import run_experiment

        config = load_config(None, ["data.n_samples=120", "train.epochs=2", "train.seeds=1",
                                    "activations=[relu, tanh]"])
        result = run_experiment(config, "t", executor=make_ray_executor(None, None, num_cpus=2))
        print(result.result.status, len(result.result.runs), ray.is_initialized())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "2", "False"]


# --- connecting: bounded, quiet, interruptible ----------------------------------------------------


def _refused_address() -> tuple[str, socket.socket]:
    """host:port of a bound socket that does not listen: connections are refused."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    return f"127.0.0.1:{holder.getsockname()[1]}", holder


class _SlowRay:
    """Stands in for the ray module: init blocks (a silent address) or raises."""

    def __init__(self, seconds: float = 30.0, error: Exception | None = None) -> None:
        self.seconds, self.error = seconds, error

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: Any) -> None:
        if self.error is not None:
            raise self.error
        time.sleep(self.seconds)

    def shutdown(self) -> None:
        pass


def test_a_refused_address_fails_at_once_naming_it() -> None:
    address, holder = _refused_address()
    with holder:
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            distributed._probe(address)
    assert time.monotonic() - started < 2
    assert str(info.value) == (
        f"cannot join the Ray cluster at '{address}': nothing listens there (connection refused)"
    )


@pytest.mark.parametrize("address", ["auto", "ray://head", "head"])
def test_addresses_without_a_port_are_left_to_ray(address: str) -> None:
    distributed._probe(address)


def test_a_silent_address_gives_up_after_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(distributed, "CONNECT_SECONDS", 0.5)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="no Ray answer within 0.5 s"):
        distributed._join(_SlowRay(), "10.0.0.1:6379", None)
    assert time.monotonic() - started < 2


def test_a_stop_request_while_connecting_raises_interrupted() -> None:
    requests = iter([False, False, True])
    started = time.monotonic()
    with pytest.raises(Interrupted, match="nothing was trained"):
        distributed._join(_SlowRay(), "10.0.0.1:6379", lambda: next(requests))
    assert time.monotonic() - started < 2


def test_an_error_while_joining_is_one_config_error_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "_probe", lambda address: None)
    ray = _SlowRay(error=ConnectionError("Failed to connect to Ray cluster\nat 10.0.0.1:6379"))
    with pytest.raises(ConfigError) as info:
        distributed._connect(ray, "10.0.0.1:6379", None)  # type: ignore[arg-type]
    assert str(info.value) == (
        "cannot start or join the Ray cluster at '10.0.0.1:6379': "
        "ConnectionError: Failed to connect to Ray cluster at 10.0.0.1:6379"
    )


def test_ray_output_on_file_descriptor_2_is_hidden_unless_debug(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with ray_io.ray_output_hidden(debug=False):
        os.write(2, b"[W rpc_client.h:153] Failed to connect to GCS\n")
        print("ours", file=sys.stderr)
    with ray_io.ray_output_hidden(debug=True):
        os.write(2, b"debug keeps ray's lines\n")
    err = capfd.readouterr().err
    assert "Failed to connect to GCS" not in err
    assert "ours" in err and "debug keeps ray's lines" in err


def test_compare_with_a_refused_ray_address_exits_2_with_one_line(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs the ray extra: pip install 'actbench[ray]'")
    address, holder = _refused_address()
    with holder:  # a fresh process: this one may already hold the module's Ray instance
        done = subprocess.run(
            [sys.executable, "-m", "actbench", "compare", *TINY_CLI, "--out", "runs"]
            + ["--executor", "ray", "--ray-address", address],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: cannot join the Ray cluster at '{address}': nothing listens there "
        "(connection refused)"
    ]
    assert not (tmp_path / "runs").exists()


def test_a_silent_address_fails_within_15_seconds_without_ray_logs(tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("needs the ray extra: pip install 'actbench[ray]'")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections and never answers: not a Ray head
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "actbench",
                "compare",
                *TINY_CLI,
                "--no-save",
                "--executor",
                "ray",
                "--ray-address",
                address,
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
    limit = distributed.PROBE_SECONDS + distributed.CONNECT_SECONDS
    assert time.monotonic() - started < limit + 10  # + start-up of a fresh interpreter and torch
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: cannot join the Ray cluster at '{address}': no Ray answer within "
        f"{distributed.CONNECT_SECONDS:g} s (is it a Ray head node's port?)"
    ]
