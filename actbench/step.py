"""One training step's forward and backward for a whole population, without autograd.

The step the engine would otherwise record op by op (two custom Functions per layer, split/cat
around activation groups, the loss) written against the very ATen kernels autograd runs for
it, in the same order and on the same slices:
- linear: z = baddbmm(b, x, W^T); grad_W = g^T @ x (bmm, nn.Linear's orientation),
  grad_b = g.sum over the batch, grad_x = g @ W;
- activations: each group's forward kernel, then its backward kernel (`tanh_backward`,
  `threshold_backward`, ...; the table is `actbench.kernels`) on that group's slice, written
  into buffers reused step after step (no split/cat, no allocation);
- loss: log_softmax + nll_loss forward, `nll_loss_backward` + `_log_softmax_backward_data`
  with the 1/B of each member's mean.
So every member's gradient is bit-identical to the autograd path, hence to the same SimpleNN
trained alone (tested). Populations with an activation that has no closed-form backward here
(learnable PReLU slopes), the sigmoid head, or a CUDA device keep the autograd path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from actbench.kernels import Kernels, Scratch, layer_kernels
from actbench.model import Head

_aten = torch.ops.aten

_IGNORE_INDEX = -100  # F.cross_entropy's default


def supports(population: Any, head: Head, device: torch.device) -> bool:
    """Can this population train with the manual step (else: the autograd path)?"""
    if head != "softmax" or device.type != "cpu":
        return False
    return all(
        layer_kernels(population, layer) is not None
        for layer in range(len(population.hidden_widths))
    )


class _Buffers:
    """Every intermediate of a step for one batch size: [M, B, ...] tensors reused step after
    step, with each activation group's slice cut once. Contiguous views into storage shared by
    all batch sizes (sized for the largest seen), so a short last batch costs no memory."""

    def __init__(self, step: ManualStep, batch: int) -> None:
        m, widths = step.members, step.hidden_widths

        def take(name: str, shape: tuple[int, ...]) -> Tensor:
            return step.scratch.get(name, shape, step.weights[0])

        self.z = [take(f"z{i}", (m, batch, w)) for i, w in enumerate(widths)]
        self.h = [take(f"h{i}", (m, batch, w)) for i, w in enumerate(widths)]
        self.grad_h = [take(f"grad_h{i}", (m, batch, w)) for i, w in enumerate(widths)]
        self.grad_z = [take(f"grad_z{i}", (m, batch, w)) for i, w in enumerate(widths)]
        classes = step.classes
        self.logits = take("logits", (m, batch, classes))
        self.log_probs = take("log_probs", (m * batch, classes))
        self.grad_log_probs = take("grad_log_probs", (m * batch, classes))
        self.grad_logits = take("grad_logits", (m * batch, classes))
        self.per_sample = take("per_sample", (m * batch,))
        self.total_weight = take("total_weight", ())
        # d(sum_m mean_b loss)/d loss[m, b] = 1/B, as the mean's backward divides
        self.grad_loss = torch.ones((), dtype=step.dtype).expand(m * batch) / batch
        bounds = step.bounds

        def parts(tensors: list[Tensor]) -> list[list[Tensor]]:
            return [[t[start:stop] for start, stop in bounds] for t in tensors]

        self.z_parts, self.h_parts = parts(self.z), parts(self.h)
        self.grad_h_parts, self.grad_z_parts = parts(self.grad_h), parts(self.grad_z)


class ManualStep:
    """Forward, loss and backward of every member; leaves the gradients in `p.grad`.

    `grads` are the tensors the weight and bias gradients are written into, in the order of
    `[*population.weights, *population.biases]` (the optimizer's flat-gradient slots, so it
    needs no copy); by default new ones. They are set as the parameters' `.grad`.
    """

    def __init__(self, population: Any, grads: list[Tensor] | None = None) -> None:
        self.population = population
        self.weights = list(population.weights)
        self.biases = list(population.biases)
        params = [*self.weights, *self.biases]
        self.grads = grads if grads is not None else [torch.zeros_like(p) for p in params]
        for p, grad in zip(params, self.grads, strict=True):
            p.grad = grad
        self.members = population.size
        self.hidden_widths = list(population.hidden_widths)
        self.classes = self.weights[-1].shape[1]
        self.dtype = self.weights[0].dtype
        self.bounds = [(g.start, g.stop) for g in population.groups]
        self.kernels: list[list[Kernels]] = []
        for layer in range(len(self.hidden_widths)):
            found = layer_kernels(population, layer)
            assert found is not None, "supports() said no"
            self.kernels.append(found)
        self.scratch = Scratch()
        self._buffers: dict[int, _Buffers] = {}

    def _buffers_for(self, batch: int) -> _Buffers:
        buffers = self._buffers.get(batch)
        if buffers is None:
            if self._buffers and batch > max(self._buffers):
                self._buffers.clear()  # the storage grows: the other sizes' views would go stale
            buffers = self._buffers[batch] = _Buffers(self, batch)
        return buffers

    @torch.no_grad()
    def __call__(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """inputs [M, B, in], targets [M, B] -> per-sample losses [M, B] (valid until the next
        call); writes every gradient."""
        weights, biases = self.weights, self.biases
        buffers = self._buffers_for(inputs.shape[1])
        h = inputs
        for layer, kernels in enumerate(self.kernels):
            torch.baddbmm(biases[layer], h, weights[layer].transpose(1, 2), out=buffers.z[layer])
            z_parts, h_parts = buffers.z_parts[layer], buffers.h_parts[layer]
            for (forward, _), z_part, h_part in zip(kernels, z_parts, h_parts, strict=True):
                forward(z_part, h_part)
            h = buffers.h[layer]
        logits = torch.baddbmm(biases[-1], h, weights[-1].transpose(1, 2), out=buffers.logits)
        classes = logits.shape[-1]
        log_probs = torch._log_softmax(logits.view(-1, classes), 1, False, out=buffers.log_probs)
        flat_targets = targets.reshape(-1)
        per_sample, total_weight = _aten.nll_loss_forward.output(
            log_probs,
            flat_targets,
            None,
            0,
            _IGNORE_INDEX,
            output=buffers.per_sample,
            total_weight=buffers.total_weight,
        )
        _aten.nll_loss_backward.grad_input(
            buffers.grad_loss,
            log_probs,
            flat_targets,
            None,
            0,
            _IGNORE_INDEX,
            total_weight,
            grad_input=buffers.grad_log_probs,
        )
        grad = _aten._log_softmax_backward_data.out(
            buffers.grad_log_probs, log_probs, 1, logits.dtype, out=buffers.grad_logits
        ).view(logits.shape)
        n_hidden = len(self.kernels)
        self._linear_backward(n_hidden, grad, h)
        for layer in reversed(range(n_hidden)):
            torch.bmm(grad, weights[layer + 1], out=buffers.grad_h[layer])
            parts = zip(
                self.kernels[layer],
                buffers.grad_h_parts[layer],
                buffers.z_parts[layer],
                buffers.h_parts[layer],
                buffers.grad_z_parts[layer],
                strict=True,
            )
            for (_, backward), grad_part, z_part, h_part, out in parts:
                backward(grad_part, z_part, h_part, out)
            grad = buffers.grad_z[layer]
            self._linear_backward(layer, grad, buffers.h[layer - 1] if layer else inputs)
        return per_sample.view(targets.shape)

    def _linear_backward(self, layer: int, grad: Tensor, layer_input: Tensor) -> None:
        n = len(self.weights)
        torch.bmm(grad.transpose(1, 2), layer_input, out=self.grads[layer])
        torch.sum(grad, 1, keepdim=True, out=self.grads[n + layer])
