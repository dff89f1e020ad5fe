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


def test_capturable_adam_equals_the_eager_path_with_learning_rates_per_member() -> None:
    """The step count on the device, the bias corrections in float64 there: the numbers of
    torch.optim's Python floats, bit for bit on the CPU."""
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
        assert torch.equal(eager, captured)


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


# --- the CUDA step's layout and update ----------------------------------------------------------


def _layer_pair() -> tuple[torch.nn.Parameter, torch.nn.Parameter, torch.nn.Parameter]:
    torch.manual_seed(0)
    weight = torch.nn.Parameter(torch.randn(3, 4, 5))
    bias = torch.nn.Parameter(torch.randn(3, 1, 4))
    out = torch.nn.Parameter(torch.randn(3, 2, 4))
    return weight, bias, out


def test_fold_biases_lays_a_layer_out_as_one_block_with_the_bias_last() -> None:
    weight, bias, out = _layer_pair()
    values = [p.detach().clone() for p in (weight, bias, out)]
    stacked = [(p, slice(0, 3)) for p in (weight, out, bias)]
    optimizer = StackedOptimizer(stacked, [0.1] * 3, TrainConfig(optimizer="sgd"))
    block, grad_block = optimizer.fold_biases(weight, bias)
    for p, value in zip((weight, bias, out), values, strict=True):
        assert torch.equal(p.detach(), value)
    assert block.shape == (3, 4, 6) and torch.equal(block[..., 5], values[1][:, 0])
    assert weight.data_ptr() == block.data_ptr() == optimizer.flat.data_ptr()
    # x_aug @ block^T is the layer; the gradient slots of weight and bias are the block's
    x = torch.randn(3, 7, 5)
    x_aug = torch.cat([x, torch.ones(3, 7, 1)], 2)
    layer = torch.baddbmm(bias.detach(), x, weight.detach().transpose(1, 2))
    assert torch.allclose(x_aug @ block.transpose(1, 2), layer, atol=1e-6)
    grad_block.fill_(1.0)
    assert bool((optimizer.grads[0] == 1).all()) and bool((optimizer.grads[2] == 1).all())
    assert not bool(optimizer.grads[1].any())  # out's slot is apart
    with pytest.raises(ValueError, match="fold_biases needs"):
        StackedOptimizer(stacked, [0.1] * 3, TrainConfig()).fold_biases(weight, weight)


def test_fold_biases_only_before_the_first_step() -> None:
    weight, bias, _ = _layer_pair()
    optimizer = StackedOptimizer(
        [(weight, slice(0, 3)), (bias, slice(0, 3))], [0.1] * 3, TrainConfig()
    )
    optimizer.step()
    with pytest.raises(RuntimeError, match="before the first step"):
        optimizer.fold_biases(weight, bias)


@pytest.mark.parametrize(("settings", "torch_optimizer", "torch_kwargs"), CASES)
def test_the_fused_update_matches_torch_optim_to_rounding(
    settings: dict[str, Any],
    torch_optimizer: type[torch.optim.Optimizer],
    torch_kwargs: dict[str, Any],
) -> None:
    """torch's fused kernels (the CUDA step's update) round differently from the
    operation-by-operation path: equal to ~1e-7 after 30 steps, not bit for bit."""
    weight, bias, out = _layer_pair()
    start = [p.detach().clone() for p in (weight, bias, out)]
    optimizer = StackedOptimizer(
        [(p, slice(0, 3)) for p in (weight, bias, out)], [3e-3] * 3, TrainConfig(**settings)
    )
    optimizer.fold_biases(weight, bias)
    assert optimizer.fused and optimizer.grads_filled
    generator = torch.Generator().manual_seed(1)
    gradients = [[torch.randn(p.shape, generator=generator) for p in start] for _ in range(30)]
    for step in gradients:
        for slot, g in zip(optimizer.grads, step, strict=True):
            slot.copy_(g)
        optimizer.step()
    alone = [torch.nn.Parameter(p.clone()) for p in start]
    reference = torch_optimizer(alone, lr=3e-3, **torch_kwargs)
    for step in gradients:
        for p, g in zip(alone, step, strict=True):
            p.grad = g.clone()
        reference.step()
    for p, q in zip((weight, bias, out), alone, strict=True):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-6)


def test_learning_rates_per_member_keep_the_unfused_update() -> None:
    weight, bias, _ = _layer_pair()
    optimizer = StackedOptimizer(
        [(weight, slice(0, 3)), (bias, slice(0, 3))], [1e-3, 1e-2, 0.1], TrainConfig()
    )
    optimizer.fold_biases(weight, bias)
    assert not optimizer.fused
    optimizer.grads[0].fill_(1.0)
    optimizer.step()
    # Adam's first step moves every element by its member's learning rate
    moved = (weight.detach() - _layer_pair()[0].detach()).abs().amax(dim=(1, 2))
    assert moved.tolist() == pytest.approx([1e-3, 1e-2, 0.1], rel=1e-4)
