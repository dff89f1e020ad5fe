"""CUDA paths: the members of the CPU, with and without CUDA graphs (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from actbench.config import DataConfig, TrainConfig
from actbench.data import make_dataset
from actbench.engine import TrainSettings, train_population
from actbench.population import MemberSpec, Population

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

ACTIVATIONS = ("relu", "tanh", "leaky_relu", "prelu", "step", "softmax", "gelu")


def _train(device: str, graphs: bool) -> tuple[Population, list[str]]:
    data = make_dataset(DataConfig(n_samples=400)).to(device)
    members = [
        MemberSpec(a, a, {}, seed, lr)
        for a in ACTIVATIONS
        for seed in (0, 1)
        for lr in (0.001, 0.01)
    ]
    population = Population(members, data.n_features, (16, 8), 2).to(device)
    cfg = TrainConfig(epochs=3, batch_size=64, cuda_graphs=graphs)
    outcome = train_population(population, data, TrainSettings(cfg))
    return population, outcome.notices


def _max_difference(a: Population, b: Population) -> float:
    return max(
        float((pa.detach().cpu() - pb.detach().cpu()).abs().max())
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True)
    )


def test_cuda_graph_replay_matches_eager_cuda() -> None:
    graphed, notices = _train("cuda", graphs=True)
    eager, _ = _train("cuda", graphs=False)
    assert notices == []
    assert _max_difference(graphed, eager) < 1e-4


def test_cuda_matches_cpu_to_tolerance() -> None:
    on_gpu, _ = _train("cuda", graphs=True)
    on_cpu, _ = _train("cpu", graphs=False)
    assert _max_difference(on_gpu, on_cpu) < 1e-4


def test_compare_runs_on_cuda(tmp_path: object) -> None:
    from actbench.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "compare",
                "configs/smoke.yaml",
                "--device",
                "cuda",
                "--no-save",
                "--quiet",
                "--format",
                "json",
            ]
        )
    assert exit_info.value.code == 0
