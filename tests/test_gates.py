from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from actbench.config import load_config
from actbench.errors import ConfigError, RunFolderError
from actbench.gates import (
    FRACTION_FIELDS,
    NUMERIC_FIELDS,
    Threshold,
    baseline_differences,
    check_all,
    check_baseline,
    check_max_regression,
    check_regressions,
    check_threshold_labels,
    check_thresholds,
    load_baseline,
    parse_fail_over,
    parse_threshold,
)
from actbench.runs import RunResult, SummaryRow

LR_LOW = {"train.lr": 0.001}
LR_HIGH = {"train.lr": 0.1}


def row(label: str, accuracy: float | None, grid: dict[str, Any] | None = None) -> SummaryRow:
    return SummaryRow(
        label=label,
        activation=label,
        grid=grid or {},
        n_seeds=2,
        test_accuracy_mean=accuracy,
        test_accuracy_std=0.01,
        test_loss_mean=0.4,
        test_loss_std=0.02,
        train_loss_mean=0.35,
        dead_neurons_mean=1.0,
        dead_neurons_init_mean=0.0,
        dormant_neurons_mean=2.0,
        hidden_units=50,
    )


def result(*rows: SummaryRow, run_id: str = "20260101-000000-test-abcdef0") -> RunResult:
    return RunResult(
        actbench_version="0.0.0",
        run_id=run_id,
        device="cpu (1 threads)",
        seconds=1.0,
        config={},
        runs=[],
        summary=list(rows),
    )


# --- parse_threshold ----------------------------------------------------------------------------


def test_parse_threshold_global() -> None:
    assert parse_threshold("test_accuracy_mean=0.8") == Threshold("test_accuracy_mean", 0.8)


def test_parse_threshold_per_label() -> None:
    assert parse_threshold("relu:test_accuracy_mean=0.85") == Threshold(
        "test_accuracy_mean", 0.85, "relu"
    )


def test_parse_threshold_other_metric() -> None:
    assert parse_threshold("test_loss_mean=0.5").key == "test_loss_mean"


def test_parse_threshold_without_equals_names_the_expected_form() -> None:
    with pytest.raises(ConfigError, match=r"KEY=VALUE.*got 'test_accuracy_mean'"):
        parse_threshold("test_accuracy_mean")


def test_parse_threshold_without_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_threshold("relu:=0.8")


def test_parse_threshold_unknown_metric_suggests_the_closest() -> None:
    with pytest.raises(ConfigError) as info:
        parse_threshold("test_acc_mean=0.8")
    message = str(info.value)
    assert "unknown --fail-under metric 'test_acc_mean'" in message
    assert "did you mean 'test_accuracy_mean'?" in message


def test_parse_threshold_non_number_value_names_it() -> None:
    with pytest.raises(ConfigError, match="'high' is not a number"):
        parse_threshold("test_accuracy_mean=high")


def test_parse_threshold_empty_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match="not a number"):
        parse_threshold("test_accuracy_mean=")


@pytest.mark.parametrize("raw", ["nan", "inf"])
def test_parse_threshold_non_finite_value_is_an_error(raw: str) -> None:
    with pytest.raises(ConfigError):
        parse_threshold(f"test_accuracy_mean={raw}")


# --- check_thresholds ---------------------------------------------------------------------------


def test_thresholds_passing_rows_give_no_messages() -> None:
    run = result(row("relu", 0.9), row("tanh", 0.85))
    assert check_thresholds(run, [Threshold("test_accuracy_mean", 0.85)]) == []


def test_thresholds_value_equal_to_threshold_passes() -> None:
    run = result(row("relu", 0.8))
    assert check_thresholds(run, [Threshold("test_accuracy_mean", 0.8)]) == []


def test_thresholds_failing_row_message_names_label_metric_values_and_shortfall() -> None:
    run = result(row("relu", 0.9), row("tanh", 0.831))
    assert check_thresholds(run, [Threshold("test_accuracy_mean", 0.85)]) == [
        "tanh: test_accuracy_mean 0.8310 < 0.85 (short by 0.0190)"
    ]


