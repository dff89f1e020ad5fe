"""The CUDA step on the CPU: its arithmetic against the manual step and autograd (to tolerance:
it rounds differently, as CUDA does), its whole-epoch recordings against its eager run (bit for
bit, with a recorder that keeps a CUDA graph's contract: tests/graph_tape.py), and its kernels
per step. On a GPU, tests/test_cuda.py checks the same on the device."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from cases import ACTIVATION_VARIANTS
from graph_tape import FailingTape, OpCounter, Tape

from actbench import fused
from actbench import step as step_module
from actbench.bench_settings import REFERENCE_ACTIVATIONS
from actbench.config import DataConfig, TrainConfig
from actbench.data import Dataset, make_dataset
from actbench.engine import PopulationOutcome, TrainSettings, train_population
from actbench.fused import FusedEpochStep, FusedGradients, plan_segments, segment_index
from actbench.model import member_loss
from actbench.optim import StackedOptimizer
from actbench.population import MemberSpec, Population

CLOSED_FORM = [case for case in ACTIVATION_VARIANTS if case[0] != "prelu"]
# float32 steps that round differently: a few epochs leave parameters ~1e-7 apart
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def data() -> Dataset:
    # 320 training samples: batch 48 gives 6 full steps and a tail of 32
    return make_dataset(DataConfig(n_samples=400, n_classes=3, n_informative=3))


def _population(
    data: Dataset, activations: list[tuple[str, dict[str, Any]]], hidden: tuple[int, ...]
) -> Population:
    members = [MemberSpec(n, n, p, seed) for n, p in activations for seed in (0, 1)]
    return Population(members, data.n_features, hidden, data.n_classes)


def _batch(data: Dataset, members: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    index = torch.randint(0, data.x_train.shape[0], (members * size,), generator=generator)
    inputs = data.x_train.index_select(0, index).view(members, size, -1)
    return inputs, data.y_train.index_select(0, index).view(members, size)


@pytest.fixture
def fused_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused step on the CPU (make_step chooses it on CUDA only)."""
    monkeypatch.setattr(step_module, "_wants_fused", lambda device: True)


@pytest.fixture
def taped(fused_here: None, monkeypatch: pytest.MonkeyPatch) -> list[Tape]:
    """...and its epochs recorded and replayed by Tape, as CUDA graphs would be."""
    tapes: list[Tape] = []

    def recorder() -> Tape:
        tapes.append(Tape())
        return tapes[-1]

    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: cuda_graphs)
    monkeypatch.setattr(step_module, "_graph_recorder", recorder)
    return tapes


def _train(data: Dataset, population: Population, **train: Any) -> PopulationOutcome:
    settings = TrainSettings(TrainConfig(**{"epochs": 4, "batch_size": 48, **train}))
    return train_population(population, data, settings)


def _max_difference(a: Population, b: Population) -> float:
    pairs = zip(a.parameters(), b.parameters(), strict=True)
    return max(float((pa - pb).detach().abs().max()) for pa, pb in pairs)


