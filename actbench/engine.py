"""The population engine: many same-shape SimpleNNs trained as one set of stacked tensors.

Member m owns slice m of every stacked tensor: its weights, its activation, its init seed and
its minibatch order. Nothing mixes between members:
- forward is a batched matmul (one GEMM per member inside `bmm`);
- the loss is the sum of per-member mean losses, so d(loss)/d(theta_m) is member m's own gradient;
- Adam/SGD are elementwise, so one optimizer over the stacks is exactly one optimizer per member.

On the CPU a member ends bit-identical to the same SimpleNN trained alone by the plain loop in
`actbench.reference` (tested), which makes `train` == the same member of `compare`.

Training reads top-down in `train_population`: measure the start (`_Start`), then per epoch
`_train_epoch` (the steps; `actbench.step` runs forward and backward without autograd where
every activation has a closed-form backward), `_Guard.freeze_diverged`, the test accuracy, the
health probe (`actbench.probe`, every `health_every` epochs) and `_record_epoch`; finally
`_outcomes`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor, nn

from actbench import activations
from actbench.config import InitScheme, TrainConfig
from actbench.data import Dataset
from actbench.kernels import Forward
from actbench.metrics import LayerHealth
from actbench.model import Head, init_model, member_loss, predictions
from actbench.optim import StackedOptimizer
from actbench.probe import (
    DEFAULT_MEMORY_BUDGET,
    HealthProbe,
    RevivalTracker,
    chunk_size,
    chunks,
    health,
    signal,
)
from actbench.runs import History, MemberMetrics
from actbench.step import ManualStep, supports

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "EpochReport",
    "Evaluation",
    "MemberSpec",
    "Population",
    "PopulationOutcome",
    "batch_slices",
    "epoch_permutations",
    "evaluate",
    "health",
    "member_generator",
    "probed_epochs",
    "stacked_linear",
    "train_population",
]


class _StackedLinear(torch.autograd.Function):
    """y[m] = x[m] @ W[m]^T + b[m], with nn.Linear's exact backward per member.

    Autograd's own baddbmm backward computes grad_W^T = x^T @ g, a different GEMM from
    nn.Linear's grad_W = g^T @ x; the two round differently. Mirroring nn.Linear keeps a
    member bit-identical to the model trained alone.
    """

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        return torch.baddbmm(bias, x, weight.transpose(1, 2))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
        x, weight, _ = inputs
        ctx.save_for_backward(x, weight)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor, Tensor]:
        x, weight = ctx.saved_tensors
        grad_x = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        return grad_x, torch.bmm(grad.transpose(1, 2), x), grad.sum(1, keepdim=True)


def stacked_linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """x: [M, B, in], weight: [M, out, in], bias: [M, 1, out] -> [M, B, out]."""
    return _StackedLinear.apply(x, weight, bias)


@dataclass(frozen=True)
class MemberSpec:
    """One network of a population."""

    label: str
    activation: str
    params: Mapping[str, Any]
    seed: int
    lr: float | None = None  # None: the population's train.lr


@dataclass(frozen=True)
class Group:
    """Consecutive members sharing an activation and its params: one kernel serves them all."""

    start: int
    stop: int
    spec: activations.ActivationSpec
    params: Mapping[str, Any]

    @property
    def size(self) -> int:
        return self.stop - self.start


def _groups(members: Sequence[MemberSpec]) -> list[Group]:
    groups: list[Group] = []
    for index, member in enumerate(members):
        spec = activations.get(member.activation)
        if groups and groups[-1].spec is spec and groups[-1].params == member.params:
            last = groups[-1]
            groups[-1] = Group(last.start, index + 1, spec, last.params)
        else:
            groups.append(Group(index, index + 1, spec, dict(member.params)))
    return groups


class _StackedActivation(nn.Module):
    """Per-member copies of an activation with learnable parameters (PReLU), run with vmap."""

    def __init__(self, modules: Sequence[nn.Module]) -> None:
        super().__init__()
        stacked, _ = torch.func.stack_module_state(list(modules))
        self.names = list(stacked)
        self.stacked = nn.ParameterList(nn.Parameter(stacked[name]) for name in self.names)
        # Kept out of the module tree: its (meta) parameters are not the member's parameters.
        self._template = (copy.deepcopy(modules[0]).to("meta"),)

    def forward(self, z: Tensor) -> Tensor:
        params = dict(zip(self.names, self.stacked, strict=True))

        def one(member_params: dict[str, Tensor], x: Tensor) -> Tensor:
            return torch.func.functional_call(self._template[0], member_params, (x,))

        return torch.func.vmap(one)(params, z)


class Population(nn.Module):
    """M SimpleNNs of one shape, stacked. Member m starts as `init_model(seed_m, ...)`."""

    def __init__(
        self,
        members: Sequence[MemberSpec],
        in_features: int,
        hidden: Sequence[int],
        n_out: int,
        init: InitScheme = "default",
    ) -> None:
        super().__init__()
        if not members:
            raise ValueError("a population needs at least one member")
        self.members = list(members)
        self.hidden_widths = list(hidden)
        self.groups = _groups(members)
        models = [
            init_model(m.seed, in_features, hidden, n_out, m.activation, m.params, init)
            for m in members
        ]
        linears = [[*model.hidden, model.out] for model in models]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([layers[i].weight.detach() for layers in linears]))
            for i in range(len(hidden) + 1)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([layers[i].bias.detach() for layers in linears]).unsqueeze(1))
            for i in range(len(hidden) + 1)
        )
        # acts[layer][group]: the group's activation module for that hidden layer
        self.acts = nn.ModuleList()
        for layer in range(len(hidden)):
            per_group = nn.ModuleList()
            for group in self.groups:
                modules = [models[m].acts[layer] for m in range(group.start, group.stop)]
                has_params = any(True for _ in modules[0].parameters())
                per_group.append(_StackedActivation(modules) if has_params else modules[0])
            self.acts.append(per_group)
        self.group_sizes = [g.size for g in self.groups]
        self.max_derivatives = [
            activations.max_abs_derivative(g.spec, g.params) for g in self.groups
        ]

    @property
    def size(self) -> int:
        return len(self.members)

    def layer_acts(self, layer: int) -> list[nn.Module]:
        """The activation module of every group, for one hidden layer."""
        return list(cast(nn.ModuleList, self.acts[layer]))

    def layers(self, x: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
        """(pre-activation z, output h) of every hidden layer. x: [M, B, in]."""
        h = x
        for layer in range(len(self.hidden_widths)):
            acts = self.layer_acts(layer)
            z = stacked_linear(h, self.weights[layer], self.biases[layer])
            if len(acts) == 1:
                h = acts[0](z)
            else:
                # split + cat, not slicing: a slice's backward zero-fills the whole tensor per group
                h = torch.cat(
                    [act(part) for act, part in zip(acts, z.split(self.group_sizes), strict=True)]
                )
            yield z, h

    def forward(self, x: Tensor) -> Tensor:
        """Logits [M, B, n_out] for a stacked batch x: [M, B, in]."""
        h = x
        for _, h_layer in self.layers(x):
            h = h_layer
        return stacked_linear(h, self.weights[-1], self.biases[-1])

    def stacked_parameters(self) -> list[tuple[nn.Parameter, slice]]:
        """Every parameter with the members it stacks along dim 0 (a group's slice for
        learnable activations, all members for the linear layers)."""
        every = slice(0, self.size)
        found: list[tuple[nn.Parameter, slice]] = [(p, every) for p in self.weights]
        found += [(p, every) for p in self.biases]
        for layer in range(len(self.hidden_widths)):
            for group, act in zip(self.groups, self.layer_acts(layer), strict=True):
                found += [(p, slice(group.start, group.stop)) for p in act.parameters()]
        return found

    def member_state_dict(self, index: int) -> dict[str, Tensor]:
        """Member `index` as a plain SimpleNN state_dict (CPU tensors)."""
        state: dict[str, Tensor] = {}
        n_hidden = len(self.hidden_widths)
        for layer in range(n_hidden + 1):
            prefix = f"hidden.{layer}" if layer < n_hidden else "out"
            state[f"{prefix}.weight"] = self.weights[layer][index].detach().cpu().clone()
            state[f"{prefix}.bias"] = self.biases[layer][index, 0].detach().cpu().clone()
        group_index, group = next(
            (i, g) for i, g in enumerate(self.groups) if g.start <= index < g.stop
        )
        for layer in range(n_hidden):
            act = self.layer_acts(layer)[group_index]
            if isinstance(act, _StackedActivation):
                for name, stacked in zip(act.names, act.stacked, strict=True):
                    state[f"acts.{layer}.{name}"] = (
                        stacked[index - group.start].detach().cpu().clone()
                    )
        return state


# --- evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    loss: Tensor  # [M] mean training criterion over the split
    accuracy: Tensor  # [M]


@torch.no_grad()
def evaluate(
    population: Population,
    x: Tensor,
    y: Tensor,
    head: Head,
    budget: int = DEFAULT_MEMORY_BUDGET,
    forward: Forward | None = None,
) -> Evaluation:
    """Loss and accuracy of every member on (x, y), in sample chunks. `forward`: the
    population's no-graph forward, to reuse its tensors from call to call."""
    m = population.size
    forward = forward if forward is not None else Forward(population)
    loss_sum = torch.zeros(m, dtype=torch.float64, device=x.device)
    correct = torch.zeros(m, dtype=torch.int64, device=x.device)
    for part in chunks(x.shape[0], chunk_size(population, budget)):
        xs = x[part].expand(m, -1, -1)
        ys = y[part].expand(m, -1)
        logits = forward.logits(xs)
        loss_sum += member_loss(logits, ys, head).sum(1, dtype=torch.float64)
        correct += (predictions(logits, head) == ys).sum(1)
    n = x.shape[0]
    return Evaluation(loss=(loss_sum / n).float(), accuracy=correct.double() / n)


