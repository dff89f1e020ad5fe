"""Activations that fail actbench's checks, each with the one line that says why (see
docs/activations.md):

    actbench train --act examples/broken.py:log       # it returns nan at x = -10
"""

import torch


def log(x: torch.Tensor) -> torch.Tensor:
    """log(x): nan for x < 0"""
    return torch.log(x)


def total(x: torch.Tensor) -> torch.Tensor:
    """one number per sample: the wrong shape"""
    return x.sum(-1)
