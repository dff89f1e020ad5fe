"""Activation modules torch.nn does not have (imported when one is built): the binary step, a
softmax over the layer whose gradient does not depend on the number of CPU threads, and the
module a user's function trains as."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from actbench.activations.user import first_line
from actbench.errors import ActivationError


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


class UserActivation(nn.Module):
    """A user's activation: `function(x, **params)`, or the user's own module `inner` (whose
    parameters are then this module's). An error it raises, or an output of another shape,
    becomes one ActivationError line naming the activation."""

    def __init__(
        self,
        name: str,
        function: Callable[..., Any] | None = None,
        inner: nn.Module | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.activation = name
        self.function = function
        self.inner = inner
        self.params = dict(params or {})

    def forward(self, x: Tensor) -> Tensor:
        try:
            if self.inner is not None:
                out = self.inner(x)
            else:
                assert self.function is not None
                out = self.function(x, **self.params)
        except ActivationError:
            raise
        except Exception as exc:
            raise ActivationError(
                f"activation '{self.activation}' raised {type(exc).__name__}: {first_line(exc)}"
            ) from exc
        if not isinstance(out, Tensor):
            raise ActivationError(
                f"activation '{self.activation}' returned {type(out).__name__}, not a tensor"
            )
        if out.shape != x.shape:
            raise ActivationError(
                f"activation '{self.activation}' returned shape {list(out.shape)} for an input "
                f"of shape {list(x.shape)}; an activation keeps its input's shape"
            )
        return out

    def extra_repr(self) -> str:
        return repr(self.activation) + (f", {self.params}" if self.params else "")