# --- training -----------------------------------------------------------------------------------


@dataclass
class EpochReport:
    """What the progress callback sees after each epoch."""

    epoch: int
    epochs: int
    seconds: float
    train_loss: Tensor  # [M]
    test_accuracy: Tensor  # [M]


@dataclass
class PopulationOutcome:
    """Every member's measurements (the run record's own type), and their weights if kept."""

    members: list[MemberMetrics]
    seconds: float
    interrupted: bool
    notices: list[str] = field(default_factory=list)
    states: list[dict[str, Tensor] | None] = field(default_factory=list)  # SimpleNN state_dicts


def epoch_permutations(
    generators: Sequence[torch.Generator], n: int, device: torch.device
) -> Tensor:
    """[M, n]: this epoch's sample order of every member, each from its own generator."""
    return torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)


def member_generator(seed: int) -> torch.Generator:
    """The generator of a member's minibatch order (CPU, so every device sees the same order)."""
    return torch.Generator().manual_seed(seed)


def batch_slices(n: int, batch_size: int) -> list[slice]:
    return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


class _Stepper:
    """One optimisation step of every member, run eagerly or replayed from a CUDA graph.

    The loss and gradient-norm sums live in fixed tensors so that a captured step can
    accumulate into them; nothing in a step synchronises with the host.
    """

    def __init__(
        self,
        population: Population,
        data: Dataset,
        head: Head,
        optimizer: StackedOptimizer,
        track_gradients: bool,
    ) -> None:
        self.population = population
        self.data = data
        self.head = head
        self.optimizer = optimizer
        self.track_gradients = track_gradients
        device = data.x_train.device
        m = population.size
        self.hidden_weights = [population.weights[i] for i in range(len(population.hidden_widths))]
        self.loss_sum = torch.zeros(m, dtype=torch.float64, device=device)
        self.grad_norm_sum = [
            torch.zeros(m, dtype=torch.float64, device=device) for _ in self.hidden_weights
        ]
        self.graphs: dict[int, Any] = {}
        self.static_index: dict[int, Tensor] = {}
        # the autograd-free step where every group has a closed-form backward (same numbers)
        self.manual = (
            ManualStep(population, self._gradient_slots(population, optimizer))
            if supports(population, head, device)
            else None
        )

    @staticmethod
    def _gradient_slots(population: Population, optimizer: StackedOptimizer) -> list[Tensor]:
        """The optimizer's flat-gradient views of the weights and biases, in that order."""
        slot = {id(p): g for p, g in zip(optimizer.params, optimizer.grads, strict=True)}
        return [slot[id(p)] for p in [*population.weights, *population.biases]]

    def start_epoch(self) -> None:
        self.loss_sum.zero_()
        for total in self.grad_norm_sum:
            total.zero_()

    def _body(self, index: Tensor, batch_size: int) -> None:
        m = self.population.size
        inputs = self.data.x_train.index_select(0, index).view(m, batch_size, -1)
        targets = self.data.y_train.index_select(0, index).view(m, batch_size)
        if self.manual is not None:
            per_sample = self.manual(inputs, targets)
        else:
            per_sample = member_loss(self.population(inputs), targets, self.head)
            self.optimizer.zero_grad()
            per_sample.mean(1).sum().backward()
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

    def step(self, index: Tensor, batch_size: int) -> None:
        """index: the flat [M * batch_size] sample indices of this step."""
        graph = self.graphs.get(batch_size)
        if graph is None:
            self._body(index, batch_size)
        else:
            self.static_index[batch_size].copy_(index)
            graph.replay()

    def capture(self, batch_sizes: Sequence[int]) -> None:
        """Record one CUDA graph per batch size (PyTorch's whole-network capture recipe).

        The warm-up steps on a side stream really update the members, so parameters, the
        optimizer state and the sums are put back afterwards.
        """
        params = self.optimizer.params
        saved = [p.detach().clone() for p in params]
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
        with torch.no_grad():
            for p, value in zip(params, saved, strict=True):
                p.copy_(value)
        self.optimizer.reset()
        self.start_epoch()
        torch.cuda.synchronize()


