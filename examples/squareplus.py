"""Squareplus (Barron 2021): a smooth ReLU made of arithmetic alone, as an actbench activation.

    actbench compare configs/smoke.yaml --set activations=[relu,examples/squareplus.py:squareplus]

`b` becomes the activation's parameter (--param b=1, or params: {b: 1} in a config).
"""

import torch


def squareplus(x: torch.Tensor, b: float = 4.0) -> torch.Tensor:
    """f(x) = (x + sqrt(x^2 + b)) / 2"""
    return (x + torch.sqrt(x * x + b)) / 2
