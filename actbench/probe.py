"""The neuron-health probe: hidden outputs of a population over a sample set, in chunks.

The definitions live in actbench.metrics; this module runs the population's hidden layers over
the probe samples and feeds them in. It never trains. Derivatives for the saturation count use
the backward kernels autograd itself runs (`tanh_backward`, `threshold_backward`, ...) with a
unit upstream gradient, so they are the very values backpropagation sees, without building a
graph; activations without such a kernel (PReLU's learnable slope) fall back to autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from actbench import activations
from actbench.metrics import LayerAccumulator, LayerHealth, saturated_mask

if TYPE_CHECKING:
    from actbench.engine import Population

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of activations per evaluation chunk

# SELU's constants as ATen's selu passes them to elu_backward (Klambauer et al. 2017).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

_aten = torch.ops.aten

# name -> (module, z, h, ones) -> f'(z), each the kernel autograd runs for that module
_Derivative = Callable[[nn.Module, Tensor, Tensor, Tensor], Tensor]
_CLOSED_FORM: dict[str, _Derivative] = {
    "sigmoid": lambda m, z, h, one: _aten.sigmoid_backward(one, h),
    "tanh": lambda m, z, h, one: _aten.tanh_backward(one, h),
    "relu": lambda m, z, h, one: _aten.threshold_backward(one, h, 0),
    "leaky_relu": lambda m, z, h, one: _aten.leaky_relu_backward(one, z, m.negative_slope, False),
    "elu": lambda m, z, h, one: _aten.elu_backward(one, m.alpha, 1, 1, False, z),
    "selu": lambda m, z, h, one: _aten.elu_backward(one, _SELU_ALPHA, _SELU_SCALE, 1, False, z),
    "gelu": lambda m, z, h, one: _aten.gelu_backward(one, z, approximate=m.approximate),
    "silu": lambda m, z, h, one: _aten.silu_backward(one, z),
    "mish": lambda m, z, h, one: _aten.mish_backward(one, z),
    "softplus": lambda m, z, h, one: _aten.softplus_backward(one, z, m.beta, m.threshold),
    "relu6": lambda m, z, h, one: _aten.hardtanh_backward(one, z, 0.0, 6.0),
    "hardtanh": lambda m, z, h, one: _aten.hardtanh_backward(one, z, m.min_val, m.max_val),
    # the diagonal of the Jacobian, as activations.derivative defines it
    "softmax": lambda m, z, h, one: h * (1 - h),
}


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


def derivative(module: nn.Module, spec: activations.ActivationSpec, z: Tensor, h: Tensor) -> Tensor:
    """f'(z) elementwise (the Jacobian's diagonal for softmax); h = module(z).

    Equal bit for bit to `activations.derivative(module, spec, z)` (tested).
    """
    closed_form = _CLOSED_FORM.get(spec.name)
    if closed_form is None or any(True for _ in module.parameters()):
        return activations.derivative(module, spec, z)
    return closed_form(module, z, h, torch.ones((), dtype=z.dtype, device=z.device).expand_as(z))


def _constant_saturation(
    spec: activations.ActivationSpec, params: Mapping[str, Any]
) -> bool | None:
    """Activations whose |f'| is the same everywhere: saturated everywhere (True), nowhere
    (False); None for the others."""
    if spec.name == "identity":
        return False
    if spec.name == "step":  # f' = 0 (saturated), or 1 with the straight-through estimator
        return not params.get("ste", False)
    return None


def saturated_counts(population: Population, layer: int, z: Tensor, h: Tensor) -> Tensor:
    """[M]: (sample, unit) pairs of the layer with |f'(z)| < 1% of max |f'|, group by group."""
    counts = []
    for act, group, z_part, h_part, bound in zip(
        population.layer_acts(layer),
        population.groups,
        z.split(population.group_sizes),
        h.split(population.group_sizes),
        population.max_derivatives,
        strict=True,
    ):
        constant = _constant_saturation(group.spec, group.params)
        if constant is not None:
            value = z_part[0].numel() if constant else 0
            counts.append(torch.full((group.size,), value, dtype=torch.int64, device=z.device))
            continue
        d = derivative(act, group.spec, z_part, h_part)
        counts.append(torch.count_nonzero(saturated_mask(d, bound), dim=(1, 2)))
    return torch.cat(counts)


@torch.no_grad()
def health(
    population: Population,
    x: Tensor,
    tau: float,
    *,
    saturation: bool = True,
    budget: int = DEFAULT_MEMORY_BUDGET,
) -> list[LayerHealth]:
    """Dead / dormant (/ saturated) units of every hidden layer of every member over x."""
    m = population.size
    accumulators = [LayerAccumulator() for _ in population.hidden_widths]
    for part in chunks(x.shape[0], chunk_size(population, budget)):
        xs = x[part].expand(m, -1, -1)
        for layer, (z, h) in enumerate(population.layers(xs)):
            saturated = saturated_counts(population, layer, z, h) if saturation else None
            accumulators[layer].update(h, saturated)
    return [acc.result(tau) for acc in accumulators]


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
    for part in chunks(x.shape[0], chunk_size(population, budget)):
        xs = x[part].expand(m, -1, -1)
        for layer, (_, h) in enumerate(population.layers(xs)):
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
