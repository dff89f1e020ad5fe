"""The health probe: closed-form derivatives, saturation counts, signal at init, health_every."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from cases import ACTIVATION_VARIANTS

from actbench import activations
from actbench.config import DataConfig, MetricsConfig, TrainConfig
from actbench.data import Dataset, make_dataset
from actbench.engine import TrainSettings, probed_epochs, train_population
from actbench.metrics import saturated_mask
from actbench.population import MemberSpec, Population
from actbench.probe import derivative, saturated_counts, signal

CASES = ACTIVATION_VARIANTS


@pytest.fixture(scope="module")
def data() -> Dataset:
    return make_dataset(DataConfig(n_samples=400))


def _inputs() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(3, 64, 50, generator=generator) * 8
    edges = torch.tensor([0.0, -0.0, 6.0, -1.0, 1.0, 0.5, -2.0, 20.0, -20.0, 1e-30])
    z[0, 0, : edges.numel()] = edges
    return z


def test_every_registered_activation_is_covered() -> None:
    assert {name for name, _ in CASES} == set(activations.names())


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}{p}" for n, p in CASES])
def test_closed_form_derivative_equals_autograds_bit_for_bit(
    name: str, params: dict[str, Any]
) -> None:
    spec = activations.get(name)
    module = spec.build(params)
    z = _inputs()
    with torch.no_grad():
        h = module(z)
    expected = activations.derivative(module, spec, z)
    assert torch.equal(derivative(module, spec, params, z, h), expected)


def _population(data: Dataset, names: list[str], hidden: tuple[int, ...] = (50,)) -> Population:
    members = [MemberSpec(n, n, {}, seed) for n in names for seed in (0, 1)]
    return Population(members, data.n_features, hidden, 2)


def test_saturated_counts_equal_the_definition_group_by_group(data: Dataset) -> None:
    names = ["identity", "step", "sigmoid", "tanh", "relu", "softmax", "prelu"]
    population = _population(data, names)
    xs = data.x_train.expand(population.size, -1, -1)
    with torch.no_grad():
        ((z, h),) = list(population.layers(xs))
    counts = saturated_counts(population, 0, z, h)
    for index in range(population.size):
        group = next(g for g in population.groups if g.start <= index < g.stop)
        act = population.layer_acts(0)[population.groups.index(group)]
        bound = activations.max_abs_derivative(group.spec, group.params)
        d = activations.derivative(act, group.spec, z[group.start : group.stop])
        expected = int(saturated_mask(d, bound)[index - group.start].sum())
        assert int(counts[index]) == expected, group.spec.name


def test_signal_is_mean_and_std_over_samples_and_units(data: Dataset) -> None:
    population = _population(data, ["tanh", "relu"], hidden=(8, 4))
    mean, std = signal(population, data.x_train)
    chunked_mean, chunked_std = signal(population, data.x_train, budget=1)
    xs = data.x_train.expand(population.size, -1, -1)
    with torch.no_grad():
        outputs = [h.double() for _, h in population.layers(xs)]
    for layer, h in enumerate(outputs):
        flat = h.flatten(1)
        assert torch.allclose(mean[:, layer], flat.mean(1), rtol=1e-12, atol=1e-14)
        assert torch.allclose(std[:, layer], flat.std(1, correction=0), rtol=1e-9, atol=1e-12)
    # one-sample chunks take another GEMM path: the float32 outputs agree to rounding
    assert torch.allclose(mean, chunked_mean, rtol=1e-5, atol=1e-7)
    assert torch.allclose(std, chunked_std, rtol=1e-5, atol=1e-7)


def test_outcome_carries_the_signal_at_init(data: Dataset) -> None:
    population = _population(data, ["tanh"], hidden=(8, 4))
    expected_mean, expected_std = signal(population, data.x_train)
    outcome = train_population(population, data, TrainSettings(TrainConfig(epochs=1)))
    for index, member in enumerate(outcome.members):
        assert member.mean_per_layer_init == expected_mean[index].tolist()
        assert member.std_per_layer_init == expected_std[index].tolist()


def test_probed_epochs_include_the_first_and_the_last() -> None:
    assert probed_epochs(7, 3) == {1, 3, 6, 7}
    assert probed_epochs(4, 1) == {1, 2, 3, 4}
    assert probed_epochs(1, 10) == {1}


@pytest.mark.parametrize(
    ("epochs", "interval", "probes"),
    [(1, 1, 1), (40, 1, 40), (41, 2, 22), (100, 3, 35), (200, 5, 41), (1000, 25, 41)],
)
def test_health_every_auto_probes_every_epoch_of_short_runs_and_about_40_of_long_ones(
    epochs: int, interval: int, probes: int
) -> None:
    metrics = MetricsConfig()
    assert metrics.health_every == "auto"
    assert metrics.probe_interval(epochs) == interval
    assert len(probed_epochs(epochs, interval)) == probes
    assert MetricsConfig(health_every=3).probe_interval(epochs) == 3


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "sometimes", 10**7])
def test_health_every_takes_auto_or_a_count(value: Any) -> None:
    with pytest.raises(ValueError, match="expected auto or a number of epochs"):
        MetricsConfig(health_every=value)


def test_health_every_records_probed_epochs_only_and_trains_the_same(data: Dataset) -> None:
    cfg = TrainConfig(epochs=7)
    sparse = _population(data, ["relu", "tanh"])
    dense = _population(data, ["relu", "tanh"])
    sparse_outcome = train_population(sparse, data, TrainSettings(cfg, health_every=3))
    dense_outcome = train_population(dense, data, TrainSettings(cfg))
    for index, (a, b) in enumerate(zip(sparse_outcome.members, dense_outcome.members, strict=True)):
        assert a.history.health_epochs == [1, 3, 6, 7]
        assert b.history.health_epochs == list(range(1, 8))
        assert a.history.train_loss == b.history.train_loss
        assert len(a.history.dead_per_layer) == len(a.history.grad_norm_per_layer) == 4
        probed = [b.history.saturated_per_layer[e - 1] for e in a.history.health_epochs]
        assert a.history.saturated_per_layer == probed
        assert a.history.grad_norm_per_layer == [
            b.history.grad_norm_per_layer[e - 1] for e in a.history.health_epochs
        ]
        assert a.saturated_per_layer == b.saturated_per_layer
        assert a.dead_per_layer == b.dead_per_layer
        state_a, state_b = sparse.member_state_dict(index), dense.member_state_dict(index)
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
