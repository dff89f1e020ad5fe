"""The engine benchmark: the same members trained several ways in one process.

(a) per_run: the plain loop of actbench.reference, one SimpleNN and optimizer per member
    (on one thread: its tiny GEMMs are fastest there);
(b) population: the stacked population engine (neuron health off: the same work as (a));
(c) sklearn: MLPClassifier with the closest settings, for the activations it has;
(d) vmap: PyTorch's ensembling recipe (torch.func.stack_module_state + functional_call +
    vmap, one vmap per activation group, torch.optim.Adam), here only, as a peer;
(e) jax: JAX + optax, one jitted epoch (benchmarks/jax_peer.py), on the population's device
    (the GPU when it trains on CUDA), skipped with a note when JAX is not importable or has no
    such device; its compile time is reported apart.
Each way reports wall time, samples x members per second, peak memory and the mean test
accuracy per activation, so the speed visibly costs no accuracy. The population's achieved
GFLOP/s stands next to a roofline measured here: the same GEMMs (shapes and count) alone.
What is timed, and its defaults: `BenchSettings` (actbench.bench_settings).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from actbench.bench_settings import BenchSettings
from actbench.config import Config
from actbench.data import Dataset, make_dataset
from actbench.engine import (
    TrainSettings,
    accuracy,
    batch_slices,
    evaluate,
    member_generator,
    train_population,
)
from actbench.experiment import config_threads
from actbench.model import init_model, member_loss, n_logits, predictions
from actbench.population import MemberSpec, Population
from actbench.reference import make_optimizer, train_single
from actbench.resources import check_memory, describe_device, resolve_device
from actbench.threads import step_work, using_threads

SKLEARN_NAMES = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}


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
    threads: int = 1  # the population's CPU threads
    flops: float = 0.0  # floating-point operations of the population's training GEMMs
    gemm_floor_seconds: float | None = None  # those GEMMs alone, measured
    jax_compile_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

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
            "vmap_seconds": _round(self.ways["vmap"].seconds if "vmap" in self.ways else None),
            "jax_seconds": _round(self.ways["jax"].seconds if "jax" in self.ways else None),
            "jax_compile_seconds": _round(self.jax_compile_seconds),
            "threads": self.threads,
            "gflops": {
                way: round(self.flops / result.seconds / 1e9, 2)
                for way, result in self.ways.items()
                if result.models == self.members and result.seconds > 0
            },
            "gemm_roofline_gflops": (
                round(self.flops / self.gemm_floor_seconds / 1e9, 2)
                if self.gemm_floor_seconds
                else None
            ),
            "gemm_floor_seconds": _round(self.gemm_floor_seconds),
            "notes": self.notes,
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
            correct = (model(data.x_test).argmax(1) == data.y_test).sum().view(1)
        accuracies.append(float(accuracy(correct, data.y_test.shape[0])[0]))
    return accuracies


def _population(
    members: Sequence[MemberSpec], data: Dataset, config: Config, health: bool
) -> list[float]:
    population = Population(
        members, data.n_features, config.model.hidden, data.n_classes, head=config.model.head
    ).to(data.x_train.device)
    settings = TrainSettings.of(config)
    train_population(population, data, replace(settings, track_health=health))
    return evaluate(population, data.x_test, data.y_test).accuracy.tolist()


def _vmap(members: Sequence[MemberSpec], data: Dataset, config: Config) -> list[float]:
    """PyTorch's model-ensembling recipe: stacked state, functional_call, vmap per group."""
    from torch.func import functional_call, stack_module_state, vmap

    hidden, head = config.model.hidden, config.model.head
    n_out = n_logits(head, data.n_classes)
    device = data.x_train.device
    groups: dict[tuple[str, str], list[int]] = {}
    for index, member in enumerate(members):
        groups.setdefault((member.activation, repr(sorted(member.params.items()))), []).append(
            index
        )
    models = [
        init_model(m.seed, data.n_features, hidden, n_out, m.activation, m.params).to(device)
        for m in members
    ]
    stacks: list[tuple[torch.Tensor, dict[str, Any], dict[str, Any], nn.Module]] = []
    for group_indices in groups.values():
        params, buffers = stack_module_state([models[i] for i in group_indices])
        meta_model: nn.Module = copy.deepcopy(models[group_indices[0]]).to("meta")
        stacks.append((torch.tensor(group_indices, device=device), params, buffers, meta_model))
    optimizer = make_optimizer(
        (p for _, params, _, _ in stacks for p in params.values()), config.train
    )
    generators = [member_generator(m.seed) for m in members]
    n = data.x_train.shape[0]
    batches = batch_slices(n, min(config.train.batch_size, n))
    for _ in range(config.train.epochs):
        order = torch.stack([torch.randperm(n, generator=g) for g in generators]).to(device)
        for batch in batches:
            total = torch.zeros((), device=device)
            for indices, params, buffers, template in stacks:
                rows = order[indices, batch]

                def loss(p: Any, b: Any, r: torch.Tensor, template: Any = template) -> Any:
                    logits = functional_call(template, (p, b), (data.x_train[r],))
                    return member_loss(logits, data.y_train[r], head).mean()

                total = total + vmap(loss)(params, buffers, rows).sum()
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
    accuracies = [0.0] * len(members)
    with torch.no_grad():
        for indices, params, buffers, template in stacks:
            logits = vmap(
                lambda p, b, template=template: functional_call(template, (p, b), (data.x_test,))
            )(params, buffers)
            correct = (predictions(logits, head) == data.y_test).sum(1)
            fractions = accuracy(correct, data.y_test.shape[0]).tolist()
            for position, value in zip(indices.tolist(), fractions, strict=True):
                accuracies[position] = value
    return accuracies


