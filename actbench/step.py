"""One training step of a whole population, behind one interface.

`make_step` is the one place that decides how a population trains. Every way computes the same
thing (forward, each member's mean loss, backward, the optimizer's update, the epoch's sums):
- manual: forward and backward without autograd, against the very ATen kernels autograd runs,
  in the same order and on the same slices (`ManualGradients`), so every member's gradient is
  bit-identical to the autograd path, hence to the same SimpleNN trained alone (tested);
- autograd: the population's recorded forward and `backward()` (`AutogradGradients`), for what
  the manual step does not cover (activations without closed-form kernels such as PReLU's
  learnable slope, the sigmoid head, and torch versions the manual step is not tested on);
- fused (CUDA): few kernels per step, whole epochs as CUDA graphs (`fused.FusedEpochStep`),
  for what the manual step covers; equal to it to tolerance;
- CUDA graph: the autograd step recorded per batch size and replayed (`CudaGraphStep`).
A step trains an epoch at a time (`run_epoch`) and ends it with the engine's `EpochEnd`
(device work only, so a graph can record it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from actbench.activations import Kernels
from actbench.data import Dataset
from actbench.model import member_loss
from actbench.optim import StackedOptimizer
from actbench.population import Forward, Population, layer_kernels

# The torch releases (major, minor) the autograd-free step is tested on (2.13 on the CPU, 2.11
# with CUDA present). It calls ATen's backward kernels and out= overloads directly, which torch
# does not promise to keep: on any other release populations train through autograd, with the
# same numbers. pyproject.toml's lower bound is the oldest of them.
MANUAL_STEP_TORCH = ((2, 11), (2, 13))

_IGNORE_INDEX = -100  # F.cross_entropy's default

Gradients = Callable[[Tensor, Tensor], Tensor]  # (inputs, targets) -> per-sample losses


class EpochEnd(Protocol):
    """What ends an epoch, given the epoch's [M] float64 loss sums: device work only, with no
    host synchronisation, so that a CUDA graph can record it with the epoch's steps."""

    def __call__(self, loss_sum: Tensor) -> None: ...

    def state(self) -> list[Tensor]:
        """The tensors it changes that outlive it (put back after a capture's warm-up)."""
        ...


class _NoEpochEnd:
    def __call__(self, loss_sum: Tensor) -> None:
        return None

    def state(self) -> list[Tensor]:
        return []


def _torch_release() -> tuple[int, int]:
    major, minor = torch.__version__.split(".")[:2]
    return int(major), int(minor)


def manual_step_problem(population: Population, device: torch.device) -> str | None:
    """Why the autograd-free step cannot train this population here (None: it can)."""
    if population.head != "softmax":
        return "the sigmoid head"
    if device.type != "cpu":
        return f"device {device.type}"
    return closed_form_problem(population)


def closed_form_problem(population: Population) -> str | None:
    """Why neither autograd-free step (the CPU's manual, CUDA's fused) can train this
    population on any device (None: they can): softmax head, tested torch, closed forms."""
    if population.head != "softmax":
        return "the sigmoid head"
    if _torch_release() not in MANUAL_STEP_TORCH:
        tested = ", ".join(f"{major}.{minor}" for major, minor in MANUAL_STEP_TORCH)
        return f"torch {torch.__version__} (tested: {tested})"
    if any(layer_kernels(population, i) is None for i in range(len(population.hidden_widths))):
        return "an activation without closed-form kernels"
    return None


