"""The CUDA step: few kernels per step, and whole epochs recorded as CUDA graphs.

At this model size a GPU step costs what its kernel launches cost, not its arithmetic (the
reference run is ~37 GFLOP in all), so the CUDA step is built to launch as few kernels as the
ATen operations allow, and to launch them from a CUDA graph:

- `FusedGradients`: the forward, the loss and the backward of every member. The first
  layer's bias is folded into its weight (`StackedOptimizer.fold_biases`) and its gathered
  inputs carry a column of ones, so one GEMM computes that layer and one its weight *and* bias
  gradient; the loss's gradient comes in one pass (log_softmax's backward of -onehot/B is
  (softmax - onehot)/B) and each member's summed loss in one batched dot product; each
  activation group runs its spec's kernels, as in the manual step; Adam is torch's fused
  kernel, its step number read from a table on the device. A step of the reference population
  (7 activation groups, one hidden layer) is 24 kernels (`tests/test_fused.py` counts them).
- `FusedEpochStep`: an epoch as segments of consecutive steps. A segment gathers its
  minibatches once (every member's order comes from the CPU, as on every device, copied in
  per segment), runs its steps and, for the last segment, ends the epoch on the device
  (`EpochEnd`: the guard, the test split's correct counts). On CUDA each distinct segment is
  recorded once as a CUDA graph and replayed, so an epoch of the reference setup is one
  replay, with no host synchronisation inside it.

It rounds differently from the CPU's bit-exact manual step: members agree with the CPU to
~1e-5 and are deterministic from run to run on one GPU (docs/reliability.md). On the CPU it
runs only in the tests, which check it against the manual step to that tolerance, and the
graph logic against a recorder with a CUDA graph's contract (tests/graph_tape.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from actbench.data import Dataset
from actbench.optim import StackedOptimizer
from actbench.population import Population, layer_kernels, order_rows
from actbench.step import EpochEnd, Step, backward_hidden

# A segment's steps: at most this many, and its gathered minibatches within the byte budget
# (10,000 members of the reference shape gather 53 MB a step).
MAX_SEGMENT_STEPS = 128
SEGMENT_BUDGET = 256 * 2**20


def step_bytes(n_inputs: int, n_classes: int, n_train: int, members: int) -> int:
    """Memory the fused step adds to the manual step's (for the memory guard): each segment
    program's gathered minibatches (index, inputs with their ones, -onehot/B: at most its
    budget, two programs), and the training inputs with their ones and the one-hot tables."""
    row = n_inputs + 1 + n_classes + 2  # words of one gathered sample
    gathered = min(2 * SEGMENT_BUDGET, 2 * members * n_train * row * 4)
    return gathered + n_train * (n_inputs + 1 + 2 * n_classes) * 4


class Recorder(Protocol):
    """What a segment is recorded into: a CUDA graph, or the tests' CPU stand-in."""

    def capture(self) -> AbstractContextManager[Any]: ...

    def replay(self) -> None: ...


class CudaGraphRecorder:
    """A CUDA graph with its own memory pool (graphs replayed in any order must not share one)."""

    def __init__(self) -> None:
        self.graph = torch.cuda.CUDAGraph()

    def capture(self) -> AbstractContextManager[Any]:
        return torch.cuda.graph(self.graph)

    def replay(self) -> None:
        self.graph.replay()


@dataclass(frozen=True)
class Segment:
    """Consecutive steps of an epoch: where its samples start in the epoch's order, each step's
    batch size, and whether it ends the epoch."""

    start: int
    sizes: tuple[int, ...]
    last: bool

    @property
    def samples(self) -> int:
        return sum(self.sizes)

    @property
    def key(self) -> tuple[tuple[int, ...], bool]:
        """Segments with one key run the same program (one recording serves them)."""
        return self.sizes, self.last


def plan_segments(sizes: Sequence[int], step_limit: int) -> list[Segment]:
    """The epoch's steps (their batch sizes, in order) cut into segments of `step_limit` steps;
    only the last differs (it is shorter or holds the short tail batch), so at most two
    programs serve an epoch."""
    limit = max(1, step_limit)
    count = max(1, math.ceil(len(sizes) / limit))
    found, start = [], 0
    for number in range(count):
        part = tuple(sizes[number * limit : (number + 1) * limit])
        found.append(Segment(start, part, number == count - 1))
        start += sum(part)
    return found


def segment_index(permutations: Tensor, segment: Segment) -> Tensor:
    """[R * samples] sample indices of a segment from R rows of orders ([R, n]), step by step
    and row by row within a step, so every step's minibatch is one contiguous [R, B] block."""
    m = permutations.shape[0]
    part = permutations[:, segment.start : segment.start + segment.samples]
    pieces, at = [], 0
    for size, run in itertools.groupby(segment.sizes):
        steps = len(list(run))
        block = part[:, at : at + steps * size].reshape(m, steps, size).transpose(0, 1)
        pieces.append(block.reshape(-1))
        at += steps * size
    return torch.cat(pieces)


