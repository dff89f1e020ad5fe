"""Config -> grid points -> populations -> engine -> aggregated results -> run folder.

No rendering here. A population is every member that can share one set of stacked tensors:
the same data, model shape and training settings except the learning rate (which the engine
takes per member). Grid points that differ in anything else train one population after another.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from actbench import __version__
from actbench.config import Config, GridPoint, grid_points
from actbench.data import describe, make_dataset
from actbench.engine import EpochReport, PopulationOutcome, TrainSettings, train_population
from actbench.members import ModelIndex, Scaler, index_models, scaler_of
from actbench.model import n_logits
from actbench.population import MemberSpec, Population
from actbench.resources import check_memory, describe_device, environment, resolve_device
from actbench.runs import (
    DataFingerprint,
    MemberIdentity,
    RunRecord,
    RunResult,
    distinct_data,
    new_run_id,
)
from actbench.stats import summarize
from actbench.threads import ThreadGovernor, resolve_threads, step_work, using_threads


@dataclass(frozen=True)
class PlannedMember:
    """A member and where it belongs: its grid point and its activation entry."""

    spec: MemberSpec
    point: int
    entry: int


@dataclass(frozen=True)
class PopulationPlan:
    """Members trained together, and the config they share (lr aside)."""

    config: Config
    members: list[PlannedMember]

    @property
    def specs(self) -> list[MemberSpec]:
        return [m.spec for m in self.members]


def population_key(config: Config) -> str:
    """Everything a population must share: all but activations, seeds and the learning rate."""
    shared = config.model_dump(mode="json", exclude={"activations", "sweep"})
    del shared["train"]["lr"], shared["train"]["seeds"]
    return repr(shared)


def plan(config: Config) -> tuple[list[GridPoint], list[PopulationPlan]]:
    """Grid points, and the populations that train them (in first-seen order).

    Within a population members are ordered activation-first, so all members of one
    activation form one contiguous group whatever the number of grid points.
    """
    points = grid_points(config)
    by_key: dict[str, PopulationPlan] = {}
    for index, point in enumerate(points):
        key = population_key(point.config)
        population = by_key.setdefault(key, PopulationPlan(point.config, []))
        for entry_index, entry in enumerate(point.config.activations):
            for seed in point.config.train.seed_values:
                spec = MemberSpec(
                    entry.label, entry.name, entry.params, seed, point.config.train.lr
                )
                population.members.append(PlannedMember(spec, index, entry_index))
    for population in by_key.values():
        population.members.sort(key=lambda m: (m.entry, m.point))
    return points, list(by_key.values())


@dataclass
class ProgressEvent:
    """Work done over the whole experiment (epochs, or shards on Ray) and what to say of it:
    a status line (Ray), or the population in training and its best test accuracy so far."""

    done: int
    total: int
    description: str = ""
    unit: str = "epochs"
    models: int = 0  # members of the population in training
    population: tuple[int, int] | None = None  # (number, of how many), with several
    best_accuracy: float | None = None  # best test accuracy of its members, a fraction


@dataclass
class Experiment:
    """A finished (or interrupted) experiment, and what the run pipeline did with it."""

    config: Config
    config_name: str
    result: RunResult
    models: dict[str, bytes] = field(default_factory=dict)  # file name -> state_dict
    model_index: ModelIndex | None = None  # which member each file is; None without models
    run_dir: Path | None = None  # where it was saved (None: not saved)
    save_error: str | None = None  # why saving failed, in one line
    gate_failures: list[str] = field(default_factory=list)  # the CI gates it failed
    gate_notes: list[str] = field(default_factory=list)  # what the gates could not check

    @property
    def interrupted(self) -> bool:
        return self.result.status == "interrupted"

    @property
    def untrained(self) -> bool:
        """Interrupted before any member finished an epoch: nothing worth showing or saving."""
        return self.interrupted and all(run.epochs == 0 for run in self.result.runs)


@dataclass
class PlanOutcome:
    """What training one population plan produced (picklable: it may come from a Ray worker)."""

    members: list[PlannedMember]
    trained: PopulationOutcome | None  # the engine's outcome; None when the plan failed
    error: str | None = None
    # member position -> state_dict as bytes: a Ray worker sends back plain values only
    models: dict[int, bytes] = field(default_factory=dict)
    device: str = ""  # where it trained, e.g. "cpu (2 threads)"
    threads: int | None = None  # CPU threads it trained with (None on CUDA)
    scaler: Scaler | None = None  # its data's scaler, when the models are kept
    data: DataFingerprint | None = None  # what its data were

    @property
    def notices(self) -> list[str]:
        return self.trained.notices if self.trained is not None else []

    @property
    def interrupted(self) -> bool:
        return self.trained is not None and self.trained.interrupted


def train_plan(
    population_plan: PopulationPlan,
    device: torch.device,
    *,
    on_epoch: Callable[[EpochReport], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_models: bool = False,
    threads: int | None = None,
) -> PlanOutcome:
    """Train one population: its own data, its own stacked tensors.

    `threads`: CPU threads to train with; None resolves `train.threads` for this plan.
    """
    if device.type != "cpu":
        return _train_plan(population_plan, device, on_epoch, should_stop, keep_models)
    cfg = population_plan.config
    auto = cfg.train.threads == "auto"
    work = plan_work(cfg, len(population_plan.members)) if auto else 0  # a file head: once
    count = threads if threads is not None else resolve_threads(cfg.train.threads, work)
    governor = None
    if auto:
        governor = ThreadGovernor(work, count)
        on_epoch = _governed(governor, on_epoch)
    with using_threads(count):
        outcome = _train_plan(population_plan, device, on_epoch, should_stop, keep_models)
    outcome.threads = governor.most_used if governor is not None else count
    return outcome


def _governed(
    governor: ThreadGovernor, on_epoch: Callable[[EpochReport], None] | None
) -> Callable[[EpochReport], None]:
    """on_epoch, after the governor has set the threads of the next epochs."""

    def after(epoch: EpochReport) -> None:
        governor.after_epoch()
        if on_epoch is not None:
            on_epoch(epoch)

    return after


def plan_threads(population_plan: PopulationPlan) -> int:
    """`train.threads` of a plan as a count (`auto`: from its work per step and the load)."""
    return config_threads(population_plan.config, len(population_plan.members))


def config_threads(cfg: Config, members: int) -> int:
    """`train.threads` as a count for a population of `members` networks of cfg's shape."""
    return resolve_threads(cfg.train.threads, plan_work(cfg, members))


