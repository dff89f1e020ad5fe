"""Neuron-health metrics over hidden outputs h: [members, samples, units], accumulated in chunks.

Definitions (part of the contract, see README "Metrics"):
- dead: max_x h_j(x) == min_x h_j(x) exactly -- the unit's output is constant on the probe set.
- dormant(tau): mean|h_j| / mean_k mean|h_k| <= tau, within the layer (Sokar et al. 2023).
- saturated: fraction of (sample, unit) pairs with |f'(z)| < 0.01 * max|f'|.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
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
    """Running max / min / sum|h| / saturated count per unit, fed chunk by chunk."""

    def __init__(self) -> None:
        self.maximum: Tensor | None = None
        self.minimum: Tensor | None = None
        self.abs_sum: Tensor | None = None
        self.saturated: Tensor | None = None
        self.count = 0

    def update(self, h: Tensor, saturated: Tensor | None = None) -> None:
        """h: [M, c, units]; saturated: [M, c, units] bool, or None if not tracked."""
        chunk_max, chunk_min = h.amax(1), h.amin(1)
        # float32 within a chunk (5x faster than a float64 reduction), float64 across chunks
        chunk_abs = h.abs().sum(1).double()
        chunk_sat = saturated.sum((1, 2)) if saturated is not None else None
        if self.maximum is None:
            self.maximum, self.minimum, self.abs_sum, self.saturated = (
                chunk_max,
                chunk_min,
                chunk_abs,
                chunk_sat,
            )
        else:
            assert self.minimum is not None and self.abs_sum is not None
            self.maximum = torch.maximum(self.maximum, chunk_max)
            self.minimum = torch.minimum(self.minimum, chunk_min)
            self.abs_sum = self.abs_sum + chunk_abs
            if chunk_sat is not None and self.saturated is not None:
                self.saturated = self.saturated + chunk_sat
        self.count += h.shape[1]

    def result(self, tau: float) -> LayerHealth:
        if self.maximum is None or self.minimum is None or self.abs_sum is None:
            raise ValueError("no samples were accumulated")
        dead = dead_units(self.maximum, self.minimum)
        mean_abs = self.abs_sum / self.count
        units = self.maximum.shape[1]
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


def dead_units(maximum: Tensor, minimum: Tensor) -> Tensor:
    """Strict: a unit is dead when its output never changes over the probe set (no tolerance)."""
    return maximum == minimum


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


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1) of the finite values; std is NaN for fewer than two."""
    finite = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return math.nan, math.nan
    std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return float(finite.mean()), std
