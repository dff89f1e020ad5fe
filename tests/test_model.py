"""SimpleNN returns logits; the heads' losses and predictions; the init schemes."""

from __future__ import annotations

import itertools
import math
from typing import get_args

import pytest
import torch
from torch.nn import functional as F

from actbench.config import InitScheme
from actbench.model import (
    SimpleNN,
    init_model,
    kaiming_gain,
    member_loss,
    n_logits,
    predictions,
)

INIT_SCHEMES = get_args(InitScheme)


def test_forward_returns_logits_not_probabilities() -> None:
    model = init_model(0, 20, (50,), 3, "relu")
    logits = model(torch.randn(16, 20) * 5)
    assert logits.shape == (16, 3)
    assert not torch.allclose(logits.sum(1), torch.ones(16))
    assert bool((logits < 0).any())


def test_layers_follow_the_hidden_widths() -> None:
    model = init_model(0, 20, (8, 4, 2), 2, "tanh")
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(8, 20), (8,), (4, 8), (4,), (2, 4), (2,), (2, 2), (2,)]
    assert model(torch.randn(5, 20)).shape == (5, 2)


def test_every_hidden_layer_gets_its_own_activation_module() -> None:
    model = init_model(0, 20, (8, 8), 2, "prelu")
    assert model.acts[0] is not model.acts[1]


def test_init_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = init_model(7, 20, (50,), 2, "relu")
    b = init_model(7, 20, (50,), 2, "relu")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert torch.equal(torch.rand(1), expected_next)


def test_different_seeds_give_different_weights() -> None:
    a = init_model(0, 20, (50,), 2, "relu")
    b = init_model(1, 20, (50,), 2, "relu")
    assert not torch.equal(a.hidden[0].weight, b.hidden[0].weight)


def test_init_matches_pytorch_default_linear_init() -> None:
    torch.manual_seed(3)
    expected = torch.nn.Linear(20, 50)
    model = init_model(3, 20, (50,), 2, "relu")
    assert torch.equal(model.hidden[0].weight, expected.weight)


def test_simple_nn_accepts_any_activation_factory() -> None:
    model = SimpleNN(4, (3,), 2, torch.nn.Tanh)
    assert isinstance(model.acts[0], torch.nn.Tanh)


@pytest.mark.parametrize(
    ("head", "classes", "expected"), [("softmax", 2, 2), ("softmax", 5, 5), ("sigmoid", 2, 1)]
)
def test_n_logits(head: str, classes: int, expected: int) -> None:
    assert n_logits(head, classes) == expected  # type: ignore[arg-type]


def test_softmax_head_loss_is_cross_entropy_on_logits() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(10, 3), torch.randint(0, 3, (10,))
    assert torch.allclose(
        member_loss(logits, target, "softmax").mean(), F.cross_entropy(logits, target)
    )


def test_sigmoid_head_loss_is_bce_with_logits() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(10, 1), torch.randint(0, 2, (10,))
    expected = F.binary_cross_entropy_with_logits(logits.squeeze(1), target.float())
    assert torch.allclose(member_loss(logits, target, "sigmoid").mean(), expected)


def test_loss_keeps_the_member_dimension() -> None:
    logits, target = torch.randn(4, 10, 2), torch.randint(0, 2, (4, 10))
    assert member_loss(logits, target, "softmax").shape == (4, 10)
    assert member_loss(logits[..., :1], target, "sigmoid").shape == (4, 10)


def test_predictions() -> None:
    assert predictions(torch.tensor([[0.1, 2.0], [3.0, -1.0]]), "softmax").tolist() == [1, 0]
    assert predictions(torch.tensor([[0.3], [-0.2], [0.0]]), "sigmoid").tolist() == [1, 0, 0]


# --- init schemes -------------------------------------------------------------------------------


def _weights(model: SimpleNN) -> list[torch.Tensor]:
    return [linear.weight for linear in [*model.hidden, model.out]]


def test_default_init_is_every_layer_of_nn_linear() -> None:
    torch.manual_seed(4)
    expected = [torch.nn.Linear(20, 30), torch.nn.Linear(30, 10), torch.nn.Linear(10, 3)]
    model = init_model(4, 20, (30, 10), 3, "tanh", init="default")
    for linear, reference in zip([*model.hidden, model.out], expected, strict=True):
        assert torch.equal(linear.weight, reference.weight)
        assert torch.equal(linear.bias, reference.bias)


