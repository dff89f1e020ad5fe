"""Faults around a run: repeated signals, a failing disk, concurrent API calls, lost work.

Each test names the numbered item of the adversarial pass it guards (issue 24).
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from clirun import actbench_process, exit_code, one_epoch_cpu, wait_for_cpu

from actbench import cli
from actbench.pipeline import stop_on_signals

TINY = ["--set", "data.n_samples=160", "--seeds", "2", "--set", "activations=[relu,tanh]"]


@pytest.fixture(autouse=True)
def _isolated_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli._state, "debug", False)
    monkeypatch.setenv("COLUMNS", "80")


def _actbench(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return actbench_process(*args, cwd=cwd, env={"COLUMNS": "80"})


def _wait_for(path_glob: Path, pattern: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not any(path_glob.glob(pattern)):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"no {pattern} in {path_glob}"
        time.sleep(0.02)


def _twice(process: subprocess.Popen[str]) -> None:
    """Ctrl-C twice, 20 ms apart: an impatient user."""
    process.send_signal(signal.SIGINT)
    time.sleep(0.02)
    process.send_signal(signal.SIGINT)


# --- 7. repeated Ctrl-C behaves like one --------------------------------------------------------


def test_two_ctrl_c_while_training_save_once_with_one_line_and_exit_130(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    started = one_epoch_cpu("compare", *TINY, cwd=tmp_path)
    process = _actbench(
        "compare", *TINY, "--epochs", "100000", "--format", "json", "--out", str(runs), cwd=tmp_path
    )
    _wait_for(runs, "*/config.yaml", process)
    wait_for_cpu(process, started + 1.0)
    _twice(process)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    (line,) = stderr.splitlines()
    assert line.startswith("interrupted: finished epochs kept; partial results in"), stderr
    (folder,) = runs.iterdir()
    saved = json.loads((folder / "results.json").read_text())
    assert saved["status"] == "interrupted" and json.loads(stdout) == saved


def test_two_ctrl_c_while_report_writes_html_is_one_line_and_exit_130(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    code = exit_code(
        ["compare", *TINY, "--epochs", "30", "--quiet", "--out", str(runs), "--format", "json"]
    )
    assert code == 0
    (folder,) = runs.iterdir()
    process = _actbench("report", str(folder), "--html", "--format", "json", cwd=tmp_path)
    _wait_for(folder, "curves.png", process)  # the first figure: the others follow
    _twice(process)
    stdout, stderr = process.communicate(timeout=120)
    if process.returncode == 0:
        pytest.skip("the report was written before the signals arrived")
    assert process.returncode == 130
    assert stderr == "interrupted\n"  # not a silent exit, not a traceback, not killed
    assert json.loads(stdout)["run_id"] == folder.name  # the table came before the figures
    assert not (folder / "report.html").exists()


def test_signals_inside_the_run_handler_only_set_the_stop_request() -> None:
    before = signal.getsignal(signal.SIGINT)
    with stop_on_signals((signal.SIGINT,)) as stop:
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)  # used to raise KeyboardInterrupt mid-save
        assert stop.is_set()
    assert signal.getsignal(signal.SIGINT) is before


# --- 6. the Python API never loses a finished run -----------------------------------------------

SMALL = {"data.n_samples": 120, "train.epochs": 2, "train.seeds": 1, "activations": ["relu"]}


def _no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    from actbench import pipeline

    def trained(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained before out was checked")

    monkeypatch.setattr(pipeline, "run_experiment", trained)


@pytest.mark.parametrize("out", [None, "", 3, True])
def test_the_api_checks_out_before_training(monkeypatch: pytest.MonkeyPatch, out: object) -> None:
    import actbench
    from actbench.errors import ConfigError

    _no_training(monkeypatch)
    with pytest.raises(ConfigError, match="save=True needs out"):
        actbench.compare(overrides=SMALL, save=True, out=out)  # type: ignore[arg-type]


def test_the_api_finds_an_unwritable_out_before_training(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import actbench
    from actbench.errors import RunFolderError

    _no_training(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RunFolderError, match="cannot create the runs folder"):
        actbench.compare(overrides=SMALL, save=True, out=blocker / "runs")


def test_a_failed_save_after_training_returns_the_result_with_the_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import actbench
    from actbench import runs
    from actbench.errors import SaveWarning

    def disk_full(result: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "history_csv", disk_full)
    with pytest.warns(SaveWarning, match="No space left on device"):
        result = actbench.compare(overrides=SMALL, save=True, out=tmp_path / "runs")
    assert result.runs[0].status == "ok" and result.runs[0].epochs == 2
    assert result.save_error is not None and "No space left on device" in result.save_error
    assert result.run_dir is not None and not (result.run_dir / "results.json").exists()
    assert result.model("relu", 0) is not None  # the trained members are kept too


# --- 11. initialisation draws from a generator of its own ---------------------------------------


def _old_init_model(
    seed: int, shape: tuple[int, tuple[int, ...], int], activation: str, init: str
) -> dict[str, object]:
    """How init_model drew until now: torch.manual_seed, then nn.Linear's own init from the
    process-wide generator, then the normal schemes' draws from it too."""
    import torch

    from actbench import activations
    from actbench.model import SimpleNN, _init_std

    spec = activations.get(activation)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SimpleNN(*shape, lambda: spec.build({}))
        if init != "default":
            layers = [*model.hidden, model.out]
            with torch.no_grad():
                for index, linear in enumerate(layers):
                    fan_out, fan_in = linear.weight.shape
                    gain = spec.init_gain({}) if index < len(model.hidden) else 1.0
                    linear.weight.normal_(0.0, _init_std(init, fan_in, fan_out, gain))  # type: ignore[arg-type]
                    linear.bias.zero_()
    return dict(model.state_dict())


