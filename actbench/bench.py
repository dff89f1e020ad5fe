"""The engine benchmark: the same members trained three ways in one process.

(a) per_run: the plain loop of actbench.reference, one SimpleNN and optimizer per member;
(b) population: the stacked population engine (neuron health off: the same work as (a));
(c) sklearn: MLPClassifier with the closest settings, for the activations it has.
Each way reports wall time, samples x members per second, peak memory and the mean test
accuracy per activation, so the speed visibly costs no accuracy.
"""

from __future__ import annotations

import statistics
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from actbench.config import Config, load_config
from actbench.data import Dataset, make_dataset
from actbench.engine import MemberSpec, Population, evaluate, train_population
from actbench.experiment import describe_device, resolve_device
from actbench.model import n_logits
from actbench.reference import train_single

REFERENCE_ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu")
WAYS = ("per_run", "population", "sklearn")
SKLEARN_NAMES = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}


@dataclass(frozen=True)
class BenchSettings:
    n_samples: int = 1000
    hidden: tuple[int, ...] = (50,)
    epochs: int = 200
    seeds: int = 5
    batch_size: int = 64
    activations: tuple[str, ...] = REFERENCE_ACTIVATIONS
    device: str = "cpu"
    ways: tuple[str, ...] = WAYS
    health: bool = False  # also time the population with per-epoch neuron health on
    repeat: int = 3  # timings of the short ways (population, sklearn): the median of this many

    def config(self) -> Config:
        """The bench as an actbench config (validated like any other)."""
        return load_config(
            None,
            [
                f"data.n_samples={self.n_samples}",
                f"model.hidden={list(self.hidden)}",
                f"train.epochs={self.epochs}",
                f"train.seeds={self.seeds}",
                f"train.batch_size={self.batch_size}",
                f"train.device={self.device}",
                f"activations={list(self.activations)}",
            ],
        )


@dataclass
class WayResult:
    seconds: float
    models: int
    peak_memory_mb: float
    accuracy: dict[str, float]
    samples_members_per_second: float


