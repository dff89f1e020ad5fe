"""The device contract in tests: bit-exactness is a CPU promise, so tests that compare numbers
exactly pin the CPU (on CUDA members agree with the CPU to ~1e-5; docs/reliability.md).

`pretend_cuda()` makes `torch.cuda.is_available()` answer True on a machine without CUDA: a run
left at `device: auto` then picks CUDA and fails at once, which shows that a test meant for the
CPU does not pin it. Tests marked `exact` run inside it (tests/conftest.py); module fixtures
that such tests share build their results inside it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

# What pins the CPU: a config override, a CLI flag, an API keyword.
CPU = {"train.device": "cpu"}
CPU_FLAGS = ["--device", "cpu"]


@contextmanager
def pretend_cuda() -> Iterator[None]:
    """torch.cuda.is_available() is True inside (nothing changes on a machine with CUDA)."""
    if torch.cuda.is_available():
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "is_available", lambda: True)
        patch.setattr(torch.cuda, "device_count", lambda: 1)
        yield
