"""Adam, AdamW and SGD over stacked parameters, with one learning rate per member.

torch.optim cannot give the rows of one tensor different learning rates, and a learning-rate
sweep is exactly that. These optimizers repeat torch.optim's arithmetic operation for
operation (its default, non-capturable path), with the step size as a per-member tensor: each
member's update is bit-identical on the CPU to torch.optim run on that member alone (tested).

`capturable=True` keeps the step count on the device and computes the bias corrections there,
so a step can be recorded in a CUDA graph; it matches the eager path to rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from actbench.config import TrainConfig


class StackedOptimizer:
    """One optimizer for every stacked parameter; `lr[m]` is member m's learning rate.

    `stacked` pairs each parameter with the members it holds along dim 0 (a slice of all
    members: learnable activations belong to one group).
    """

    def __init__(
        self,
        stacked: Sequence[tuple[Tensor, slice]],
        lr: Sequence[float],
        cfg: TrainConfig,
        *,
        capturable: bool = False,
    ) -> None:
        self.params = [p for p, _ in stacked]
        self.rows = [rows for _, rows in stacked]
        self.kind = cfg.optimizer
        self.weight_decay = cfg.weight_decay
        self.momentum = cfg.momentum
        self.betas = (0.9, 0.999)
        self.eps = 1e-8
        self.capturable = capturable
        device = self.params[0].device
        # float64 like the Python floats torch.optim computes with; cast to float32 per use
        self.lr = torch.tensor(list(lr), dtype=torch.float64)
        self.steps = 0
        self.step_tensor = torch.zeros((), dtype=torch.float32, device=device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.momentum_buffer = [torch.zeros_like(p) for p in self.params]
        self._lr_device = self.lr.to(device=device, dtype=torch.float32)
        self._lr_views = self._views(self.lr)
        self._decay_views = self._views(1 - self.lr * self.weight_decay)

    def _views(self, values: Tensor) -> list[Tensor]:
        """values[m] of each parameter's members, shaped to broadcast over the parameter.

        values is cast once (float64 -> the parameters' float32, exactly as torch.optim casts its
        Python-float step size), then sliced per parameter without copies.
        """
        values = values.to(self.params[0].device, self.params[0].dtype)
        return [
            values[rows].view(-1, *([1] * (p.dim() - 1)))
            for p, rows in zip(self.params, self.rows, strict=True)
        ]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        # foreach: one dispatch per operation for all stacks; the same arithmetic as the
        # per-tensor loop (and as torch.optim's), bit for bit.
        grads = [_grad(p) for p in self.params]
        if self.kind == "sgd":
            self._sgd(grads)
        else:
            self._adam(grads)

    def _sgd(self, grads: list[Tensor]) -> None:
        # torch.optim.SGD: d_p = g + wd * p; buf = momentum * buf + d_p; p -= lr * buf.
        # A zero-initialised buffer gives torch's first-step `buf = d_p` exactly.
        if self.weight_decay:
            grads = list(torch._foreach_add(grads, self.params, alpha=self.weight_decay))
        if self.momentum:
            torch._foreach_mul_(self.momentum_buffer, self.momentum)
            torch._foreach_add_(self.momentum_buffer, grads)
            grads = self.momentum_buffer
        torch._foreach_addcmul_(self.params, grads, self._lr_views, value=-1)

    def _adam(self, grads: list[Tensor]) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        correction2_sqrt: Tensor | float
        if self.capturable:
            self.step_tensor += 1
            step_size = -(self._lr_device / (1 - beta1**self.step_tensor))
            correction2_sqrt = (1 - beta2**self.step_tensor).sqrt()
        else:
            step_size = -(self.lr / (1 - beta1**self.steps))
            correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        if self.weight_decay:
            if self.kind == "adamw":
                torch._foreach_mul_(self.params, self._decay_views)
            else:
                grads = list(torch._foreach_add(grads, self.params, alpha=self.weight_decay))
        torch._foreach_lerp_(self.exp_avg, grads, 1 - beta1)
        torch._foreach_mul_(self.exp_avg_sq, beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, value=1 - beta2)
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        if isinstance(correction2_sqrt, Tensor):
            torch._foreach_div_(denom, [correction2_sqrt] * len(denom))
        else:
            torch._foreach_div_(denom, correction2_sqrt)
        torch._foreach_add_(denom, self.eps)
        # torch computes p + (-step_size * m) / denom; multiplying m first keeps that order
        updates = torch._foreach_mul(self.exp_avg, self._views(step_size))
        torch._foreach_addcdiv_(self.params, updates, denom)

    def member_state(self) -> list[Tensor]:
        """Every state tensor (for resetting after a CUDA-graph warm-up)."""
        return [*self.exp_avg, *self.exp_avg_sq, *self.momentum_buffer, self.step_tensor]

    def reset(self) -> None:
        """Back to the state before the first step."""
        for tensor in self.member_state():
            tensor.zero_()
        self.steps = 0


def _grad(p: Tensor) -> Tensor:
    if p.grad is None:
        return torch.zeros_like(p)
    return p.grad
