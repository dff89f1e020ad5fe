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


@pytest.mark.parametrize(("settings", "torch_optimizer", "torch_kwargs"), CASES)
def test_each_member_matches_torch_optim_with_its_own_learning_rate(
    settings: dict[str, Any],
    torch_optimizer: type[torch.optim.Optimizer],
    torch_kwargs: dict[str, Any],
) -> None:
    torch.manual_seed(0)
    start = [torch.randn(s) for s in SHAPES]
    gradients = _gradients(30)
    stacked = [torch.nn.Parameter(p.clone()) for p in start]
    optimizer = StackedOptimizer(
        [(p, slice(0, 6)) for p in stacked], LEARNING_RATES, TrainConfig(**settings)
    )
    for step in gradients:
        for p, g in zip(stacked, step, strict=True):
            p.grad = g.clone()
        optimizer.step()
    for member, lr in enumerate(LEARNING_RATES):
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
