"""Ray at its worst: an instance that would listen on every interface, a head that dies mid-run,
a head that wants a token, and Ray's own lines on stdout (issue 24, items 4, 8 and 14).

The tests that need a Ray head start one with `ray start --head` in a process group of their
own (killed afterwards), under a short temporary folder: Ray's socket paths must stay short.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from clirun import actbench_process

from actbench import distributed
from actbench.errors import ConfigError
from actbench.ray_io import HeadWatch, ray_output_hidden

pytestmark = pytest.mark.ray
RAY = Path(sys.executable).parent / "ray"
TINY = ["--set", "data.n_samples=200", "--seeds", "1", "--set", "activations=[relu]"]


def _needs_ray() -> None:
    pytest.importorskip("ray", reason="needs the ray extra: pip install 'actbench[ray]'")
    if not RAY.exists():
        pytest.skip("no ray command next to this Python")


def _free_port() -> int:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        return int(holder.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _actbench(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    # a session of its own: the test stops it with every process it started
    return actbench_process(*args, cwd=cwd, env=env, start_new_session=True)


def _kill_group(process: subprocess.Popen[Any]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


class Head:
    """A Ray head started with `ray start --head --block`, in its own process group."""

    def __init__(self, *, token: bool) -> None:
        _needs_ray()
        self.folder = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))
        self.port = _free_port()
        env = {**os.environ, "RAY_AUTH_MODE": "token" if token else "disabled"}
        if token:  # its own, not ~/.ray/auth_token
            env["RAY_AUTH_TOKEN"] = "actbench-test-" + os.urandom(8).hex()
        self.process = subprocess.Popen(
            [str(RAY), "start", "--head", f"--port={self.port}", "--num-cpus=2"]
            + [f"--temp-dir={self.folder}", "--include-dashboard=false"]
            + ["--disable-usage-stats", "--block"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + 120
            while not _answers(self.port):
                assert self.process.poll() is None, "ray start failed"
                assert time.monotonic() < deadline, "the Ray head never listened"
                time.sleep(0.5)
            time.sleep(3.0)  # its raylet registers after the GCS listens
        except BaseException:
            self.stop()  # a head that never came up is not left behind
            raise

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def kill_gcs(self) -> None:
        """The head's GCS dies, as when its machine goes away."""
        for process in psutil.Process(self.process.pid).children(recursive=True):
            if "gcs_server" in process.name():
                process.kill()
                return
        raise AssertionError("no gcs_server under the head")

    def stop(self) -> None:
        try:  # its processes, even any that left the group
            family = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        _kill_group(self.process)
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def head() -> Iterator[Head]:
    started = Head(token=False)
    try:
        yield started
    finally:
        started.stop()


# --- 4. an instance actbench starts listens on loopback only ------------------------------------


def test_ray_address_local_starts_the_private_loopback_instance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int | None] = []

    def private(num_cpus: int | None = None) -> None:
        started.append(num_cpus)
        raise ConfigError("stop here")

    _needs_ray()
    monkeypatch.setattr(distributed, "start_local_ray", private)
    execute = distributed.make_ray_executor("local", None, num_cpus=2)
    with pytest.raises(ConfigError, match="a local Ray instance: stop here|stop here"):
        execute([], _context())
    assert started == [2]  # ray.init(address='local') listened on 0.0.0.0, dashboard agent too


def _context() -> Any:
    from actbench.experiment import ExecutionContext

    return ExecutionContext(device="cpu")