def test_thresholds_show_four_decimals_however_small_or_large_the_numbers() -> None:
    run = result(row("relu", 0.84999))
    assert check_thresholds(run, [Threshold("test_accuracy_mean", 0.85)]) == [
        "relu: test_accuracy_mean 0.8500 < 0.85 (short by 0.0000)"
    ]
    over = Threshold("dormant_neurons_mean", 1e-05, bound="max")
    assert check_thresholds(result(row("relu", 0.9)), [over]) == [
        "relu: dormant_neurons_mean 2.0000 > 1e-05 (over by 2.0000)"
    ]


def test_threshold_describes_itself_as_typed() -> None:
    assert (
        Threshold("test_accuracy_mean", 0.85, "relu").describe() == "relu:test_accuracy_mean=0.85"
    )
    assert Threshold("dead_neurons_mean", 1.0, bound="max").describe() == "dead_neurons_mean=1"


def test_thresholds_one_message_per_failing_row() -> None:
    run = result(row("relu", 0.5), row("tanh", 0.6))
    failures = check_thresholds(run, [Threshold("test_accuracy_mean", 0.9)])
    assert [message.split(":")[0] for message in failures] == ["relu", "tanh"]


def test_thresholds_sweep_row_message_names_the_grid_point() -> None:
    run = result(row("relu", 0.9, LR_LOW), row("relu", 0.7, LR_HIGH))
    failures = check_thresholds(run, [Threshold("test_accuracy_mean", 0.8)])
    assert len(failures) == 1
    assert failures[0].startswith("relu [lr=0.1]: ")


def test_thresholds_list_grid_value_is_shown_compactly() -> None:
    run = result(row("relu", 0.5, {"model.hidden": [3, 3]}))
    failures = check_thresholds(run, [Threshold("test_accuracy_mean", 0.8)])
    assert failures[0].startswith("relu [hidden=[3, 3]]: ")


def test_thresholds_missing_value_fails() -> None:
    run = result(row("relu", None))
    assert check_thresholds(run, [Threshold("test_accuracy_mean", 0.5)]) == [
        "relu: test_accuracy_mean is missing (need >= 0.5)"
    ]


def test_thresholds_per_label_checks_only_that_label() -> None:
    run = result(row("relu", 0.5), row("tanh", 0.5))
    failures = check_thresholds(run, [Threshold("test_accuracy_mean", 0.8, "tanh")])
    assert [message.split(":")[0] for message in failures] == ["tanh"]


def test_thresholds_per_label_checks_every_grid_point_of_the_label() -> None:
    run = result(row("relu", 0.5, LR_LOW), row("relu", 0.6, LR_HIGH), row("tanh", 0.1, LR_LOW))
    failures = check_thresholds(run, [Threshold("test_accuracy_mean", 0.8, "relu")])
    assert [message.split(":")[0] for message in failures] == ["relu [lr=0.001]", "relu [lr=0.1]"]


def test_thresholds_unknown_label_raises_config_error_naming_it() -> None:
    run = result(row("relu", 0.9), row("tanh", 0.9))
    with pytest.raises(ConfigError, match=r"unknown --fail-under label 'gelu'.*relu, tanh"):
        check_thresholds(run, [Threshold("test_accuracy_mean", 0.8, "gelu")])


# --- check_regressions --------------------------------------------------------------------------


def test_regressions_within_allowance_pass() -> None:
    baseline = result(row("relu", 0.90), row("tanh", 0.85))
    current = result(row("relu", 0.88), row("tanh", 0.85))
    assert check_regressions(current, baseline, 0.05) == ([], [])


def test_regressions_improvement_passes_with_zero_allowance() -> None:
    baseline = result(row("relu", 0.80))
    current = result(row("relu", 0.95))
    assert check_regressions(current, baseline, 0.0) == ([], [])


def test_regressions_drop_beyond_allowance_fails_naming_values_and_drop() -> None:
    baseline = result(row("relu", 0.90), row("tanh", 0.85))
    current = result(row("relu", 0.80), row("tanh", 0.85))
    failures, notes = check_regressions(current, baseline, 0.05)
    assert failures == [
        "relu: test_accuracy_mean 0.8000 vs baseline 0.9000, down 0.1000 (allowed 0.05)"
    ]
    assert notes == []


def test_regressions_any_drop_fails_with_zero_allowance() -> None:
    baseline = result(row("relu", 0.90))
    current = result(row("relu", 0.8999))
    failures, _ = check_regressions(current, baseline, 0.0)
    assert len(failures) == 1


