"""Metric definitions on crafted inputs whose answers are known exactly."""

from __future__ import annotations

import pytest
import torch

from actbench.activations import build, derivative, get, max_abs_derivative
from actbench.metrics import (
    LayerAccumulator,
    dormant_units,
    saturated_mask,
    varying_units,
)


def _layer_output(activation: str, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """h = f(x W^T + b) for fixed inputs, as [1 member, samples, units]."""
    x = torch.linspace(-3, 3, 200).unsqueeze(1).repeat(1, weight.shape[1])
    return build(activation)(x @ weight.T + bias).unsqueeze(0)


def _dead(h: torch.Tensor) -> list[bool]:
    accumulator = LayerAccumulator()
    accumulator.update(h)
    return accumulator.result(tau=0.1).dead_mask[0].tolist()


def test_relu_unit_with_zero_weights_and_negative_bias_is_dead() -> None:
    weight = torch.tensor([[0.0, 0.0], [1.0, 0.5]])
    bias = torch.tensor([-0.5, 0.0])
    assert _dead(_layer_output("relu", weight, bias)) == [True, False]


def test_relu_unit_negative_on_every_input_is_dead_but_a_leaky_one_is_not() -> None:
    weight = torch.tensor([[0.1, 0.1]])  # z in [-0.6, 0.6] - 10: always negative
    bias = torch.tensor([-10.0])
    assert _dead(_layer_output("relu", weight, bias)) == [True]
    assert _dead(_layer_output("leaky_relu", weight, bias)) == [False]
    assert _dead(_layer_output("elu", weight, bias)) == [False]


def test_tiny_but_varying_output_is_alive() -> None:
    # No tolerance: an absolute threshold would call this unit dead.
    h = torch.tensor([[[1e-12], [2e-12], [3e-12]]])
    assert _dead(h) == [False]


def test_sigmoid_rounded_to_exactly_one_is_dead() -> None:
    weight = torch.tensor([[0.0]])
    bias = torch.tensor([100.0])
    h = _layer_output("sigmoid", weight, bias)
    assert bool((h == 1.0).all())
    assert _dead(h) == [True]


def test_varying_units_is_strict_equality() -> None:
    reference = torch.tensor([[1.0, 2.0, 0.0]])
    h = torch.tensor([[[1.0, 2.0, 0.0], [1.0, 2.0 - 2**-22, 0.0]]])
    assert varying_units(reference, h).tolist() == [[False, True, False]]


def test_a_nan_output_is_not_dead() -> None:
    h = torch.tensor([[[0.0], [float("nan")]]])
    assert _dead(h) == [False]


def test_dead_when_every_chunk_equals_the_first_sample() -> None:
    accumulator = LayerAccumulator()
    accumulator.update(torch.full((1, 3, 2), 0.5))
    accumulator.update(torch.tensor([[[0.5, 0.5], [0.5, 0.7]]]))
    assert accumulator.result(0.1).dead_mask.tolist() == [[True, False]]


def test_dormant_score_follows_sokar_et_al() -> None:
    # layer mean of mean|h| = (0.05 + 1 + 1.95) / 3 = 1.0; scores 0.05, 1.0, 1.95
    mean_abs = torch.tensor([[0.05, 1.0, 1.95]])
    assert dormant_units(mean_abs, tau=0.1).tolist() == [[True, False, False]]
    assert dormant_units(mean_abs, tau=0.0).tolist() == [[False, False, False]]
    assert dormant_units(mean_abs, tau=1.0).tolist() == [[True, True, False]]


def test_all_zero_layer_is_all_dormant() -> None:
    assert dormant_units(torch.zeros(1, 4), tau=0.1).tolist() == [[True] * 4]


def test_accumulator_over_chunks_equals_one_pass() -> None:
    torch.manual_seed(0)
    h = torch.randn(3, 100, 7).relu()
    whole = LayerAccumulator()
    whole.update(h)
    chunked = LayerAccumulator()
    for part in h.split(13, dim=1):
        chunked.update(part)
    a, b = whole.result(0.1), chunked.result(0.1)
    assert torch.equal(a.dead, b.dead)
    assert torch.equal(a.dormant, b.dormant)
    assert torch.allclose(a.mean_abs, b.mean_abs)


def test_saturated_fraction_of_sigmoid() -> None:
    # sigmoid'(z) < 0.01 * 0.25  <=>  |z| > ~5.99
    z = torch.tensor([[[0.0], [3.0], [7.0], [-8.0]]])
    spec = get("sigmoid")
    module = spec.build()
    mask = saturated_mask(derivative(module, spec, z), max_abs_derivative(spec))
    accumulator = LayerAccumulator()
    accumulator.update(module(z), torch.count_nonzero(mask, dim=(1, 2)))
    assert float(accumulator.result(0.1).saturated[0]) == pytest.approx(0.5)


def test_relu_negative_side_counts_as_saturated() -> None:
    spec = get("relu")
    z = torch.tensor([-1.0, -0.1, 0.5, 2.0])
    mask = saturated_mask(derivative(spec.build(), spec, z), max_abs_derivative(spec))
    assert mask.tolist() == [True, True, False, False]


def test_step_is_saturated_everywhere() -> None:
    spec = get("step")
    z = torch.tensor([-1.0, 0.5, 2.0])
    mask = saturated_mask(derivative(spec.build(), spec, z), max_abs_derivative(spec))
    assert mask.tolist() == [True, True, True]