def _by_member(per_layer: Iterable[Tensor]) -> list[list[float]]:
    """[layer] tensors of [M] values -> [member][layer] Python floats, in one transfer."""
    return torch.stack([t.double() for t in per_layer], dim=1).tolist()


def probed_epochs(epochs: int, every: int) -> set[int]:
    """Epochs (1-based) after which neuron health is probed: every `every`-th, the first and
    the last."""
    return {1, epochs, *range(every, epochs + 1, every)}


class _Guard:
    """The last finished epoch's parameters, and the members frozen there.

    A member is diverged when its epoch loss or any of its parameters is NaN/inf. Checking
    the parameters matters with one step per epoch (full batch): the loss is computed before
    the step, so a step that overflows leaves a finite loss and non-finite weights.
    """

    def __init__(self, stacked: Sequence[tuple[nn.Parameter, slice]], members: int) -> None:
        self.stacked = list(stacked)
        self.snapshot = [p.detach().clone() for p, _ in self.stacked]
        self.frozen = torch.zeros(members, dtype=torch.bool, device=self.snapshot[0].device)
        self.any_frozen = False

    @torch.no_grad()
    def restore(self, members: Tensor) -> None:
        """Put the members in the bool mask `members` back to the snapshot."""
        for (p, rows), saved in zip(self.stacked, self.snapshot, strict=True):
            mask = members[rows].view(-1, *([1] * (p.dim() - 1)))
            p.copy_(torch.where(mask, saved, p))

    def keep_frozen(self) -> None:
        """After a step: frozen members do not move."""
        if self.any_frozen:
            self.restore(self.frozen)

    @torch.no_grad()
    def finite_parameters(self) -> Tensor:
        """[M] bool: every parameter of the member is finite."""
        finite = torch.ones_like(self.frozen)
        for p, rows in self.stacked:
            finite[rows] &= torch.isfinite(p).flatten(1).all(1)
        return finite

    def freeze_diverged(self, epoch_loss: Tensor) -> None:
        """Freeze (at the snapshot) every member whose loss or parameters are not finite."""
        diverged = ~(torch.isfinite(epoch_loss) & self.finite_parameters()) & ~self.frozen
        if bool(diverged.any()):
            self.frozen |= diverged
            self.any_frozen = True
            self.restore(self.frozen)

    @torch.no_grad()
    def commit(self) -> None:
        """The current parameters become the last finished epoch's."""
        for (p, _), saved in zip(self.stacked, self.snapshot, strict=True):
            saved.copy_(p)


