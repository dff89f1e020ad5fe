"""The neuron-health probe: hidden outputs of a population over a sample set, in chunks.

The definitions live in actbench.metrics; this module runs the population's hidden layers over
the probe samples and feeds them in. It never trains. Derivatives for the saturation count use
the backward kernels autograd itself runs (`tanh_backward`, `threshold_backward`, ...) with a
unit upstream gradient, so they are the very values backpropagation sees, without building a
graph; activations without such a kernel (PReLU's learnable slope) fall back to autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import Tensor, nn

from actbench import activations
from actbench.metrics import LayerAccumulator, LayerHealth, count_saturated

if TYPE_CHECKING:
    from actbench.engine import Population

DEFAULT_MEMORY_BUDGET = 256 * 2**20  # bytes of activations per evaluation chunk

# SELU's constants as ATen's selu passes them to elu_backward (Klambauer et al. 2017).
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946

_aten = torch.ops.aten

# name -> (module, z, h, ones, out) -> f'(z), each the kernel autograd runs for that module,
# written into `out` when given (the `grad_input` overloads) so a probe allocates nothing
_Derivative = Callable[[nn.Module, Tensor, Tensor, Tensor, Tensor | None], Tensor]


def _kernel(op: Any, *args: Any, **kwargs: Any) -> Callable[..., Tensor]:
    def run(out: Tensor | None) -> Tensor:
        if out is None:
            return cast(Tensor, op.default(*args, **kwargs))
        return cast(Tensor, op.grad_input(*args, **kwargs, grad_input=out))

    return run


def _softmax_diagonal(h: Tensor, out: Tensor | None) -> Tensor:
    # the diagonal of the Jacobian, f (1 - f), as activations.derivative defines it
    if out is None:
        return h * (1 - h)
    return torch.neg(h, out=out).add_(1).mul_(h)  # (-h + 1) * h: the same roundings


_CLOSED_FORM: dict[str, _Derivative] = {
    "sigmoid": lambda m, z, h, one, out: _kernel(_aten.sigmoid_backward, one, h)(out),
    "tanh": lambda m, z, h, one, out: _kernel(_aten.tanh_backward, one, h)(out),
    "relu": lambda m, z, h, one, out: _kernel(_aten.threshold_backward, one, h, 0)(out),
    "leaky_relu": lambda m, z, h, one, out: _kernel(
        _aten.leaky_relu_backward, one, z, m.negative_slope, False
    )(out),
    "elu": lambda m, z, h, one, out: _kernel(_aten.elu_backward, one, m.alpha, 1, 1, False, z)(out),
    "selu": lambda m, z, h, one, out: _kernel(
        _aten.elu_backward, one, _SELU_ALPHA, _SELU_SCALE, 1, False, z
    )(out),
    "gelu": lambda m, z, h, one, out: _kernel(
        _aten.gelu_backward, one, z, approximate=m.approximate
    )(out),
    "silu": lambda m, z, h, one, out: _kernel(_aten.silu_backward, one, z)(out),
    "mish": lambda m, z, h, one, out: _aten.mish_backward(one, z),
    "softplus": lambda m, z, h, one, out: _kernel(
        _aten.softplus_backward, one, z, m.beta, m.threshold
    )(out),
    "relu6": lambda m, z, h, one, out: _kernel(_aten.hardtanh_backward, one, z, 0.0, 6.0)(out),
    "hardtanh": lambda m, z, h, one, out: _kernel(
        _aten.hardtanh_backward, one, z, m.min_val, m.max_val
    )(out),
    "softmax": lambda m, z, h, one, out: _softmax_diagonal(h, out),
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


def derivative(
    module: nn.Module,
    spec: activations.ActivationSpec,
    z: Tensor,
    h: Tensor,
    out: Tensor | None = None,
) -> Tensor:
    """f'(z) elementwise (the Jacobian's diagonal for softmax); h = module(z).

    Equal bit for bit to `activations.derivative(module, spec, z)` (tested). Written into `out`
    (z's shape) where the kernel has an out variant; always use the returned tensor.
    """
    closed_form = _CLOSED_FORM.get(spec.name)
    if closed_form is None or any(True for _ in module.parameters()):
        return activations.derivative(module, spec, z)
    one = torch.ones((), dtype=z.dtype, device=z.device).expand_as(z)
    return closed_form(module, z, h, one, out)


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
        constant = _constant_saturation(group.spec, group.params)
        if constant is not None:
            value = z_part[0].numel() if constant else 0
            counts.append(torch.full((group.size,), value, dtype=torch.int64, device=z.device))
            continue
        counts.append(count_saturated(derivative(act, group.spec, z_part, h_part, out), bound))
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
        self._scratch: dict[tuple[str, tuple[int, ...]], Tensor] = {}

    def _buffer(self, name: str, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        return self._sized(name, tuple(like.shape), like, dtype)

    def _layers(self, xs: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """Population.layers into the probe's own tensors: the same kernels (baddbmm, each
        group's activation), no split/cat and no fresh allocation of a layer's size."""
        population = self.population
        h = xs
        for layer in range(len(population.hidden_widths)):
            weight, bias = population.weights[layer], population.biases[layer]
            shape = (xs.shape[0], xs.shape[1], weight.shape[1])
            z = self._sized(f"z{layer}", shape, xs)
            torch.baddbmm(bias, h, weight.transpose(1, 2), out=z)
            acts = population.layer_acts(layer)
            if len(acts) == 1:
                out = acts[0](z)
            else:
                out = self._sized(f"h{layer}", shape, xs)
                for act, group in zip(acts, population.groups, strict=True):
                    out[group.start : group.stop].copy_(act(z[group.start : group.stop]))
            yield z, out
            h = out

    def _sized(
        self, name: str, shape: tuple[int, ...], like: Tensor, dtype: torch.dtype | None = None
    ) -> Tensor:
        key = (name, shape)
        buffer = self._scratch.get(key)
        if buffer is None:
            buffer = torch.empty(shape, dtype=dtype or like.dtype, device=like.device)
            self._scratch[key] = buffer
        return buffer

    @torch.no_grad()
    def __call__(self, saturation: bool = True) -> list[LayerHealth]:
        population = self.population
        m = population.size
        accumulators = [LayerAccumulator() for _ in population.hidden_widths]
        for part in chunks(self.x.shape[0], self.chunk):
            xs = self.x[part].expand(m, -1, -1)
            for layer, (z, h) in enumerate(self._layers(xs)):
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
