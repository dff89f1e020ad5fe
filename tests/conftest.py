"""One intra-op thread for the whole suite.

The tests train many tiny populations; on a machine shared with other busy processes extra
threads only wait at OpenMP barriers (pytest took 3x longer with 2 threads on a busy 2-core
machine). Numbers do not depend on the thread count, so nothing is lost. OMP_NUM_THREADS also
caps `train.threads: auto` for the runs the tests start, in this process and in subprocesses.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"

import torch  # noqa: E402

torch.set_num_threads(1)
