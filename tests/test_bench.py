"""The engine benchmark: its JSON contract, and that the speed costs no accuracy."""

from __future__ import annotations

import json

import pytest
from clirun import exit_code

from actbench.bench import BenchSettings, run_bench

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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ways", "turbo"], "unknown --ways value 'turbo'"),
        (["--hidden", "fifty"], "--hidden expects comma-separated integers"),
        (["--activations", "rleu"], "did you mean 'relu'"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert exit_code(["bench", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
