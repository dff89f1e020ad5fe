"""The ATen kernels of each activation, forward and backward, writing into given tensors.

One table serves the autograd-free training step (`actbench.step`), the health probe's
derivatives (`actbench.probe`: the backward with a unit gradient) and the no-graph forward of
evaluation: each entry runs the kernel the activation's nn.Module runs, and the backward kernel
autograd runs for it (`tanh_backward`, `threshold_backward`, ...), so every number equals the
autograd path bit for bit (tested). Activations with learnable parameters (PReLU) have no entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

_aten = torch.ops.aten
_nn = torch._C._nn  # its stubs lack some out= overloads the ops have (tested)
# SELU's constants as ATen's selu passes them to elu (Klambauer et al. 2017).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class Kernels(NamedTuple):
    """An activation's forward and backward, each writing into a given tensor."""

    forward: Callable[[Tensor, Tensor], object]  # (z, out): out = f(z)
    backward: Callable[[Tensor, Tensor, Tensor, Tensor], object]  # (g, z, h, out): g * f'(z)


def closed_form(name: str, m: Any) -> Kernels | None:
    """The forward kernel the activation module runs and the backward kernel autograd runs for
    it, both writing into a given buffer; None when there is no closed form here."""
    if name == "identity":
        return Kernels(lambda z, out: out.copy_(z), lambda g, z, h, out: out.copy_(g))
    if name == "sigmoid":
        return Kernels(
            lambda z, out: torch.sigmoid(z, out=out),
            lambda g, z, h, out: _aten.sigmoid_backward.grad_input(g, h, grad_input=out),
        )
    if name == "tanh":
        return Kernels(
            lambda z, out: torch.tanh(z, out=out),
            lambda g, z, h, out: _aten.tanh_backward.grad_input(g, h, grad_input=out),
        )
    if name == "relu":  # ATen's relu is clamp_min(z, 0)
        return Kernels(
            lambda z, out: torch.clamp_min(z, 0, out=out),
            lambda g, z, h, out: _aten.threshold_backward.grad_input(g, h, 0, grad_input=out),
        )
    if name == "leaky_relu":
        slope = m.negative_slope
        return Kernels(
            lambda z, out: _nn.leaky_relu(z, slope, out=out),
            lambda g, z, h, out: _aten.leaky_relu_backward.grad_input(
                g, z, slope, False, grad_input=out
            ),
        )
    if name in ("elu", "selu"):  # ATen's selu is elu with SELU's alpha and scale
        alpha, scale = (m.alpha, 1) if name == "elu" else (_SELU_ALPHA, _SELU_SCALE)
        return Kernels(
            lambda z, out: _nn.elu(z, alpha, scale, 1, out=out),  # type: ignore[call-arg]
            lambda g, z, h, out: _aten.elu_backward.grad_input(
                g, alpha, scale, 1, False, z, grad_input=out
            ),
        )
    if name == "gelu":
        approximate = m.approximate
        return Kernels(
            lambda z, out: _nn.gelu(z, approximate=approximate, out=out),  # type: ignore[call-arg]
            lambda g, z, h, out: _aten.gelu_backward.grad_input(
                g, z, approximate=approximate, grad_input=out
            ),
        )
    if name == "silu":
        return Kernels(
            lambda z, out: _nn.silu(z, out=out),  # type: ignore[call-arg]
            lambda g, z, h, out: _aten.silu_backward.grad_input(g, z, grad_input=out),
        )
    if name == "mish":
        return Kernels(
            lambda z, out: _nn.mish(z, out=out),  # type: ignore[call-arg]
            lambda g, z, h, out: out.copy_(_aten.mish_backward(g, z)),
        )
    if name == "softplus":
        beta, threshold = m.beta, m.threshold
        return Kernels(
            lambda z, out: _nn.softplus(z, beta, threshold, out=out),  # type: ignore[call-arg]
            lambda g, z, h, out: _aten.softplus_backward.grad_input(
                g, z, beta, threshold, grad_input=out
            ),
        )
    if name in ("relu6", "hardtanh"):  # nn.ReLU6 is Hardtanh(0, 6)
        low, high = m.min_val, m.max_val
        return Kernels(
            lambda z, out: _nn.hardtanh(z, low, high, out=out),
            lambda g, z, h, out: _aten.hardtanh_backward.grad_input(
                g, z, low, high, grad_input=out
            ),
        )
    if name == "softmax":
        dim = m.dim
        return Kernels(
            lambda z, out: torch._softmax(z, dim, False, out=out),
            lambda g, z, h, out: _aten._softmax_backward_data.out(
                g, h, dim, h.dtype, grad_input=out
            ),
        )
    if name == "step":  # its own autograd Function: zeros, or the gradient straight through
        return Kernels(
            lambda z, out: torch.gt(z, 0, out=out),
            (lambda g, z, h, out: out.copy_(g)) if m.ste else (lambda g, z, h, out: out.zero_()),
        )
    return None


def layer_kernels(population: Any, layer: int) -> list[Kernels] | None:
    """The kernels of every group for one hidden layer; None if a group has none."""
    found = []
    for group, act in zip(population.groups, population.layer_acts(layer), strict=True):
        kernels = None if any(True for _ in act.parameters()) else closed_form(group.spec.name, act)
        if kernels is None:
            return None
        found.append(kernels)
    return found


class Scratch:
    """Named tensors reused call after call, so a hot loop allocates nothing (on the CPU a fresh
    tensor of a layer's size costs a page fault per page). Each name is one storage, grown to
    the largest size asked for and handed out as contiguous views: a view stays valid until its
    name is asked for at a larger size (or another dtype or device)."""

    def __init__(self) -> None:
        self._storage: dict[str, Tensor] = {}

    def get(
        self, name: str, shape: tuple[int, ...], like: Tensor, dtype: torch.dtype | None = None
    ) -> Tensor:
        """A [shape] tensor of `dtype` (like's by default) on like's device; contents undefined."""
        dtype = dtype or like.dtype
        size = math.prod(shape)
        store = self._storage.get(name)
        if (
            store is None
            or store.numel() < size
            or store.dtype != dtype
            or store.device != like.device
        ):
            store = self._storage[name] = torch.empty(size, dtype=dtype, device=like.device)
        return store[:size].view(shape)
