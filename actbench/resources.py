"""Where a run trains and whether it fits: the device, the memory guard, the environment.

Everything here is checked before any data is made or any weight allocated: a device that
does not exist, or a population whose estimated peak exceeds the memory available, is refused
with one line saying what to shrink.
"""

from __future__ import annotations

import itertools
import os
import platform
import sys
from collections.abc import Sequence
from typing import Any

import torch

from actbench import __version__
from actbench.config import Config
from actbench.data import describe
from actbench.errors import DeviceError, ResourceError
from actbench.format import plural
from actbench.fused import step_bytes
from actbench.probe import DEFAULT_MEMORY_BUDGET


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda if available else cpu; an unavailable device is a DeviceError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device '{name}' requested but CUDA is not available "
            f"(torch {torch.__version__}); choices here: auto, cpu"
        )
    device = torch.device(name)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceError(
            f"device '{name}' does not exist: this machine has {count} CUDA device(s), "
            f"cuda:0..cuda:{count - 1}"
        )
    return device


GIB = 2**30
MEMBER_PARTS = ("permutations", "parameters", "training step")  # what more members take


def estimate_memory(
    config: Config, members: int, device: torch.device | None = None
) -> dict[str, int]:
    """Bytes a population of `members` will need at its peak, by part (a generous estimate);
    on CUDA with the fused step's gathered minibatches too."""
    data, shape = config.data, describe(config.data)  # a data file's shape: from its size
    widths = [shape.n_features, *config.model.hidden, shape.n_classes]
    n_params = sum(a * b + b for a, b in itertools.pairwise(widths))
    batch = min(config.train.batch_size, shape.n_train)
    informative, redundant = data.n_informative or 0, data.n_redundant or 0  # None: not drawn
    n_clusters = data.n_classes * (data.n_clusters_per_class or 1)
    return {
        # float64 data split and scaled (~4 copies), float32 tensors; and a file's parse
        "data": shape.n_samples * shape.n_features * (4 * 8 + 4) + shape.read_bytes,
        # make_classification also draws, per cluster, a dense n_informative x n_informative
        # float64 covariance (peak: it and one temporary, measured), an n_informative x
        # n_redundant one, and the centroids: 100,000 informative features are 149 GiB.
        "data generation": 16 * informative * (informative + redundant)
        + 16 * n_clusters * informative,
        # one epoch's minibatch order, int64, built on the CPU and copied to the device
        "permutations": 2 * members * shape.n_train * 8,
        # parameters, gradients, optimizer state and the epoch snapshot, float32
        "parameters": 6 * members * n_params * 4,
        # activations of one training step kept for the backward pass
        "training step": 6 * members * batch * sum(widths) * 4,
        "evaluation chunks": DEFAULT_MEMORY_BUDGET,
        "torch and python": 600 * 2**20,
    } | (
        {"CUDA step": step_bytes(shape.n_features, shape.n_classes, shape.n_train, members)}
        if device is not None and device.type == "cuda"
        else {}
    )


def available_memory(device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(config: Config, members: int, device: torch.device) -> None:
    """Refuse a population that cannot fit, before allocating any of it."""
    parts = estimate_memory(config, members, device)
    generation = parts["data generation"]
    if device.type != "cpu" and generation > 0.9 * available_memory(torch.device("cpu")):
        parts = {"data generation": generation}  # sklearn runs on the host, whatever the device
        device = torch.device("cpu")
    needed = sum(parts.values())
    available = available_memory(device)
    if needed <= 0.9 * available:
        return
    biggest = sorted(parts.items(), key=lambda item: -item[1])[:3]
    detail = ", ".join(f"{name} {size / GIB:.1f}" for name, size in biggest)
    if biggest[0][0] == "data generation":
        remedy = f"use a smaller data.n_informative (now {config.data.n_informative})"
    elif config.data.kind == "file" and parts["data"] >= max(parts[k] for k in MEMBER_PARTS):
        size = (describe(config.data).file_bytes or 0) / 2**20
        remedy = f"the data file '{config.data.path}' ({size:,.0f} MiB) is too large to read here"
    else:
        remedy = (
            f"use fewer members (now {members}: activations x seeds x learning rates), a "
            f"smaller data.n_samples ({config.data.n_samples}) or fewer or narrower hidden layers"
        )
    raise ResourceError(
        f"this run needs about {needed / GIB:.1f} GiB ({detail}) but {device} has "
        f"{available / GIB:.1f} GiB available; {remedy}"
    )


def describe_device(device: torch.device, threads: int | None = None) -> str:
    """'cpu (2 threads)' or 'cuda:0 (<name>)'; `threads`: the count the work runs with (by
    default the count set now)."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({plural(threads or torch.get_num_threads(), 'thread')})"


def environment(device: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """What is needed to repeat a run: versions, device, threads, the command line."""
    import numpy
    import sklearn

    return {
        "actbench": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
        "device": device,
        "cuda": torch.version.cuda,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "argv": list(argv if argv is not None else sys.argv),
    }
