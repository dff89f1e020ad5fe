"""The population engine: train every member of a population, an epoch at a time.

On the CPU a member ends bit-identical to the same SimpleNN trained alone by the plain loop in
`actbench.reference` (tested), which makes `train` == the same member of `compare`.

Training reads top-down in `train_population`: `_Training` measures the start (`_Start`) and
chooses the step (`actbench.step.make_step`); each `_Training.epoch` has the step train the
epoch and end it on the device (`_EpochEnd`: freeze diverged members (`_Guard`), count the
test split's correct predictions), reads the epoch's numbers in one transfer, probes neuron
health every `health_every` epochs (`actbench.probe`) and records the epoch;
`_Training.outcome` measures the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from actbench.config import Config, TrainConfig
from actbench.data import Dataset
from actbench.metrics import LayerHealth
from actbench.model import member_loss, predictions
from actbench.optim import StackedOptimizer
from actbench.population import Forward, Population, order_rows
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
from actbench.step import make_step


@dataclass(frozen=True)
class TrainSettings:
    """How a population trains (`train`) and what is measured along the way."""

    train: TrainConfig
    dormant_tau: float = 0.1  # metrics.dormant_tau
    probe_size: int = 2048  # metrics.probe_size: training samples the health probes use
    track_health: bool = True  # metrics.health
    health_every: int = 1  # epochs between health probes (first and last always)
    keep_state: bool = False  # return every member's weights
    budget: int = DEFAULT_MEMORY_BUDGET  # bytes of activations per evaluation chunk

    @classmethod
    def of(cls, config: Config, *, keep_state: bool = False) -> TrainSettings:
        """The settings of a resolved config."""
        metrics = config.metrics
        return cls(
            config.train,
            dormant_tau=metrics.dormant_tau,
            probe_size=metrics.probe_size,
            track_health=metrics.health,
            health_every=metrics.probe_interval(config.train.epochs),
            keep_state=keep_state,
        )


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
        loss_sum += member_loss(logits, ys, population.head).sum(1, dtype=torch.float64)
        correct += (predictions(logits, population.head) == ys).sum(1)
    n = x.shape[0]
    return Evaluation(loss=(loss_sum / n).float(), accuracy=accuracy(correct, n))


@torch.no_grad()
def count_correct(
    population: Population, x: Tensor, y: Tensor, out: Tensor, budget: int, forward: Forward
) -> None:
    """Every member's correct predictions on (x, y) into `out` [M] int64, in sample chunks,
    with no host synchronisation (a CUDA graph records it at the end of an epoch)."""
    m = population.size
    out.zero_()
    for part in chunks(x.shape[0], chunk_size(population, budget)):
        logits = forward.logits(x[part].expand(m, -1, -1))
        out += (predictions(logits, population.head) == y[part].expand(m, -1)).sum(1)


def accuracy(correct: Tensor, n: int) -> Tensor:
    """The fraction of n predictions that were right, from counts: float64, on the CPU.

    The one place accuracy is divided out, so a count gives the same number on every device and
    in every caller, equal to Python's `count / n`. Divided on the CPU because CUDA divides by a
    scalar as a product with its reciprocal: 170 / 400 came out as 0.42500000000000004 there.
    """
    return correct.to("cpu", torch.float64) / n


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


def epoch_permutations(generators: Sequence[torch.Generator], n: int) -> Tensor:
    """[S, n]: this epoch's sample order of every seed, each from its own generator (on the
    CPU: every device sees the same order). Member m takes row `order_rows(...)[1][m]`."""
    return torch.stack([torch.randperm(n, generator=g) for g in generators])


def member_generator(seed: int) -> torch.Generator:
    """The generator of a member's minibatch order (CPU, so every device sees the same order)."""
    return torch.Generator().manual_seed(seed)


def batch_slices(n: int, batch_size: int) -> list[slice]:
    return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


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
            finite[rows] &= torch.isfinite(p).reshape(p.shape[0], -1).all(1)  # 1-d: scalars
        return finite

    @torch.no_grad()
    def end_epoch(self, epoch_loss: Tensor) -> None:
        """Freeze (at the snapshot) every member whose loss or parameters are not finite, then
        make the parameters the last finished epoch's. Device work only: the host learns who
        is frozen from the epoch's report (`any_frozen` is set there)."""
        self.frozen |= ~(torch.isfinite(epoch_loss) & self.finite_parameters())
        self.restore(self.frozen)  # exact for the others: where() picks their own values
        for (p, _), saved in zip(self.stacked, self.snapshot, strict=True):
            saved.copy_(p)

    def state(self) -> list[Tensor]:
        return [*self.snapshot, self.frozen]


