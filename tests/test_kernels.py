"""The activation kernel table and the no-graph forward: the module's and autograd's numbers,
bit for bit."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from cases import ACTIVATION_VARIANTS

from actbench import activations
from actbench.config import DataConfig
from actbench.data import make_dataset
from actbench.population import Forward, MemberSpec, Population, layer_kernels

IDS = [f"{name}{params or ''}" for name, params in ACTIVATION_VARIANTS]


def _inputs() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(3, 64, 50, generator=generator) * 8
    edges = torch.tensor([0.0, -0.0, 6.0, -1.0, 1.0, 0.5, -2.0, 20.0, -20.0, 1e-30, float("nan")])
    z[0, 0, : edges.numel()] = edges
    return z


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit, NaN where the other has NaN."""
    nan = a.isnan()
    return bool(torch.equal(nan, b.isnan()) and torch.equal(a[~nan], b[~nan]))


@pytest.mark.parametrize(("name", "params"), ACTIVATION_VARIANTS, ids=IDS)
def test_forward_and_backward_equal_the_module_and_autograd(
    name: str, params: dict[str, Any]
) -> None:
    module = activations.build(name, params)
    kernels = activations.get(name).closed_form(params)
    if name == "prelu":  # a learnable slope: no closed form, the autograd path
        assert kernels is None
        return
    assert kernels is not None
    z = _inputs()
    upstream = torch.randn(z.shape, generator=torch.Generator().manual_seed(1))
    leaf = z.clone().requires_grad_(True)
    expected_h = module(leaf)
    (expected_grad,) = torch.autograd.grad(expected_h, leaf, upstream)
    h = torch.full_like(z, 7.0)  # stale contents must be overwritten
    kernels.forward(z, h)
    grad = torch.full_like(z, 7.0)
    kernels.backward(upstream, z, h, grad)
    assert _same(h, expected_h.detach())
    assert _same(grad, expected_grad)


def test_every_activation_without_learnable_parameters_has_kernels() -> None:
    for name in activations.names():
        module = activations.build(name)
        has_params = any(True for _ in module.parameters())
        assert (activations.get(name).closed_form() is None) == has_params, name


@pytest.mark.parametrize("hidden", [(50,), (16, 8)])
def test_the_no_graph_forward_equals_the_population_forward(hidden: tuple[int, ...]) -> None:
    data = make_dataset(DataConfig(n_samples=300, n_classes=3, n_informative=3))
    members = [
        MemberSpec(name, name, params, seed)
        for name, params in ACTIVATION_VARIANTS
        for seed in (0, 1)
    ]
    population = Population(members, data.n_features, hidden, data.n_classes)
    assert layer_kernels(population, 0) is None  # prelu's group: that layer falls back
    forward = Forward(population)
    for rows in (slice(0, 200), slice(0, 40), slice(0, 200)):  # reused buffers, two sizes
        xs = data.x_train[rows].expand(population.size, -1, -1)
        with torch.no_grad():
            expected_layers = [(z.clone(), h.clone()) for z, h in population.layers(xs)]
            expected_logits = population(xs)
        layers = [(z.clone(), h.clone()) for z, h in forward.layers(xs)]
        for (z, h), (z_expected, h_expected) in zip(layers, expected_layers, strict=True):
            assert torch.equal(z, z_expected)
            assert torch.equal(h, h_expected)
        assert torch.equal(forward.logits(xs), expected_logits)