def test_regressions_drop_of_exactly_the_allowance_passes() -> None:
    baseline = result(row("relu", 0.8))
    current = result(row("relu", 0.7))
    assert check_regressions(current, baseline, 0.1) == ([], [])


def test_regressions_missing_new_value_fails() -> None:
    baseline = result(row("relu", 0.9))
    current = result(row("relu", None))
    failures, _ = check_regressions(current, baseline, 0.05)
    assert failures == ["relu: test_accuracy_mean missing vs baseline 0.9000 (allowed 0.05)"]


def test_regressions_row_absent_from_baseline_is_a_note_not_a_failure() -> None:
    baseline = result(row("relu", 0.9))
    current = result(row("relu", 0.9), row("gelu", 0.1))
    failures, notes = check_regressions(current, baseline, 0.0)
    assert failures == []
    assert notes == ["gelu: not in the baseline, not checked"]


def test_regressions_match_rows_by_grid_point_and_label() -> None:
    baseline = result(row("relu", 0.6, LR_LOW), row("tanh", 0.5, LR_LOW), row("relu", 0.9, LR_HIGH))
    current = result(row("relu", 0.9, LR_HIGH), row("relu", 0.6, LR_LOW), row("tanh", 0.5, LR_LOW))
    assert check_regressions(current, baseline, 0.0) == ([], [])


def test_regressions_compare_against_the_same_grid_point() -> None:
    baseline = result(row("relu", 0.6, LR_LOW), row("relu", 0.9, LR_HIGH))
    current = result(row("relu", 0.6, LR_LOW), row("relu", 0.7, LR_HIGH))
    failures, _ = check_regressions(current, baseline, 0.05)
    assert len(failures) == 1
    assert failures[0].startswith("relu [lr=0.1]: test_accuracy_mean 0.7000 vs baseline 0.9000")


def test_regressions_other_grid_point_of_the_label_is_a_note() -> None:
    baseline = result(row("relu", 0.9, LR_HIGH), row("tanh", 0.5, LR_LOW))
    current = result(row("relu", 0.1, LR_LOW), row("tanh", 0.5, LR_LOW))
    failures, notes = check_regressions(current, baseline, 0.0)
    assert failures == []
    assert notes == ["relu [lr=0.001]: not in the baseline, not checked"]


def test_regressions_without_any_matching_row_fail_naming_both_sides() -> None:
    baseline = result(row("relu", 0.9, LR_HIGH), run_id="old-run")
    current = result(row("relu", 0.1, LR_LOW))
    failures, notes = check_regressions(current, baseline, 0.0)
    assert failures == [
        "the baseline old-run has no row for any (grid point, activation) of this run, so "
        "nothing can be compared (baseline: relu [lr=0.1]; this run: relu [lr=0.001])"
    ]
    assert notes == []


def test_regressions_sweep_rows_do_not_match_rows_without_a_grid() -> None:
    baseline = result(row("relu", 0.9))
    current = result(row("relu", 0.1, LR_LOW))
    failures, _ = check_regressions(current, baseline, 0.0)
    assert len(failures) == 1 and "no row for any" in failures[0]


def test_regressions_match_a_baseline_read_back_from_json(tmp_path: Path) -> None:
    hidden = {"model.hidden": [3, 3], "train.lr": 0.01}
    path = tmp_path / "old.json"
    path.write_text(result(row("relu", 0.9, hidden)).to_json(), encoding="utf-8")
    current = result(row("relu", 0.5, {"model.hidden": [3, 3], "train.lr": 0.01}))
    failures, notes = check_regressions(current, load_baseline(path), 0.0)
    assert notes == []
    assert len(failures) == 1


# --- check_all ----------------------------------------------------------------------------------


def test_check_all_without_baseline_checks_thresholds_only() -> None:
    current = result(row("relu", 0.5))
    failures, notes = check_all(current, [Threshold("test_accuracy_mean", 0.8)], None, 0.0)
    assert len(failures) == 1
    assert notes == []


