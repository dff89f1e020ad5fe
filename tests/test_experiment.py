"""Planning populations from a config, aggregation over seeds, paired statistics."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from actbench.config import load_config
from actbench.experiment import (
    paired_test,
    plan,
    run_experiment,
    summarize,
    t_interval,
)
from actbench.runs import History, RunRecord

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


def test_sweep_members_equal_the_same_config_run_without_a_sweep() -> None:
    swept = run_experiment(
        load_config(None, [*TINY, "activations=[relu]", "sweep={train.lr: [0.001, 0.05]}"]), "t"
    ).result
    alone = run_experiment(load_config(None, [*TINY, "activations=[relu]", "train.lr=0.05"]), "t")
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

    with pytest.raises(ConfigError, match="baseline 'gelu'"):
        run_experiment(load_config(None, [*TINY, "activations=[relu]"]), "t", baseline="gelu")


# --- statistics ---------------------------------------------------------------------------------


def test_t_interval_matches_scipy() -> None:
    values = [0.81, 0.84, 0.86, 0.83, 0.85]
    low, high = stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 5, scale=stats.sem(values)
    )
    assert t_interval(values) == pytest.approx([low, high])


def test_t_interval_needs_two_values() -> None:
    assert t_interval([0.8]) is None


def test_paired_test_matches_scipy_ttest_rel() -> None:
    a, b = [0.85, 0.86, 0.84, 0.88, 0.83], [0.84, 0.84, 0.84, 0.85, 0.83]
    p_value, diff = paired_test(a, b)
    assert p_value == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert diff == pytest.approx(0.012)


def test_paired_test_with_identical_differences() -> None:
    assert paired_test([0.8, 0.9], [0.8, 0.9]) == (1.0, 0.0)
    p_value, _ = paired_test([0.9, 0.9], [0.8, 0.8])
    assert p_value == 0.0


def _record(label: str, seed: int, accuracy: float) -> RunRecord:
    return RunRecord(
        label=label,
        activation=label,
        seed=seed,
        epochs=1,
        train_loss=0.3,
        test_loss=0.4,
        train_accuracy=0.9,
        test_accuracy=accuracy,
        dead_neurons=0,
        dead_per_layer=[0],
        dead_neurons_init=0,
        dormant_neurons=0,
        hidden_units=50,
        history=History(),
    )


def test_summary_pairs_seeds_against_the_baseline() -> None:
    relu = [0.80, 0.82, 0.81]
    tanh = [0.85, 0.86, 0.84]
    records = [_record("relu", s, a) for s, a in enumerate(relu)]
    records += [_record("tanh", s, a) for s, a in reversed(list(enumerate(tanh)))]
    rows = {row.label: row for row in summarize(records, baseline="relu")}
    assert rows["relu"].diff_mean is None
    assert rows["tanh"].baseline == "relu"
    assert rows["tanh"].diff_mean == pytest.approx(0.04)
    assert rows["tanh"].p_value == pytest.approx(stats.ttest_rel(tanh, relu).pvalue)
    assert rows["tanh"].significant is True


def test_summary_of_one_seed_has_no_std_or_interval() -> None:
    (row,) = summarize([_record("relu", 0, 0.8)])
    assert row.test_accuracy_std is None
    assert row.test_accuracy_ci95 is None
    assert not math.isnan(row.test_accuracy_mean or math.nan)