def _train_epoch(
    stepper: _Stepper,
    permutations: Tensor,
    batches: Sequence[slice],
    guard: _Guard,
    should_stop: Callable[[], bool] | None,
) -> bool:
    """Every minibatch step of one epoch; False when `should_stop()` interrupted it."""
    stepper.start_epoch()
    for batch in batches:
        # index_select on a flat index: half the cost of advanced indexing with [M, b]
        stepper.step(permutations[:, batch].reshape(-1), batch.stop - batch.start)
        guard.keep_frozen()
        if should_stop is not None and should_stop():
            return False
    return True


def _record_epoch(
    histories: Sequence[History],
    alive: Sequence[int],
    epoch: int,
    losses: list[float],
    accuracies: list[float],
    probe: Sequence[LayerHealth],
    grad_norm_sums: Sequence[Tensor],
    steps: int,
) -> None:
    """Append one epoch to the histories of the members still training.

    The health series get an entry only for probed epochs (`probe` non-empty); their epoch
    numbers are in `health_epochs`.
    """
    if probe:
        # [layer][member] -> [member][layer]: one transfer per series, then plain Python lists
        dead = _by_member(layer.dead for layer in probe)
        dormant = _by_member(layer.dormant for layer in probe)
        saturated = _by_member(layer.saturated for layer in probe)
        mean_abs = _by_member(layer.mean_abs for layer in probe)
        # float32 precision: the float64 sums agree to far better than that everywhere
        grad_norm = _by_member((t / steps).float() for t in grad_norm_sums)
    for i in alive:
        history = histories[i]
        history.train_loss.append(losses[i])
        history.test_accuracy.append(accuracies[i])
        if probe:
            history.health_epochs.append(epoch)
            history.dead_per_layer.append([int(v) for v in dead[i]])
            history.dormant_per_layer.append([int(v) for v in dormant[i]])
            history.saturated_per_layer.append([*saturated[i]])
            history.mean_abs_per_layer.append([*mean_abs[i]])
            history.grad_norm_per_layer.append([*grad_norm[i]])