# --- the arithmetic -----------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", [(50,), (16, 8)])
@pytest.mark.parametrize("batch", [64, 37])
def test_gradients_and_losses_equal_autograd_to_rounding(
    data: Dataset, hidden: tuple[int, ...], batch: int
) -> None:
    population = _population(data, CLOSED_FORM, hidden)
    inputs, targets = _batch(data, population.size, batch)
    per_sample = member_loss(population(inputs), targets, "softmax")
    per_sample.mean(1).sum().backward()
    params = [*population.weights, *population.biases]
    expected = [p.grad.clone() for p in params]  # type: ignore[union-attr]
    optimizer = StackedOptimizer(
        population.stacked_parameters(), [1e-3] * population.size, TrainConfig()
    )
    gradients = FusedGradients(population, optimizer)
    ones = torch.ones(*inputs.shape[:2], 1)
    onehot = torch.nn.functional.one_hot(targets, data.n_classes).float()
    loss = torch.zeros(population.size, 1, 1)
    gradients(torch.cat([inputs, ones], 2), onehot * -(1 / batch), loss)
    torch.testing.assert_close(loss.view(-1), per_sample.detach().sum(1), rtol=1e-6, atol=1e-6)
    for grad, want in zip(optimizer.grads, expected, strict=True):
        torch.testing.assert_close(grad, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "train",
    [
        pytest.param({}, id="adam"),
        pytest.param({"optimizer": "adamw", "weight_decay": 0.01}, id="adamw"),
        pytest.param({"optimizer": "sgd", "momentum": 0.9, "lr": 0.05}, id="sgd-momentum"),
    ],
)
def test_training_equals_the_manual_step_to_tolerance(
    data: Dataset, fused_here: None, train: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    activations = [("relu", {}), ("tanh", {}), ("softmax", {}), ("gelu", {}), ("identity", {})]
    trained = _population(data, activations, (16, 8))
    outcome = _train(data, trained, **train)
    monkeypatch.setattr(step_module, "_wants_fused", lambda device: False)
    manual = _population(data, activations, (16, 8))
    expected = _train(data, manual, **train)
    assert _max_difference(trained, manual) < TOLERANCE
    for got, want in zip(outcome.members, expected.members, strict=True):
        assert got.history.train_loss == pytest.approx(want.history.train_loss, rel=1e-6)
        assert got.history.grad_norm_per_layer == [
            pytest.approx(epoch, rel=1e-5) for epoch in want.history.grad_norm_per_layer
        ]
        assert got.test_accuracy == want.test_accuracy


def test_members_with_their_own_learning_rates_train_to_tolerance(
    data: Dataset, taped: list[Tape], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Learning rates per member: the unfused update, recorded on the device's step count."""
    members = [MemberSpec("tanh", "tanh", {}, 0, lr) for lr in (1e-3, 1e-2, 3e-2)]
    trained = Population(members, data.n_features, (16,), data.n_classes)
    _train(data, trained)
    assert sum(tape.replays for tape in taped) == 4  # one segment an epoch
    monkeypatch.setattr(step_module, "_wants_fused", lambda device: False)
    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: False)
    manual = Population(members, data.n_features, (16,), data.n_classes)
    _train(data, manual)
    assert _max_difference(trained, manual) < TOLERANCE


def test_the_reference_step_is_at_most_25_kernels(data: Dataset) -> None:
    """The issue's target, counted as ATen operations on the CPU (views launch nothing); on a
    GPU tests/test_cuda.py counts the CUDA kernels themselves."""
    reference = make_dataset(DataConfig(n_samples=1000))
    members = [MemberSpec(a, a, {}, seed) for a in REFERENCE_ACTIVATIONS for seed in range(5)]
    population = Population(members, reference.n_features, (50,), reference.n_classes)
    optimizer = StackedOptimizer(population.stacked_parameters(), [1e-3] * 35, TrainConfig())
    step = FusedEpochStep(population, reference, optimizer, [64] * 12 + [32])
    (segment,) = step.segments
    step._run_segment(segment, False)  # every buffer exists from here on
    with OpCounter() as per_segment:
        step._run_segment(segment, False)
    batch = step._data[segment.key]
    inputs = batch.inputs[: 35 * 64].view(35, 64, -1)
    neg_onehot = batch.neg_onehot[: 35 * 64].view(35, 64, -1)
    with OpCounter() as per_step:
        step.gradients_of(inputs, neg_onehot, step.loss_terms[0])
        optimizer.step(step.counts[0])
    assert len(per_step.names) == 24, per_step.names
    assert "_fused_adam_" in per_step.names and "index_select" not in per_step.names
    # the epoch: 13 steps, the two gathers of its minibatches, the loss sums, the step count
    assert len(per_segment.names) <= 13 * 24 + 8, per_segment.names


# --- whole epochs -------------------------------------------------------------------------------


def test_segments_cut_the_epoch_with_one_program_for_all_but_the_last() -> None:
    segments = plan_segments([64] * 12 + [32], 128)
    assert segments == [fused.Segment(0, (64,) * 12 + (32,), True)]
    segments = plan_segments([64] * 7 + [32], 3)
    assert [s.sizes for s in segments] == [(64,) * 3, (64,) * 3, (64, 32)]
    assert [s.start for s in segments] == [0, 192, 384]
    assert len({s.key for s in segments}) == 2


def test_a_segment_index_puts_each_steps_minibatch_in_one_block() -> None:
    permutations = torch.arange(3 * 10).view(3, 10)  # member m's sample j is 10 m + j
    segment = fused.Segment(2, (3, 3, 2), True)
    index = segment_index(permutations, segment)
    steps = [index[:9].view(3, 3), index[9:18].view(3, 3), index[18:].view(3, 2)]
    assert steps[0].tolist() == [[2, 3, 4], [12, 13, 14], [22, 23, 24]]
    assert steps[1].tolist() == [[5, 6, 7], [15, 16, 17], [25, 26, 27]]
    assert steps[2].tolist() == [[8, 9], [18, 19], [28, 29]]


@pytest.mark.parametrize("step_limit", [128, 2], ids=["one-segment", "four-segments"])
def test_recorded_epochs_replay_exactly_what_runs_eagerly(
    data: Dataset, taped: list[Tape], monkeypatch: pytest.MonkeyPatch, step_limit: int
) -> None:
    """The whole epoch (steps, guard, test counts) recorded once and replayed: the same numbers
    as running it eagerly, health probes (and their gradient-norm recording) included."""
    monkeypatch.setattr(fused, "MAX_SEGMENT_STEPS", step_limit)
    activations = [("relu", {}), ("tanh", {}), ("elu", {})]
    replayed = _population(data, activations, (16, 8))
    outcome = _train(data, replayed, epochs=5)
    assert len(taped) == (4 if step_limit == 2 else 2)  # programs x (with, without norms)
    assert sum(tape.replays for tape in taped) == 5 * len(
        plan_segments([48] * 6 + [32], step_limit)
    )
    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: False)
    eager = _population(data, activations, (16, 8))
    expected = _train(data, eager, epochs=5)
    assert _max_difference(replayed, eager) == 0.0
    assert [m.model_dump() for m in outcome.members] == [m.model_dump() for m in expected.members]