class ManualGradients:
    """Forward, loss and backward of every member without autograd; returns the per-sample
    losses [M, B] (valid until the next call) and leaves every gradient in `p.grad`.

    - linear: z = baddbmm(b, x, W^T); grad_W = g^T @ x (bmm, nn.Linear's orientation),
      grad_b = g.sum over the batch, grad_x = g @ W;
    - activations: each group's forward kernel, then its backward kernel (`tanh_backward`,
      `threshold_backward`, ...; declared by its activation spec) on that group's slice,
      written into buffers reused step after step (no split/cat, no allocation);
    - loss: log_softmax + nll_loss forward, `nll_loss_backward` + `_log_softmax_backward_data`
      with the 1/B of each member's mean.

    `grads` are the tensors the weight and bias gradients are written into, in the order of
    `[*population.weights, *population.biases]` (the optimizer's flat-gradient slots, so it
    needs no copy); by default new ones. They are set as the parameters' `.grad`.
    """

    def __init__(self, population: Population, grads: list[Tensor] | None = None) -> None:
        self.population = population
        self.weights = list(population.weights)
        self.biases = list(population.biases)
        params = [*self.weights, *self.biases]
        self.grads = grads if grads is not None else [torch.zeros_like(p) for p in params]
        for p, grad in zip(params, self.grads, strict=True):
            p.grad = grad
        self.forward = Forward(population)
        self.kernels = [k for k in self.forward.kernels if k is not None]
        if len(self.kernels) != len(self.forward.kernels):
            raise ValueError("every group needs closed-form kernels (see manual_step_problem)")
        self.scratch = self.forward.scratch
        self._backward: dict[int, _BackwardBuffers] = {}

    def _buffers(self, batch: int) -> _BackwardBuffers:
        found = self._backward.get(batch)
        if found is None:
            if self._backward and batch > max(self._backward):
                self._backward.clear()  # the storage grows: the other sizes' views would go stale
            found = self._backward[batch] = _BackwardBuffers(self, batch)
        return found

    @torch.no_grad()
    def __call__(self, inputs: Tensor, targets: Tensor) -> Tensor:
        weights = self.weights
        batch = inputs.shape[1]
        classes = self.population.n_out
        logits = self.forward.logits(inputs)
        buffers = self.forward.buffers(inputs)
        own = self._buffers(batch)
        log_probs = torch._log_softmax(logits.view(-1, classes), 1, False, out=own.log_probs)
        flat_targets = targets.reshape(-1)
        per_sample, total_weight = torch.ops.aten.nll_loss_forward.output(
            log_probs,
            flat_targets,
            None,
            0,
            _IGNORE_INDEX,
            output=own.per_sample,
            total_weight=own.total_weight,
        )
        grad_log_probs = torch.ops.aten.nll_loss_backward.grad_input(
            own.grad_loss,
            log_probs,
            flat_targets,
            None,
            0,
            _IGNORE_INDEX,
            total_weight,
            grad_input=own.grad_log_probs,
        )
        grad = torch.ops.aten._log_softmax_backward_data.out(
            grad_log_probs,
            log_probs,
            1,
            logits.dtype,
            out=own.grad_logits,
        ).view(logits.shape)
        n_hidden = len(self.population.hidden_widths)
        self._linear_backward(n_hidden, grad, buffers.h[-1] if n_hidden else inputs)
        backward_hidden(grad, weights, self.kernels, buffers, own, inputs, self._linear_backward)
        return per_sample.view(targets.shape)

    def _linear_backward(self, layer: int, grad: Tensor, layer_input: Tensor) -> None:
        n = len(self.weights)
        torch.bmm(grad.transpose(1, 2), layer_input, out=self.grads[layer])
        torch.sum(grad, 1, keepdim=True, out=self.grads[n + layer])


class ForwardParts(Protocol):
    """A forward's hidden outputs h and each group's slices of z and h, per layer."""

    h: list[Tensor]
    z_parts: list[list[Tensor]]
    h_parts: list[list[Tensor]]


class GradientParts(Protocol):
    """The hidden layers' gradients (of h and of z) and each group's slices of them."""

    grad_h: list[Tensor]
    grad_z: list[Tensor]
    grad_h_parts: list[list[Tensor]]
    grad_z_parts: list[list[Tensor]]


