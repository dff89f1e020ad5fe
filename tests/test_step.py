"""The autograd-free step against the autograd path it replaces: the same gradients, bit for bit."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from cases import ACTIVATION_VARIANTS

from actbench.config import DataConfig
from actbench.data import Dataset, make_dataset
from actbench.engine import MemberSpec, Population
from actbench.model import member_loss
from actbench.step import ManualStep, supports

# prelu learns its slope: its populations keep the autograd path
ACTIVATIONS = [case for case in ACTIVATION_VARIANTS if case[0] != "prelu"]


@pytest.fixture(scope="module")
def data() -> Dataset:
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


@pytest.mark.parametrize("hidden", [(50,), (16, 8)])
@pytest.mark.parametrize("batch", [64, 37])
def test_gradients_and_losses_equal_the_autograd_path_bit_for_bit(
    data: Dataset, hidden: tuple[int, ...], batch: int
) -> None:
    population = _population(data, ACTIVATIONS, hidden)
    assert supports(population, "softmax", torch.device("cpu"))
    inputs, targets = _batch(data, population.size, batch)
    per_sample = member_loss(population(inputs), targets, "softmax")
    per_sample.mean(1).sum().backward()
    params = [*population.weights, *population.biases]
    expected = [p.grad.clone() for p in params]  # type: ignore[union-attr]
    for p in params:
        p.grad = None
    manual = ManualStep(population)(inputs, targets)
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
    population = _population(data, [("tanh", {}), *activations], (8,))
    assert not supports(population, head, torch.device("cpu"))


def test_one_step_object_serves_every_batch_size_with_reused_buffers(data: Dataset) -> None:
    population = _population(data, ACTIVATIONS, (16, 8))
    reused = ManualStep(population)
    for size in (37, 64, 37, 5):  # smaller, larger (storage grows), smaller again
        inputs, targets = _batch(data, population.size, size)
        losses = reused(inputs, targets).clone()
        grads = [grad.clone() for grad in reused.grads]
        fresh = ManualStep(population)
        assert torch.equal(losses, fresh(inputs, targets))
        for grad, expected in zip(grads, fresh.grads, strict=True):
            assert torch.equal(grad, expected)


def test_gradients_are_written_into_the_given_tensors(data: Dataset) -> None:
    population = _population(data, [("tanh", {}), ("relu", {})], (8,))
    params = [*population.weights, *population.biases]
    slots = [torch.full_like(p, 9.0) for p in params]
    step = ManualStep(population, slots)
    step(*_batch(data, population.size, 16))
    for p, slot in zip(params, slots, strict=True):
        assert p.grad is slot
        assert not bool((slot == 9.0).any())