def test_the_step_says_its_epochs_are_recorded(data: Dataset, taped: list[Tape]) -> None:
    population = _population(data, [("relu", {})], (8,))
    optimizer = StackedOptimizer(population.stacked_parameters(), [1e-3] * 2, TrainConfig())
    step, notices = step_module.make_step(population, data, optimizer, batch_sizes=[48] * 6 + [32])
    assert (type(step), step.kind, step.recorded, notices) == (
        FusedEpochStep,
        "fused, CUDA graphs",
        True,
        [],
    )


def test_a_diverging_member_is_frozen_at_the_end_of_a_recorded_epoch(
    data: Dataset, taped: list[Tape], monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [MemberSpec("identity", "identity", {}, 0, 20.0), MemberSpec("tanh", "tanh", {}, 0)]
    replayed = Population(members, data.n_features, (16,), data.n_classes)
    outcome = _train(data, replayed, optimizer="sgd", lr=0.01)
    monkeypatch.setattr(step_module, "_wants_fused", lambda device: False)
    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: False)
    manual = Population(members, data.n_features, (16,), data.n_classes)
    expected = _train(data, manual, optimizer="sgd", lr=0.01)
    diverged, survivor = outcome.members
    assert diverged.status == expected.members[0].status == "diverged"
    assert diverged.epochs == expected.members[0].epochs
    assert survivor.status == "ok" and survivor.epochs == 4
    # the diverging member's last finite weights are huge, and far apart: chaos amplifies the
    # different roundings; the survivor never saw them
    got, want = replayed.member_state_dict(1), manual.member_state_dict(1)
    assert max(float((got[k] - want[k]).abs().max()) for k in got) < TOLERANCE


