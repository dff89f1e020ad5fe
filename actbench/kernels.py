"""Activation kernels applied to a population, and the no-graph forward of its layers.

Each activation's forward and backward ATen kernels are declared by its spec
(`ActivationSpec.kernels`, `actbench.activations`): the kernel its nn.Module runs and the one
autograd runs for it, so every number equals the autograd path bit for bit (tested). They serve
the autograd-free training step (`actbench.step`), the health probe's derivatives
(`actbench.probe`: the backward with a unit gradient) and the no-graph forward of evaluation.
Activations without a closed form (PReLU's learnable slope) take the module's own path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from actbench.activations import Kernels


def layer_kernels(population: Any, layer: int) -> list[Kernels] | None:
    """The kernels of every group for one hidden layer (each group's spec's closed form with
    its params); None if a group has none."""
    found = []
    for group in population.groups:
        kernels = group.spec.closed_form(group.params)
        if kernels is None:
            return None
        found.append(kernels)
    return found


def activate_into(
    population: Any, layer: int, kernels: Sequence[Kernels] | None, z: Tensor, out: Tensor
) -> Tensor:
    """Write each group's activation of z ([M, ...]) into its slice of out; return out."""
    acts = population.layer_acts(layer)
    for index, (act, group) in enumerate(zip(acts, population.groups, strict=True)):
        part = slice(group.start, group.stop)
        if kernels is not None:
            kernels[index].forward(z[part], out[part])
        else:
            out[part].copy_(act(z[part]))
    return out


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


class Forward:
    """A population's hidden layers and logits with no graph, into reused tensors (`scratch`)."""

    def __init__(self, population: Any) -> None:
        self.population = population
        self.kernels = [layer_kernels(population, i) for i in range(len(population.hidden_widths))]
        self.scratch = Scratch()

    @torch.no_grad()
    def layers(self, xs: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """(z, h) of every hidden layer for xs [M, n, in]; valid until the next call."""
        population = self.population
        h = xs
        for layer, kernels in enumerate(self.kernels):
            weight, bias = population.weights[layer], population.biases[layer]
            shape = (xs.shape[0], xs.shape[1], weight.shape[1])
            z = self.scratch.get(f"z{layer}", shape, xs)
            torch.baddbmm(bias, h, weight.transpose(1, 2), out=z)
            out = self.scratch.get(f"h{layer}", shape, xs)
            h = activate_into(population, layer, kernels, z, out)
            yield z, h

    @torch.no_grad()
    def logits(self, xs: Tensor) -> Tensor:
        h = xs
        for _, hidden in self.layers(xs):
            h = hidden
        weight, bias = self.population.weights[-1], self.population.biases[-1]
        return torch.baddbmm(bias, h, weight.transpose(1, 2))
