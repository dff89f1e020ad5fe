"""Neuron-health metrics over hidden outputs h: [members, samples, units], accumulated in chunks.

Definitions (part of the contract, see docs/metrics.md):
- dead: max_x h_j(x) == min_x h_j(x) exactly -- the unit's output is constant on the probe set
  (computed as: no output differs from the first one).
- dormant(tau): mean|h_j| / mean_k mean|h_k| <= tau, within the layer (Sokar et al. 2023).
- saturated: fraction of (sample, unit) pairs with |f'(z)| < 0.01 * max|f'|.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

SATURATION_FRACTION = 0.01


@dataclass(frozen=True)
class LayerHealth:
    """One hidden layer's health, one entry per member."""

    dead: Tensor  # [M] int64, units with constant output
    dormant: Tensor  # [M] int64
    saturated: Tensor  # [M] float, fraction of (sample, unit) pairs
    mean_abs: Tensor  # [M] float, mean |h| over samples and units
    dead_mask: Tensor  # [M, units] bool


class LayerAccumulator:
    """Running 'varies' / sum|h| / saturated count per unit, fed chunk by chunk."""

    def __init__(self) -> None:
        self.reference: Tensor | None = None  # [M, units]: each unit's output on sample 0
        self.varies: Tensor | None = None  # [M, units] bool
        self.abs_sum: Tensor | None = None
        self.saturated: Tensor | None = None
        self.count = 0

    def update(
        self,
        h: Tensor,
        saturated: Tensor | None = None,
        abs_scratch: Tensor | None = None,
        ne_scratch: Tensor | None = None,
    ) -> None:
        """h: [M, c, units]; saturated: [M] saturated (sample, unit) pairs in h, or None.

        The scratch tensors (h's shape; float and bool) are written over instead of allocating.
        """
        if self.reference is None:
            self.reference = h[:, 0, :].clone()
        # max == min  <=>  no output differs from the first; one pass instead of two (amax, amin)
        chunk_varies = varying_units(self.reference, h, ne_scratch)
        # float32 within a chunk (5x faster than a float64 reduction), float64 across chunks
        magnitude = torch.abs(h, out=abs_scratch) if abs_scratch is not None else h.abs()
        chunk_abs = magnitude.sum(1).double()
        chunk_sat = saturated
        if self.varies is None:
            self.varies, self.abs_sum, self.saturated = chunk_varies, chunk_abs, chunk_sat
        else:
            assert self.abs_sum is not None
            self.varies |= chunk_varies
            self.abs_sum = self.abs_sum + chunk_abs
            if chunk_sat is not None and self.saturated is not None:
                self.saturated = self.saturated + chunk_sat
        self.count += h.shape[1]

    def result(self, tau: float) -> LayerHealth:
        if self.varies is None or self.abs_sum is None:
            raise ValueError("no samples were accumulated")
        dead = ~self.varies
        mean_abs = self.abs_sum / self.count
        units = self.varies.shape[1]
        saturated = (
            self.saturated.double() / (self.count * units)
            if self.saturated is not None
            else torch.full((dead.shape[0],), float("nan"), dtype=torch.float64, device=dead.device)
        )
        return LayerHealth(
            dead=dead.sum(1),
            dormant=dormant_units(mean_abs, tau).sum(1),
            saturated=saturated,
            mean_abs=mean_abs.mean(1),
            dead_mask=dead,
        )


def varying_units(reference: Tensor, h: Tensor, scratch: Tensor | None = None) -> Tensor:
    """[M, units]: does any output in h ([M, c, units]) differ from reference ([M, units])?

    Strict: a unit whose outputs are all exactly equal is dead, however tiny a variation
    would be (no tolerance). A NaN output counts as varying.
    """
    # ne + a uint8 max over samples: the same answer as .any(1), which is 2-3x slower on CPU
    if scratch is None:
        differs = torch.ne(h, reference.unsqueeze(1))
    else:
        differs = torch.ne(h, reference.unsqueeze(1), out=scratch)
    return differs.view(torch.uint8).amax(1).view(torch.bool)


def dormant_units(mean_abs: Tensor, tau: float) -> Tensor:
    """Sokar et al. 2023: score_j = mean|h_j| / mean_k mean|h_k| <= tau, per layer.

    mean_abs: [M, units]. A layer whose units are all exactly zero is all dormant.
    """
    layer_mean = mean_abs.mean(-1, keepdim=True)
    score = torch.where(layer_mean > 0, mean_abs / layer_mean.clamp_min(1e-300), 0.0)
    return score <= tau


def saturated_mask(derivative: Tensor, max_abs_derivative: float) -> Tensor:
    """|f'(z)| < 1% of the largest |f'| the activation can have; a flat f (step) is saturated."""
    if max_abs_derivative <= 0:
        return torch.ones_like(derivative, dtype=torch.bool)
    return derivative.abs() < SATURATION_FRACTION * max_abs_derivative


def count_saturated(derivative: Tensor, max_abs_derivative: float) -> Tensor:
    """[M]: elements of derivative ([M, ...]) that `saturated_mask` marks, counted per member.

    The mask is written as float 0/1 and summed in float32, which is exact while a member
    has fewer than 2**24 elements (an integer count of a bool mask is 5x slower on CPU);
    larger inputs are counted as integers.
    """
    members = derivative.shape[0]
    if derivative[0].numel() >= 2**24 or max_abs_derivative <= 0:
        mask = saturated_mask(derivative, max_abs_derivative)
        return torch.count_nonzero(mask.reshape(members, -1), dim=1)
    magnitude = derivative.abs()
    flags = torch.lt(magnitude, SATURATION_FRACTION * max_abs_derivative, out=magnitude)
    return flags.reshape(members, -1).sum(1).long()