class _Buffers:
    """A batch size's tensors, reused step after step: z, h and their gradients per hidden
    layer, the logits and the loss's, each group's slice cut once. All contiguous: torch
    2.13's CPU gelu and softmax write wrong values into a strided out= tensor."""

    def __init__(self, population: Population, batch: int, like: Tensor) -> None:
        m, widths = population.size, population.hidden_widths

        def empty(*shape: int) -> Tensor:
            return torch.empty(shape, dtype=like.dtype, device=like.device)

        self.z = [empty(m, batch, w) for w in widths]
        self.h = [empty(m, batch, w) for w in widths]
        self.grad_h = [empty(m, batch, w) for w in widths]
        self.grad_z = [empty(m, batch, w) for w in widths]
        self.logits = empty(m, batch, population.n_out)
        self.log_probs = empty(m, batch, population.n_out)
        self.grad_logits = empty(m, batch, population.n_out)
        bounds = [(g.start, g.stop) for g in population.groups]

        def parts(tensors: list[Tensor]) -> list[list[Tensor]]:
            return [[t[a:b] for a, b in bounds] for t in tensors]

        self.z_parts, self.h_parts = parts(self.z), parts(self.h)
        self.grad_h_parts, self.grad_z_parts = parts(self.grad_h), parts(self.grad_z)


class FusedGradients:
    """Forward, loss and backward of every member in few kernels.

    The first layer's weight and bias are one block [M, out, in + 1]
    (`StackedOptimizer.fold_biases`) and its inputs carry a column of ones, so one GEMM computes
    it and one its weight and bias gradients; the other layers are `baddbmm` forward and a GEMM
    plus a sum backward. A call takes a batch's inputs [M, B, in + 1] and -onehot(targets)/B
    [M, B, n_out] (both contiguous), writes every gradient into the optimizer's slots and each
    member's summed loss into `loss_out` [M, 1, 1].
    """

    def __init__(self, population: Population, optimizer: StackedOptimizer) -> None:
        if population.head != "softmax":
            raise ValueError("the fused step computes the softmax head's loss")
        self.population = population
        kernels = [layer_kernels(population, i) for i in range(len(population.hidden_widths))]
        if any(k is None for k in kernels):
            raise ValueError("every group needs closed-form kernels")
        self.kernels = [k for k in kernels if k is not None]
        weights, biases = list(population.weights), list(population.biases)
        self.block, self.grad_block = optimizer.fold_biases(weights[0], biases[0])
        slot = {id(p): g for p, g in zip(optimizer.params, optimizer.grads, strict=True)}
        self.weights, self.biases = weights, biases
        self.grad_weights = [slot[id(p)] for p in weights]
        self.grad_biases = [slot[id(p)] for p in biases]
        self._buffers: dict[int, _Buffers] = {}  # never dropped: recorded graphs use them

    def buffers(self, batch: int) -> _Buffers:
        found = self._buffers.get(batch)
        if found is None:
            found = self._buffers[batch] = _Buffers(self.population, batch, self.block)
        return found

    def _layer(self, layer: int, layer_input: Tensor, out: Tensor) -> None:
        if layer == 0:
            torch.bmm(layer_input, self.block.transpose(1, 2), out=out)
        else:
            weight, bias = self.weights[layer], self.biases[layer]
            torch.baddbmm(bias, layer_input, weight.transpose(1, 2), out=out)

    def _layer_backward(self, layer: int, grad: Tensor, layer_input: Tensor) -> None:
        if layer == 0:
            torch.bmm(grad.transpose(1, 2), layer_input, out=self.grad_block)
        else:
            torch.bmm(grad.transpose(1, 2), layer_input, out=self.grad_weights[layer])
            torch.sum(grad, 1, keepdim=True, out=self.grad_biases[layer])

    @torch.no_grad()
    def __call__(self, inputs: Tensor, neg_onehot: Tensor, loss_out: Tensor) -> None:
        m, batch = inputs.shape[0], inputs.shape[1]
        own = self.buffers(batch)
        n_hidden = len(own.z)
        layer_input = inputs
        for layer in range(n_hidden):
            self._layer(layer, layer_input, own.z[layer])
            parts = zip(self.kernels[layer], own.z_parts[layer], own.h_parts[layer], strict=True)
            for kernels, z_part, h_part in parts:
                kernels.forward(z_part, h_part)
            layer_input = own.h[layer]
        self._layer(n_hidden, layer_input, own.logits)
        classes = own.logits.shape[2]
        torch._log_softmax(own.logits, 2, False, out=own.log_probs)
        # d(mean_b loss_b)/d logits = (softmax - onehot) / B, in one kernel
        torch.ops.aten._log_softmax_backward_data.out(
            neg_onehot, own.log_probs, 2, own.log_probs.dtype, out=own.grad_logits
        )
        # sum_b loss_b = -sum log_probs * onehot = B * (log_probs . -onehot/B), per member
        loss_out.baddbmm_(
            own.log_probs.view(m, 1, batch * classes),
            neg_onehot.view(m, batch * classes, 1),
            beta=0,
            alpha=batch,
        )
        grad = own.grad_logits
        self._layer_backward(n_hidden, grad, layer_input)
        backward_hidden(grad, self.weights, self.kernels, own, own, inputs, self._layer_backward)


