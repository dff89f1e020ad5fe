"""SimpleNN returns logits; the heads' losses and predictions."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from actbench.model import SimpleNN, init_model, member_loss, n_logits, predictions


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