def test_check_all_combines_threshold_and_regression_failures() -> None:
    baseline = result(row("relu", 0.9), row("tanh", 0.9))
    current = result(row("relu", 0.5), row("tanh", 0.9), row("gelu", 0.9))
    failures, notes = check_all(current, [Threshold("test_accuracy_mean", 0.8)], baseline, 0.0)
    assert [message.split(" ")[1] for message in failures] == ["test_accuracy_mean"] * 2
    assert failures[0].endswith("(short by 0.3000)")
    assert "down 0.4000" in failures[1]
    assert notes == ["gelu: not in the baseline, not checked"]


# --- load_baseline ------------------------------------------------------------------------------


@pytest.fixture
def saved() -> RunResult:
    return result(row("relu", 0.9, LR_LOW), row("tanh", 0.8, LR_LOW), run_id="baseline-run")


def test_load_baseline_from_results_json(tmp_path: Path, saved: RunResult) -> None:
    path = tmp_path / "results.json"
    path.write_text(saved.to_json(), encoding="utf-8")
    assert _named(load_baseline(path), path) == saved


def test_load_baseline_from_run_folder(tmp_path: Path, saved: RunResult) -> None:
    (tmp_path / "results.json").write_text(saved.to_json(), encoding="utf-8")
    assert _named(load_baseline(tmp_path), tmp_path) == saved


def test_load_baseline_from_json_file_with_another_name(tmp_path: Path, saved: RunResult) -> None:
    path = tmp_path / "main-branch.json"
    path.write_text(saved.to_json(), encoding="utf-8")
    assert _named(load_baseline(path), path) == saved


def _named(baseline: RunResult, path: Path) -> RunResult:
    """The loaded baseline with its own run id back: loading names the file in it."""
    run_id = baseline.run_id.removeprefix(f"{path} (run ").removesuffix(")")
    assert baseline.run_id.startswith(str(path))
    return baseline.model_copy(update={"run_id": run_id if run_id != str(path) else ""})


def test_a_baseline_without_a_run_id_is_named_by_its_file(tmp_path: Path, saved: RunResult) -> None:
    """A baseline made with --no-save (the CI job's) has no run id: messages name the file."""
    path = tmp_path / "ci-baseline.json"
    path.write_text(saved.model_copy(update={"run_id": ""}).to_json(), encoding="utf-8")
    baseline = load_baseline(path)
    assert baseline.run_id == str(path)
    changed = load_config(None, ["data.n_samples=999"])
    with pytest.raises(ConfigError, match=f"the baseline {path} was made with other settings"):
        check_baseline(changed, baseline)