def _optimizer(population: Population, cfg: TrainConfig, capturable: bool) -> StackedOptimizer:
    lrs = [cfg.lr if member.lr is None else member.lr for member in population.members]
    return StackedOptimizer(population.stacked_parameters(), lrs, cfg, capturable=capturable)


def _capture(stepper: _Stepper, batches: Sequence[slice]) -> list[str]:
    """Record the CUDA graphs; on failure train eagerly and say so."""
    try:
        stepper.capture(sorted({b.stop - b.start for b in batches}))
    except Exception as exc:  # any activation or torch build without capture support
        stepper.graphs.clear()
        return [f"CUDA graph capture failed ({type(exc).__name__}: {exc}); training eagerly"]
    return []


def train_population(
    population: Population,
    data: Dataset,
    cfg: TrainConfig,
    head: Head,
    *,
    dormant_tau: float = 0.1,
    probe_size: int = 2048,
    track_health: bool = True,
    health_every: int = 1,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_state: bool = False,
    budget: int = DEFAULT_MEMORY_BUDGET,
) -> PopulationOutcome:
    """Train every member for cfg.epochs; return per-member metrics and histories.

    Member m trains with learning rate `population.members[m].lr` (cfg.lr when None).
    A member whose epoch loss or parameters become NaN/inf is rolled back to its last finite
    epoch and frozen there (status 'diverged'); the others go on. If `should_stop()` turns
    true, training stops at the next step and every member is rolled back to the last finished
    epoch ('interrupted'). Neuron health is probed after the epochs of
    `probed_epochs(cfg.epochs, health_every)`.
    """
    started = time.perf_counter()
    device = data.x_train.device
    m = population.size
    use_graphs = device.type == "cuda" and cfg.cuda_graphs
    optimizer = _optimizer(population, cfg, use_graphs)
    generators = [member_generator(member.seed) for member in population.members]
    n = data.x_train.shape[0]
    batches = batch_slices(n, min(cfg.batch_size, n))
    probe_x = data.x_train[:probe_size]
    stepper = _Stepper(population, data, head, optimizer, track_gradients=track_health)
    notices = _capture(stepper, batches) if use_graphs else []
    to_probe = probed_epochs(cfg.epochs, health_every) if track_health else set()

    start = _Start.measure(population, data.x_train, probe_x, dormant_tau, track_health, budget)
    revivals = RevivalTracker()
    revivals.update(start.probe)
    probe_health = HealthProbe(population, probe_x, dormant_tau, budget)
    forward = Forward(population)
    histories = [History() for _ in range(m)]
    finished_epochs = torch.zeros(m, dtype=torch.int64)
    guard = _Guard(population.stacked_parameters(), m)
    interrupted = False
    latest_probe: list[LayerHealth] | None = None  # of the current parameters, when fresh

    for epoch in range(1, cfg.epochs + 1):
        probing = epoch in to_probe
        if not stepper.graphs:  # a captured step tracks what it tracked when recorded
            stepper.track_gradients = probing
        permutations = epoch_permutations(generators, n, device)
        if not _train_epoch(stepper, permutations, batches, guard, should_stop):
            interrupted = True
            guard.restore(torch.ones_like(guard.frozen))
            break
        epoch_loss = (stepper.loss_sum / n).float()
        guard.freeze_diverged(epoch_loss)
        test_acc = evaluate(population, data.x_test, data.y_test, head, budget, forward).accuracy
        probe = probe_health() if probing else []
        latest_probe = probe or None
        revivals.update(probe)
        alive = (~guard.frozen).cpu()
        finished_epochs += alive.long()
        _record_epoch(
            histories,
            alive.nonzero().flatten().tolist(),
            epoch,
            epoch_loss.tolist(),
            test_acc.tolist(),
            probe,
            stepper.grad_norm_sum,
            len(batches),
        )
        guard.commit()
        if on_epoch is not None:
            elapsed = time.perf_counter() - started
            on_epoch(EpochReport(epoch, cfg.epochs, elapsed, epoch_loss, test_acc))

    if interrupted or latest_probe is None:
        latest_probe = probe_health()
    end = _end_health(population, data.x_train, probe_x, latest_probe, dormant_tau, budget)
    return PopulationOutcome(
        _outcomes(
            population,
            data,
            head,
            budget,
            start=start,
            end=end,
            final_probe=latest_probe,
            frozen=guard.frozen.cpu(),
            interrupted=interrupted,
            finished_epochs=finished_epochs,
            revived=revivals.counts(m).cpu(),
            histories=histories,
        ),
        time.perf_counter() - started,
        interrupted,
        notices,
        [population.member_state_dict(i) if keep_state else None for i in range(m)],
    )


