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

    def _per_member(self, values: Tensor, index: int) -> Tensor:
        """values[members of param index], shaped to broadcast over that parameter."""
        p = self.params[index]
        return values[self.rows[index]].to(p.device, p.dtype).view(-1, *([1] * (p.dim() - 1)))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        if self.kind == "sgd":
            self._sgd()
        else:
            self._adam()

    def _sgd(self) -> None:
        # torch.optim.SGD: d_p = g + wd * p; buf = momentum * buf + d_p; p -= lr * buf.
        # A zero-initialised buffer gives torch's first-step `buf = d_p` exactly.
        for i, p in enumerate(self.params):
            grad = _grad(p)
            if self.weight_decay:
                grad = grad.add(p, alpha=self.weight_decay)
            if self.momentum:
                grad = self.momentum_buffer[i].mul_(self.momentum).add_(grad)
            p.addcmul_(grad, self._per_member(self._lr_or_device(), i), value=-1)

    def _adam(self) -> None:
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
        for i, p in enumerate(self.params):
            grad = _grad(p)
            if self.weight_decay:
                if self.kind == "adamw":
                    decay = 1 - self._lr_or_device() * self.weight_decay
                    p.mul_(self._per_member(decay, i))
                else:
                    grad = grad.add(p, alpha=self.weight_decay)
            exp_avg, exp_avg_sq = self.exp_avg[i], self.exp_avg_sq[i]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / correction2_sqrt).add_(self.eps)
            # torch computes p + (-step_size * m) / denom; multiplying m first keeps that order
            p.addcdiv_(exp_avg * self._per_member(step_size, i), denom)

    def _lr_or_device(self) -> Tensor:
        return self._lr_device if self.capturable else self.lr

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