def plan_work(cfg: Config, members: int) -> int:
    """Multiply-adds of one training step of a population of `members` networks of cfg's
    shape."""
    shape = describe(cfg.data)
    widths = [shape.n_features, *cfg.model.hidden, n_logits(cfg.model.head, shape.n_classes)]
    batch = min(cfg.train.batch_size, shape.n_train)
    return step_work(members, batch, widths)


def _train_plan(
    population_plan: PopulationPlan,
    device: torch.device,
    on_epoch: Callable[[EpochReport], None] | None,
    should_stop: Callable[[], bool] | None,
    keep_models: bool,
) -> PlanOutcome:
    cfg = population_plan.config
    data = make_dataset(cfg.data)
    notices = []
    n_train = data.x_train.shape[0]
    if cfg.train.batch_size > n_train:
        notices.append(
            f"train.batch_size {cfg.train.batch_size} exceeds the {n_train} training samples; "
            f"training full-batch ({n_train})"
        )
    data = data.to(device)
    population = Population(
        population_plan.specs,
        data.n_features,
        cfg.model.hidden,
        data.n_classes,
        head=cfg.model.head,
        init=cfg.model.init,
    ).to(device)
    outcome = train_population(
        population,
        data,
        TrainSettings.of(cfg, keep_state=keep_models),
        on_epoch=on_epoch,
        should_stop=should_stop,
    )
    outcome.notices[:0] = notices
    models = {i: _state_bytes(state) for i, state in enumerate(outcome.states) if state is not None}
    return PlanOutcome(
        population_plan.members,
        replace(outcome, states=[]),
        models=models,
        device=describe_device(device),
        scaler=scaler_of(data) if models else None,
        data=data.fingerprint,
    )


@dataclass(frozen=True)
class ExecutionContext:
    """What an executor needs besides the plans."""

    device: str  # as configured (auto, cpu, cuda, cuda:N): resolved where the training runs
    on_progress: Callable[[ProgressEvent], None] | None = None
    should_stop: Callable[[], bool] | None = None
    keep_models: bool = False


Executor = Callable[[Sequence[PopulationPlan], ExecutionContext], list[PlanOutcome]]


