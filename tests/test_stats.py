"""Statistics over seeds: one NaN policy, intervals and paired tests against scipy, the summary
rows, and the per-member aggregates the table and the figures share."""

from __future__ import annotations

import math

import pytest
from cases import member_record as record
from scipy import stats as scipy_stats

from actbench.runs import History
from actbench.stats import (
    epoch_band,
    finite,
    geometric_mean,
    mean_std,
    paired_test,
    saturated_fraction,
    summarize,
    t_interval,
    total_norm,
)


def test_finite_drops_none_nan_and_inf() -> None:
    assert finite([0.5, None, math.nan, math.inf, -1.0]) == [0.5, -1.0]


def test_mean_std_uses_the_sample_std_of_finite_values() -> None:
    mean, std = mean_std([0.8, None, 0.85, math.nan, 0.9])
    assert mean == pytest.approx(0.85)
    assert std == pytest.approx(0.05)


def test_mean_std_of_one_value_has_no_std() -> None:
    mean, std = mean_std([0.8])
    assert mean == 0.8
    assert math.isnan(std)


def test_mean_std_of_nothing_is_nan() -> None:
    assert all(math.isnan(v) for v in mean_std([None, math.nan]))


def test_t_interval_matches_scipy() -> None:
    values = [0.81, 0.84, 0.86, 0.83, 0.85]
    low, high = scipy_stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 5, scale=scipy_stats.sem(values)
    )
    assert t_interval(values) == pytest.approx([low, high])


def test_t_interval_ignores_missing_values_and_needs_two() -> None:
    assert t_interval([0.8, None]) is None
    assert t_interval([0.8, math.nan, 0.9]) == pytest.approx(t_interval([0.8, 0.9]))


def test_paired_test_matches_scipy_ttest_rel() -> None:
    a, b = [0.85, 0.86, 0.84, 0.88, 0.83], [0.84, 0.84, 0.84, 0.85, 0.83]
    test = paired_test(a, b)
    assert test.p_value == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue)
    assert test.mean == pytest.approx(0.012)
    assert test.n == 5


def test_paired_test_uses_only_pairs_where_both_are_finite() -> None:
    a = [0.85, 0.86, None, 0.88, 0.83]
    b = [0.84, 0.84, 0.84, math.nan, 0.83]
    test = paired_test(a, b)
    kept_a, kept_b = [0.85, 0.86, 0.83], [0.84, 0.84, 0.83]
    assert test.n == 3
    assert test.mean == pytest.approx(sum(kept_a) / 3 - sum(kept_b) / 3)
    assert test.p_value == pytest.approx(scipy_stats.ttest_rel(kept_a, kept_b).pvalue)


def test_identical_differences_claim_no_p_value_and_say_so() -> None:
    same = paired_test([0.8, 0.9, 0.7], [0.8, 0.9, 0.7])
    assert (same.mean, same.constant, same.tested) == (0.0, True, False)
    apart = paired_test([0.9, 0.9], [0.8, 0.8])  # the "p < 0.001" over 2 seeds
    assert apart.constant and not apart.tested and math.isnan(apart.p_value)


def test_two_pairs_are_too_few_for_a_p_value() -> None:
    test = paired_test([0.9, 0.85], [0.8, 0.81])
    assert test.n == 2 and not test.tested and test.interval is not None


def test_differences_equal_up_to_rounding_are_constant_without_a_library_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's ttest_1samp warns: precision loss
        test = paired_test([0.8125, 0.8, 0.7875], [0.8, 0.7875, 0.775])
        spread = paired_test([0.8125, 0.8, 0.79], [0.8, 0.7875, 0.775])
    assert test.constant and not test.tested
    assert spread.tested and not spread.constant


def test_seeds_needed_is_where_the_interval_leaves_zero() -> None:
    from actbench.stats import MIN_PAIRED_SEEDS, seeds_needed

    test = paired_test([0.9, 0.8], [0.8, 0.8])  # mean 0.05, std 0.0707
    n = seeds_needed(test)
    assert n is not None and n > MIN_PAIRED_SEEDS
    assert scipy_stats.t.ppf(0.975, n - 1) * test.std / math.sqrt(n) < 0.05
    assert scipy_stats.t.ppf(0.975, n - 2) * test.std / math.sqrt(n - 1) >= 0.05
    assert seeds_needed(paired_test([0.9], [0.8])) is None


