"""SimpleNN: in -> hidden... -> n_out. Returns logits; the loss applies softmax/sigmoid itself."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from actbench import activations

Head = Literal["softmax", "sigmoid"]


def n_logits(head: Head, n_classes: int) -> int:
    """Softmax head: one logit per class. Sigmoid head (binary only): one logit."""
    return 1 if head == "sigmoid" else n_classes


class SimpleNN(nn.Module):
    """A plain MLP with the same activation after every hidden layer and no softmax in forward.

    `CrossEntropyLoss` (softmax head) and `BCEWithLogitsLoss` (sigmoid head) apply the output
    non-linearity themselves; a softmax here as well would squash the logits twice.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        n_out: int,
        activation: Callable[[], nn.Module],
    ) -> None:
        super().__init__()
        widths = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.acts = nn.ModuleList(activation() for _ in hidden)
        self.out = nn.Linear(widths[-1], n_out)

    def forward(self, x: Tensor) -> Tensor:
        for linear, act in zip(self.hidden, self.acts, strict=True):
            x = act(linear(x))
        return self.out(x)


def init_model(
    seed: int,
    in_features: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str,
    params: Mapping[str, Any] | None = None,
) -> SimpleNN:
    """The member with this seed before training: PyTorch's default init drawn from `seed`.

    Built on the CPU (so every device starts from the same weights) without touching the
    caller's global RNG state.
    """
    spec = activations.get(activation)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SimpleNN(in_features, hidden, n_out, lambda: spec.build(params))


def member_loss(logits: Tensor, target: Tensor, head: Head) -> Tensor:
    """Per-sample training criterion on logits: cross-entropy or binary cross-entropy."""
    if head == "sigmoid":
        return F.binary_cross_entropy_with_logits(
            logits.squeeze(-1), target.to(logits.dtype), reduction="none"
        )
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none"
    ).view(target.shape)


def predictions(logits: Tensor, head: Head) -> Tensor:
    """Class index: argmax of logits, or logit > 0 for the sigmoid head."""
    if head == "sigmoid":
        return (logits.squeeze(-1) > 0).long()
    return logits.argmax(-1)