class _SegmentData:
    """A segment program's static tensors: each seed's sample indices (the host copies them
    in), every member's, and the minibatches gathered with them (inputs with their ones,
    -onehot/B)."""

    def __init__(self, step: FusedEpochStep, segment: Segment) -> None:
        rows = step.population.size * segment.samples
        device = step.inputs.device
        self.seed_index = torch.zeros(
            len(step.seeds) * segment.samples, dtype=torch.int64, device=device
        )
        self.index = torch.zeros(rows, dtype=torch.int64, device=device)
        self.inputs = torch.empty(rows, step.inputs.shape[1], device=device)
        self.neg_onehot = torch.empty(rows, step.population.n_out, device=device)


class _Staging:
    """Host-to-device copies of segment indices that do not wait for the device: through two
    pinned buffers taken in turn, each reused once its previous copy has finished."""

    def __init__(self, size: int, device: torch.device) -> None:
        self.device = device
        self.pinned = device.type == "cuda"
        self.buffers = [
            torch.empty(size, dtype=torch.int64, pin_memory=self.pinned) for _ in range(2)
        ]
        self.events = [torch.cuda.Event() if self.pinned else None for _ in range(2)]
        self.turn = 0

    def copy(self, values: Tensor, into: Tensor) -> None:
        if not self.pinned:
            into.copy_(values)
            return
        buffer, event = self.buffers[self.turn][: values.numel()], self.events[self.turn]
        assert event is not None
        event.synchronize()  # the copy out of this buffer two segments ago has finished
        buffer.copy_(values)
        into.copy_(buffer, non_blocking=True)
        event.record()
        self.turn ^= 1