def _load_jax_peer() -> Any:
    """benchmarks/jax_peer.py as a module, or a reason why it cannot run here."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "jax_peer.py"
    if not path.exists():
        return (
            "jax skipped: benchmarks/jax_peer.py is not next to this actbench (a source checkout)"
        )
    for module in ("jax", "optax"):
        if importlib.util.find_spec(module) is None:
            return f"jax skipped: {module} is not installed (pip install jax optax)"
    # JAX takes 75% of a GPU's memory when it starts, by default; the population shares it
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    spec = importlib.util.spec_from_file_location("actbench_jax_peer", path)
    assert spec is not None and spec.loader is not None
    peer = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = peer
    spec.loader.exec_module(peer)
    return peer


def training_flops(members: int, data: Dataset, config: Config) -> float:
    """Floating-point operations of the training GEMMs: forward, grad_x and grad_W."""
    n_out = n_logits(config.model.head, data.n_classes)
    widths = [data.n_features, *config.model.hidden, n_out]
    n = data.x_train.shape[0]
    return 2.0 * step_work(members, n, widths) * config.train.epochs


def gemm_floor(members: int, data: Dataset, config: Config, repeat: int = 20) -> float:
    """Seconds the training GEMMs take alone: one step's bmm calls (same shapes), timed and
    scaled to every step of the run."""
    device = data.x_train.device
    n_out = n_logits(config.model.head, data.n_classes)
    widths = [data.n_features, *config.model.hidden, n_out]
    n = data.x_train.shape[0]
    batches = batch_slices(n, min(config.train.batch_size, n))
    sizes = sorted({b.stop - b.start for b in batches})
    per_size = {}
    for size in sizes:
        tensors = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            x = torch.randn(members, size, a, device=device)
            w = torch.randn(members, b, a, device=device)
            bias = torch.randn(members, 1, b, device=device)
            g = torch.randn(members, size, b, device=device)
            tensors.append((x, w, bias, g))

        def one_step(tensors: Sequence[tuple[torch.Tensor, ...]] = tensors) -> None:
            for x, w, bias, g in tensors:
                torch.baddbmm(bias, x, w.transpose(1, 2))
                torch.bmm(g, w)
                torch.bmm(g.transpose(1, 2), x)

        one_step()
        timings = []
        for _ in range(3):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
            for _ in range(repeat):
                one_step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            timings.append((time.perf_counter() - started) / repeat)
        per_size[size] = min(timings)
    per_epoch = sum(per_size[b.stop - b.start] for b in batches)
    return per_epoch * config.train.epochs


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
    members = [
        MemberSpec(entry.label, entry.name, entry.params, seed)
        for entry in config.activations
        for seed in config.train.seed_values
    ]
    check_memory(config, len(members), device)  # as for a run: before any data or weights
    data = make_dataset(config.data).to(device)
    threads = config_threads(config, len(members))
    result = BenchResult(
        device=describe_device(device, threads),  # the population's threads, as it trains
        members=len(members),
        settings={**asdict(settings), "torch_threads": torch.get_num_threads()},
        threads=threads,
        flops=training_flops(len(members), data, config),
    )
    sample_steps = data.x_train.shape[0] * config.train.epochs
    # (way, members, threads, work); the per-run loop's tiny GEMMs are fastest on one thread
    plan: list[tuple[str, Sequence[MemberSpec], int, Callable[[], list[float]]]] = []
    if "population" in settings.ways:
        plan.append(
            ("population", members, threads, lambda: _population(members, data, config, False))
        )
        if settings.health:
            plan.append(
                (
                    "population_health",
                    members,
                    threads,
                    lambda: _population(members, data, config, True),
                )
            )
    if "vmap" in settings.ways:
        plan.append(("vmap", members, threads, lambda: _vmap(members, data, config)))
    if "per_run" in settings.ways:
        plan.append(("per_run", members, 1, lambda: _per_run(members, data, config)))
    supported = [m for m in members if m.activation in SKLEARN_NAMES]
    if "sklearn" in settings.ways and supported:
        plan.append(("sklearn", supported, threads, lambda: _sklearn(supported, data, config)))
    for way, way_members, way_threads, work in plan:
        if on_way is not None:
            on_way(way)
        # Short ways are timed `repeat` times and the median kept: a few seconds of wall time
        # on a shared machine are at the mercy of its neighbours. The per-run loop is long
        # enough (tens of seconds) to average that out in one go.
        times = 1 if way == "per_run" else settings.repeat
        with using_threads(way_threads if device.type == "cpu" else torch.get_num_threads()):
            runs = [_timed(device, work) for _ in range(times)]
        _record(result, way, way_members, runs, sample_steps)
    if "jax" in settings.ways:
        _run_jax(result, members, data, config, settings, sample_steps, on_way)
    if "population" in settings.ways:
        with using_threads(threads if device.type == "cpu" else torch.get_num_threads()):
            result.gemm_floor_seconds = gemm_floor(len(members), data, config)
    return result


def _record(
    result: BenchResult,
    way: str,
    members: Sequence[MemberSpec],
    runs: Sequence[tuple[float, float, list[float]]],
    sample_steps: int,
) -> None:
    seconds = statistics.median(run[0] for run in runs)
    result.ways[way] = WayResult(
        seconds=seconds,
        models=len(members),
        peak_memory_mb=max(run[1] for run in runs),
        accuracy=_accuracy(members, runs[0][2]),
        samples_members_per_second=sample_steps * len(members) / seconds,
    )


def _run_jax(
    result: BenchResult,
    members: Sequence[MemberSpec],
    data: Dataset,
    config: Config,
    settings: BenchSettings,
    sample_steps: int,
    on_way: Callable[[str], None] | None,
) -> None:
    """The JAX peer, when it can run here (a note in the result when it cannot)."""
    peer = _load_jax_peer()
    if isinstance(peer, str):
        result.notes.append(peer)
        return
    if config.model.head != "softmax":
        result.notes.append("jax skipped: the JAX peer implements the softmax head only")
        return
    on_gpu = data.x_train.device.type == "cuda"
    device = peer.device_of("gpu" if on_gpu else "cpu")
    if device is None:
        result.notes.append(
            "jax skipped: this JAX has no GPU backend (pip install 'jax[cuda12]')"
            if on_gpu
            else "jax skipped: this JAX has no CPU device"
        )
        return
    chosen = [m for m in members if peer.supported(m)]
    if len(chosen) < len(members):
        missing = sorted({m.activation for m in members} - {m.activation for m in chosen})
        result.notes.append(f"jax: no JAX counterpart for {', '.join(missing)}; left out")
    if not chosen:
        return
    if on_way is not None:
        on_way("jax")
    runs, compiles = [], []
    for _ in range(settings.repeat):
        if on_gpu:  # torch's allocator does not see JAX's memory: ask JAX
            seconds, compile_seconds, accuracies = peer.run(chosen, data, config, device)
            runs.append((seconds, peer.peak_memory_mb(device) or 0.0, accuracies))
        else:
            with peak_memory(data.x_train.device) as peak:
                seconds, compile_seconds, accuracies = peer.run(chosen, data, config, device)
            runs.append((seconds, peak(), accuracies))
        compiles.append(compile_seconds)
    _record(result, "jax", chosen, runs, sample_steps)
    result.jax_compile_seconds = statistics.median(compiles)