@pytest.mark.parametrize("init", ["default", "kaiming", "xavier", "lecun"])
@pytest.mark.parametrize(
    ("shape", "activation"),
    [((20, (50,), 2), "relu"), ((3, (8, 4, 2), 3), "prelu"), ((2, (1,), 1), "tanh")],
)
def test_init_model_draws_the_numbers_the_global_generator_drew(
    init: str, shape: tuple[int, tuple[int, ...], int], activation: str
) -> None:
    import torch

    from actbench.model import init_model

    for seed in (0, 7, 2**31):
        new = init_model(seed, *shape, activation, init=init).state_dict()  # type: ignore[arg-type]
        old = _old_init_model(seed, shape, activation, init)
        assert new.keys() == old.keys()
        for name, tensor in new.items():
            assert torch.equal(tensor, old[name]), (seed, name)  # type: ignore[arg-type]


def test_init_model_neither_reads_nor_changes_the_global_generator() -> None:
    import torch

    from actbench.model import init_model

    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = init_model(0, 20, (50,), 2, "relu").state_dict()
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(456)
    second = init_model(0, 20, (50,), 2, "relu").state_dict()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_init_model_in_four_threads_equals_one_after_the_other() -> None:
    import threading

    import torch

    from actbench.model import init_model

    def weights(seed: int) -> dict[str, torch.Tensor]:
        return dict(init_model(seed, 20, (200, 200), 2, "relu").state_dict())

    expected = {seed: weights(seed) for seed in range(8)}
    wrong: list[int] = []

    def work(offset: int) -> None:
        for step in range(40):
            seed = (offset + step) % 8
            got = weights(seed)
            if any(not torch.equal(got[name], expected[seed][name]) for name in got):
                wrong.append(seed)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []  # 27 of 160 differed when the seed went through the global generator


