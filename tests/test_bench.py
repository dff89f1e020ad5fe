"""The engine benchmark: its JSON contract, and that the speed costs no accuracy."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import replace
from typing import Any

import pytest
import torch
from clirun import exit_code

from actbench.bench import BenchSettings, run_bench
from actbench.errors import ConfigError
from actbench.population import MemberSpec
from actbench.threads import using_threads

TINY = BenchSettings(
    n_samples=200, epochs=2, seeds=2, activations=("relu", "tanh", "elu"), repeat=1
)


@pytest.fixture(scope="module")
def result() -> dict[str, object]:
    return run_bench(TINY).to_dict()


def test_json_has_the_fields_the_issue_names(result: dict[str, object]) -> None:
    for key in (
        "device",
        "members",
        "per_run_seconds",
        "population_seconds",
        "sklearn_seconds",
        "speedup_vs_per_run",
        "speedup_vs_sklearn",
        "accuracy",
        "peak_memory_mb",
        "samples_members_per_second",
    ):
        assert key in result
    assert result["members"] == 6


def test_the_population_and_the_per_run_loop_reach_the_same_accuracy(
    result: dict[str, object],
) -> None:
    accuracy = result["accuracy"]
    assert isinstance(accuracy, dict)
    assert accuracy["population"] == accuracy["per_run"]


def test_sklearn_only_trains_the_activations_it_has(result: dict[str, object]) -> None:
    accuracy = result["accuracy"]
    assert isinstance(accuracy, dict)
    assert set(accuracy["sklearn"]) == {"relu", "tanh"}
    assert result["sklearn_models"] == 4


def test_speedups_are_ratios_of_the_measured_times(result: dict[str, object]) -> None:
    per_run, population = result["per_run_seconds"], result["population_seconds"]
    assert isinstance(per_run, float) and isinstance(population, float)
    # the JSON rounds seconds to milliseconds: a few percent for the tiny timings of a test
    assert result["speedup_vs_per_run"] == pytest.approx(per_run / population, rel=0.05)


def test_ways_can_be_chosen() -> None:
    only = run_bench(
        BenchSettings(
            n_samples=200, epochs=1, seeds=1, activations=("relu",), ways=("population",), repeat=1
        )
    ).to_dict()
    assert only["per_run_seconds"] is None
    assert only["speedup_vs_per_run"] is None
    assert set(only["accuracy"]) == {"population"}  # type: ignore[arg-type]


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = exit_code(
        [
            "bench",
            "--n-samples",
            "200",
            "--epochs",
            "1",
            "--seeds",
            "1",
            "--activations",
            "relu",
            "--ways",
            "population",
            "--repeat",
            "1",
            "--format",
            "json",
        ]
    )
    assert code == 0
    assert json.loads(capsys.readouterr().out)["members"] == 1


def test_cli_defaults_are_the_benchmark_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    import actbench.bench

    given: list[BenchSettings] = []

    def record(settings: BenchSettings, **_: Any) -> None:
        given.append(settings)
        raise ConfigError("recorded")

    monkeypatch.setattr(actbench.bench, "run_bench", record)
    assert exit_code(["bench"]) == 2
    assert given == [BenchSettings()]


def test_cli_help_shows_the_benchmark_defaults(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # narrower, a long default is folded mid-word
    assert exit_code(["bench", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    defaults = BenchSettings()
    shown = {
        "--device": defaults.device,
        "--n-samples": str(defaults.n_samples),
        "--hidden": ",".join(str(width) for width in defaults.hidden),
        "--epochs": str(defaults.epochs),
        "--seeds": str(defaults.seeds),
        "--batch-size": str(defaults.batch_size),
        "--activations": ",".join(defaults.activations),
        "--ways": ",".join(defaults.ways),
        "--threads": str(defaults.threads),
        "--repeat": str(defaults.repeat),
    }
    for flag, default in shown.items():
        at = text.index("[default: ", text.index(f" {flag} "))
        assert re.match(rf"\[default: {re.escape(default)}[];]", text[at:]), flag


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ways", "turbo"], "unknown --ways value 'turbo'"),
        (["--hidden", "fifty"], "--hidden expects comma-separated integers"),
        (["--activations", "rleu"], "did you mean 'relu'"),
        (["--threads", "0"], "train.threads: expected auto or a thread count from 1 to 4096"),
        (["--threads", "many"], "train.threads: expected auto or a thread count"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code(["bench", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


PEERS = BenchSettings(
    n_samples=200,
    epochs=2,
    seeds=2,
    activations=("relu", "tanh"),
    repeat=1,
    ways=("population", "vmap", "jax"),
)


@pytest.fixture(scope="module")
def peers() -> dict[str, Any]:
    return run_bench(PEERS).to_dict()


def test_json_has_the_peer_and_roofline_keys(peers: dict[str, Any]) -> None:
    for key in (
        "vmap_seconds",
        "jax_seconds",
        "jax_compile_seconds",
        "threads",
        "gflops",
        "gemm_roofline_gflops",
        "gemm_floor_seconds",
        "notes",
    ):
        assert key in peers
    assert isinstance(peers["threads"], int) and peers["threads"] >= 1
    assert peers["vmap_seconds"] > 0
    assert peers["gflops"]["population"] > 0
    assert peers["gemm_roofline_gflops"] > 0


def test_the_vmap_recipe_reaches_the_population_accuracy(peers: dict[str, Any]) -> None:
    assert peers["accuracy"]["vmap"] == peers["accuracy"]["population"]


def test_the_jax_way_times_compilation_apart() -> None:
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    result = run_bench(PEERS).to_dict()
    assert result["jax_seconds"] > 0 and result["jax_compile_seconds"] > 0
    assert set(result["accuracy"]["jax"]) == {"relu", "tanh"}


def test_without_jax_the_jax_way_is_skipped_with_one_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a)
    )
    result = run_bench(replace(PEERS, ways=("jax",))).to_dict()
    assert result["jax_seconds"] is None and result["jax_compile_seconds"] is None
    assert len(result["notes"]) == 1 and "jax skipped" in result["notes"][0]


def test_the_title_names_the_threads_the_population_trains_with() -> None:
    """`bench --threads 1` on a machine whose torch default is 2 says 1 thread."""
    with using_threads(2):
        result = run_bench(replace(PEERS, ways=("population",), threads=1)).to_dict()
    assert result["device"] == "cpu (1 thread)"


def test_the_population_runs_on_the_configured_threads() -> None:
    result = run_bench(replace(PEERS, ways=("population",), threads=1)).to_dict()
    assert result["threads"] == 1


def test_on_cuda_the_jax_way_needs_a_jax_with_a_gpu() -> None:
    """The JAX peer runs where the population runs: on CUDA it needs JAX's GPU backend (this
    machine's JAX has none), and says so rather than timing JAX on the CPU."""
    from types import SimpleNamespace

    from actbench.bench import BenchResult, _load_jax_peer, _run_jax

    pytest.importorskip("jax")
    peer = _load_jax_peer()
    if peer.device_of("gpu") is not None:
        pytest.skip("this JAX has a GPU: tests/test_cuda.py times it")
    result = BenchResult(device="cuda", members=2, settings={})
    on_cuda: Any = SimpleNamespace(x_train=SimpleNamespace(device=torch.device("cuda")))
    members = [MemberSpec("relu", "relu", {}, seed) for seed in (0, 1)]
    _run_jax(result, members, on_cuda, PEERS.config(), PEERS, 1, None)
    assert result.notes == ["jax skipped: this JAX has no GPU backend (pip install 'jax[cuda12]')"]
    assert "jax" not in result.ways


