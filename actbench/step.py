"""One training step's forward and backward for a whole population, without autograd.

The step the engine would otherwise record op by op (two custom Functions per layer, split/cat
around activation groups, the loss) written against the very ATen kernels autograd runs for
it, in the same order and on the same slices:
- linear: z = baddbmm(b, x, W^T); grad_W = g^T @ x (bmm, nn.Linear's orientation),
  grad_b = g.sum over the batch, grad_x = g @ W;
- activations: each group's module forward, then its backward kernel (`tanh_backward`,
  `threshold_backward`, ...) on that group's slice, written into one buffer (no split/cat);
- loss: log_softmax + nll_loss forward, `nll_loss_backward` + `_log_softmax_backward_data`
  with the 1/B of each member's mean.
So every member's gradient is bit-identical to the autograd path, hence to the same SimpleNN
trained alone (tested). Populations with an activation that has no closed-form backward here
(learnable PReLU slopes), the sigmoid head, or a CUDA device keep the autograd path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from actbench.model import Head

_aten = torch.ops.aten
# SELU's constants as ATen's selu passes them to elu (Klambauer et al. 2017).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

# name -> (module, grad, z, h) -> grad_z: the backward kernel autograd runs for the module
_Backward = Callable[[nn.Module, Tensor, Tensor, Tensor], Tensor]
_BACKWARD: dict[str, _Backward] = {
    "identity": lambda m, g, z, h: g,
    "sigmoid": lambda m, g, z, h: _aten.sigmoid_backward(g, h),
    "tanh": lambda m, g, z, h: _aten.tanh_backward(g, h),
    "relu": lambda m, g, z, h: _aten.threshold_backward(g, h, 0),
    "leaky_relu": lambda m, g, z, h: _aten.leaky_relu_backward(g, z, m.negative_slope, False),
    "elu": lambda m, g, z, h: _aten.elu_backward(g, m.alpha, 1, 1, False, z),
    "selu": lambda m, g, z, h: _aten.elu_backward(g, _SELU_ALPHA, _SELU_SCALE, 1, False, z),
    "gelu": lambda m, g, z, h: _aten.gelu_backward(g, z, approximate=m.approximate),
    "silu": lambda m, g, z, h: _aten.silu_backward(g, z),
    "mish": lambda m, g, z, h: _aten.mish_backward(g, z),
    "softplus": lambda m, g, z, h: _aten.softplus_backward(g, z, m.beta, m.threshold),
    "relu6": lambda m, g, z, h: _aten.hardtanh_backward(g, z, 0.0, 6.0),
    "hardtanh": lambda m, g, z, h: _aten.hardtanh_backward(g, z, m.min_val, m.max_val),
    "softmax": lambda m, g, z, h: _aten._softmax_backward_data(g, h, -1, h.dtype),
    # the step's own autograd Function: zeros, or the gradient straight through
    "step": lambda m, g, z, h: g if m.ste else torch.zeros_like(g),
}
_IGNORE_INDEX = -100  # F.cross_entropy's default


def supports(population: Any, head: Head, device: torch.device) -> bool:
    """Can this population train with the manual step (else: the autograd path)?"""
    if head != "softmax" or device.type != "cpu":
        return False
    for layer in range(len(population.hidden_widths)):
        for act, group in zip(population.layer_acts(layer), population.groups, strict=True):
            if group.spec.name not in _BACKWARD or any(True for _ in act.parameters()):
                return False
    return True


class ManualStep:
    """Forward, loss and backward of every member; leaves the gradients in `p.grad`."""

    def __init__(self, population: Any) -> None:
        self.population = population
        self.n_hidden = len(population.hidden_widths)
        self.acts = [population.layer_acts(layer) for layer in range(self.n_hidden)]
        self.bounds = [(g.start, g.stop) for g in population.groups]

    def _activate(self, layer: int, z: Tensor) -> Tensor:
        acts = self.acts[layer]
        if len(acts) == 1:
            return acts[0](z)
        h = torch.empty_like(z)
        for act, (start, stop) in zip(acts, self.bounds, strict=True):
            h[start:stop] = act(z[start:stop])
        return h

    def _activation_backward(self, layer: int, grad: Tensor, z: Tensor, h: Tensor) -> Tensor:
        acts, groups = self.acts[layer], self.population.groups
        if len(acts) == 1:
            return _BACKWARD[groups[0].spec.name](acts[0], grad, z, h)
        grad_z = torch.empty_like(z)
        for act, group, (start, stop) in zip(acts, groups, self.bounds, strict=True):
            part = slice(start, stop)
            grad_z[part] = _BACKWARD[group.spec.name](act, grad[part], z[part], h[part])
        return grad_z

    @torch.no_grad()
    def __call__(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """inputs [M, B, in], targets [M, B] -> per-sample losses [M, B]; sets every p.grad."""
        population = self.population
        weights, biases = population.weights, population.biases
        saved: list[tuple[Tensor, Tensor, Tensor]] = []  # (layer input, z, h) per hidden layer
        h = inputs
        for layer in range(self.n_hidden):
            z = torch.baddbmm(biases[layer], h, weights[layer].transpose(1, 2))
            out = self._activate(layer, z)
            saved.append((h, z, out))
            h = out
        logits = torch.baddbmm(biases[-1], h, weights[-1].transpose(1, 2))
        m, batch, classes = logits.shape
        log_probs = torch.log_softmax(logits.reshape(-1, classes), 1)
        flat_targets = targets.reshape(-1)
        per_sample, total_weight = _aten.nll_loss_forward(
            log_probs, flat_targets, None, 0, _IGNORE_INDEX
        )
        # d(sum_m mean_b loss)/d loss[m, b] = 1/B, as the mean's backward divides
        grad_loss = torch.ones((), dtype=logits.dtype, device=logits.device).expand(m * batch)
        grad_loss = grad_loss / batch
        grad_log_probs = _aten.nll_loss_backward(
            grad_loss, log_probs, flat_targets, None, 0, _IGNORE_INDEX, total_weight
        )
        grad = _aten._log_softmax_backward_data(grad_log_probs, log_probs, 1, logits.dtype).view(
            m, batch, classes
        )
        self._linear_backward(len(weights) - 1, grad, h)
        for layer in reversed(range(self.n_hidden)):
            grad_h = torch.bmm(grad, weights[layer + 1])
            layer_input, z, out = saved[layer]
            grad = self._activation_backward(layer, grad_h, z, out)
            self._linear_backward(layer, grad, layer_input)
        return per_sample.view(m, batch)

    def _linear_backward(self, layer: int, grad: Tensor, layer_input: Tensor) -> None:
        weight, bias = self.population.weights[layer], self.population.biases[layer]
        weight.grad = torch.bmm(grad.transpose(1, 2), layer_input)
        bias.grad = grad.sum(1, keepdim=True)