def test_two_threads_calling_compare_get_the_sequential_numbers_bit_for_bit() -> None:
    import threading

    import actbench

    calls = [
        {"overrides": {**SMALL, "activations": ["relu", "tanh", "elu"]}, "seeds": 3},
        {"overrides": {**SMALL, "model.hidden": [200, 200]}, "seeds": [0, 5]},
    ]

    def numbers(result: actbench.Result) -> list[object]:
        return [run.model_dump() for run in result.runs]

    sequential = [numbers(actbench.compare(**call)) for call in calls]  # type: ignore[arg-type]
    threaded: list[object] = [None, None]

    def work(index: int) -> None:
        threaded[index] = numbers(actbench.compare(**calls[index]))  # type: ignore[arg-type]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert threaded == sequential


# --- 9. sharding is near-linear and interruptible -----------------------------------------------


def _optimal_largest(sizes: list[int], parts: int) -> int:
    """The smallest possible largest run, by the textbook O(parts * n^2) dynamic programme."""
    import itertools
    import math

    n = len(sizes)
    prefix = [0, *itertools.accumulate(sizes)]
    best = [[math.inf] * (n + 1) for _ in range(parts + 1)]
    best[0][0] = 0
    for k in range(1, parts + 1):
        for i in range(k, n + 1):
            best[k][i] = min(max(best[k - 1][j], prefix[i] - prefix[j]) for j in range(k - 1, i))
    return int(best[parts][n])


def _plan(sizes: list[int]) -> object:
    from types import SimpleNamespace

    from actbench.experiment import PopulationPlan

    members = [
        SimpleNamespace(entry=entry, spec=SimpleNamespace(label=f"a{entry}"))
        for entry, size in enumerate(sizes)
        for _ in range(size)
    ]
    return PopulationPlan(None, members)  # type: ignore[arg-type]


def test_shards_are_as_balanced_as_the_exhaustive_split() -> None:
    import random

    from actbench.distributed import shard_plans

    rng = random.Random(0)
    for _ in range(200):
        sizes = [rng.randint(1, 9) for _ in range(rng.randint(1, 14))]
        parts = rng.randint(1, len(sizes))
        shards = shard_plans([_plan(sizes)], parts)  # type: ignore[list-item]
        assert len(shards) == parts
        assert max(len(s.members) for s in shards) == _optimal_largest(sizes, parts), sizes
        entries = [m.entry for s in shards for m in s.members]
        assert entries == sorted(entries)  # members in their order, groups never split
        assert all(len({m.entry for m in s.members}) >= 1 for s in shards)


def test_sharding_two_thousand_activation_groups_takes_well_under_a_second() -> None:
    import time

    from actbench.distributed import shard_plans

    plans = [_plan([5] * 2000), _plan([1, 7, 3] * 300)]
    started = time.perf_counter()
    for count in (None, 1, 7, 1000, 2899, 10**6):
        shards = shard_plans(plans, count)  # type: ignore[arg-type]
        assert sum(len(s.members) for s in shards) == 10000 + 3300
    assert time.perf_counter() - started < 1.0  # 800 groups took 14 s, 2000 minutes


def test_a_stop_request_while_sharding_is_an_interrupt() -> None:
    from actbench.distributed import shard_plans
    from actbench.errors import Interrupted

    with pytest.raises(Interrupted, match="nothing was trained"):
        shard_plans([_plan([1] * 10)], 3, lambda: True)  # type: ignore[list-item]


# --- 13. the Python API: wrong types are one ActbenchError --------------------------------------


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (
            lambda a: a.compare(baseline=1, epochs=1),
            "baseline must be a label, like 'relu' (got 1)",
        ),
        (lambda a: a.train("relu", params=[1]), "params must be parameter -> value"),
        (lambda a: a.train(3), "act must be an activation name"),
    ],
    ids=["compare-baseline-1", "train-params-list", "train-act-int"],
)
def test_api_arguments_of_the_wrong_type_are_actbench_errors(
    monkeypatch: pytest.MonkeyPatch, call: object, expected: str
) -> None:
    import actbench

    _no_training(monkeypatch)
    with pytest.raises(
        actbench.ActbenchError, match=expected.replace("(", r"\(").replace(")", r"\)")
    ):
        call(actbench)  # type: ignore[operator]
