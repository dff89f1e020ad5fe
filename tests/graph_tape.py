"""A CUDA graph's contract on the CPU, to test what the CUDA step records without a GPU.

`Tape` stands where `actbench.fused.CudaGraphRecorder` does. Its capture records every ATen
operation the recorded code dispatches, with the very tensors it dispatched them on; a replay
runs them again, and only them: Python does not run (a step number or a learning rate kept in
Python stays what it was at capture), every write lands in the tensors of the capture (their
"addresses"), and a host synchronisation while capturing is an error, as CUDA's capture makes
it. `OpCounter` counts the kernels an operation sequence launches (view operations launch
none).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten

# What waits for the device: not allowed while a CUDA graph captures.
SYNCHRONISING = {
    aten._local_scalar_dense.default,
    aten.is_nonzero.default,
    aten.equal.default,
    aten.nonzero.default,
    aten.masked_select.default,
    aten.lift_fresh.default,  # torch.tensor(...) built from host values inside the body
}


def _returns_alias(func: Any) -> bool:
    """Whether the op's result aliases an argument (a view, an in-place or out= op)."""
    return any(r.alias_info is not None for r in func._schema.returns)


def is_view(func: Any) -> bool:
    return any(r.alias_info is not None and not r.alias_info.is_write for r in func._schema.returns)


class _Recording(TorchDispatchMode):
    def __init__(self, tape: list[tuple[Any, tuple[Any, ...], dict[str, Any], Any]]) -> None:
        super().__init__()
        self.tape = tape

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if func in SYNCHRONISING:
            raise RuntimeError(f"host synchronisation while capturing: {func}")
        out = func(*args, **kwargs)
        self.tape.append((func, args, kwargs, out))
        return out


class Tape:
    """Records ATen operations, replays them on the same tensors."""

    def __init__(self) -> None:
        self.ops: list[tuple[Any, tuple[Any, ...], dict[str, Any], Any]] = []
        self.replays = 0

    @contextmanager
    def capture(self) -> Iterator[None]:
        with _Recording(self.ops):
            yield

    def replay(self) -> None:
        self.replays += 1
        with torch.no_grad():
            for func, args, kwargs, out in self.ops:
                result = func(*args, **kwargs)
                if _returns_alias(func) or out is None:
                    continue  # wrote into its arguments, or is a view of them
                outs = out if isinstance(out, (tuple, list)) else (out,)
                news = result if isinstance(result, (tuple, list)) else (result,)
                for old, new in zip(outs, news, strict=True):
                    if isinstance(old, torch.Tensor):
                        old.copy_(new)  # a fresh tensor of the capture: its memory is reused


class FailingTape(Tape):
    """A capture that fails (as on a driver or build without graph support)."""

    @contextmanager
    def capture(self) -> Iterator[None]:
        raise RuntimeError("capture is not supported here")
        yield


class OpCounter(TorchDispatchMode):
    """Counts the kernels launched inside it: every ATen op but views."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        if not is_view(func):
            self.names.append(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))
