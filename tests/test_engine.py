"""The population engine against its definition: the plain per-run loop (actbench.reference)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytest
import torch

from actbench.config import DataConfig, TrainConfig, load_config
from actbench.data import Dataset, make_dataset
from actbench.engine import TrainSettings, evaluate, train_population
from actbench.model import init_model
from actbench.population import MemberSpec, Population, stacked_linear
from actbench.probe import health
from actbench.reference import train_single

SMALL = DataConfig(n_samples=400)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return make_dataset(SMALL)


def _population(
    data: Dataset,
    members: Sequence[MemberSpec],
    hidden: tuple[int, ...] = (50,),
    head: Any = "softmax",
) -> Population:
    return Population(members, data.n_features, hidden, data.n_classes, head=head)


def _members(
    activations: Sequence[tuple[str, dict[str, Any]]], seeds: Sequence[int]
) -> list[MemberSpec]:
    return [MemberSpec(name, name, params, seed) for name, params in activations for seed in seeds]


def _max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


# --- the exactness contract ---------------------------------------------------------------------

EXACT_CASES = [
    pytest.param((50,), "adam", {}, id="one-layer-adam"),
    pytest.param((32, 16), "adam", {}, id="two-layers-adam"),
    pytest.param((50,), "sgd", {"momentum": 0.9, "lr": 0.05}, id="sgd-momentum"),
    pytest.param((50,), "adamw", {"weight_decay": 0.01}, id="adamw-weight-decay"),
]


@pytest.mark.parametrize(("hidden", "optimizer", "extra"), EXACT_CASES)
def test_member_equals_model_trained_alone_bit_for_bit(
    data: Dataset, hidden: tuple[int, ...], optimizer: str, extra: dict[str, Any]
) -> None:
    # batch 64 x width 50/32/16 (and the 64-sample tail batch of 320) fill SIMD vectors exactly,
    # so the stacked kernels do the very same arithmetic as the single model's.
    cfg = TrainConfig(epochs=3, batch_size=64, optimizer=optimizer, **extra)
    acts = [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("tanh", {}), ("elu", {})]
    members = _members(acts, seeds=[0, 1])
    population = _population(data, members, hidden)
    train_population(population, data, TrainSettings(cfg))
    for index, member in enumerate(members):
        alone = train_single(
            data, hidden, "softmax", cfg, member.activation, member.params, member.seed
        )
        assert _max_difference(population.member_state_dict(index), alone.state_dict()) == 0.0, (
            member
        )


@pytest.mark.parametrize(
    ("hidden", "head", "batch_size", "activation"),
    [
        pytest.param((50,), "sigmoid", 64, "relu", id="sigmoid-head"),
        pytest.param((50,), "softmax", 37, "elu", id="odd-batch-elu"),
        pytest.param((50,), "softmax", 64, "prelu", id="learnable-prelu"),
        pytest.param((50,), "softmax", 64, "step", id="step"),
        pytest.param((50,), "softmax", 64, "softmax", id="hidden-softmax"),
    ],
)
def test_member_equals_model_trained_alone_to_tolerance(
    data: Dataset, hidden: tuple[int, ...], head: Any, batch_size: int, activation: str
) -> None:
    # Other shapes may take a different SIMD/BLAS path (a GEMV for one logit, a scalar tail for
    # odd batch x width): the sums are the same up to rounding.
    cfg = TrainConfig(epochs=3, batch_size=batch_size)
    members = _members([(activation, {}), ("tanh", {})], seeds=[0, 1])
    population = _population(data, members, hidden, head)
    train_population(population, data, TrainSettings(cfg))
    for index, member in enumerate(members):
        alone = train_single(data, hidden, head, cfg, member.activation, member.params, member.seed)
        assert _max_difference(population.member_state_dict(index), alone.state_dict()) < 1e-5


def test_member_does_not_depend_on_the_rest_of_the_population(data: Dataset) -> None:
    # `train --act relu` (a population of one activation) == the relu member of `compare`.
    cfg = TrainConfig(epochs=3)
    everyone = _members(
        [("relu", {}), ("tanh", {}), ("sigmoid", {}), ("gelu", {})], seeds=[0, 1, 2]
    )
    big = _population(data, everyone)
    big_outcome = train_population(big, data, TrainSettings(cfg))
    relu_only = [m for m in everyone if m.activation == "relu"]
    small = _population(data, relu_only)
    small_outcome = train_population(small, data, TrainSettings(cfg))
    for index in range(len(relu_only)):
        assert _max_difference(big.member_state_dict(index), small.member_state_dict(index)) == 0.0
        assert (
            big_outcome.members[index].test_accuracy == small_outcome.members[index].test_accuracy
        )
        assert (
            big_outcome.members[index].history.train_loss
            == small_outcome.members[index].history.train_loss
        )


def test_training_is_reproducible(data: Dataset) -> None:
    cfg = TrainConfig(epochs=2)
    members = _members([("relu", {}), ("tanh", {})], seeds=[0, 1])
    first = _population(data, members)
    second = _population(data, members)
    train_population(first, data, TrainSettings(cfg))
    train_population(second, data, TrainSettings(cfg))
    for index in range(len(members)):
        assert _max_difference(first.member_state_dict(index), second.member_state_dict(index)) == 0


def test_seed_gives_the_same_init_to_every_activation(data: Dataset) -> None:
    # Paired comparisons: relu and tanh with seed 3 start from the same weights.
    population = _population(data, _members([("relu", {}), ("tanh", {})], seeds=[3]))
    relu, tanh = population.member_state_dict(0), population.member_state_dict(1)
    assert _max_difference(relu, tanh) == 0.0
    expected = init_model(3, data.n_features, (50,), 2, "relu").state_dict()
    assert _max_difference(relu, expected) == 0.0


# --- building blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize(("n_in", "n_out"), [(20, 50), (50, 2), (32, 16)])
def test_stacked_linear_matches_nn_linear_forward_and_backward(n_in: int, n_out: int) -> None:
    # Real layer sizes: below ~400 multiply-adds per matrix ATen's bmm takes a naive kernel.
    torch.manual_seed(0)
    x = torch.randn(3, 64, n_in)
    weight = torch.randn(3, n_out, n_in, requires_grad=True)
    bias = torch.randn(3, 1, n_out, requires_grad=True)
    grad = torch.randn(3, 64, n_out)
    stacked_linear(x, weight, bias).backward(grad)
    for m in range(3):
        linear = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            linear.weight.copy_(weight[m])
            linear.bias.copy_(bias[m, 0])
        out = linear(x[m])
        out.backward(grad[m])
        assert torch.equal(out, stacked_linear(x, weight, bias)[m])
        assert torch.equal(linear.weight.grad, weight.grad[m])
        assert torch.equal(linear.bias.grad, bias.grad[m, 0])


def test_member_state_dict_loads_into_simple_nn_and_gives_the_same_logits(data: Dataset) -> None:
    members = _members([("relu", {}), ("prelu", {"init": 0.1})], seeds=[0, 1])
    population = _population(data, members, hidden=(8, 8))
    train_population(population, data, TrainSettings(TrainConfig(epochs=1)))
    x = data.x_test[:10]
    stacked_logits = population(x.expand(len(members), -1, -1))
    for index, member in enumerate(members):
        model = init_model(99, data.n_features, (8, 8), 2, member.activation, member.params)
        model.load_state_dict(population.member_state_dict(index))
        assert torch.allclose(model(x), stacked_logits[index], atol=1e-6)


def test_prelu_slopes_are_learned_per_member(data: Dataset) -> None:
    members = _members([("prelu", {})], seeds=[0, 1])
    population = _population(data, members)
    train_population(population, data, TrainSettings(TrainConfig(epochs=2, lr=0.01)))
    slopes = [population.member_state_dict(i)["acts.0.weight"] for i in range(2)]
    assert not torch.equal(slopes[0], torch.tensor([0.25]))
    assert not torch.equal(slopes[0], slopes[1])


def test_evaluation_in_small_chunks_equals_one_pass(data: Dataset) -> None:
    population = _population(data, _members([("relu", {}), ("tanh", {})], seeds=[0, 1]))
    whole = evaluate(population, data.x_train, data.y_train)
    chunked = evaluate(population, data.x_train, data.y_train, budget=1)
    assert torch.equal(whole.accuracy, chunked.accuracy)
    assert torch.allclose(whole.loss, chunked.loss, atol=1e-6)
    dead_whole = health(population, data.x_train, 0.1)
    dead_chunked = health(population, data.x_train, 0.1, budget=1)
    for a, b in zip(dead_whole, dead_chunked, strict=True):
        assert torch.equal(a.dead, b.dead)
        assert torch.equal(a.dormant, b.dormant)


def test_evaluate_matches_a_direct_computation(data: Dataset) -> None:
    members = _members([("tanh", {})], seeds=[5])
    population = _population(data, members)
    result = evaluate(population, data.x_test, data.y_test)
    model = init_model(5, data.n_features, (50,), 2, "tanh")
    logits = model(data.x_test)
    expected_loss = torch.nn.functional.cross_entropy(logits, data.y_test)
    expected_acc = (logits.argmax(1) == data.y_test).double().mean()
    assert float(result.loss[0]) == pytest.approx(float(expected_loss.detach()), abs=1e-6)
    assert float(result.accuracy[0]) == pytest.approx(float(expected_acc))


# --- divergence and interruption ----------------------------------------------------------------


def test_a_diverging_member_is_frozen_and_the_others_finish(data: Dataset) -> None:
    # Identity blows up under a huge SGD step; a tanh layer stays bounded long enough.
    cfg = TrainConfig(epochs=4, optimizer="sgd", lr=20.0)
    members = _members([("identity", {}), ("sigmoid", {})], seeds=[0])
    population = _population(data, members)
    outcome = train_population(population, data, TrainSettings(cfg))
    diverged, survivor = outcome.members
    assert diverged.status == "diverged"
    assert diverged.epochs < cfg.epochs
    assert len(diverged.history.train_loss) == diverged.epochs
    assert diverged.train_loss == diverged.train_loss  # frozen at finite parameters, not NaN
    assert survivor.status == "ok"
    assert survivor.epochs == cfg.epochs
    state = population.member_state_dict(0)
    assert all(bool(torch.isfinite(t).all()) for t in state.values())


def test_interrupt_rolls_back_to_the_last_finished_epoch(data: Dataset) -> None:
    members = _members([("relu", {}), ("tanh", {})], seeds=[0])
    steps_per_epoch = -(-data.x_train.shape[0] // 64)
    calls = {"n": 0}

    def stop_in_third_epoch() -> bool:
        calls["n"] += 1
        return calls["n"] == 2 * steps_per_epoch + 3

    interrupted = _population(data, members)
    outcome = train_population(
        interrupted, data, TrainSettings(TrainConfig(epochs=10)), should_stop=stop_in_third_epoch
    )
    assert outcome.interrupted
    assert all(m.status == "interrupted" and m.epochs == 2 for m in outcome.members)
    two_epochs = _population(data, members)
    reference = train_population(two_epochs, data, TrainSettings(TrainConfig(epochs=2)))
    for index in range(len(members)):
        assert (
            _max_difference(
                interrupted.member_state_dict(index), two_epochs.member_state_dict(index)
            )
            == 0.0
        )
        assert (
            outcome.members[index].history.train_loss == reference.members[index].history.train_loss
        )


# --- what the science says ----------------------------------------------------------------------


def test_deep_narrow_relu_nets_are_born_with_dead_units() -> None:
    # Lu et al. 2019: a deep, narrow ReLU net is likely dead at initialisation.
    data = make_dataset(SMALL)
    hidden = (2,) * 10
    members = _members([("relu", {})], seeds=range(10))
    population = _population(data, members, hidden)
    layers = health(population, data.x_train, 0.1)
    dead_per_member = sum(layer.dead for layer in layers)
    assert int((dead_per_member > 0).sum()) >= 6


def _dead_units_with_input_range(activation: str) -> list[float]:
    """For every dead unit of ten 10x2 nets at init: the range of its pre-activation z."""
    data = make_dataset(SMALL)
    population = _population(data, _members([(activation, {})], seeds=range(10)), (2,) * 10)
    layers = health(population, data.x_train, 0.1)
    ranges: list[float] = []
    with torch.no_grad():
        xs = data.x_train.expand(population.size, -1, -1)
        for layer, (z, _) in zip(layers, population.layers(xs), strict=True):
            z_range = z.amax(1) - z.amin(1)
            ranges += z_range[layer.dead_mask].tolist()
    return ranges


def test_dead_relu_units_are_killed_by_the_sign_of_their_input() -> None:
    # A dead ReLU unit still receives a varying input; it is negative everywhere.
    ranges = _dead_units_with_input_range("relu")
    assert ranges
    assert max(ranges) > 1e-3


def test_dead_leaky_units_only_appear_where_float32_resolution_runs_out() -> None:
    # A leaky unit is dead only when its input is constant to float32 resolution: the signal
    # shrank through many layers (DESIGN: report it, do not hide it).
    ranges = _dead_units_with_input_range("leaky_relu")
    assert all(r < 1e-6 for r in ranges)


def test_a_high_learning_rate_kills_relu_units_but_not_leaky_ones() -> None:
    # Default data, 100 epochs: at lr 0.3 ReLU units die over training (2 of 50 in most seeds).
    config = load_config(None, ["train.lr=0.3", "train.seeds=5"])
    data = make_dataset(config.data)
    members = _members([("relu", {}), ("leaky_relu", {})], seeds=range(5))
    outcome = train_population(_population(data, members), data, TrainSettings(config.train))
    relu_dead = [sum(m.dead_per_layer) for m in outcome.members[:5]]
    leaky_dead = [sum(m.dead_per_layer) for m in outcome.members[5:]]
    assert sum(d > 0 for d in relu_dead) >= 2
    assert leaky_dead == [0] * 5


def test_a_low_learning_rate_leaves_relu_units_alive() -> None:
    config = load_config(None, ["train.seeds=5"])
    data = make_dataset(config.data)
    population = _population(data, _members([("relu", {})], seeds=range(5)))
    outcome = train_population(population, data, TrainSettings(config.train))
    assert [sum(m.dead_per_layer) for m in outcome.members] == [0] * 5


def test_member_with_its_own_learning_rate_equals_the_model_trained_alone(data: Dataset) -> None:
    members = [
        MemberSpec("relu", "relu", {}, seed, lr) for lr in (0.001, 0.01, 0.05) for seed in (0, 1)
    ]
    population = _population(data, members)
    train_population(population, data, TrainSettings(TrainConfig(epochs=2)))
    for index, member in enumerate(members):
        alone = train_single(
            data, (50,), "softmax", TrainConfig(epochs=2, lr=member.lr), "relu", {}, member.seed
        )
        assert _max_difference(population.member_state_dict(index), alone.state_dict()) == 0.0


def test_revival_tracker_counts_units_dead_at_one_check_and_alive_later() -> None:
    from actbench.metrics import LayerHealth
    from actbench.probe import RevivalTracker

    def layer(dead: list[list[bool]]) -> LayerHealth:
        mask = torch.tensor(dead)
        zeros = torch.zeros(mask.shape[0])
        return LayerHealth(mask.sum(1), mask.sum(1), zeros, zeros, mask)

    tracker = RevivalTracker()
    tracker.update([layer([[True, False, True], [False, False, False]])])
    tracker.update([layer([[False, False, True], [True, False, False]])])
    tracker.update([layer([[True, False, False], [True, False, False]])])
    assert tracker.counts(2).tolist() == [2, 0]


def test_a_dead_first_layer_relu_unit_never_revives_under_plain_sgd(data: Dataset) -> None:
    # z <= 0 on every input means a zero gradient for that unit's weights: nothing can move
    # them. (Deeper layers and Adam's momentum are different: see docs/findings.md.)
    cfg = TrainConfig(epochs=20, optimizer="sgd", lr=5.0)
    members = _members([("relu", {})], seeds=range(6))
    outcome = train_population(_population(data, members), data, TrainSettings(cfg))
    assert any(m.dead_per_layer[0] > 0 for m in outcome.members)
    assert all(m.revived_neurons == 0 for m in outcome.members)


def test_a_full_batch_step_to_non_finite_weights_is_rolled_back_to_the_last_finite_state(
    data: Dataset,
) -> None:
    # One step per epoch: the epoch loss is computed before the step, so a step that overflows
    # leaves a finite loss and non-finite weights. The member must be reported from the
    # weights before that step, never from NaN weights.
    cfg = TrainConfig(epochs=3, batch_size=10_000, optimizer="sgd", lr=0.01)
    members = [MemberSpec("identity", "identity", {}, 0, 1e39), MemberSpec("relu", "relu", {}, 0)]
    population = _population(data, members)
    outcome = train_population(population, data, TrainSettings(cfg))
    diverged, survivor = outcome.members
    assert diverged.status == "diverged"
    assert diverged.epochs == 0
    assert diverged.history.train_loss == []
    numbers = [diverged.train_loss, diverged.test_loss, diverged.train_accuracy]
    assert all(math.isfinite(v) for v in numbers)
    state = population.member_state_dict(0)
    initial = init_model(0, data.n_features, (50,), 2, "identity").state_dict()
    assert _max_difference(state, initial) == 0.0
    assert survivor.status == "ok"
    assert survivor.epochs == cfg.epochs


def test_accuracy_is_python_division_of_the_count_for_every_count() -> None:
    """One division for every caller, equal to Python's count / n (correctly rounded), so a count
    gives the same number on every device (CUDA's reciprocal product gave 0.42500000000000004)."""
    from actbench.engine import accuracy

    for n in (*range(1, 130), 400, 1000, 20_000):
        counts = torch.arange(n + 1)
        expected = [count / n for count in range(n + 1)]
        assert accuracy(counts, n).tolist() == expected
    assert accuracy(torch.tensor([170]), 400).tolist() == [0.425]
    assert accuracy(torch.tensor([170]), 400).device.type == "cpu"


def test_members_that_share_a_seed_share_one_order() -> None:
    from actbench.population import order_rows

    members = [MemberSpec(a, a, {}, seed) for a in ("relu", "tanh") for seed in (3, 1, 3)]
    assert order_rows(members) == ([3, 1], [0, 1, 0, 0, 1, 0])
