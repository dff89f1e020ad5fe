"""Config -> members -> population engine -> aggregated results -> run folder. No rendering."""

from __future__ import annotations

import io
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from actbench import __version__
from actbench.config import Config
from actbench.data import make_dataset
from actbench.engine import (
    EpochReport,
    MemberOutcome,
    MemberSpec,
    Population,
    PopulationOutcome,
    train_population,
)
from actbench.errors import DeviceError
from actbench.metrics import mean_std
from actbench.model import n_logits
from actbench.runs import (
    History,
    RunRecord,
    RunResult,
    SummaryRow,
    new_run_id,
    reserve_run_dir,
    save_run,
)


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


def members_of(config: Config) -> list[MemberSpec]:
    """Activation-major order, so members sharing an activation are contiguous (one group)."""
    return [
        MemberSpec(entry.label, entry.name, entry.params, seed)
        for entry in config.activations
        for seed in config.train.seed_values
    ]


@dataclass
class ProgressEvent:
    """Epochs done over the whole experiment, and a short status line."""

    done: int
    total: int
    description: str


@dataclass
class Experiment:
    """A finished (or interrupted) experiment, not yet saved."""

    config: Config
    config_name: str
    result: RunResult
    models: dict[str, bytes] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        return self.result.status == "interrupted"


def run_experiment(
    config: Config,
    config_name: str,
    *,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_models: bool = False,
) -> Experiment:
    """Train every member of `config` and aggregate. Raises DeviceError before any work."""
    started = time.perf_counter()
    device = resolve_device(config.train.device)
    notices: list[str] = []
    data = make_dataset(config.data)
    n_train = data.x_train.shape[0]
    if config.train.batch_size > n_train:
        notices.append(
            f"train.batch_size {config.train.batch_size} exceeds the {n_train} training samples; "
            f"training full-batch ({n_train})"
        )
    data = data.to(device)
    members = members_of(config)
    epochs = config.train.epochs

    def report(epoch: EpochReport) -> None:
        if on_progress is not None:
            best = float(epoch.test_accuracy.nan_to_num(0.0).max())
            on_progress(
                ProgressEvent(epoch.epoch, epochs, f"{len(members)} models, best acc {best:.3f}")
            )

    population = Population(
        members,
        data.n_features,
        config.model.hidden,
        n_logits(config.model.head, data.n_classes),
    ).to(device)
    outcome: PopulationOutcome = train_population(
        population,
        data,
        config.train,
        config.model.head,
        dormant_tau=config.metrics.dormant_tau,
        on_epoch=report,
        should_stop=should_stop,
        keep_state=keep_models,
    )
    notices += outcome.notices
    records = [
        record_of(member, result, config)
        for member, result in zip(members, outcome.members, strict=True)
    ]
    result = RunResult(
        actbench_version=__version__,
        run_id=new_run_id(config_name, config.to_dict()),
        device=describe_device(device),
        seconds=round(time.perf_counter() - started, 3),
        status="interrupted" if outcome.interrupted else "ok",
        config=config.to_dict(),
        runs=records,
        summary=summarize(records),
        notices=notices,
    )
    models = {}
    if keep_models:
        for member, member_outcome in zip(members, outcome.members, strict=True):
            assert member_outcome.state_dict is not None
            buffer = io.BytesIO()
            torch.save(member_outcome.state_dict, buffer)
            models[model_filename(member)] = buffer.getvalue()
    return Experiment(config, config_name, result, models)


def record_of(member: MemberSpec, outcome: MemberOutcome, config: Config) -> RunRecord:
    return RunRecord(
        label=member.label,
        activation=member.activation,
        params=dict(member.params),
        seed=member.seed,
        status=outcome.status,
        epochs=outcome.epochs,
        train_loss=outcome.train_loss,
        test_loss=outcome.test_loss,
        train_accuracy=outcome.train_accuracy,
        test_accuracy=outcome.test_accuracy,
        dead_neurons=sum(outcome.dead_per_layer),
        dead_per_layer=outcome.dead_per_layer,
        dead_neurons_init=sum(outcome.dead_per_layer_init),
        dead_per_layer_init=outcome.dead_per_layer_init,
        dormant_neurons=sum(outcome.dormant_per_layer),
        dormant_per_layer=outcome.dormant_per_layer,
        hidden_units=sum(config.model.hidden),
        history=History(
            train_loss=list(outcome.history_train_loss),
            test_accuracy=list(outcome.history_test_accuracy),
        ),
    )


def summarize(records: Sequence[RunRecord]) -> list[SummaryRow]:
    """One row per label, in first-seen order: mean and sample std over seeds."""
    by_label: dict[str, list[RunRecord]] = {}
    for record in records:
        by_label.setdefault(record.label, []).append(record)
    rows = []
    for label, group in by_label.items():

        def stat(key: str, group: list[RunRecord] = group) -> tuple[float | None, float | None]:
            mean, std = mean_std([getattr(r, key) for r in group])
            return _finite_or_none(mean), _finite_or_none(std)

        acc_mean, acc_std = stat("test_accuracy")
        loss_mean, loss_std = stat("test_loss")
        rows.append(
            SummaryRow(
                label=label,
                activation=group[0].activation,
                n_seeds=len(group),
                test_accuracy_mean=acc_mean,
                test_accuracy_std=acc_std,
                test_loss_mean=loss_mean,
                test_loss_std=loss_std,
                train_loss_mean=stat("train_loss")[0],
                dead_neurons_mean=stat("dead_neurons")[0],
                dead_neurons_init_mean=stat("dead_neurons_init")[0],
                dormant_neurons_mean=stat("dormant_neurons")[0],
                hidden_units=group[0].hidden_units,
                n_diverged=sum(r.status == "diverged" for r in group),
            )
        )
    return rows


def _finite_or_none(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def model_filename(member: MemberSpec) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in member.label)
    return f"{safe}-seed{member.seed}.pt"


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


def save_experiment(experiment: Experiment, root: Path) -> Path:
    """Reserve a fresh run folder under root and write the run into it."""
    run_dir = reserve_run_dir(root, experiment.result.run_id)
    result = experiment.result.model_copy(update={"run_id": run_dir.name})
    experiment.result = result
    return save_run(
        run_dir,
        result,
        experiment.config.to_yaml(),
        environment(result.device),
        experiment.models,
    )
