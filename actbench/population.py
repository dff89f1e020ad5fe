"""A population: many same-shape SimpleNNs as one set of stacked tensors, and its one forward.

Member m owns slice m of every stacked tensor: its weights, its activation, its init seed and
its minibatch order. Nothing mixes between members:
- forward is a batched matmul (one GEMM per member inside `bmm`);
- the loss is the sum of per-member mean losses, so d(loss)/d(theta_m) is member m's own gradient;
- Adam/SGD are elementwise, so one optimizer over the stacks is exactly one optimizer per member.

`Population.layers` is the network, written once. It runs in two ways: recorded by autograd
(the autograd step), or with no graph into reused tensors (`Forward`: evaluation, the health
probe and the autograd-free step), each group's activation through the forward kernel its spec
declares (`layer_kernels`): the kernel its nn.Module runs. Both give the same numbers (tested).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn

from actbench import activations
from actbench.activations import Kernels
from actbench.config import InitScheme
from actbench.model import Head, init_model, n_logits


@dataclass(frozen=True)
class MemberSpec:
    """One network of a population."""

    label: str
    activation: str
    params: Mapping[str, Any]
    seed: int
    lr: float | None = None  # None: the population's train.lr


@dataclass(frozen=True)
class Group:
    """Consecutive members sharing an activation and its params: one kernel serves them all."""

    start: int
    stop: int
    spec: activations.ActivationSpec
    params: Mapping[str, Any]

    @property
    def size(self) -> int:
        return self.stop - self.start


def _groups(members: Sequence[MemberSpec]) -> list[Group]:
    groups: list[Group] = []
    for index, member in enumerate(members):
        spec = activations.get(member.activation)
        if groups and groups[-1].spec is spec and groups[-1].params == member.params:
            last = groups[-1]
            groups[-1] = Group(last.start, index + 1, spec, last.params)
        else:
            groups.append(Group(index, index + 1, spec, dict(member.params)))
    return groups


class _StackedLinear(torch.autograd.Function):
    """y[m] = x[m] @ W[m]^T + b[m], with nn.Linear's exact backward per member.

    Autograd's own baddbmm backward computes grad_W^T = x^T @ g, a different GEMM from
    nn.Linear's grad_W = g^T @ x; the two round differently. Mirroring nn.Linear keeps a
    member bit-identical to the model trained alone.
    """

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return torch.baddbmm(bias, x, weight.transpose(1, 2))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        return grad_x, torch.bmm(grad.transpose(1, 2), x), grad.sum(1, keepdim=True)


def stacked_linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """x: [M, B, in], weight: [M, out, in], bias: [M, 1, out] -> [M, B, out]."""
    return _StackedLinear.apply(x, weight, bias)


class _StackedActivation(nn.Module):
    """Per-member copies of an activation with learnable parameters (PReLU), run with vmap."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        stacked, _ = torch.func.stack_module_state(list(modules))
        self.names = list(stacked)
        self.stacked = nn.ParameterList(nn.Parameter(stacked[name]) for name in self.names)
        # Kept out of the module tree: its (meta) parameters are not the member's parameters.
        self._template = (copy.deepcopy(modules[0]).to("meta"),)

    def forward(self, z: Tensor) -> Tensor:
        params = dict(zip(self.names, self.stacked, strict=True))

        def one(member_params: dict[str, Tensor], x: Tensor) -> Tensor:
            return torch.func.functional_call(self._template[0], member_params, (x,))

        return torch.func.vmap(one)(params, z)