def test_load_baseline_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "results.json"
    with pytest.raises(RunFolderError, match="not found") as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_folder_without_results_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="has no results.json") as info:
        load_baseline(tmp_path)
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("name", ["results.json", "baseline.json"])
def test_load_baseline_corrupt_json_names_the_path(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text('{"run_id": "x", "summary": [', encoding="utf-8")
    with pytest.raises(RunFolderError) as info:
        load_baseline(path)
    assert str(path) in str(info.value)


def test_load_baseline_json_of_the_wrong_shape_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{"summary": []}', encoding="utf-8")
    with pytest.raises(RunFolderError, match="cannot read baseline"):
        load_baseline(path)


def test_load_baseline_keeps_numbers_exact(tmp_path: Path) -> None:
    value = 0.1 + 0.2
    path = tmp_path / "baseline.json"
    path.write_text(result(row("relu", value)).to_json(), encoding="utf-8")
    assert load_baseline(path).summary[0].test_accuracy_mean == value


# --- --fail-over ---------------------------------------------------------------------------------


def test_parse_fail_over_is_an_upper_bound() -> None:
    assert parse_fail_over("relu:dead_neurons_mean=1") == Threshold(
        "dead_neurons_mean", 1.0, "relu", bound="max"
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("dead_neurons_mean", "--fail-over expects [LABEL:]KEY=VALUE"),
        ("dead_neuron_mean=1", "unknown --fail-over metric 'dead_neuron_mean'"),
        ("dead_neurons_mean=many", "--fail-over dead_neurons_mean: 'many' is not a number"),
        ("dead_neurons_mean=nan", "must be a finite number"),
        ("dead_neurons_mean=inf", "must be a finite number"),
    ],
)
def test_parse_fail_over_errors_name_the_option(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[")):
        parse_fail_over(text)


def test_fail_over_passes_at_or_below_the_bound() -> None:
    current = result(row("relu", 0.9))  # dead_neurons_mean 1.0
    assert check_thresholds(current, [parse_fail_over("dead_neurons_mean=1")]) == []


def test_fail_over_fails_above_the_bound_naming_row_values_and_excess() -> None:
    current = result(row("relu", 0.9), row("tanh", 0.9))
    failures = check_thresholds(current, [parse_fail_over("dead_neurons_mean=0.5")])
    assert failures == [
        "relu: dead_neurons_mean 1.0000 > 0.5 (over by 0.5000)",
        "tanh: dead_neurons_mean 1.0000 > 0.5 (over by 0.5000)",
    ]


def test_fail_over_per_label_checks_only_that_label() -> None:
    current = result(row("relu", 0.9), row("tanh", 0.9))
    failures = check_thresholds(current, [parse_fail_over("tanh:dead_neurons_mean=0")])
    assert [failure.split(":")[0] for failure in failures] == ["tanh"]


def test_fail_over_missing_value_fails() -> None:
    current = result(row("relu", None))
    (failure,) = check_thresholds(current, [parse_fail_over("test_accuracy_mean=0.9")])
    assert failure == "relu: test_accuracy_mean is missing (need <= 0.9)"


def test_fail_over_unknown_label_names_the_option() -> None:
    with pytest.raises(ConfigError, match="unknown --fail-over label 'relx'"):
        check_threshold_labels([parse_fail_over("relx:dead_neurons_mean=1")], ["relu"])


def test_check_all_takes_lower_and_upper_bounds_together() -> None:
    current = result(row("relu", 0.5))
    gates = [parse_threshold("test_accuracy_mean=0.8"), parse_fail_over("dead_neurons_mean=0")]
    failures, _ = check_all(current, gates, None, 0.0)
    assert [failure.split(" (")[0] for failure in failures] == [
        "relu: test_accuracy_mean 0.5000 < 0.8",
        "relu: dead_neurons_mean 1.0000 > 0",
    ]


# --- percents where fractions are meant ----------------------------------------------------------


def test_fraction_fields_are_numeric_fields() -> None:
    assert set(FRACTION_FIELDS) <= set(NUMERIC_FIELDS)


@pytest.mark.parametrize(
    ("parse", "text", "fragments"),
    [
        (parse_threshold, "test_accuracy_mean=80", ["is a fraction", "never be met", "write 0.8"]),
        (parse_threshold, "relu:test_accuracy_mean=85", ["--fail-under", "write 0.85"]),
        (parse_fail_over, "test_accuracy_std=5", ["--fail-over", "checks nothing", "write 0.05"]),
        (parse_fail_over, "saturated_mean=50", ["write 0.5"]),
    ],
)
def test_a_percent_for_a_fraction_field_is_an_error_with_a_hint(
    parse: Any, text: str, fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text)
    message = str(info.value)
    assert all(fragment in message for fragment in fragments), message


def test_counts_may_exceed_one() -> None:
    assert parse_threshold("dead_neurons_mean=80").value == 80


# --- --max-regression ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.1])
def test_max_regression_must_be_finite_and_not_negative(value: float) -> None:
    with pytest.raises(ConfigError, match="--max-regression must be a finite number >= 0"):
        check_max_regression(value)


def test_max_regression_as_a_percent_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match="write 0.02"):
        check_max_regression(2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-0.1, "--max-regression must be a finite number >= 0 (got -0.1)"),
        (math.nan, "--max-regression must be a finite number >= 0 (got nan)"),
        (
            2.5,
            "--max-regression 2.5: the allowance is a fraction of test accuracy (at most 1); "
            "for 2.5% write 0.025",
        ),
    ],
)
def test_max_regression_messages(value: float, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_max_regression(value)
    assert str(info.value) == message


@pytest.mark.parametrize("value", [0.0, 0.02, 1.0])
def test_max_regression_fractions_are_accepted(value: float) -> None:
    assert check_max_regression(value) == value


def test_check_all_refuses_a_nan_allowance_that_would_pass_everything() -> None:
    baseline = result(row("relu", 0.9))
    with pytest.raises(ConfigError, match="finite"):
        check_all(result(row("relu", 0.1)), [], baseline, math.nan)


def test_regressions_nan_accuracy_fails() -> None:
    (failure,), _ = check_regressions(result(row("relu", math.nan)), result(row("relu", 0.9)), 0.5)
    assert "test_accuracy_mean missing vs baseline 0.9000" in failure


# --- baselines made with other settings ----------------------------------------------------------


def config_of(*overrides: str, sweeps: tuple[str, ...] = ()) -> dict[str, Any]:
    return load_config(None, list(overrides), sweeps=sweeps).to_dict()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("data.n_samples=200", "data.n_samples: 1000 here, 200 in the baseline"),
        ("data.class_sep=2", "data.class_sep: 1 here, 2 in the baseline"),
        ("model.hidden=[3,3]", "model.hidden: [50] here, [3, 3] in the baseline"),
        ("train.epochs=3", "train.epochs: 100 here, 3 in the baseline"),
        ("train.lr=0.01", "train.lr: 0.001 here, 0.01 in the baseline"),
        ("train.seeds=2", "train.seeds: 5 here, 2 in the baseline"),
        ("train.optimizer=sgd", "train.optimizer: adam here, sgd in the baseline"),
        (
            "activations=[{name: leaky_relu, label: relu}]",
            "activation 'relu': relu here, leaky_relu {'negative_slope': 0.01} in the baseline",
        ),
    ],
)
def test_baseline_differences_name_each_setting(override: str, fragment: str) -> None:
    differences = baseline_differences(config_of(), config_of(override))
    assert differences == [fragment]