@dataclass
class BenchResult:
    device: str
    members: int
    settings: dict[str, Any]
    ways: dict[str, WayResult] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        per_run = self.ways.get("per_run")
        population = self.ways.get("population")
        sklearn = self.ways.get("sklearn")
        sklearn_total = (
            sklearn.seconds / sklearn.models * self.members if sklearn and sklearn.models else None
        )

        def ratio(slow: float | None) -> float | None:
            if slow is None or population is None or population.seconds <= 0:
                return None
            return round(slow / population.seconds, 2)

        return {
            "device": self.device,
            "members": self.members,
            "settings": self.settings,
            "per_run_seconds": _round(per_run.seconds if per_run else None),
            "population_seconds": _round(population.seconds if population else None),
            "population_with_health_seconds": _round(
                self.ways["population_health"].seconds if "population_health" in self.ways else None
            ),
            "sklearn_seconds": _round(sklearn.seconds if sklearn else None),
            "sklearn_models": sklearn.models if sklearn else None,
            "sklearn_seconds_for_all_members": _round(sklearn_total),
            "speedup_vs_per_run": ratio(per_run.seconds if per_run else None),
            "speedup_vs_sklearn": ratio(sklearn_total),
            "samples_members_per_second": {
                way: round(result.samples_members_per_second) for way, result in self.ways.items()
            },
            "peak_memory_mb": {
                way: round(result.peak_memory_mb, 1) for way, result in self.ways.items()
            },
            "accuracy": {way: result.accuracy for way, result in self.ways.items()},
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@contextmanager
def peak_memory(device: torch.device) -> Iterator[Callable[[], float]]:
    """Peak memory (MB) while the block runs: CUDA allocations, or the process RSS on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        yield lambda: (torch.cuda.max_memory_allocated(device) - base) / 2**20
        return
    import psutil

    process = psutil.Process()
    start = process.memory_info().rss
    peak = [start]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: (peak[0] - start) / 2**20
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], process.memory_info().rss)


def _accuracy(members: Sequence[MemberSpec], values: Sequence[float]) -> dict[str, float]:
    by_activation: dict[str, list[float]] = {}
    for member, value in zip(members, values, strict=True):
        by_activation.setdefault(member.activation, []).append(value)
    return {name: round(sum(v) / len(v), 4) for name, v in by_activation.items()}


def _timed(
    device: torch.device, work: Callable[[], list[float]]
) -> tuple[float, float, list[float]]:
    with peak_memory(device) as peak:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        accuracies = work()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
    return seconds, peak(), accuracies


def _per_run(members: Sequence[MemberSpec], data: Dataset, config: Config) -> list[float]:
    accuracies = []
    for member in members:
        model = train_single(
            data,
            config.model.hidden,
            config.model.head,
            config.train,
            member.activation,
            member.params,
            member.seed,
        )
        with torch.no_grad():
            predicted = model(data.x_test).argmax(1)
        accuracies.append(float((predicted == data.y_test).double().mean()))
    return accuracies


def _population(
    members: Sequence[MemberSpec], data: Dataset, config: Config, health: bool
) -> list[float]:
    population = Population(
        members, data.n_features, config.model.hidden, n_logits(config.model.head, data.n_classes)
    ).to(data.x_train.device)
    train_population(population, data, config.train, config.model.head, track_health=health)
    return evaluate(population, data.x_test, data.y_test, config.model.head).accuracy.tolist()


def _sklearn(members: Sequence[MemberSpec], data: Dataset, config: Config) -> list[float]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, y_train = data.x_train.cpu().numpy(), data.y_train.cpu().numpy()
    x_test, y_test = data.x_test.cpu().numpy(), data.y_test.cpu().numpy()
    accuracies = []
    for member in members:
        model = MLPClassifier(
            hidden_layer_sizes=config.model.hidden,
            activation=SKLEARN_NAMES[member.activation],
            solver="adam",
            learning_rate_init=config.train.lr,
            batch_size=config.train.batch_size,
            max_iter=config.train.epochs,
            alpha=config.train.weight_decay,
            n_iter_no_change=config.train.epochs + 1,  # no early stop: the full budget
            tol=0.0,
            random_state=member.seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, y_train)
        accuracies.append(float(model.score(x_test, y_test)))
    return accuracies


def run_bench(settings: BenchSettings, on_way: Callable[[str], None] | None = None) -> BenchResult:
    """Train the members every requested way; return timings, memory and accuracy."""
    config = settings.config()
    device = resolve_device(settings.device)
    data = make_dataset(config.data).to(device)
    members = [
        MemberSpec(entry.label, entry.name, entry.params, seed)
        for entry in config.activations
        for seed in config.train.seed_values
    ]
    result = BenchResult(
        device=describe_device(device),
        members=len(members),
        settings={**asdict(settings), "torch_threads": torch.get_num_threads()},
    )
    sample_steps = data.x_train.shape[0] * config.train.epochs
    plan: list[tuple[str, Sequence[MemberSpec], Callable[[], list[float]]]] = []
    if "population" in settings.ways:
        plan.append(("population", members, lambda: _population(members, data, config, False)))
        if settings.health:
            plan.append(
                ("population_health", members, lambda: _population(members, data, config, True))
            )
    if "per_run" in settings.ways:
        plan.append(("per_run", members, lambda: _per_run(members, data, config)))
    supported = [m for m in members if m.activation in SKLEARN_NAMES]
    if "sklearn" in settings.ways and supported:
        plan.append(("sklearn", supported, lambda: _sklearn(supported, data, config)))
    for way, way_members, work in plan:
        if on_way is not None:
            on_way(way)
        # Short ways are timed `repeat` times and the median kept: a few seconds of wall time
        # on a shared machine are at the mercy of its neighbours. The per-run loop is long
        # enough (tens of seconds) to average that out in one go.
        times = 1 if way == "per_run" else settings.repeat
        runs = [_timed(device, work) for _ in range(times)]
        seconds = statistics.median(run[0] for run in runs)
        memory = max(run[1] for run in runs)
        accuracies = runs[0][2]
        result.ways[way] = WayResult(
            seconds=seconds,
            models=len(way_members),
            peak_memory_mb=memory,
            accuracy=_accuracy(way_members, accuracies),
            samples_members_per_second=sample_steps * len(way_members) / seconds,
        )
    return result
