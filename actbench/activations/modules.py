"""Activation modules torch.nn does not have (imported when one is built): the binary step, and
a softmax over the layer whose gradient does not depend on the number of CPU threads."""

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


def softmax_backward(grad: Tensor, h: Tensor, out: Tensor | None = None) -> Tensor:
    """d softmax / dz applied to `grad`: h * (grad - sum_j grad_j h_j), over the last dim.

    ATen's own softmax backward rounds differently with 1 and with 2 CPU threads; this one
    does not: the row sums add float32 products in float64, in which they are (almost
    always) exact, so the order of the additions cannot matter. Written into `out` if given.
    """
    product = torch.mul(grad, h, out=out) if out is not None else torch.mul(grad, h)
    total = product.sum(-1, keepdim=True, dtype=torch.float64).to(h.dtype)
    return torch.sub(grad, total, out=product).mul_(h)


class _SoftmaxFunction(torch.autograd.Function):
    @staticmethod
    def forward(z: Tensor) -> Tensor:
        return torch._softmax(z, -1, False)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (h,) = ctx.saved_tensors
        return softmax_backward(grad, h)


class Softmax(nn.Module):
    """softmax over the last dim (the units of a layer): nn.Softmax(dim=-1)'s forward, and a
    backward that gives the same numbers whatever the number of threads."""

    def forward(self, z: Tensor) -> Tensor:
        return _SoftmaxFunction.apply(z)

    def extra_repr(self) -> str:
        return "dim=-1"
