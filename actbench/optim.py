"""Adam, AdamW and SGD over stacked parameters, with one learning rate per member.

torch.optim cannot give the rows of one tensor different learning rates, and a learning-rate
sweep is exactly that. These optimizers repeat torch.optim's arithmetic operation for
operation (its default, single-tensor path), with the step size as a per-member tensor: each
member's update is bit-identical on the CPU to torch.optim run on that member alone (tested).

The state lives in flat buffers: every parameter becomes a view of one flat tensor, its
gradient a view of another, and each optimizer operation is one kernel over all of them
(about ten per step, whatever the number of layers). When every member has the same learning
rate, the update is torch.optim's own call with a Python-float step size; otherwise the step
size is expanded to one float32 value per element.

`capturable=True` keeps the step count on the device and computes the bias corrections there,
so a step can be recorded in a CUDA graph; it matches the eager path to rounding.

`fold_biases` lays every layer's weight and bias out as one block [M, out, in + 1] (the CUDA
step computes both gradients with one GEMM) and makes the update torch's fused kernel
(`torch._fused_adam_`, `_fused_adamw_`, `_fused_sgd_`: one kernel for every parameter) when
every member has the same learning rate. The fused kernels round differently from the
operation-by-operation path (~1e-8 after a few steps), so they serve the CUDA step only, whose
contract is equality to tolerance; the CPU keeps torch.optim's arithmetic bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from actbench.activations.spec import FLOAT32_MAX
from actbench.config import TrainConfig


class StackedOptimizer:
    """One optimizer for every stacked parameter; `lr[m]` is member m's learning rate.

    `stacked` pairs each parameter with the members it holds along dim 0 (a slice of all
    members: learnable activations belong to one group). The parameters keep their identity
    but their data moves into `self.flat` (so in-place updates of either are seen by both);
    `self.grads[i]` is parameter i's slot in the flat gradient, which a step may fill in place
    and set as `p.grad` to spare the copy.
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
        self.kind = cfg.optimizer
        self.weight_decay = cfg.weight_decay
        self.momentum = cfg.momentum
        self.betas = (0.9, 0.999)
        self.eps = 1e-8
        self.capturable = capturable
        first = self.params[0]
        device, dtype = first.device, first.dtype
        if any(p.device != device or p.dtype != dtype for p in self.params):
            raise ValueError("stacked parameters must share one device and dtype")
        self.flat = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.flat_grad = torch.zeros_like(self.flat)
        self.grads: list[Tensor] = []
        owners: list[Tensor] = []  # the member each element belongs to
        self._owners: list[Tensor] = []  # the members each parameter stacks, along dim 0
        offset = 0
        for p, (_, rows) in zip(self.params, stacked, strict=True):
            size = p.numel()
            p.data = self.flat[offset : offset + size].view_as(p)
            self.grads.append(self.flat_grad[offset : offset + size].view_as(p))
            members = torch.arange(rows.start, rows.stop, device=device)
            self._owners.append(members)
            owners.append(members.repeat_interleave(size // max(1, p.shape[0])))
            offset += size
        # float64 like the Python floats torch.optim computes with; cast to float32 per use
        self.lr = torch.tensor(list(lr), dtype=torch.float64)
        values = set(self.lr.tolist())
        self.uniform_lr: float | None = values.pop() if len(values) == 1 else None
        self.steps = 0
        self.step_tensor = torch.zeros((), dtype=torch.float32, device=device)
        self.fused = False  # torch's fused update kernel (see fold_biases)
        self.grads_filled = False  # a step writes every gradient slot itself (no copy-in)
        self._state_for(torch.cat(owners))

    def _state_for(self, owner: Tensor) -> None:
        """The optimizer state (zero) and per-element tables for the current flat layout."""
        self.owner = owner
        self.exp_avg = torch.zeros_like(self.flat)
        self.exp_avg_sq = torch.zeros_like(self.flat)
        self.momentum_buffer = torch.zeros_like(self.flat)
        self._lr_device = self.lr.to(device=self.flat.device)  # float64
        self._lr_elements = self._per_element(self.lr)
        self._decay = self._per_element(1 - self.lr * self.weight_decay)

    def fold_biases(self, weight: Tensor, bias: Tensor) -> tuple[Tensor, Tensor]:
        """Lay one layer's weight [M, out, in] and bias [M, 1, out] out as one block
        [M, out, in + 1], the bias its last column, for the parameters and the gradients alike;
        return (the block, its gradient block). Before the first step only.

        With the layer's inputs given a column of ones, `x_aug @ block^T` is the layer and
        `g^T @ x_aug` its weight and bias gradient in one GEMM (the CUDA step does this for the
        first layer, whose inputs it gathers). The update becomes torch's fused kernel where
        every member has the same learning rate, and a step must then fill every gradient slot
        itself (`grads_filled`).
        """
        if self.steps:
            raise RuntimeError("fold_biases before the first step")
        at = {id(p): i for i, p in enumerate(self.params)}
        m, out = weight.shape[0], weight.shape[1]
        if (
            weight is bias
            or id(weight) not in at
            or id(bias) not in at
            or bias.shape != (m, 1, out)
        ):
            raise ValueError("fold_biases needs a layer's weight [M, out, in] and bias [M, 1, out]")
        folded = (at[id(weight)], at[id(bias)])
        others = [i for i in range(len(self.params)) if i not in folded]
        block_value = torch.cat([weight.detach(), bias.detach().transpose(1, 2)], dim=2)
        values = [block_value.reshape(-1), *(self.params[i].detach().reshape(-1) for i in others)]
        self.flat = torch.cat(values)
        self.flat_grad = torch.zeros_like(self.flat)
        size, width = block_value.numel(), weight.shape[2]
        block = self.flat[:size].view(block_value.shape)
        grad_block = self.flat_grad[:size].view(block_value.shape)
        weight.data, bias.data = block[..., :width], block[..., width:].transpose(1, 2)
        self.grads[folded[0]] = grad_block[..., :width]
        self.grads[folded[1]] = grad_block[..., width:].transpose(1, 2)
        owners = [self._owners[folded[0]].repeat_interleave(block_value.shape[1] * (width + 1))]
        offset = size
        for i in others:
            p, numel = self.params[i], self.params[i].numel()
            p.data = self.flat[offset : offset + numel].view_as(p)
            self.grads[i] = self.flat_grad[offset : offset + numel].view_as(p)
            owners.append(self._owners[i].repeat_interleave(numel // max(1, p.shape[0])))
            offset += numel
        self._state_for(torch.cat(owners))
        self.grads_filled = True
        self.fused = self.uniform_lr is not None
        return block, grad_block

    def _per_element(self, values: Tensor) -> Tensor:
        """values[m] (one per member) at every element of member m, as the parameters' dtype.

        The cast comes first (float64 -> float32, exactly as torch.optim casts its Python-float
        step size), then the gather.
        """
        values = values.to(self.flat.device, self.flat.dtype)
        return values.index_select(0, self.owner)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _gradient(self) -> Tensor:
        """The flat gradient: slots a step filled in place stay, other gradients are copied in."""
        if self.grads_filled:
            return self.flat_grad
        for p, slot in zip(self.params, self.grads, strict=True):
            if p.grad is slot:
                continue
            if p.grad is None:
                slot.zero_()
            else:
                slot.copy_(p.grad)
        return self.flat_grad

    @torch.no_grad()
    def step(self, count: Tensor | None = None) -> None:
        """One update. count: the fused Adam's step number as a float32 device scalar, already
        counting this step (a caller that keeps a table of them spares a kernel a step)."""
        grad = self._gradient()
        if self.fused:
            self._fused(grad, count)
        elif self.kind == "sgd":
            self._sgd(grad)
        else:
            self._adam(grad)

    def _sgd(self, grad: Tensor) -> None:
        # torch.optim.SGD: d_p = g + wd * p; buf = momentum * buf + d_p; p -= lr * buf.
        # A zero-initialised buffer gives torch's first-step `buf = d_p` exactly.
        if self.weight_decay:
            grad = grad.add(self.flat, alpha=self.weight_decay)
        if self.momentum:
            self.momentum_buffer.mul_(self.momentum).add_(grad)
            grad = self.momentum_buffer
        if self.uniform_lr is not None:
            self.flat.add_(grad, alpha=-self.uniform_lr)
        else:
            # p + (-1 * g) * lr == p + (-lr) * g: a sign flip and a product, both exact
            self.flat.addcmul_(grad, self._lr_elements, value=-1)

    def _fused(self, grad: Tensor, count: Tensor | None) -> None:
        """torch's fused update: one kernel, reading Adam's step count on the device (so a
        CUDA graph can record it): `count` when given, else the count kept here, incremented
        first (a kernel of its own)."""
        assert self.uniform_lr is not None
        lr, decay = self.uniform_lr, self.weight_decay
        self.steps += 1
        if self.kind == "sgd":
            # a zero buffer makes is_first_step=False give torch's first step (buf = grad)
            torch._fused_sgd_(
                [self.flat],
                [grad],
                [self.momentum_buffer] if self.momentum else [],
                weight_decay=decay,
                momentum=self.momentum,
                lr=lr,
                dampening=0.0,
                nesterov=False,
                maximize=False,
                is_first_step=False,
            )
            return
        if count is None:
            self.step_tensor.add_(1)
            count = self.step_tensor
        update = torch._fused_adamw_ if self.kind == "adamw" else torch._fused_adam_
        update(
            [self.flat],
            [grad],
            [self.exp_avg],
            [self.exp_avg_sq],
            [],
            [count],
            lr=lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=decay,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )

    def _adam(self, grad: Tensor) -> None:
        beta1, beta2 = self.betas
        self.steps += 1
        if self.weight_decay:
            if self.kind == "adamw":
                if self.uniform_lr is not None:
                    self.flat.mul_(_as_float32(1 - self.uniform_lr * self.weight_decay))
                else:
                    self.flat.mul_(self._decay)
            else:
                grad = grad.add(self.flat, alpha=self.weight_decay)
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = self.exp_avg_sq.sqrt()
        if self.capturable:
            self.step_tensor += 1
            # Bias corrections in float64, as torch.optim's Python floats, cast to float32 as it
            # casts them: in float32, 1 - beta2**t loses ~1e-4 of itself in early steps.
            step = self.step_tensor.double()
            denom.div_((1 - beta2**step).sqrt().float()).add_(self.eps)
            member_steps = -(self._lr_device / (1 - beta1**step))
            # torch computes p + (-step_size * m) / denom; multiplying m first keeps that order
            updates = self.exp_avg * self._per_element(member_steps)
            self.flat.addcdiv_(updates, denom)
            return
        denom.div_((1 - beta2**self.steps) ** 0.5).add_(self.eps)
        if self.uniform_lr is not None:
            step_size = _as_float32(self.uniform_lr / (1 - beta1**self.steps))
            self.flat.addcdiv_(self.exp_avg, denom, value=-step_size)  # torch.optim.Adam's call
        else:
            element_steps = self._per_element(-(self.lr / (1 - beta1**self.steps)))
            self.flat.addcdiv_(self.exp_avg * element_steps, denom)

    def member_state(self) -> list[Tensor]:
        """Every state tensor (for resetting after a CUDA-graph warm-up)."""
        return [self.exp_avg, self.exp_avg_sq, self.momentum_buffer, self.step_tensor]

    def reset(self) -> None:
        """Back to the state before the first step."""
        for tensor in self.member_state():
            tensor.zero_()
        self.steps = 0


def _as_float32(value: float) -> float:
    """A Python float step factor as the float32 torch applies it: one beyond float32's range
    (lr 3e38 / (1 - 0.9) in Adam's first step) is infinite, as the per-member tensors of a
    sweep make it, and the member diverges, instead of torch refusing the conversion."""
    return value if abs(value) <= FLOAT32_MAX else math.copysign(math.inf, value)
