"""SimpleNN: in -> hidden... -> n_out. Returns logits; the loss applies softmax/sigmoid itself."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn import init as nn_init
from torch.nn.utils import skip_init

from actbench import activations
from actbench.config import InitScheme

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
        generator: torch.Generator | None = None,
    ) -> None:
        """generator: draw the layers' default init from it (see default_init) instead of the
        process-wide generator."""
        super().__init__()
        widths = [in_features, *hidden]

        def linear(fan_in: int, fan_out: int) -> nn.Linear:
            if generator is None:
                return nn.Linear(fan_in, fan_out)
            layer = skip_init(nn.Linear, fan_in, fan_out)  # no draws from the global generator
            default_init(layer, generator)
            return layer

        self.hidden = nn.ModuleList(linear(a, b) for a, b in itertools.pairwise(widths))
        self.acts = nn.ModuleList(activation() for _ in hidden)
        self.out = linear(widths[-1], n_out)

    def forward(self, x: Tensor) -> Tensor:
        for linear, act in zip(self.hidden, self.acts, strict=True):
            x = act(linear(x))
        return self.out(x)


def default_init(linear: nn.Linear, generator: torch.Generator) -> None:
    """nn.Linear.reset_parameters, drawing from `generator`: after
    `generator.manual_seed(s)` the same numbers, draw for draw, as PyTorch's own init after
    `torch.manual_seed(s)` (kaiming_uniform_ with a = sqrt(5), then the bias from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)))."""
    nn_init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
    fan_in = linear.weight.shape[1]
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    nn_init.uniform_(linear.bias, -bound, bound, generator=generator)


def kaiming_gain(activation: str, params: Mapping[str, Any] | None = None) -> float:
    """The gain `kaiming` init uses for the hidden layers that feed this activation: the one
    its spec declares (`ActivationSpec.gain`, with these params)."""
    return activations.get(activation).init_gain(params)


def _init_std(scheme: InitScheme, fan_in: int, fan_out: int, gain: float) -> float:
    if scheme == "kaiming":
        return gain / math.sqrt(fan_in)
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    return 1.0 / math.sqrt(fan_in)  # lecun


def init_model(
    seed: int,
    in_features: int,
    hidden: Sequence[int],
    n_out: int,
    activation: str,
    params: Mapping[str, Any] | None = None,
    init: InitScheme = "default",
) -> SimpleNN:
    """The member with this seed before training, its weights drawn from `seed`.

    init: `default` is PyTorch's nn.Linear init (uniform, bound 1/sqrt(fan_in), biases too).
    The others draw every weight from a zero-mean normal and set every bias to 0:
    `kaiming` std = gain / sqrt(fan_in) with the gain the activation's spec declares (the
    output layer, which feeds no activation, gain 1), `xavier` std = sqrt(2 / (fan_in +
    fan_out)) (Glorot normal, gain 1), `lecun` std = 1 / sqrt(fan_in) (LeCun normal, what
    SELU's self-normalisation assumes). They are drawn after the default init, layer by layer,
    from the same seeded generator.

    Built on the CPU (so every device starts from the same weights) from a generator of its
    own: the process-wide one is neither read nor changed, so calls in several threads at once
    give what they give one after the other. The numbers are those of `torch.manual_seed(seed)`
    followed by building the layers with PyTorch's init, as before.
    """
    spec = activations.get(activation)
    generator = torch.Generator().manual_seed(seed)
    model = SimpleNN(in_features, hidden, n_out, lambda: spec.build(params), generator)
    if init != "default":
        gain = spec.init_gain(params)
        layers = [*model.hidden, model.out]
        with torch.no_grad():
            for index, linear in enumerate(layers):
                fan_out, fan_in = linear.weight.shape
                layer_gain = gain if index < len(model.hidden) else 1.0
                std = _init_std(init, fan_in, fan_out, layer_gain)
                linear.weight.normal_(0.0, std, generator=generator)
                linear.bias.zero_()
    return model


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