def test_a_stop_between_segments_rolls_back_to_the_last_finished_epoch(
    data: Dataset, taped: list[Tape], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fused, "MAX_SEGMENT_STEPS", 2)  # four segments an epoch
    calls = {"n": 0}

    def stop_in_the_third_epoch() -> bool:
        calls["n"] += 1
        return calls["n"] == 2 * 4 + 2

    activations = [("relu", {}), ("tanh", {})]
    interrupted = _population(data, activations, (8,))
    settings = TrainSettings(TrainConfig(epochs=10, batch_size=48))
    outcome = train_population(interrupted, data, settings, should_stop=stop_in_the_third_epoch)
    assert outcome.interrupted and all(m.epochs == 2 for m in outcome.members)
    two_epochs = _population(data, activations, (8,))
    train_population(two_epochs, data, TrainSettings(TrainConfig(epochs=2, batch_size=48)))
    assert _max_difference(interrupted, two_epochs) == 0.0


def test_a_failed_epoch_capture_puts_everything_back_and_trains_eagerly(
    data: Dataset, fused_here: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Capture fails after the warm-up ran every program (moving the weights, the optimizer,
    the guard and the sums): all of it is put back and training equals an eager run."""
    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: cuda_graphs)
    monkeypatch.setattr(step_module, "_graph_recorder", FailingTape)
    activations = [("relu", {}), ("tanh", {})]
    tried = _population(data, activations, (8,))
    outcome = _train(data, tried)
    assert outcome.notices == [
        "CUDA graph capture failed (RuntimeError: capture is not supported here); training eagerly"
    ]
    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: False)
    eager = _population(data, activations, (8,))
    expected = _train(data, eager)
    assert _max_difference(tried, eager) == 0.0
    assert [m.model_dump() for m in outcome.members] == [m.model_dump() for m in expected.members]


def test_populations_the_fused_step_cannot_train_keep_their_step(
    data: Dataset, fused_here: None
) -> None:
    for activations, kind in (([("prelu", {})], "autograd"), ([("tanh", {})], "fused")):
        population = _population(data, activations, (8,))
        optimizer = StackedOptimizer(population.stacked_parameters(), [1e-3] * 2, TrainConfig())
        step, _ = step_module.make_step(population, data, optimizer, batch_sizes=[64])
        assert step.kind == kind


# --- the recorder keeps a CUDA graph's contract -------------------------------------------------


def test_the_tape_refuses_a_host_synchronisation_while_capturing() -> None:
    tape, x = Tape(), torch.ones(3)
    with pytest.raises(RuntimeError, match="host synchronisation"), tape.capture():
        float(x.sum())


def test_the_tape_replays_without_python() -> None:
    """What Python computes at capture stays (as in a CUDA graph): a step size kept in Python
    does not advance on replay, one kept in a tensor does."""
    tape, in_python, in_tensor, counter = Tape(), torch.zeros(()), torch.zeros(()), torch.zeros(())
    steps = [0]

    def body() -> None:
        steps[0] += 1
        in_python.add_(steps[0])
        counter.add_(1)
        in_tensor.add_(counter)

    with tape.capture():
        body()
    tape.replay()
    tape.replay()
    assert (float(in_python), float(in_tensor)) == (3.0, 6.0)


def test_the_memory_guard_counts_the_gathered_minibatches_on_cuda_only() -> None:
    from actbench.config import load_config
    from actbench.resources import estimate_memory

    config = load_config(None, ["train.seeds=1429"])
    on_cpu = estimate_memory(config, 10_003, torch.device("cpu"))
    on_cuda = estimate_memory(config, 10_003, torch.device("cuda"))
    assert "CUDA step" not in on_cpu and set(on_cuda) - set(on_cpu) == {"CUDA step"}
    # bounded by the two programs' budgets, whatever the number of members
    assert 2 * fused.SEGMENT_BUDGET < on_cuda["CUDA step"] < 2 * fused.SEGMENT_BUDGET + 2**20
    small = estimate_memory(config, 35, torch.device("cuda"))["CUDA step"]
    assert small < 10 * 2**20
