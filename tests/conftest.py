"""One intra-op thread for the whole suite, and the device check of exactness tests.

The tests train many tiny populations; on a machine shared with other busy processes extra
threads only wait at OpenMP barriers (pytest took 3x longer with 2 threads on a busy 2-core
machine). Numbers do not depend on the thread count, so nothing is lost. OMP_NUM_THREADS also
caps `train.threads: auto` for the runs the tests start, in this process and in subprocesses.

A test marked `exact` compares numbers bit for bit, which only the CPU promises: it runs with
CUDA pretended present (tests/devices.py), so one that forgot to pin the CPU fails here too,
not only on a GPU machine.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from devices import pretend_cuda  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _exact_tests_pin_the_cpu(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("exact") is None:
        yield
        return
    with pretend_cuda():
        yield
