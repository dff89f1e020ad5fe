"""Activation modules torch.nn does not have: the binary step (imported when one is built)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class _StepFunction(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor, ste: bool) -> Tensor:
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.ste = inputs[1]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        # The true derivative is 0 almost everywhere. Explicit zeros (not None) keep the
        # earlier layers in the graph, so weight decay and optimizer state behave the same
        # as for every other activation.
        return (grad if ctx.ste else torch.zeros_like(grad)), None


class BinaryStep(nn.Module):
    """1 where x > 0, else 0; backward gives zeros, or the gradient unchanged with `ste`."""

    def __init__(self, ste: bool = False) -> None:
        super().__init__()
        self.ste = ste

    def forward(self, x: Tensor) -> Tensor:
        return _StepFunction.apply(x, self.ste)

    def extra_repr(self) -> str:
        return f"ste={self.ste}"
