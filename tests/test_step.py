"""The autograd-free step against the autograd path it replaces: the same gradients, bit for bit."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from cases import ACTIVATION_VARIANTS

from actbench.config import DataConfig
from actbench.data import Dataset, make_dataset
from actbench.model import member_loss
from actbench.population import MemberSpec, Population
from actbench.step import CudaGraphStep, ManualGradients, Step, make_step, manual_step_problem

# prelu learns its slope: its populations keep the autograd path
ACTIVATIONS = [case for case in ACTIVATION_VARIANTS if case[0] != "prelu"]


@pytest.fixture(scope="module")
def data() -> Dataset:
    return make_dataset(DataConfig(n_samples=400, n_classes=3, n_informative=3))


def _population(
    data: Dataset,
    activations: list[tuple[str, dict[str, Any]]],
    hidden: tuple[int, ...],
    head: Any = "softmax",
) -> Population:
    members = [MemberSpec(n, n, p, seed) for n, p in activations for seed in (0, 1)]
    return Population(members, data.n_features, hidden, data.n_classes, head=head)


def _batch(data: Dataset, members: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    index = torch.randint(0, data.x_train.shape[0], (members * size,), generator=generator)
    inputs = data.x_train.index_select(0, index).view(members, size, -1)
    return inputs, data.y_train.index_select(0, index).view(members, size)


@pytest.mark.parametrize("hidden", [(50,), (16, 8)])
@pytest.mark.parametrize("batch", [64, 37])
def test_gradients_and_losses_equal_the_autograd_path_bit_for_bit(
    data: Dataset, hidden: tuple[int, ...], batch: int
) -> None:
    population = _population(data, ACTIVATIONS, hidden)
    assert manual_step_problem(population, torch.device("cpu")) is None
    inputs, targets = _batch(data, population.size, batch)
    per_sample = member_loss(population(inputs), targets, "softmax")
    per_sample.mean(1).sum().backward()
    params = [*population.weights, *population.biases]
    expected = [p.grad.clone() for p in params]  # type: ignore[union-attr]
    for p in params:
        p.grad = None
    manual = ManualGradients(population)(inputs, targets)
    assert torch.equal(manual, per_sample.detach())
    for p, grad in zip(params, expected, strict=True):
        assert torch.equal(p.grad, grad)


@pytest.mark.parametrize(
    ("activations", "head"),
    [
        pytest.param([("prelu", {})], "softmax", id="learnable-prelu"),
        pytest.param([("relu", {})], "sigmoid", id="sigmoid-head"),
    ],
)
def test_populations_without_a_closed_form_keep_the_autograd_path(
    data: Dataset, activations: list[tuple[str, dict[str, Any]]], head: Any
) -> None:
    population = _population(data, [("tanh", {}), *activations], (8,), head)
    assert manual_step_problem(population, torch.device("cpu")) is not None


def test_one_step_object_serves_every_batch_size_with_reused_buffers(data: Dataset) -> None:
    population = _population(data, ACTIVATIONS, (16, 8))
    reused = ManualGradients(population)
    for size in (37, 64, 37, 5):  # smaller, larger (storage grows), smaller again
        inputs, targets = _batch(data, population.size, size)
        losses = reused(inputs, targets).clone()
        grads = [grad.clone() for grad in reused.grads]
        fresh = ManualGradients(population)
        assert torch.equal(losses, fresh(inputs, targets))
        for grad, expected in zip(grads, fresh.grads, strict=True):
            assert torch.equal(grad, expected)


def test_gradients_are_written_into_the_given_tensors(data: Dataset) -> None:
    population = _population(data, [("tanh", {}), ("relu", {})], (8,))
    params = [*population.weights, *population.biases]
    slots = [torch.full_like(p, 9.0) for p in params]
    step = ManualGradients(population, slots)
    step(*_batch(data, population.size, 16))
    for p, slot in zip(params, slots, strict=True):
        assert p.grad is slot
        assert not bool((slot == 9.0).any())


def test_make_step_chooses_the_manual_step_on_the_cpu(data: Dataset) -> None:
    from actbench.config import TrainConfig
    from actbench.optim import StackedOptimizer

    for activations, kind in (([("tanh", {})], "manual"), ([("prelu", {})], "autograd")):
        population = _population(data, activations, (8,))
        optimizer = StackedOptimizer(population.stacked_parameters(), [1e-3] * 2, TrainConfig())
        step, notices = make_step(population, data, optimizer, batch_sizes=[64])
        assert (step.kind, notices) == (kind, [])


def test_a_failed_capture_puts_everything_back_and_trains_eagerly(
    data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Capture fails after its warm-up steps moved the weights, the optimizer state and the
    sums: all three are put back, the optimizer leaves capturable mode, and training from there
    equals a run that never tried to capture."""
    from actbench import step as step_module
    from actbench.config import TrainConfig
    from actbench.engine import TrainSettings, train_population
    from actbench.optim import StackedOptimizer

    def warm_up_then_fail(self: CudaGraphStep, batch_sizes: list[int]) -> None:
        index = torch.arange(self.population.size * batch_sizes[0]) % data.x_train.shape[0]
        for _ in range(3):
            self._body(index, batch_sizes[0])
        assert self.optimizer.capturable
        raise RuntimeError("capture is not supported here")

    monkeypatch.setattr(CudaGraphStep, "_record", warm_up_then_fail)
    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: cuda_graphs)

    population = _population(data, [("tanh", {}), ("relu", {})], (8,))
    before = [p.detach().clone() for p in population.parameters()]
    optimizer = StackedOptimizer(population.stacked_parameters(), [1e-3] * 4, TrainConfig())
    step, notices = make_step(population, data, optimizer, batch_sizes=[64], cuda_graphs=True)
    assert notices == [
        "CUDA graph capture failed (RuntimeError: capture is not supported here); training eagerly"
    ]
    assert type(step) is Step and step.kind == "manual"
    assert not optimizer.capturable and optimizer.steps == 0
    for after, expected in zip(population.parameters(), before, strict=True):
        assert torch.equal(after, expected)
    for state in optimizer.member_state():
        assert not bool(state.any())
    assert not bool(step.loss_sum.any())

    cfg = TrainConfig(epochs=2, cuda_graphs=True)
    tried = _population(data, [("tanh", {}), ("relu", {})], (8,))
    outcome = train_population(tried, data, TrainSettings(cfg))
    assert outcome.notices and "training eagerly" in outcome.notices[0]
    monkeypatch.setattr(step_module, "_wants_graphs", lambda device, cuda_graphs: False)
    plain = _population(data, [("tanh", {}), ("relu", {})], (8,))
    train_population(plain, data, TrainSettings(cfg))
    for a, b in zip(tried.parameters(), plain.parameters(), strict=True):
        assert torch.equal(a, b)


def test_an_untested_torch_release_trains_through_autograd_with_the_same_numbers(
    data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actbench import step as step_module
    from actbench.config import TrainConfig
    from actbench.engine import TrainSettings, train_population

    cfg = TrainSettings(TrainConfig(epochs=2))
    manual = _population(data, [("tanh", {}), ("relu", {})], (8,))
    train_population(manual, data, cfg)
    monkeypatch.setattr(step_module, "_torch_release", lambda: (2, 99))
    fallback = _population(data, [("tanh", {}), ("relu", {})], (8,))
    problem = manual_step_problem(fallback, torch.device("cpu"))
    assert problem is not None and problem.startswith("torch ") and "tested: 2.11, 2.13" in problem
    train_population(fallback, data, cfg)
    for a, b in zip(manual.parameters(), fallback.parameters(), strict=True):
        assert torch.equal(a, b)


def test_pyproject_asks_for_a_tested_torch() -> None:
    import re
    from pathlib import Path

    from actbench.step import MANUAL_STEP_TORCH

    text = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    (bound,) = re.findall(r'"torch>=(\d+)\.(\d+)"', text)
    assert (int(bound[0]), int(bound[1])) == min(MANUAL_STEP_TORCH)
