"""The neuron-health probe: hidden outputs of a population over a sample set, in chunks.

The definitions live in actbench.metrics; this module runs the population's hidden layers over
the probe samples and feeds them in. It never trains. Derivatives for the saturation count use
the backward kernels autograd itself runs (`tanh_backward`, `threshold_backward`, ...) with a
unit upstream gradient, so they are the very values backpropagation sees, without building a
graph; activations without such a kernel (PReLU's learnable slope) fall back to autograd.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from actbench import activations
from actbench.metrics import LayerAccumulator, LayerHealth, count_saturated
from actbench.population import Forward

if TYPE_CHECKING:
    from actbench.population import Population

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of activations per evaluation chunk


def chunk_size(population: Population, budget: int) -> int:
    """Samples per chunk so that one chunk's activations stay within `budget` bytes."""
    widths = [
        population.weights[0].shape[2],
        *population.hidden_widths,
        population.weights[-1].shape[1],
    ]
    per_sample = population.size * max(widths) * 4 * 6  # z, h, derivative and temporaries, fp32
    return max(1, budget // per_sample)


def chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def derivative(
    module: nn.Module,
    spec: activations.ActivationSpec,
    params: Mapping[str, Any],
    z: Tensor,
    h: Tensor,
    out: Tensor | None = None,
) -> Tensor:
    """f'(z) elementwise (the Jacobian's diagonal for a whole-layer f); h = module(z), the
    module `spec` builds with `params`.

    The backward kernel autograd runs (the spec's kernels) with a unit gradient: equal bit for
    bit to `activations.derivative(module, spec, z)` (tested). Written into `out` (z's shape)
    when given; always use the returned tensor.
    """
    if spec.whole_layer is not None:
        return spec.whole_layer.diagonal(h, out)
    kernels = spec.closed_form(params)
    if kernels is None:
        return activations.derivative(module, spec, z)
    one = torch.ones((), dtype=z.dtype, device=z.device).expand_as(z)
    if out is None:
        out = torch.empty_like(z)
    kernels.backward(one, z, h, out)
    return out


def saturated_counts(
    population: Population, layer: int, z: Tensor, h: Tensor, scratch: Tensor | None = None
) -> Tensor:
    """[M]: (sample, unit) pairs of the layer with |f'(z)| < 1% of max |f'|, group by group.

    `scratch` (z's shape) takes the derivatives, so nothing of z's size is allocated.
    """
    counts = []
    scratch_parts = (
        scratch.split(population.group_sizes) if scratch is not None else [None] * len(z)
    )
    for act, group, z_part, h_part, out, bound in zip(
        population.layer_acts(layer),
        population.groups,
        z.split(population.group_sizes),
        h.split(population.group_sizes),
        scratch_parts,
        population.max_derivatives,
        strict=False,
    ):
        rule = group.spec.saturation_rule(group.params)
        if rule != "derivative":  # |f'| the same everywhere: every unit saturated, or none
            value = z_part[0].numel() if rule == "always" else 0
            counts.append(torch.full((group.size,), value, dtype=torch.int64, device=z.device))
            continue
        d = derivative(act, group.spec, group.params, z_part, h_part, out)
        counts.append(count_saturated(d, bound))
    return torch.cat(counts)


class HealthProbe:
    """Dead / dormant / saturated units over a fixed sample set, probed again and again.

    Keeps its scratch tensors between probes: on the CPU a fresh tensor of a probe's size
    comes from the OS with a page fault per page, which cost more than the arithmetic.
    """

    def __init__(
        self, population: Population, x: Tensor, tau: float, budget: int = DEFAULT_MEMORY_BUDGET
    ) -> None:
        self.population = population
        self.x = x
        self.tau = tau
        self.chunk = chunk_size(population, budget)
        self.forward = Forward(population)

    def _buffer(self, name: str, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        return self.forward.scratch.get(name, tuple(like.shape), like, dtype)

    @torch.no_grad()
    def __call__(self, saturation: bool = True) -> list[LayerHealth]:
        population = self.population
        m = population.size
        accumulators = [LayerAccumulator() for _ in population.hidden_widths]
        for part in chunks(self.x.shape[0], self.chunk):
            xs = self.x[part].expand(m, -1, -1)
            for layer, (z, h) in enumerate(self.forward.layers(xs)):
                saturated = None
                if saturation:
                    scratch = self._buffer("derivative", z)
                    saturated = saturated_counts(population, layer, z, h, scratch)
                accumulators[layer].update(
                    h, saturated, self._buffer("abs", h), self._buffer("ne", h, torch.bool)
                )
        return [acc.result(self.tau) for acc in accumulators]


def health(
    population: Population,
    x: Tensor,
    tau: float,
    *,
    saturation: bool = True,
    budget: int = DEFAULT_MEMORY_BUDGET,
) -> list[LayerHealth]:
    """Dead / dormant (/ saturated) units of every hidden layer of every member over x."""
    return HealthProbe(population, x, tau, budget)(saturation)


@torch.no_grad()
def signal(
    population: Population, x: Tensor, budget: int = DEFAULT_MEMORY_BUDGET
) -> tuple[Tensor, Tensor]:
    """[M, layers] mean and std (ddof=0) of each hidden layer's output over all (sample, unit)
    values of x, accumulated in float64."""
    m = population.size
    n_layers = len(population.hidden_widths)
    total = torch.zeros(m, n_layers, dtype=torch.float64, device=x.device)
    squares = torch.zeros_like(total)
    count = torch.zeros(n_layers, dtype=torch.float64, device=x.device)
    forward = Forward(population)
    for part in chunks(x.shape[0], chunk_size(population, budget)):
        xs = x[part].expand(m, -1, -1)
        for layer, (_, h) in enumerate(forward.layers(xs)):
            wide = h.double()
            total[:, layer] += wide.sum(dim=(1, 2))
            squares[:, layer] += wide.square().sum(dim=(1, 2))
            count[layer] += h.shape[1] * h.shape[2]
    mean = total / count
    # E[h^2] - E[h]^2 in float64: the float32 values' squares are exact, the sums lose ~1e-16
    variance = (squares / count - mean.square()).clamp_min(0)
    return mean, variance.sqrt()


class RevivalTracker:
    """Units dead at one probe and alive at a later one (possible for leaky/ELU, not ReLU)."""

    def __init__(self) -> None:
        self.ever_dead: list[Tensor] = []
        self.revived: list[Tensor] = []

    def update(self, layers: Sequence[LayerHealth]) -> None:
        if not layers:
            return
        if not self.ever_dead:
            self.ever_dead = [layer.dead_mask.clone() for layer in layers]
            self.revived = [torch.zeros_like(layer.dead_mask) for layer in layers]
            return
        for ever, revived, layer in zip(self.ever_dead, self.revived, layers, strict=True):
            revived |= ever & ~layer.dead_mask
            ever |= layer.dead_mask

    def counts(self, members: int) -> Tensor:
        """[M]: revived units over all layers (zeros when nothing was tracked)."""
        if not self.revived:
            return torch.zeros(members, dtype=torch.int64)
        return torch.stack([r.sum(1) for r in self.revived]).sum(0)
