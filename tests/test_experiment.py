"""Planning populations from a config, aggregation over seeds, paired statistics."""

from __future__ import annotations

import pytest

from actbench.config import load_config
from actbench.experiment import plan, run_experiment

TINY = ["data.n_samples=200", "train.epochs=2", "train.seeds=2"]


def test_without_a_sweep_everything_is_one_population() -> None:
    points, populations = plan(load_config(None, TINY))
    assert len(points) == 1
    assert len(populations) == 1
    assert len(populations[0].members) == 7 * 2


def test_a_learning_rate_sweep_is_one_population_with_per_member_rates() -> None:
    config = load_config(
        None, [*TINY, "activations=[relu, tanh]", "sweep={train.lr: [0.001, 0.01, 0.3]}"]
    )
    points, populations = plan(config)
    assert len(points) == 3
    assert len(populations) == 1
    rates = sorted({m.spec.lr for m in populations[0].members})
    assert rates == [0.001, 0.01, 0.3]


def test_members_of_one_activation_stay_contiguous_across_grid_points() -> None:
    config = load_config(
        None, [*TINY, "activations=[relu, tanh]", "sweep={train.lr: [0.001, 0.3]}"]
    )
    _, (population,) = plan(config)
    names = [m.spec.activation for m in population.members]
    assert names == ["relu"] * 4 + ["tanh"] * 4


def test_different_hidden_shapes_are_separate_populations() -> None:
    config = load_config(
        None, [*TINY, "sweep={model.hidden: [[50], [3, 3]], train.lr: [0.1, 0.2]}"]
    )
    points, populations = plan(config)
    assert len(points) == 4
    assert len(populations) == 2
    assert {p.config.model.hidden for p in populations} == {(50,), (3, 3)}


def test_records_come_in_report_order() -> None:
    config = load_config(None, [*TINY, "activations=[relu, tanh]", "sweep={train.lr: [0.1, 0.2]}"])
    runs = run_experiment(config, "t").result.runs
    order = [(r.grid["train.lr"], r.label, r.seed) for r in runs]
    assert order == [
        (0.1, "relu", 0),
        (0.1, "relu", 1),
        (0.1, "tanh", 0),
        (0.1, "tanh", 1),
        (0.2, "relu", 0),
        (0.2, "relu", 1),
        (0.2, "tanh", 0),
        (0.2, "tanh", 1),
    ]


@pytest.mark.exact
def test_sweep_members_equal_the_same_config_run_without_a_sweep() -> None:
    cpu = [*TINY, "train.device=cpu", "activations=[relu]"]
    swept = run_experiment(load_config(None, [*cpu, "sweep={train.lr: [0.001, 0.05]}"]), "t").result
    alone = run_experiment(load_config(None, [*cpu, "train.lr=0.05"]), "t")
    swept_runs = [r for r in swept.runs if r.grid == {"train.lr": 0.05}]
    assert [r.test_loss for r in swept_runs] == [r.test_loss for r in alone.result.runs]
    assert [r.history.train_loss for r in swept_runs] == [
        r.history.train_loss for r in alone.result.runs
    ]


def test_summary_rows_carry_the_grid_point() -> None:
    result = run_experiment(
        load_config(None, [*TINY, "activations=[relu, tanh]", "sweep={train.lr: [0.001, 0.05]}"]),
        "t",
    ).result
    assert [(row.grid["train.lr"], row.label) for row in result.summary] == [
        (0.001, "relu"),
        (0.001, "tanh"),
        (0.05, "relu"),
        (0.05, "tanh"),
    ]


def test_history_holds_neuron_health_per_epoch_and_layer() -> None:
    result = run_experiment(
        load_config(None, [*TINY, "activations=[relu]", "model.hidden=[8, 4]"]), "t"
    ).result
    history = result.runs[0].history
    assert len(history.dead_per_layer) == 2
    assert all(len(epoch) == 2 for epoch in history.dead_per_layer)
    assert all(len(epoch) == 2 for epoch in history.grad_norm_per_layer)
    assert all(
        0.0 <= v <= 1.0 for epoch in history.saturated_per_layer for v in epoch if v is not None
    )


def test_health_can_be_switched_off() -> None:
    result = run_experiment(
        load_config(None, [*TINY, "activations=[relu]", "metrics.health=false"]), "t"
    ).result
    assert result.runs[0].history.dead_per_layer == []
    assert len(result.runs[0].history.train_loss) == 2


def test_unknown_baseline_is_a_config_error() -> None:
    from actbench.errors import ConfigError
    from actbench.pipeline import RunRequest, run

    with pytest.raises(ConfigError, match="baseline 'gelu'"):
        run(RunRequest(load_config(None, [*TINY, "activations=[relu]"]), "t", baseline="gelu"))