@pytest.mark.parametrize(
    ("init", "activation", "hidden_std", "out_std"),
    [
        # fan_in 400 for the hidden layer, 600 for the output layer
        ("kaiming", "relu", math.sqrt(2 / 400), 1 / math.sqrt(600)),
        ("kaiming", "tanh", 5 / 3 / math.sqrt(400), 1 / math.sqrt(600)),
        ("kaiming", "selu", 0.75 / math.sqrt(400), 1 / math.sqrt(600)),
        ("xavier", "relu", math.sqrt(2 / (400 + 600)), math.sqrt(2 / (600 + 300))),
        ("lecun", "selu", 1 / math.sqrt(400), 1 / math.sqrt(600)),
    ],
)
def test_init_scheme_weight_statistics(
    init: str, activation: str, hidden_std: float, out_std: float
) -> None:
    model = init_model(0, 400, (600,), 300, activation, init=init)  # type: ignore[arg-type]
    for weight, std in zip(_weights(model), [hidden_std, out_std], strict=True):
        values = weight.detach().double()
        assert abs(values.mean().item()) < 0.01 * std
        assert values.std().item() == pytest.approx(std, rel=0.01)
        # normal, not uniform: about 31.7 % of draws lie beyond one standard deviation
        assert (values.abs() > std).double().mean().item() == pytest.approx(0.317, abs=0.01)
    assert all(not bool(linear.bias.any()) for linear in [*model.hidden, model.out])


@pytest.mark.parametrize("init", ["default", "kaiming", "xavier", "lecun"])
def test_same_seed_same_draw_and_the_global_rng_is_left_alone(init: str) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = init_model(7, 20, (50, 50), 2, "selu", init=init)  # type: ignore[arg-type]
    b = init_model(7, 20, (50, 50), 2, "selu", init=init)  # type: ignore[arg-type]
    c = init_model(8, 20, (50, 50), 2, "selu", init=init)  # type: ignore[arg-type]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.hidden[1].weight, c.hidden[1].weight)
    assert torch.equal(torch.rand(1), expected_next)


def test_schemes_draw_different_weights() -> None:
    drawn = [init_model(0, 20, (50,), 2, "relu", init=i).hidden[0].weight for i in INIT_SCHEMES]
    assert all(not torch.equal(a, b) for a, b in itertools.combinations(drawn, 2))


@pytest.mark.parametrize(
    ("activation", "params", "gain"),
    [
        ("identity", None, 1.0),
        ("sigmoid", None, 1.0),
        ("tanh", None, 5 / 3),
        ("relu", None, math.sqrt(2)),
        ("leaky_relu", None, math.sqrt(2 / (1 + 0.01**2))),
        ("leaky_relu", {"negative_slope": 0.2}, math.sqrt(2 / (1 + 0.2**2))),
        ("prelu", None, math.sqrt(2 / (1 + 0.25**2))),
        ("selu", None, 0.75),
        ("elu", None, math.sqrt(2)),
        ("gelu", None, math.sqrt(2)),
        ("silu", None, math.sqrt(2)),
        ("mish", None, math.sqrt(2)),
        ("softplus", None, math.sqrt(2)),
        ("relu6", None, math.sqrt(2)),
        ("step", None, 1.0),
        ("softmax", None, 1.0),
        ("hardtanh", None, 1.0),
    ],
)
def test_kaiming_gain(activation: str, params: dict[str, float] | None, gain: float) -> None:
    assert kaiming_gain(activation, params) == pytest.approx(gain)


def test_kaiming_uses_the_configured_leaky_slope() -> None:
    steep = init_model(0, 400, (400,), 2, "leaky_relu", {"negative_slope": 0.9}, "kaiming")
    gentle = init_model(0, 400, (400,), 2, "leaky_relu", {"negative_slope": 0.0}, "kaiming")
    ratio = steep.hidden[0].weight.std() / gentle.hidden[0].weight.std()
    assert ratio.item() == pytest.approx(math.sqrt(1 / (1 + 0.81)), rel=1e-6)


def _layer_stds(init: str) -> list[float]:
    model = init_model(0, 100, (100,) * 20, 2, "selu", init=init)  # type: ignore[arg-type]
    x = torch.randn(2000, 100, generator=torch.Generator().manual_seed(0))
    stds = []
    with torch.no_grad():
        for linear, act in zip(model.hidden, model.acts, strict=True):
            x = act(linear(x))
            stds.append(x.std().item())
    return stds


def test_selu_keeps_unit_variance_over_20_layers_with_lecun_init_only() -> None:
    # Klambauer et al. 2017: self-normalisation assumes weights of variance 1 / fan_in.
    lecun, default = _layer_stds("lecun"), _layer_stds("default")
    assert all(0.8 < std < 1.2 for std in lecun)
    assert default[-1] < 0.3


def test_population_members_start_as_init_model_with_the_scheme() -> None:
    from actbench.population import MemberSpec, Population

    members = [MemberSpec("selu", "selu", {}, 3), MemberSpec("relu", "relu", {}, 4)]
    population = Population(members, 20, (16, 8), 2, init="kaiming")
    for index, member in enumerate(members):
        model = init_model(member.seed, 20, (16, 8), 2, member.activation, init="kaiming")
        state = population.member_state_dict(index)
        assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