def backward_hidden(
    grad: Tensor,
    weights: Sequence[Tensor],
    kernels: Sequence[Sequence[Kernels]],
    forward: ForwardParts,
    gradients: GradientParts,
    inputs: Tensor,
    linear_backward: Callable[[int, Tensor, Tensor], None],
) -> None:
    """Backward through the hidden layers, last first, from `grad` (d loss / d the output
    layer's pre-activation): grad_h = grad @ W, each group's activation backward kernel on its
    slice, then the layer's own weight gradients (`linear_backward(layer, grad_z, input)`)."""
    for layer in reversed(range(len(kernels))):
        torch.bmm(grad, weights[layer + 1], out=gradients.grad_h[layer])
        parts = zip(
            kernels[layer],
            gradients.grad_h_parts[layer],
            forward.z_parts[layer],
            forward.h_parts[layer],
            gradients.grad_z_parts[layer],
            strict=True,
        )
        for activation, grad_part, z_part, h_part, out in parts:
            activation.backward(grad_part, z_part, h_part, out)
        grad = gradients.grad_z[layer]
        linear_backward(layer, grad, forward.h[layer - 1] if layer else inputs)


class _BackwardBuffers:
    """The loss's and the backward's tensors for one batch size, reused step after step, with
    each group's slice of the hidden gradients cut once."""

    def __init__(self, owner: ManualGradients, batch: int) -> None:
        population = owner.population
        m, classes = population.size, population.n_out

        def take(name: str, shape: tuple[int, ...]) -> Tensor:
            return owner.scratch.get(name, shape, owner.weights[0])

        self.log_probs = take("log_probs", (m * batch, classes))
        self.grad_log_probs = take("grad_log_probs", (m * batch, classes))
        self.grad_logits = take("grad_logits", (m * batch, classes))
        self.per_sample = take("per_sample", (m * batch,))
        self.total_weight = take("total_weight", ())
        # d(sum_m mean_b loss)/d loss[m, b] = 1/B, as the mean's backward divides
        self.grad_loss = torch.ones((), dtype=owner.weights[0].dtype).expand(m * batch) / batch
        widths = population.hidden_widths
        self.grad_h = [take(f"grad_h{i}", (m, batch, w)) for i, w in enumerate(widths)]
        self.grad_z = [take(f"grad_z{i}", (m, batch, w)) for i, w in enumerate(widths)]
        bounds = [(g.start, g.stop) for g in population.groups]
        self.grad_h_parts = [[t[a:b] for a, b in bounds] for t in self.grad_h]
        self.grad_z_parts = [[t[a:b] for a, b in bounds] for t in self.grad_z]


class AutogradGradients:
    """The population's recorded forward, each member's mean loss, and `backward()`."""

    def __init__(self, population: Population, optimizer: StackedOptimizer) -> None:
        self.population = population
        self.optimizer = optimizer

    def __call__(self, inputs: Tensor, targets: Tensor) -> Tensor:
        per_sample = member_loss(self.population(inputs), targets, self.population.head)
        self.optimizer.zero_grad()
        per_sample.mean(1).sum().backward()
        return per_sample