@pytest.mark.parametrize("override", ["train.device=cpu", "train.cuda_graphs=false"])
def test_where_a_baseline_ran_does_not_matter(override: str) -> None:
    assert baseline_differences(config_of(), config_of(override)) == []


def test_keys_either_run_sweeps_are_matched_row_by_row() -> None:
    swept = config_of(sweeps=("train.lr=0.001,0.1",))
    assert baseline_differences(swept, config_of("train.lr=0.1")) == []


def test_an_activation_only_one_run_has_is_not_a_difference() -> None:
    ours = config_of("activations=[relu, tanh]")
    assert baseline_differences(ours, config_of("activations=[relu]")) == []


def test_a_baseline_without_a_config_is_not_comparable() -> None:
    # issue 24, item 12: an empty config used to skip the check, so the gate compared anything
    assert baseline_differences(config_of(), {}) == [
        "config: none in the baseline (its results.json has an empty 'config')"
    ]


def test_regressions_against_a_baseline_with_other_settings_fail() -> None:
    current = result(row("relu", 0.9)).model_copy(update={"config": config_of()})
    baseline = result(row("relu", 0.9), run_id="old").model_copy(
        update={"config": config_of("data.n_samples=200")}
    )
    failures, notes = check_regressions(current, baseline, 0.0)
    assert failures == [
        "baseline old was made with other settings: data.n_samples: 1000 here, 200 in the baseline"
    ]
    assert notes == []


def test_check_baseline_before_training_names_the_difference() -> None:
    baseline = result(row("relu", 0.9), run_id="old").model_copy(
        update={"config": config_of("data.n_samples=200", "train.epochs=3")}
    )
    with pytest.raises(ConfigError) as info:
        check_baseline(load_config(), baseline)
    message = str(info.value)
    assert message.startswith(
        "the baseline old was made with other settings: "
        "data.n_samples: 1000 here, 200 in the baseline (and 1 more)"
    )


def test_check_baseline_without_any_matching_row_is_an_error() -> None:
    config = load_config(None, ["activations=[relu]"])
    baseline = result(row("gelu", 0.9), run_id="old").model_copy(
        update={"config": load_config(None, ["activations=[gelu]"]).to_dict()}
    )
    with pytest.raises(ConfigError, match=r"no row for any .*\(baseline: gelu; this run: relu\)"):
        check_baseline(config, baseline)


def test_check_baseline_matches_grid_points_after_validation() -> None:
    config = load_config(None, ["activations=[relu]"], sweeps=["train.lr=1e-2,0.1"])
    baseline = result(row("relu", 0.9, {"train.lr": 0.01})).model_copy(
        update={"config": config.to_dict()}
    )
    check_baseline(config, baseline)


def test_check_baseline_accepts_the_same_settings() -> None:
    config = load_config(None, ["activations=[relu, tanh]"])
    baseline = result(row("relu", 0.9)).model_copy(update={"config": config.to_dict()})
    check_baseline(config, baseline)
