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