@dataclass(frozen=True)
class _Start:
    """What is measured before training."""

    dead: list[LayerHealth]  # dead / dormant over the whole training split (the definition)
    probe: list[LayerHealth]  # with saturation over the probe set ([] without health tracking)
    signal_mean: Tensor  # [M, layers] float64, hidden outputs over the probe set
    signal_std: Tensor

    @staticmethod
    def measure(
        population: Population,
        x_train: Tensor,
        probe_x: Tensor,
        tau: float,
        track_health: bool,
        budget: int,
    ) -> _Start:
        covers = probe_x.shape[0] == x_train.shape[0]
        # Dead / dormant need the whole training split; saturation needs a derivative per
        # element, so it is measured on the probe set only. When the probe set is the whole
        # split (the default), one pass gives both.
        if track_health and covers:
            probe = health(population, probe_x, tau, budget=budget)
            dead = probe
        else:
            dead = health(population, x_train, tau, saturation=False, budget=budget)
            probe = health(population, probe_x, tau, budget=budget) if track_health else []
        mean, std = signal(population, probe_x, budget)
        return _Start(dead, probe, mean.cpu(), std.cpu())


def _end_health(
    population: Population,
    x_train: Tensor,
    probe_x: Tensor,
    final_probe: list[LayerHealth],
    tau: float,
    budget: int,
) -> list[LayerHealth]:
    """Dead / dormant over the training split after training (the probe's when it covers it)."""
    if probe_x.shape[0] == x_train.shape[0]:
        return final_probe
    return health(population, x_train, tau, saturation=False, budget=budget)


def _outcomes(
    population: Population,
    data: Dataset,
    head: Head,
    budget: int,
    *,
    start: _Start,
    end: list[LayerHealth],
    final_probe: list[LayerHealth],
    frozen: Tensor,
    interrupted: bool,
    finished_epochs: Tensor,
    revived: Tensor,
    histories: Sequence[History],
) -> list[MemberMetrics]:
    """Every member's final numbers, from its final (for diverged members: last finite)
    parameters."""
    train_eval = evaluate(population, data.x_train, data.y_train, head, budget)
    test_eval = evaluate(population, data.x_test, data.y_test, head, budget)
    signal_mean, signal_std = start.signal_mean.tolist(), start.signal_std.tolist()
    outcomes = []
    for i in range(population.size):
        status = "diverged" if bool(frozen[i]) else "interrupted" if interrupted else "ok"
        outcomes.append(
            MemberMetrics(
                status=status,
                epochs=int(finished_epochs[i]),
                train_loss=float(train_eval.loss[i]),
                test_loss=float(test_eval.loss[i]),
                train_accuracy=float(train_eval.accuracy[i]),
                test_accuracy=float(test_eval.accuracy[i]),
                dead_per_layer=[int(layer.dead[i]) for layer in end],
                dead_per_layer_init=[int(layer.dead[i]) for layer in start.dead],
                dormant_per_layer=[int(layer.dormant[i]) for layer in end],
                saturated_per_layer=[float(layer.saturated[i]) for layer in final_probe],
                revived_neurons=int(revived[i]),
                history=histories[i],
                mean_per_layer_init=signal_mean[i],
                std_per_layer_init=signal_std[i],
            )
        )
    return outcomes