def run_locally(plans: Sequence[PopulationPlan], context: ExecutionContext) -> list[PlanOutcome]:
    """Every population in this process, one after another, with per-epoch progress."""
    device = resolve_device(context.device)
    for population_plan in plans:  # all of them, before any work
        check_memory(population_plan.config, len(population_plan.members), device)
    total_epochs = sum(p.config.train.epochs for p in plans)
    # One thread count for the whole run, from its largest population: the load average would
    # otherwise count this run's own earlier populations as a busy neighbour.
    threads = max((plan_threads(p) for p in plans), default=1)
    done_before = 0
    outcomes = []
    for number, population_plan in enumerate(plans, start=1):

        def report(
            epoch: EpochReport,
            done_before: int = done_before,
            number: int = number,
            models: int = len(population_plan.members),
        ) -> None:
            if context.on_progress is not None:
                context.on_progress(
                    ProgressEvent(
                        done_before + epoch.epoch,
                        total_epochs,
                        models=models,
                        population=(number, len(plans)) if len(plans) > 1 else None,
                        best_accuracy=float(epoch.test_accuracy.nan_to_num(0.0).max()),
                    )
                )

        outcome = train_plan(
            population_plan,
            device,
            on_epoch=report,
            should_stop=context.should_stop,
            keep_models=context.keep_models,
            threads=threads,
        )
        outcomes.append(outcome)
        done_before += population_plan.config.train.epochs
        if outcome.interrupted:
            break
    return outcomes


def run_experiment(
    config: Config,
    config_name: str,
    *,
    run_id: str | None = None,
    baseline: str | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_models: bool = False,
    executor: Executor = run_locally,
) -> Experiment:
    """Train every member of `config` and aggregate.

    The executor resolves the device where it trains (a DeviceError comes before any work).
    run_id: the name of the run folder reserved for it ('' when it will not be saved; None: a
    new id from the config name).
    """
    started = time.perf_counter()
    points, populations = plan(config)
    context = ExecutionContext(config.train.device, on_progress, should_stop, keep_models)
    outcomes = executor(populations, context)

    records: dict[tuple[int, int, int], RunRecord] = {}
    kept: dict[tuple[int, int, int], tuple[MemberSpec, GridPoint, bytes]] = {}
    scalers: dict[str, Scaler] = {}
    notices: list[str] = []
    for plan_outcome in outcomes:
        notices += plan_outcome.notices
        for position, planned in enumerate(plan_outcome.members):
            point = points[planned.point]
            key = (planned.point, planned.entry, planned.spec.seed)
            trained = plan_outcome.trained
            if trained is None:
                records[key] = RunRecord.failed(
                    identity(planned.spec, point), plan_outcome.error or "failed"
                )
                continue
            records[key] = RunRecord.of(identity(planned.spec, point), trained.members[position])
            if position in plan_outcome.models:
                kept[key] = (planned.spec, point, plan_outcome.models[position])
                if plan_outcome.scaler is not None:
                    scalers[point.config.data.model_dump_json()] = plan_outcome.scaler
    interrupted = any(o.interrupted for o in outcomes) or len(records) < sum(
        len(p.members) for p in populations
    )
    ordered = [records[key] for key in sorted(records)]
    devices = ", ".join(dict.fromkeys(o.device for o in outcomes if o.device)) or "none"
    result = RunResult(
        actbench_version=__version__,
        run_id=new_run_id(config_name, config.to_dict()) if run_id is None else run_id,
        device=devices,
        threads=max((o.threads for o in outcomes if o.threads is not None), default=None),
        seconds=round(time.perf_counter() - started, 3),
        status="interrupted" if interrupted else "ok",
        config=config.to_dict(),
        runs=ordered,
        summary=summarize(ordered, baseline),
        notices=list(dict.fromkeys(notices)),
        environment=environment(devices),
        data=distinct_data((o.data, [points[m.point].values for m in o.members]) for o in outcomes),
    )
    # named in record order, so the names do not depend on which executor finished first
    models, model_index = index_models([kept[key] for key in sorted(kept)], scalers)
    return Experiment(config, config_name, result, models, model_index if kept else None)


def _state_bytes(state: dict[str, torch.Tensor]) -> bytes:
    """A member's state_dict as the bytes of its model file."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def identity(member: MemberSpec, point: GridPoint) -> MemberIdentity:
    """Which member a record is, whatever happened to it."""
    return MemberIdentity(
        label=member.label,
        activation=member.activation,
        params=dict(member.params),
        grid=point.values,
        seed=member.seed,
        hidden_units=sum(point.config.model.hidden),
        hidden_widths=list(point.config.model.hidden),
    )


def preflight(config: Config) -> None:
    """Checks a local run can pass before anything is written: the device exists and every
    population fits in its memory."""
    device = resolve_device(config.train.device)
    for population_plan in plan(config)[1]:
        check_memory(population_plan.config, len(population_plan.members), device)
