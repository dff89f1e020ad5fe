"""train.threads: the auto policy, explicit counts, and that the count is put back."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from actbench.config import TrainConfig
from actbench.threads import (
    WORK_PER_THREAD,
    MachineState,
    auto_threads,
    resolve_threads,
    step_work,
    using_threads,
)

REFERENCE_WORK = step_work(35, 64, [20, 50, 2])  # the benchmark's reference setup


def test_step_work_counts_forward_and_both_backward_gemms() -> None:
    assert step_work(1, 10, [3, 4, 2]) == 3 * 10 * (3 * 4 + 4 * 2)


def test_auto_uses_every_idle_core_for_enough_work() -> None:
    assert auto_threads(REFERENCE_WORK, MachineState(cpus=2, load=0.1)) == 2


def test_auto_uses_one_thread_when_a_neighbour_keeps_a_core_busy() -> None:
    assert auto_threads(REFERENCE_WORK, MachineState(cpus=2, load=1.0)) == 1
    assert auto_threads(REFERENCE_WORK, MachineState(cpus=2, load=4.0)) == 1


def test_auto_uses_one_thread_for_a_small_step() -> None:
    assert auto_threads(WORK_PER_THREAD - 1, MachineState(cpus=16, load=0.0)) == 1


def test_auto_never_exceeds_an_explicit_omp_num_threads() -> None:
    assert auto_threads(REFERENCE_WORK * 100, MachineState(cpus=16, load=0.0, pinned=3)) == 3


def test_an_explicit_count_is_used_as_given() -> None:
    assert resolve_threads(3, 1, MachineState(cpus=2, load=9.0)) == 3


@pytest.mark.parametrize("value", ["auto", 1, 8])
def test_config_accepts_auto_or_a_count(value: object) -> None:
    assert TrainConfig(threads=value).threads == value


@pytest.mark.parametrize("value", [0, -1, "many", 1.5])
def test_config_refuses_other_values(value: object) -> None:
    with pytest.raises(ValidationError):
        TrainConfig(threads=value)


def test_using_threads_puts_the_previous_count_back() -> None:
    before = torch.get_num_threads()
    with using_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_a_bad_thread_count_names_what_is_allowed() -> None:
    with pytest.raises(ValidationError, match="expected auto or a thread count from 1 to 4096"):
        TrainConfig(threads=0)


def test_auto_does_not_watch_the_machine_for_work_one_thread_handles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from actbench import threads

    def never() -> MachineState:
        raise AssertionError("sampled the machine")

    monkeypatch.setattr(threads, "machine_state", never)
    assert resolve_threads("auto", WORK_PER_THREAD) == 1


THREAD_CHECK = """
import hashlib, json, sys
import torch
from actbench.config import DataConfig, TrainConfig
from actbench.data import make_dataset
from actbench.engine import TrainSettings, train_population
from actbench.population import MemberSpec, Population
from actbench.threads import using_threads

variants = json.loads(sys.argv[1])
data = make_dataset(DataConfig(n_samples=300, n_classes=3, n_informative=3))
members = [MemberSpec(n, n, p, seed) for n, p in variants for seed in (0, 1)]
for threads in (1, 2):
    population = Population(members, data.n_features, (50, 16), data.n_classes)
    with using_threads(threads):
        outcome = train_population(population, data, TrainSettings(TrainConfig(epochs=3)))
        used = torch.get_num_threads()
    digest = hashlib.sha256(json.dumps([m.model_dump() for m in outcome.members]).encode())
    for i in range(len(members)):
        for value in population.member_state_dict(i).values():
            digest.update(value.numpy().tobytes())
    print(threads, used, digest.hexdigest())
"""


@pytest.mark.parametrize("with_prelu", [False, True], ids=["manual-step", "autograd-step"])
def test_every_activation_trains_to_the_same_numbers_with_one_and_two_threads(
    with_prelu: bool,
) -> None:
    """The thread count is a speed knob only: the hidden softmax included, every number of
    every member is the same bit for bit (prelu's population takes the autograd step). In a
    fresh process without this suite's OMP_NUM_THREADS=1, under which torch cannot really
    use a second thread."""
    import json
    import os
    import subprocess
    import sys

    from cases import ACTIVATION_VARIANTS

    variants = [v for v in ACTIVATION_VARIANTS if with_prelu or v[0] != "prelu"]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    lines = subprocess.run(
        [sys.executable, "-c", THREAD_CHECK, json.dumps(variants)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=300,
    ).stdout.split()
    one, two = lines[0:3], lines[3:6]
    assert (one[1], two[1]) == ("1", "2")  # really trained with one, then two threads
    assert one[2] == two[2]


class _Clock:
    """A fake machine: wall time, its busy CPU seconds and this process's, advanced by hand."""

    def __init__(self) -> None:
        self.now = self.busy = self.own = 0.0

    def run(self, seconds: float, own_cores: float, other_cores: float) -> None:
        self.now += seconds
        self.own += seconds * own_cores
        self.busy += seconds * (own_cores + other_cores)

    def sample(self) -> tuple[float, float, float]:
        return self.now, self.busy, self.own


def test_the_governor_drops_to_one_thread_when_a_neighbour_gets_busy_and_comes_back() -> None:
    from actbench.threads import ThreadGovernor

    clock = _Clock()
    with using_threads(2):
        governor = ThreadGovernor(REFERENCE_WORK, 2, sample=clock.sample)
        governor.cpus, governor.pinned = 2, None
        counts = []
        for others in (0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0):
            clock.run(0.3, own_cores=governor.threads, other_cores=others)
            counts.append(governor.after_epoch())
            assert torch.get_num_threads() == governor.threads
        assert counts == [2, 2, 1, 1, 1, 2, 2]
        assert governor.most_used == 2 and sum(governor.epochs.values()) == 7


def test_the_governor_judges_no_stretch_shorter_than_its_window() -> None:
    from actbench.threads import GOVERN_SECONDS, ThreadGovernor

    clock = _Clock()
    with using_threads(2):
        governor = ThreadGovernor(REFERENCE_WORK, 2, sample=clock.sample)
        governor.cpus, governor.pinned = 2, None
        clock.run(GOVERN_SECONDS / 3, own_cores=2, other_cores=1.0)
        assert governor.after_epoch() == 2  # too short to judge
        clock.run(GOVERN_SECONDS, own_cores=2, other_cores=1.0)
        assert governor.after_epoch() == 1  # the whole stretch since it last looked


def test_rerun_with_one_thread_reproduces_a_two_thread_run(tmp_path: object) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = Path(str(tmp_path)) / "runs"
    free = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    train = [sys.executable, "-m", "actbench", "compare", "configs/smoke.yaml", "--quiet"]
    flags = ["--threads", "2", "--set", "activations=[softmax,relu,gelu]", "--out", str(out)]
    root = Path(__file__).resolve().parent.parent
    subprocess.run([*train, *flags], env=free, cwd=root, check=True, capture_output=True)
    (run_dir,) = out.iterdir()
    pinned = {**free, "OMP_NUM_THREADS": "1"}
    rerun = [sys.executable, "-m", "actbench", "rerun", str(run_dir), "--no-save", "--quiet"]
    done = subprocess.run(rerun, env=pinned, cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("reproduced: all 6 runs")