def test_paired_test_of_one_pair_has_no_p_value() -> None:
    assert math.isnan(paired_test([0.9], [0.8]).p_value)


def test_saturated_fraction_weights_layers_by_width() -> None:
    assert saturated_fraction([0.5, 0.0], [30, 10]) == pytest.approx(0.375)
    assert saturated_fraction([0.5, 0.0], None) == pytest.approx(0.25)
    assert saturated_fraction([0.25], [50]) == 0.25
    assert saturated_fraction([0.5, None], [1, 1]) is None


def test_total_norm_is_the_l2_norm_of_the_layer_norms() -> None:
    assert total_norm([3.0, 4.0]) == pytest.approx(5.0)
    assert total_norm([]) is None


def test_geometric_mean_of_positive_values() -> None:
    assert geometric_mean([1.0, 100.0, 0.0]) == pytest.approx(10.0)
    assert math.isnan(geometric_mean([0.0]))


def test_epoch_band_mean_std_and_min_max() -> None:
    band = epoch_band([[1.0, 2.0], [3.0, 4.0], [5.0]])
    assert band is not None
    assert band.mean == pytest.approx([3.0, 3.0])
    assert band.low[0] == pytest.approx(1.0)  # 3 values: mean - std
    assert (band.low[1], band.high[1]) == (2.0, 4.0)  # 2 values: min-max
    assert epoch_band([[None], []]) is None


def test_summary_pairs_seeds_against_the_baseline() -> None:
    relu = [0.80, 0.82, 0.81]
    tanh = [0.85, 0.86, 0.84]
    records = [record("relu", s, a) for s, a in enumerate(relu)]
    records += [record("tanh", s, a) for s, a in reversed(list(enumerate(tanh)))]
    rows = {row.label: row for row in summarize(records, baseline="relu")}
    assert rows["relu"].diff_mean is None
    assert rows["tanh"].baseline == "relu"
    assert rows["tanh"].n_paired == 3
    assert rows["tanh"].diff_mean == pytest.approx(0.04)
    assert rows["tanh"].p_value == pytest.approx(scipy_stats.ttest_rel(tanh, relu).pvalue)
    assert rows["tanh"].significant is True


def test_summary_of_one_seed_has_no_std_or_interval() -> None:
    (row,) = summarize([record("relu", 0, 0.8)])
    assert row.test_accuracy_std is None
    assert row.test_accuracy_ci95 is None
    assert row.test_accuracy_mean == 0.8


def test_summary_counts_the_values_its_statistics_used() -> None:
    records = [record("relu", 0, 0.8), record("relu", 1, None, status="failed")]
    (row,) = summarize(records)
    assert (row.n_seeds, row.n_used) == (2, 1)
    assert row.test_accuracy_mean == 0.8


def test_summary_saturated_is_the_width_weighted_fraction() -> None:
    records = [
        record("relu", s, 0.8, saturated_per_layer=[0.5, 0.0], hidden_widths=[30, 10])
        for s in range(2)
    ]
    (row,) = summarize(records)
    assert row.saturated_mean == pytest.approx(0.375)


def test_gradient_ratio_and_init_signal_columns() -> None:
    history = History(grad_norm_per_layer=[[0.001, 0.1, 10.0]], health_epochs=[1])
    records = [
        record(
            "sigmoid",
            s,
            0.8,
            history=history,
            hidden_widths=[8, 8, 8],
            std_per_layer_init=[0.5, 0.2, value],
        )
        for s, value in enumerate([0.1, 0.3])
    ]
    (row,) = summarize(records)
    assert row.grad_ratio_mean == pytest.approx(1e-4)
    assert row.std_init_last_mean == pytest.approx(0.2)


def test_gradient_ratio_needs_two_layers_and_epoch_one() -> None:
    one_layer = record("relu", 0, 0.8, history=History(grad_norm_per_layer=[[0.5]]))
    later = record(
        "relu", 1, 0.8, history=History(grad_norm_per_layer=[[0.5, 1.0]], health_epochs=[5])
    )
    (row,) = summarize([one_layer, later])
    assert row.grad_ratio_mean is None