class Step:
    """One optimisation step of every member, and the epoch's sums it accumulates.

    The loss and gradient-norm sums live in fixed tensors so that a captured step can
    accumulate into them; nothing in a step synchronises with the host. `kind` says which way
    it trains: manual, autograd, fused, or recorded as CUDA graphs.
    """

    def __init__(
        self,
        population: Population,
        data: Dataset,
        optimizer: StackedOptimizer,
        gradients: Gradients | None,
        kind: str,
        track_gradients: bool = True,
        *,
        batch_sizes: Sequence[int] = (),
        epoch_end: EpochEnd | None = None,
    ) -> None:
        self.population = population
        self.batch_sizes = list(batch_sizes)  # every step's, in the order an epoch takes them
        self.data = data
        self.optimizer = optimizer
        self.gradients = gradients
        self.kind = kind
        self.track_gradients = track_gradients
        self.epoch_end: EpochEnd = epoch_end if epoch_end is not None else _NoEpochEnd()
        device = data.x_train.device
        m = population.size
        self.hidden_weights = [population.weights[i] for i in range(len(population.hidden_widths))]
        self.loss_sum = torch.zeros(m, dtype=torch.float64, device=device)
        self.grad_norm_sum = [
            torch.zeros(m, dtype=torch.float64, device=device) for _ in self.hidden_weights
        ]

    @property
    def recorded(self) -> bool:
        """Whether the step replays what it recorded (it then tracks what it tracked then)."""
        return False

    def start_epoch(self) -> None:
        self.loss_sum.zero_()
        for total in self.grad_norm_sum:
            total.zero_()

    def set_tracking(self, track_gradients: bool) -> None:
        """Whether the coming epoch sums the hidden layers' gradient norms (probed epochs)."""
        self.track_gradients = track_gradients

    def run_epoch(
        self,
        permutations: Tensor,
        rows: Tensor,
        keep_frozen: Callable[[], None],
        should_stop: Callable[[], bool] | None,
    ) -> bool:
        """Every step of an epoch, then its end; False when `should_stop()` interrupted it.

        permutations: [S, n] this epoch's sample order of each seed, on the CPU; member m takes
        row rows[m] (`population.order_rows`). The steps take consecutive minibatches of it
        (`batch_sizes`); `keep_frozen` runs after each.
        """
        order = permutations.index_select(0, rows).to(self.loss_sum.device)
        self.start_epoch()
        start = 0
        for size in self.batch_sizes:
            # index_select on a flat index: half the cost of advanced indexing with [M, b]
            self(order[:, start : start + size].reshape(-1), size)
            start += size
            keep_frozen()
            if should_stop is not None and should_stop():
                return False
        self.epoch_end(self.loss_sum)
        return True

    def _body(self, index: Tensor, batch_size: int) -> None:
        m = self.population.size
        inputs = self.data.x_train.index_select(0, index).view(m, batch_size, -1)
        targets = self.data.y_train.index_select(0, index).view(m, batch_size)
        assert self.gradients is not None
        per_sample = self.gradients(inputs, targets)
        # Reported sums accumulate in float64: float32 terms then add exactly, in any order, so
        # the numbers do not depend on how torch splits a small reduction across threads (which
        # depends on the number of members and threads).
        if self.track_gradients:
            for total, weight in zip(self.grad_norm_sum, self.hidden_weights, strict=True):
                assert weight.grad is not None
                total += torch.linalg.vector_norm(
                    weight.grad.flatten(1), dim=1, dtype=torch.float64
                )
        self.optimizer.step()
        self.loss_sum += per_sample.detach().sum(1, dtype=torch.float64)

    def __call__(self, index: Tensor, batch_size: int) -> None:
        """index: the flat [M * batch_size] sample indices of this step."""
        self._body(index, batch_size)