class FusedEpochStep(Step):
    """The fused step, an epoch at a time: segments of steps, each gathering its minibatches
    once, the last ending the epoch on the device; on CUDA each distinct segment recorded as a
    CUDA graph (`capture`) and replayed, with two recordings (with and without the gradient
    norms) when neuron health is tracked."""

    def __init__(
        self,
        population: Population,
        data: Dataset,
        optimizer: StackedOptimizer,
        batch_sizes: Sequence[int],
        *,
        track_gradients: bool = True,
        epoch_end: EpochEnd | None = None,
        step_limit: int | None = None,
    ) -> None:
        super().__init__(
            population, data, optimizer, None, "fused", track_gradients, epoch_end=epoch_end
        )
        self.gradients_of = FusedGradients(population, optimizer)
        self.hidden_grads = self.gradients_of.grad_weights[: len(population.hidden_widths)]
        x, y = data.x_train, data.y_train
        self.inputs = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], 1)
        onehot = torch.eye(population.n_out, dtype=x.dtype, device=x.device).index_select(0, y)
        # -1/B as the manual step computes it: float32 1/B, negated
        self.neg_onehot = {
            size: onehot * -(torch.ones((), dtype=x.dtype) / size).item()
            for size in set(batch_sizes)
        }
        m, width = population.size, self.inputs.shape[1]
        if step_limit is None:
            per_step = m * max(batch_sizes) * (width + population.n_out + 2) * 4
            step_limit = min(MAX_SEGMENT_STEPS, max(1, SEGMENT_BUDGET // per_step))
        self.segments = plan_segments(batch_sizes, step_limit)
        longest = max(len(s.sizes) for s in self.segments)
        self.loss_terms = torch.zeros(longest, m, 1, 1, dtype=x.dtype, device=x.device)
        # Adam's step number at each step of a segment, on the device: advanced once per
        # segment instead of a kernel per step
        self.counts = torch.arange(1, longest + 1, dtype=torch.float32, device=x.device)
        self.seeds, rows = order_rows(population.members)
        self.rows = torch.tensor(rows, dtype=torch.int64, device=x.device)
        self._data = {s.key: _SegmentData(self, s) for s in self.segments}
        self._staging = _Staging(len(self.seeds) * max(s.samples for s in self.segments), x.device)
        self.graphs: dict[tuple[Any, ...], Recorder] = {}

    @property
    def recorded(self) -> bool:
        return bool(self.graphs)

    def _run_segment(self, segment: Segment, tracking: bool) -> None:
        """The segment's program: device work only (what a graph records)."""
        m, data = self.population.size, self._data[segment.key]
        seeds, at, at_seed = len(self.seeds), 0, 0
        runs = [(size, len(list(run))) for size, run in itertools.groupby(segment.sizes)]
        for size, steps in runs:  # every member's indices: its seed's row, step by step
            rows = slice(at, at + m * size * steps)
            by_seed = data.seed_index[at_seed : at_seed + seeds * size * steps]
            out = data.index[rows].view(steps, m, size)
            torch.index_select(by_seed.view(steps, seeds, size), 1, self.rows, out=out)
            at, at_seed = rows.stop, at_seed + seeds * size * steps
        torch.index_select(self.inputs, 0, data.index, out=data.inputs)
        at = 0
        for size, steps in runs:
            rows = slice(at, at + m * size * steps)
            table = self.neg_onehot[size]
            torch.index_select(table, 0, data.index[rows], out=data.neg_onehot[rows])
            at = rows.stop
        at = 0
        for number, size in enumerate(segment.sizes):
            rows = slice(at, at + m * size)
            inputs = data.inputs[rows].view(m, size, -1)
            neg_onehot = data.neg_onehot[rows].view(m, size, -1)
            self.gradients_of(inputs, neg_onehot, self.loss_terms[number])
            if tracking:
                for total, grad in zip(self.grad_norm_sum, self.hidden_grads, strict=True):
                    total += torch.linalg.vector_norm(grad, dim=(1, 2), dtype=torch.float64)
            self.optimizer.step(self.counts[number])
            at = rows.stop
        steps = len(segment.sizes)
        self.counts += steps
        # float64 sums of float32 terms, as the other steps accumulate the epoch's loss
        self.loss_sum += self.loss_terms[:steps].view(steps, m).sum(0, dtype=torch.float64)
        if segment.last:
            self.epoch_end(self.loss_sum)

    def run_epoch(
        self,
        permutations: Tensor,
        rows: Tensor,
        keep_frozen: Callable[[], None],
        should_stop: Callable[[], bool] | None,
    ) -> bool:
        # Frozen members move during an epoch and are put back at its end (`epoch_end`): a
        # member's arithmetic never touches another's, so nothing else changes. `rows` are the
        # step's own (`order_rows` of its members), kept on the device.
        self.start_epoch()
        tracking = self.track_gradients
        for segment in self.segments:
            # before a segment only: the last one ends the epoch, which then counts as finished
            if should_stop is not None and should_stop():
                return False
            index = segment_index(permutations, segment)
            self._staging.copy(index, self._data[segment.key].seed_index)
            graph = self.graphs.get((segment.key, tracking))
            if graph is not None:
                graph.replay()
            else:
                self._run_segment(segment, tracking)
        return True

    def _state(self) -> list[Tensor]:
        """Every tensor a segment changes that outlives it (put back after a capture)."""
        optimizer = self.optimizer
        return [
            optimizer.flat,
            *optimizer.member_state(),
            self.loss_sum,
            *self.grad_norm_sum,
            self.loss_terms,
            self.counts,
            *self.epoch_end.state(),
        ]

    def capture(self, recorder: Callable[[], Recorder]) -> None:
        """Record every distinct segment (and the gradient-norm variants when health is
        tracked). The warm-up runs really change the state, so it is put back whether capture
        succeeds or fails; on failure nothing stays recorded."""
        variants = (False, True) if self.track_gradients else (False,)
        keys = {s.key: s for s in self.segments}
        saved = [t.clone() for t in self._state()]
        steps, capturable = self.optimizer.steps, self.optimizer.capturable
        self.optimizer.capturable = True  # the unfused update's step count on the device
        try:
            with _side_stream(self.inputs.device):
                for segment, tracking in itertools.product(keys.values(), variants):
                    self._run_segment(segment, tracking)  # warm-up: lazy init outside capture
            for segment, tracking in itertools.product(keys.values(), variants):
                graph = recorder()
                with graph.capture():
                    self._run_segment(segment, tracking)
                self.graphs[(segment.key, tracking)] = graph
        except BaseException:
            self.graphs.clear()
            self.optimizer.capturable = capturable
            raise
        finally:
            with torch.no_grad():
                for tensor, value in zip(self._state(), saved, strict=True):
                    tensor.copy_(value)
            self.optimizer.steps = steps
            if self.inputs.device.type == "cuda":
                torch.cuda.synchronize(self.inputs.device)
        self.kind = "fused, CUDA graphs"


@contextmanager
def _side_stream(device: torch.device) -> Iterator[None]:
    """Warm-up before a capture runs on a side stream (PyTorch's capture recipe)."""
    if device.type != "cuda":
        yield
        return
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        yield
    torch.cuda.current_stream(device).wait_stream(side)
