"""StackedOptimizer against torch.optim, one member at a time."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from actbench.config import TrainConfig
from actbench.optim import StackedOptimizer

SHAPES = [(6, 50, 20), (6, 1, 50), (6, 2, 50), (6, 1, 2)]
LEARNING_RATES = [1e-3, 1e-3, 3e-3, 1e-2, 0.1, 0.3]

CASES = [
    pytest.param({"optimizer": "adam"}, torch.optim.Adam, {}, id="adam"),
    pytest.param(
        {"optimizer": "adam", "weight_decay": 0.01},
        torch.optim.Adam,
        {"weight_decay": 0.01},
        id="adam-weight-decay",
    ),
    pytest.param(
        {"optimizer": "adamw", "weight_decay": 0.01},
        torch.optim.AdamW,
        {"weight_decay": 0.01},
        id="adamw",
    ),
    pytest.param({"optimizer": "sgd"}, torch.optim.SGD, {}, id="sgd"),
    pytest.param(
        {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-3},
        torch.optim.SGD,
        {"momentum": 0.9, "weight_decay": 1e-3},
        id="sgd-momentum-weight-decay",
    ),
]


def _gradients(steps: int) -> list[list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return [[torch.randn(s, generator=generator) for s in SHAPES] for _ in range(steps)]


@pytest.mark.parametrize("learning_rates", [LEARNING_RATES, [3e-3] * 6], ids=["sweep", "uniform"])
@pytest.mark.parametrize(("settings", "torch_optimizer", "torch_kwargs"), CASES)
def test_each_member_matches_torch_optim_with_its_own_learning_rate(
    settings: dict[str, Any],
    torch_optimizer: type[torch.optim.Optimizer],
    torch_kwargs: dict[str, Any],
    learning_rates: list[float],
) -> None:
    torch.manual_seed(0)
    start = [torch.randn(s) for s in SHAPES]
    gradients = _gradients(30)
    stacked = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = StackedOptimizer(
        [(p, slice(0, 6)) for p in stacked], learning_rates, TrainConfig(**settings)
    )
    assert (optimizer.uniform_lr is None) == (learning_rates == LEARNING_RATES)
    for step in gradients:
        for p, g in zip(stacked, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for member, lr in enumerate(learning_rates):
        alone = [torch.nn.Parameter(p[member].clone()) for p in start]
        reference = torch_optimizer(alone, lr=lr, **torch_kwargs)
        for step in gradients:
            for p, g in zip(alone, step, strict=True):
                p.grad = g[member].clone()
            reference.step()
        for p, q in zip(stacked, alone, strict=True):
            assert torch.equal(p[member], q), (member, lr)


def test_a_parameter_of_one_group_uses_that_groups_learning_rates() -> None:
    # e.g. the PReLU slopes of members 2..3 only
    slope = torch.nn.Parameter(torch.ones(2, 1))
    slope.grad = torch.ones(2, 1)
    optimizer = StackedOptimizer(
        [(slope, slice(2, 4))], [0.0, 0.0, 0.1, 0.5], TrainConfig(optimizer="sgd")
    )
    optimizer.step()
    assert slope.detach().flatten().tolist() == pytest.approx([0.9, 0.5])


def test_capturable_adam_matches_the_eager_path_to_rounding() -> None:
    torch.manual_seed(0)
    start = [torch.randn(s) for s in SHAPES]
    results = []
    for capturable in (False, True):
        params = [torch.nn.Parameter(p.clone()) for p in start]
        optimizer = StackedOptimizer(
            [(p, slice(0, 6)) for p in params], LEARNING_RATES, TrainConfig(), capturable=capturable
        )
        for step in _gradients(20):
            for p, g in zip(params, step, strict=True):
                p.grad = g.clone()
            optimizer.step()
        results.append(params)
    for eager, captured in zip(*results, strict=True):
        # float32 bias corrections on the device vs Python floats: relative error ~1e-6
        assert torch.allclose(eager, captured, rtol=1e-5, atol=1e-4)


def test_reset_returns_to_the_initial_state() -> None:
    param = torch.nn.Parameter(torch.zeros(2, 3))
    optimizer = StackedOptimizer([(param, slice(0, 2))], [0.1, 0.1], TrainConfig())
    param.grad = torch.ones(2, 3)
    optimizer.step()
    optimizer.reset()
    assert optimizer.steps == 0
    assert all(bool((t == 0).all()) for t in optimizer.member_state())


def test_zero_grad_clears_gradients() -> None:
    param = torch.nn.Parameter(torch.zeros(2, 3))
    param.grad = torch.ones(2, 3)
    StackedOptimizer([(param, slice(0, 2))], [0.1, 0.1], TrainConfig()).zero_grad()
    assert param.grad is None


def test_parameters_become_views_of_the_flat_buffer() -> None:
    weight = torch.nn.Parameter(torch.zeros(2, 3, 4))
    bias = torch.nn.Parameter(torch.zeros(2, 1, 3))
    optimizer = StackedOptimizer(
        [(weight, slice(0, 2)), (bias, slice(0, 2))], [0.1, 0.1], TrainConfig(optimizer="sgd")
    )
    assert optimizer.flat.numel() == weight.numel() + bias.numel()
    with torch.no_grad():
        optimizer.flat.fill_(2.0)
    assert bool((weight == 2).all()) and bool((bias == 2).all())
    # an in-place step through the parameter is seen by the optimizer, and back
    with torch.no_grad():
        bias.add_(1)
    assert bool((optimizer.flat[-bias.numel() :] == 3).all())


def test_gradients_are_copied_in_unless_written_into_their_slots() -> None:
    weight = torch.nn.Parameter(torch.zeros(2, 3))
    bias = torch.nn.Parameter(torch.zeros(2, 1))
    optimizer = StackedOptimizer(
        [(weight, slice(0, 2)), (bias, slice(0, 2))], [1.0, 0.5], TrainConfig(optimizer="sgd")
    )
    weight.grad = torch.ones(2, 3)  # a fresh tensor, as autograd leaves it
    bias.grad = None  # no gradient: zero
    optimizer.step()
    assert weight.detach().tolist() == [[-1.0] * 3, [-0.5] * 3]
    assert bias.detach().flatten().tolist() == [0.0, 0.0]
    slot = optimizer.grads[0]
    slot.fill_(2.0)  # a step that writes into the slot and sets it as the gradient
    weight.grad = slot
    bias.grad = None
    optimizer.step()
    assert weight.detach().tolist() == [[-3.0] * 3, [-1.5] * 3]