def _listening(root: psutil.Process) -> set[tuple[str, str]]:
    found = set()
    for process in [root, *root.children(recursive=True)]:
        try:
            for connection in process.net_connections(kind="inet"):
                if connection.status == psutil.CONN_LISTEN:
                    found.add((process.name(), connection.laddr.ip))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_a_local_ray_run_listens_on_loopback_only(tmp_path: Path) -> None:
    _needs_ray()
    process = _actbench(
        *("compare", "--executor", "ray", "--ray-address", "local", *TINY),
        *("--epochs", "100000", "--no-save", "--format", "json"),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        seen: set[tuple[str, str]] = set()
        while time.monotonic() < deadline and not any("raylet" in n for n, _ in seen):
            assert process.poll() is None, process.communicate()
            seen |= _listening(psutil.Process(process.pid))
            time.sleep(1.0)
        time.sleep(2.0)
        seen |= _listening(psutil.Process(process.pid))
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        _kill_group(process)
    assert any("raylet" in name for name, _ in seen), seen
    outside = {(name, ip) for name, ip in seen if ip not in ("127.0.0.1", "::ffff:127.0.0.1")}
    assert outside == set()  # was 0.0.0.0 and :: for the GCS, raylet and dashboard agent
    assert process.returncode == 130, stderr
    # interrupted once shards trained an epoch (JSON), or before any did (nothing to show)
    assert not stdout.strip() or json.loads(stdout)["status"] == "interrupted"


# --- 8. a head that dies mid-run ----------------------------------------------------------------


def test_a_head_that_dies_mid_run_is_noticed_and_the_finished_shards_are_saved(
    tmp_path: Path, head: Head
) -> None:
    runs = tmp_path / "runs"
    process = _actbench(
        *("compare", "--executor", "ray", "--ray-address", head.address, *TINY),
        *("--sweep", "train.epochs=2,100000", "--format", "json", "--out", str(runs)),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(runs.glob("*/config.yaml")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(12.0)  # joined, and the 2-epoch shard done
        head.kill_gcs()
        killed = time.monotonic()
        stdout, stderr = process.communicate(timeout=60)
        elapsed = time.monotonic() - killed
    finally:
        _kill_group(process)
    assert elapsed < 15, stderr  # Ray's own driver waits 60 s, then dies with nothing saved
    assert process.returncode == 1, stderr
    lines = stderr.replace(f"saved {next(runs.iterdir())}\n", "").splitlines()
    assert len(lines) == 1, stderr
    (line,) = lines
    assert line.startswith("error: ") and "lost with the Ray head at " in line
    assert f":{head.port}, which stopped answering" in line  # its GCS, by the machine's address
    result = json.loads(stdout)  # Ray printed nothing into it
    (folder,) = runs.iterdir()
    assert json.loads((folder / "results.json").read_text()) == result
    by_epochs = {run["grid"]["train.epochs"]: run for run in result["runs"]}
    assert by_epochs[100000]["status"] == "failed"
    assert "stopped answering" in by_epochs[100000]["error"]
    assert by_epochs[2]["status"] in ("ok", "failed")  # ok unless the head died before it ran
    if by_epochs[2]["status"] == "ok":
        assert by_epochs[2]["epochs"] == 2 and "1 of 2 shards finished" in line


def test_a_head_watch_notices_a_closed_port_within_seconds() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    class Context:
        gcs_address = f"127.0.0.1:{port}"

    class Ray:
        @staticmethod
        def get_runtime_context() -> Context:
            return Context()

    watch = HeadWatch(Ray)  # type: ignore[arg-type]
    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        assert not watch.lost()
        time.sleep(0.1)
    listener.close()
    closed = time.monotonic()
    while not watch.lost():
        assert time.monotonic() - closed < 5
        time.sleep(0.1)


def test_a_head_watch_leaves_alone_a_gcs_it_cannot_reach_from_the_start() -> None:
    holder = socket.socket()  # bound, not listening: connections are refused
    holder.bind(("127.0.0.1", 0))

    class Context:  # Ray Client: the cluster's own address for its GCS, unreachable from here
        gcs_address = f"127.0.0.1:{holder.getsockname()[1]}"

    class Ray:
        @staticmethod
        def get_runtime_context() -> Context:
            return Context()

    with holder:
        watch = HeadWatch(Ray)  # type: ignore[arg-type]
        assert watch.address is None and not watch.lost()


# --- 8. Ray's lines never on stdout -------------------------------------------------------------


def test_what_ray_prints_while_it_runs_stays_off_stdout(capfd: pytest.CaptureFixture[str]) -> None:
    with ray_output_hidden(debug=False) as ray_said:
        print("(raylet) A worker died or was killed while executing a task")  # Ray's thread
        os.write(1, b"\x1b[33m(raylet)\x1b[0m from Ray's core\n")
        os.write(2, b"[W gcs_client.cc:210] Failed to get cluster ID\n")
        print("ours", file=sys.stderr)
        assert "Failed to get cluster ID" in ray_said() and "A worker died" in ray_said()
    with ray_output_hidden(debug=True):
        print("(raylet) with --debug")
    captured = capfd.readouterr()
    assert captured.out == ""  # `--format json > f` stays JSON
    assert "ours" in captured.err and "(raylet) with --debug" in captured.err
    assert "Failed to get cluster ID" not in captured.err and "A worker died" not in captured.err


# --- 14. a head that wants a token says so ------------------------------------------------------


def test_joining_a_head_that_requires_a_token_names_the_authentication_failure(
    tmp_path: Path,
) -> None:
    head = Head(token=True)
    try:
        started = time.monotonic()
        process = _actbench(
            *("compare", "--executor", "ray", "--ray-address", head.address, *TINY),
            *("--epochs", "1", "--no-save"),
            cwd=tmp_path,
            env={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-cluster-token"},
        )
        try:
            stdout, stderr = process.communicate(timeout=60)
        finally:
            _kill_group(process)
        elapsed = time.monotonic() - started
    finally:
        head.stop()
    assert process.returncode == 2 and stdout == ""
    (line,) = stderr.splitlines()
    assert "it requires an authentication token and refused this one" in line, line
    assert elapsed < 18  # named at once, not "no Ray answer" after the whole connect limit