class CudaGraphStep(Step):
    """A step recorded as one CUDA graph per batch size (PyTorch's whole-network capture
    recipe) and replayed with the next batch's indices copied into a static buffer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.graphs: dict[int, Any] = {}
        self.static_index: dict[int, Tensor] = {}

    @property
    def recorded(self) -> bool:
        return True

    def set_tracking(self, track_gradients: bool) -> None:
        """A recorded step tracks what it tracked when it was recorded."""

    def __call__(self, index: Tensor, batch_size: int) -> None:
        self.static_index[batch_size].copy_(index)
        self.graphs[batch_size].replay()

    def capture(self, batch_sizes: Sequence[int]) -> None:
        """Record the graphs. The warm-up steps really update the members, so the parameters,
        the optimizer's state and the sums are put back whether capture succeeds or fails;
        the optimizer keeps its capturable mode only if it succeeded."""
        params = self.optimizer.params
        saved = [p.detach().clone() for p in params]
        self.optimizer.capturable = True
        try:
            self._record(batch_sizes)
        except BaseException:
            self.graphs.clear()
            self.optimizer.capturable = False
            raise
        finally:
            with torch.no_grad():
                for p, value in zip(params, saved, strict=True):
                    p.copy_(value)
            self.optimizer.reset()
            self.start_epoch()
            if self.loss_sum.device.type == "cuda":
                torch.cuda.synchronize()

    def _record(self, batch_sizes: Sequence[int]) -> None:
        m = self.population.size
        for size in batch_sizes:
            self.static_index[size] = torch.zeros(
                m * size, dtype=torch.int64, device=self.loss_sum.device
            )
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                for size in batch_sizes:
                    self._body(self.static_index[size], size)
        torch.cuda.current_stream().wait_stream(side)
        pool = None
        for size in batch_sizes:
            graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad()
            with torch.cuda.graph(graph, pool=pool):
                self._body(self.static_index[size], size)
            pool = graph.pool()
            self.graphs[size] = graph


def _wants_graphs(device: torch.device, cuda_graphs: bool) -> bool:
    return cuda_graphs and device.type == "cuda"


def _wants_fused(device: torch.device) -> bool:
    """The fused step is the CUDA one; the CPU keeps the bit-exact manual step."""
    return device.type == "cuda"


def make_step(
    population: Population,
    data: Dataset,
    optimizer: StackedOptimizer,
    *,
    batch_sizes: Sequence[int],
    cuda_graphs: bool = True,
    track_gradients: bool = True,
    epoch_end: EpochEnd | None = None,
) -> tuple[Step, list[str]]:
    """The step that trains this population here, and notices for the user.

    batch_sizes: every step's batch size, in the order an epoch takes them. On the CPU the
    manual step where `manual_step_problem` finds none, else autograd. On CUDA the fused step
    where it can train the population (`closed_form_problem`), its whole epochs recorded as
    CUDA graphs; else autograd, each step recorded as a graph. `cuda_graphs: false` trains
    eagerly, and so does a failed capture, with a notice.
    """
    device = data.x_train.device
    if _wants_fused(device) and closed_form_problem(population) is None:
        from actbench.fused import FusedEpochStep  # it builds on Step

        fused = FusedEpochStep(
            population,
            data,
            optimizer,
            batch_sizes,
            track_gradients=track_gradients,
            epoch_end=epoch_end,
        )
        if not _wants_graphs(device, cuda_graphs):
            return fused, []
        try:
            fused.capture(_graph_recorder)
        except Exception as exc:  # any torch build or driver without capture support
            return fused, [_capture_failed(exc)]
        return fused, []
    gradients: Gradients
    if manual_step_problem(population, device) is None:
        slot = {id(p): g for p, g in zip(optimizer.params, optimizer.grads, strict=True)}
        slots = [slot[id(p)] for p in [*population.weights, *population.biases]]
        gradients, kind = ManualGradients(population, slots), "manual"
    else:
        gradients, kind = AutogradGradients(population, optimizer), "autograd"
    common: dict[str, Any] = {"batch_sizes": batch_sizes, "epoch_end": epoch_end}
    if not _wants_graphs(device, cuda_graphs):
        return Step(population, data, optimizer, gradients, kind, track_gradients, **common), []
    graphed = CudaGraphStep(
        population, data, optimizer, gradients, f"{kind}, CUDA graphs", track_gradients, **common
    )
    try:
        graphed.capture(sorted(set(batch_sizes)))
    except Exception as exc:  # any activation or torch build without capture support
        eager = Step(population, data, optimizer, gradients, kind, track_gradients, **common)
        return eager, [_capture_failed(exc)]
    return graphed, []


def _capture_failed(exc: Exception) -> str:
    return f"CUDA graph capture failed ({type(exc).__name__}: {exc}); training eagerly"


def _graph_recorder() -> Any:
    from actbench.fused import CudaGraphRecorder

    return CudaGraphRecorder()