class _EpochEnd:
    """The end of an epoch on the device, with no host synchronisation (the fused step's CUDA
    graph records it): the epoch's mean loss, the guard, the test split's correct counts, all
    packed into `report` [3, M] float64 (loss, correct, frozen) for one transfer."""

    def __init__(self, training: _Training) -> None:
        self.training = training
        m, device = training.population.size, training.data.x_train.device
        self.correct = torch.zeros(m, dtype=torch.int64, device=device)
        self.report = torch.zeros(3, m, dtype=torch.float64, device=device)

    @torch.no_grad()
    def __call__(self, loss_sum: Tensor) -> None:
        training = self.training
        epoch_loss = (loss_sum / training.n).float()
        training.guard.end_epoch(epoch_loss)
        data = training.data
        count_correct(
            training.population,
            data.x_test,
            data.y_test,
            self.correct,
            training.settings.budget,
            training.forward,
        )
        rows = [epoch_loss.double(), self.correct.double(), training.guard.frozen.double()]
        torch.stack(rows, out=self.report)

    def state(self) -> list[Tensor]:
        return [self.correct, self.report, *self.training.guard.state()]


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


class _Training:
    """One population's training: its step, guard, probes and histories, an epoch at a time."""

    def __init__(self, population: Population, data: Dataset, settings: TrainSettings) -> None:
        self.started = time.perf_counter()
        self.population = population
        self.data = data
        self.settings = settings
        cfg = settings.train
        m = population.size
        lrs = [cfg.lr if member.lr is None else member.lr for member in population.members]
        optimizer = StackedOptimizer(population.stacked_parameters(), lrs, cfg)
        # one generator per distinct seed: members that share a seed share its order (7x fewer
        # permutations for the reference population; 10,000 members spent 0.2 s an epoch here)
        seeds, rows = order_rows(population.members)
        self.generators = [member_generator(seed) for seed in seeds]
        self.rows = torch.tensor(rows, dtype=torch.int64)
        self.n = data.x_train.shape[0]
        self.batches = batch_slices(self.n, min(cfg.batch_size, self.n))
        self.probe_x = data.x_train[: settings.probe_size]
        self.forward = Forward(population)
        self.guard = _Guard(population.stacked_parameters(), m)
        self.end = _EpochEnd(self)
        self.step, self.notices = make_step(
            population,
            data,
            optimizer,
            batch_sizes=[b.stop - b.start for b in self.batches],
            cuda_graphs=cfg.cuda_graphs,
            track_gradients=settings.track_health,
            epoch_end=self.end,
        )
        self.to_probe = (
            probed_epochs(cfg.epochs, settings.health_every) if settings.track_health else set()
        )
        self.start = _Start.measure(
            population,
            data.x_train,
            self.probe_x,
            settings.dormant_tau,
            settings.track_health,
            settings.budget,
        )
        self.revivals = RevivalTracker()
        self.revivals.update(self.start.probe)
        self.probe = HealthProbe(population, self.probe_x, settings.dormant_tau, settings.budget)
        self.histories = [History() for _ in range(m)]
        self.finished_epochs = torch.zeros(m, dtype=torch.int64)
        self.interrupted = False
        self.next_order: Tensor | None = None  # the next epoch's, drawn while this one trains
        self.latest_probe: list[LayerHealth] | None = None  # of the current parameters, if fresh

    def epoch(self, epoch: int, should_stop: Callable[[], bool] | None) -> EpochReport | None:
        """Train one epoch and record it; None when `should_stop()` interrupted it (every
        member is then back at the last finished epoch)."""
        probing = epoch in self.to_probe
        self.step.set_tracking(probing)
        order = self.next_order
        if order is None:
            order = epoch_permutations(self.generators, self.n)
        self.next_order = None
        guard = self.guard
        if not self.step.run_epoch(order, self.rows, guard.keep_frozen, should_stop):
            self.interrupted = True
            guard.restore(torch.ones_like(guard.frozen))
            return None
        if epoch < self.settings.train.epochs:  # on CUDA the device is still at this epoch
            self.next_order = epoch_permutations(self.generators, self.n)
        report = self.end.report.cpu()  # the epoch's one transfer
        epoch_loss = report[0].float()  # float32 -> float64 -> float32: exact
        test_acc = accuracy(report[1].long(), self.data.x_test.shape[0])
        alive = report[2] == 0
        guard.any_frozen = not bool(alive.all())
        probe = self.probe() if probing else []
        self.latest_probe = probe or None
        self.revivals.update(probe)
        self.finished_epochs += alive.long()
        _record_epoch(
            self.histories,
            alive.nonzero().flatten().tolist(),
            epoch,
            epoch_loss.tolist(),
            test_acc.tolist(),
            probe,
            self.step.grad_norm_sum,
            len(self.batches),
        )
        seconds = time.perf_counter() - self.started
        return EpochReport(epoch, self.settings.train.epochs, seconds, epoch_loss, test_acc)

    def outcome(self) -> PopulationOutcome:
        """Every member's final numbers, from its final (for diverged members: last finite)
        parameters."""
        population, data, settings = self.population, self.data, self.settings
        final_probe = self.latest_probe
        if self.interrupted or final_probe is None:
            final_probe = self.probe()
        if self.probe_x.shape[0] == data.x_train.shape[0]:
            end = final_probe  # dead / dormant over the training split: the probe covers it
        else:
            end = health(
                population,
                data.x_train,
                settings.dormant_tau,
                saturation=False,
                budget=settings.budget,
            )
        train_eval = evaluate(population, data.x_train, data.y_train, settings.budget, self.forward)
        test_eval = evaluate(population, data.x_test, data.y_test, settings.budget, self.forward)
        signal_mean, signal_std = self.start.signal_mean.tolist(), self.start.signal_std.tolist()
        frozen = self.guard.frozen.cpu()
        revived = self.revivals.counts(population.size).cpu()
        members = []
        for i in range(population.size):
            status = "diverged" if bool(frozen[i]) else "interrupted" if self.interrupted else "ok"
            members.append(
                MemberMetrics(
                    status=status,
                    epochs=int(self.finished_epochs[i]),
                    train_loss=float(train_eval.loss[i]),
                    test_loss=float(test_eval.loss[i]),
                    train_accuracy=float(train_eval.accuracy[i]),
                    test_accuracy=float(test_eval.accuracy[i]),
                    dead_per_layer=[int(layer.dead[i]) for layer in end],
                    dead_per_layer_init=[int(layer.dead[i]) for layer in self.start.dead],
                    dormant_per_layer=[int(layer.dormant[i]) for layer in end],
                    saturated_per_layer=[float(layer.saturated[i]) for layer in final_probe],
                    revived_neurons=int(revived[i]),
                    history=self.histories[i],
                    mean_per_layer_init=signal_mean[i],
                    std_per_layer_init=signal_std[i],
                )
            )
        states = [
            population.member_state_dict(i) if settings.keep_state else None
            for i in range(population.size)
        ]
        seconds = time.perf_counter() - self.started
        return PopulationOutcome(members, seconds, self.interrupted, self.notices, states)


def train_population(
    population: Population,
    data: Dataset,
    settings: TrainSettings,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PopulationOutcome:
    """Train every member for settings.train.epochs; return per-member metrics and histories.

    Member m trains with learning rate `population.members[m].lr` (train.lr when None).
    A member whose epoch loss or parameters become NaN/inf is rolled back to its last finite
    epoch and frozen there (status 'diverged'); the others go on. If `should_stop()` turns
    true, training stops at the next step and every member is rolled back to the last finished
    epoch ('interrupted'). Neuron health is probed after the epochs of
    `probed_epochs(epochs, settings.health_every)`.
    """
    training = _Training(population, data, settings)
    for epoch in range(1, settings.train.epochs + 1):
        report = training.epoch(epoch, should_stop)
        if report is None:
            break
        if on_epoch is not None:
            on_epoch(report)
    return training.outcome()