# --- benchmarks/gpu_check.py: the GPU check's CPU parts -----------------------------------------


def _gpu_check() -> Any:
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_gpu_check_reads_each_part_and_judges_the_targets() -> None:
    check = _gpu_check()
    bench = json.dumps(
        {
            "population_seconds": 0.18,
            "speedup_vs_per_run": 600.0,
            "jax_seconds": 0.42,
            "jax_compile_seconds": 2.3,
            "members": 35,
        }
    )
    outputs = {
        "kernels": "kernels: bmm, ...\nkernels per step: 24\n",
        "cuda-tests": "..........\n12 passed, 1 skipped in 40.0s\n",
        "all-yaml": json.dumps({"seconds": 0.7, "device": "cuda:0 (NVIDIA H200)"}),
        "million": json.dumps({"population_seconds": 1.2, "members": 35}),
        "ten-thousand": json.dumps({"population_seconds": 6.0, "members": 10003}),
        "bench": "timing: population\n" + bench,
        "suite": "1 failed, 2099 passed, 19 skipped in 200s",
    }
    parts = {}
    for part in check.plan("cuda", False, 8):
        part.code, part.output = (1 if part.name == "suite" else 0), outputs[part.name]
        part.figures = check.read_figures(part)
        parts[part.name] = part
    rows = {target.strip(): (measured, met) for target, _, measured, met in check.targets(parts)}
    assert rows["reference bench: population"] == ("0.180 s", True)
    assert rows["vs the per-run loop"] == ("600x", True)
    assert rows["vs JAX's run, same device"][1] is True  # 0.42 / 0.18 = 2.33x
    assert rows["configs/all.yaml: run seconds"] == ("0.700 s", False)
    assert rows["1M samples x 2 epochs"] == ("1.200 s", True)
    assert rows["10,003 members x 20 epochs"] == ("6.000 s", False)
    assert rows["kernels per reference step"] == ("24", True)
    assert rows["CUDA tests"] == ("0 (12 passed, 1 skipped)", True)
    assert rows["pytest, whole suite"] == ("1 (2099 passed, 19 skipped)", False)
    assert "MISSED" in check.table(list(check.targets(parts)))


def test_gpu_check_runs_its_parts_on_the_cpu(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The script a GPU session runs in one call, here on the CPU with tiny parts."""
    check = _gpu_check()
    code = check.main(
        ["--device", "cpu", "--quick", "--parts", "kernels,all-yaml", "--out", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    figures = {part["name"]: part["figures"] for part in report["parts"]}
    assert figures["kernels"] == {"kernels": 24}
    assert figures["all-yaml"]["seconds"] > 0 and figures["all-yaml"]["device"].startswith("cpu")
    assert "kernels per reference step" in out and (tmp_path / "gpu_check.log").exists()