class Population(nn.Module):
    """M SimpleNNs of one shape and head, stacked. Member m starts as `init_model(seed_m, ...)`.

    `n_classes` and `head` give the logits: one per class (softmax head) or one (sigmoid head).
    """

    def __init__(
        self,
        members: Sequence[MemberSpec],
        in_features: int,
        hidden: Sequence[int],
        n_classes: int,
        *,
        head: Head = "softmax",
        init: InitScheme = "default",
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("a population needs at least one member")
        self.members = list(members)
        self.hidden_widths = list(hidden)
        self.head: Head = head
        self.n_out = n_logits(head, n_classes)
        self.groups = _groups(members)
        models = [
            init_model(m.seed, in_features, hidden, self.n_out, m.activation, m.params, init)
            for m in members
        ]
        linears = [[*model.hidden, model.out] for model in models]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([layers[i].weight.detach() for layers in linears]))
            for i in range(len(hidden) + 1)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([layers[i].bias.detach() for layers in linears]).unsqueeze(1))
            for i in range(len(hidden) + 1)
        )
        # acts[layer][group]: the group's activation module for that hidden layer
        self.acts = nn.ModuleList()
        for layer in range(len(hidden)):
            per_group = nn.ModuleList()
            for group in self.groups:
                modules = [models[m].acts[layer] for m in range(group.start, group.stop)]
                has_params = any(True for _ in modules[0].parameters())
                per_group.append(_StackedActivation(modules) if has_params else modules[0])
            self.acts.append(per_group)
        self.group_sizes = [g.size for g in self.groups]
        self.max_derivatives = [
            activations.max_abs_derivative(g.spec, g.params) for g in self.groups
        ]

    @property
    def size(self) -> int:
        return len(self.members)

    def layer_acts(self, layer: int) -> list[nn.Module]:
        """The activation module of every group, for one hidden layer."""
        return list(cast(nn.ModuleList, self.acts[layer]))

    def layers(self, x: Tensor, into: Forward | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """(pre-activation z, output h) of every hidden layer for x: [M, B, in].

        Without `into`, autograd records every operation. With it, nothing is recorded: each
        layer is written into `into`'s reused tensors (valid until its next call), each group's
        activation by its kernels (`into.kernels`; the module where a group has none).
        """
        buffers = into.buffers(x) if into is not None else None
        h = x
        for layer in range(len(self.hidden_widths)):
            weight, bias = self.weights[layer], self.biases[layer]
            acts = self.layer_acts(layer)
            if buffers is not None:
                assert into is not None
                z = torch.baddbmm(bias, h, weight.transpose(1, 2), out=buffers.z[layer])
                h = buffers.h[layer]
                kernels = into.kernels[layer]
                parts = zip(acts, buffers.z_parts[layer], buffers.h_parts[layer], strict=True)
                for index, (act, z_part, h_part) in enumerate(parts):
                    if kernels is not None:
                        kernels[index].forward(z_part, h_part)
                    else:
                        h_part.copy_(act(z_part))
            else:
                z = stacked_linear(h, weight, bias)
                if len(acts) == 1:
                    h = acts[0](z)
                else:
                    # split + cat, not slicing: a slice's backward zero-fills the whole tensor
                    # once per group
                    h = torch.cat(
                        [
                            act(part)
                            for act, part in zip(acts, z.split(self.group_sizes), strict=True)
                        ]
                    )
            yield z, h

    def forward(self, x: Tensor, into: Forward | None = None) -> Tensor:
        """Logits [M, B, n_out] for a stacked batch x: [M, B, in] (see `layers` for `into`)."""
        h = x
        for _, h_layer in self.layers(x, into):
            h = h_layer
        weight, bias = self.weights[-1], self.biases[-1]
        if into is not None:
            out = into.buffers(x).logits
            return torch.baddbmm(bias, h, weight.transpose(1, 2), out=out)
        return stacked_linear(h, weight, bias)

    def stacked_parameters(self) -> list[tuple[nn.Parameter, slice]]:
        """Every parameter with the members it stacks along dim 0 (a group's slice for
        learnable activations, all members for the linear layers)."""
        every = slice(0, self.size)
        found: list[tuple[nn.Parameter, slice]] = [(p, every) for p in self.weights]
        found += [(p, every) for p in self.biases]
        for layer in range(len(self.hidden_widths)):
            for group, act in zip(self.groups, self.layer_acts(layer), strict=True):
                found += [(p, slice(group.start, group.stop)) for p in act.parameters()]
        return found

    def member_state_dict(self, index: int) -> dict[str, Tensor]:
        """Member `index` as a plain SimpleNN state_dict (CPU tensors)."""
        state: dict[str, Tensor] = {}
        n_hidden = len(self.hidden_widths)
        for layer in range(n_hidden + 1):
            prefix = f"hidden.{layer}" if layer < n_hidden else "out"
            state[f"{prefix}.weight"] = self.weights[layer][index].detach().cpu().clone()
            state[f"{prefix}.bias"] = self.biases[layer][index, 0].detach().cpu().clone()
        group_index, group = next(
            (i, g) for i, g in enumerate(self.groups) if g.start <= index < g.stop
        )
        for layer in range(n_hidden):
            act = self.layer_acts(layer)[group_index]
            if isinstance(act, _StackedActivation):
                for name, stacked in zip(act.names, act.stacked, strict=True):
                    state[f"acts.{layer}.{name}"] = (
                        stacked[index - group.start].detach().cpu().clone()
                    )
        return state


def order_rows(members: Sequence[MemberSpec]) -> tuple[list[int], list[int]]:
    """Members with one seed share their minibatch order (it comes from the seed alone): the
    distinct seeds, in order of first appearance, and each member's row among them."""
    rows: dict[int, int] = {}
    return list(dict.fromkeys(m.seed for m in members)), [
        rows.setdefault(m.seed, len(rows)) for m in members
    ]


def layer_kernels(population: Population, layer: int) -> list[Kernels] | None:
    """The kernels of every group for one hidden layer (each group's spec's closed form with
    its params); None if a group has none."""
    found = []
    for group in population.groups:
        kernels = group.spec.closed_form(group.params)
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


class _Buffers:
    """The no-graph forward's outputs for one [M, n] input shape: z and h of every hidden layer
    and the logits, with each group's slice of z and h cut once. Contiguous views into storage
    shared by every n (sized for the largest seen), so a short last batch costs no memory."""

    def __init__(self, population: Population, scratch: Scratch, n: int, like: Tensor) -> None:
        m = population.size
        widths = population.hidden_widths
        self.z = [scratch.get(f"z{i}", (m, n, w), like) for i, w in enumerate(widths)]
        self.h = [scratch.get(f"h{i}", (m, n, w), like) for i, w in enumerate(widths)]
        self.logits = scratch.get("logits", (m, n, population.n_out), like)
        bounds = [(g.start, g.stop) for g in population.groups]
        self.z_parts = [[t[start:stop] for start, stop in bounds] for t in self.z]
        self.h_parts = [[t[start:stop] for start, stop in bounds] for t in self.h]


class Forward:
    """A population's forward with no graph, into tensors reused call after call (on the CPU a
    fresh tensor of a layer's size costs a page fault per page). `scratch` also serves callers
    that keep more tensors of their own (the health probe, the autograd-free step)."""

    def __init__(self, population: Population) -> None:
        self.population = population
        # each hidden layer's kernels, one per group; None where a group has none (PReLU)
        self.kernels: list[list[Kernels] | None] = [
            layer_kernels(population, layer) for layer in range(len(population.hidden_widths))
        ]
        self.scratch = Scratch()
        self._buffers: dict[int, _Buffers] = {}

    def buffers(self, xs: Tensor) -> _Buffers:
        """The tensors a forward of xs [M, n, in] writes into (cut once per n)."""
        n = xs.shape[1]
        found = self._buffers.get(n)
        if found is None:
            if self._buffers and n > max(self._buffers):
                self._buffers.clear()  # the storage grows: the other sizes' views would go stale
            found = self._buffers[n] = _Buffers(self.population, self.scratch, n, xs)
        return found

    @torch.no_grad()
    def layers(self, xs: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """(z, h) of every hidden layer for xs [M, n, in]; valid until the next call."""
        yield from self.population.layers(xs, self)

    @torch.no_grad()
    def logits(self, xs: Tensor) -> Tensor:
        """[M, n, n_out]; valid until the next call."""
        return self.population(xs, self)
