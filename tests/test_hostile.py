"""Hostile input, end to end: every case exits 2 at once with one printable stderr line, no
traceback, nothing on stdout and no run folder.

Alias bombs, endless files, floats beyond float32, control characters in labels, runaway sweep
grids, devices that only start like a valid one, and data generation too big for memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from clirun import run_cli

from actbench.config import MAX_CONFIG_BYTES

DATA = ["--set", "data.n_samples=160", "--epochs", "2", "--seeds", "2"]
TINY = [*DATA, "--set", "activations=[relu,tanh]"]
SECONDS = 5.0  # generous on a loaded machine; each case used to take 30 s to minutes, or forever


def flow_bomb(width: int = 9, depth: int = 9) -> str:
    """width**depth values in ~300 bytes of YAML: each anchor lists the previous one `width`
    times."""
    items = [f"&l0 [{', '.join(['1'] * width)}]"]
    items += [f"&l{d} [{', '.join([f'*l{d - 1}'] * width)}]" for d in range(1, depth)]
    return "[" + ", ".join(items) + "]"


@dataclass(frozen=True)
class Case:
    """A hostile command line: `argv(tmp_path)` and a fragment of the expected error line."""

    id: str
    argv: Callable[[Path], list[str]]
    expected: str


def config_file(text: str) -> Callable[[Path], list[str]]:
    def argv(tmp_path: Path) -> list[str]:
        path = tmp_path / "hostile.yaml"
        path.write_text(text, encoding="utf-8")
        return ["compare", str(path), *DATA]

    return argv


def compare(*args: str) -> Callable[[Path], list[str]]:
    return lambda tmp_path: ["compare", *TINY, *args]


def act(name: str, *params: str) -> Callable[[Path], list[str]]:
    return lambda tmp_path: ["train", "--act", name, *DATA, *(f"--param={p}" for p in params)]


def activation(entry: str) -> Callable[[Path], list[str]]:
    return lambda tmp_path: ["compare", *DATA, "--set", f"activations=[{entry}]"]


def fifo(tmp_path: Path) -> list[str]:
    """A named pipe nobody writes to, as the config: opening it used to wait forever."""
    path = tmp_path / "config.yaml"
    os.mkfifo(path)
    return ["compare", str(path), *DATA]


BOMB = "aliases expand this document to more than 100,000 values"
FLOAT32 = "beyond the float32 range it is used in"
LABEL = "contains control characters (newline, tab or escape); a label is printable text"
HUNDRED = ",".join(str(i + 1) for i in range(100))

CASES = [
    # YAML that expands, recurses, repeats keys or never ends
    Case("bomb-top-level", config_file(f"x: {flow_bomb()}\n"), BOMB),
    Case("bomb-train-lr", config_file(f"train:\n  lr: {flow_bomb()}\n"), BOMB),
    Case(
        "bomb-activation-param",
        config_file(f"activations:\n  - {{name: elu, params: {{alpha: {flow_bomb()}}}}}\n"),
        BOMB,
    ),
    Case(
        "bomb-label", config_file(f"activations:\n  - {{name: relu, label: {flow_bomb()}}}\n"), BOMB
    ),
    Case("bomb-sweep-block", config_file(f"sweep:\n  train.lr: {flow_bomb()}\n"), BOMB),
    Case("bomb-deep-narrow", config_file(f"x: {flow_bomb(2, 40)}\n"), BOMB),
    Case("bomb-set", compare("--set", f"train.lr={flow_bomb()}"), BOMB),
    Case("bomb-set-activations", compare("--set", f"activations={flow_bomb()}"), BOMB),
    Case("bomb-sweep", compare("--sweep", f"train.lr={flow_bomb()}"), BOMB),
    Case("recursive-alias", config_file("train: &a {lr: *a}\n"), "contains it"),
    Case("duplicate-key", config_file("train:\n  lr: 0.1\n  lr: 0.2\n"), "duplicate key 'lr'"),
    Case(
        "duplicate-section",
        config_file("train: {lr: 0.1}\ntrain: {epochs: 2}\n"),
        "duplicate key 'train' (first at line 1)",
    ),
    Case(
        "duplicate-key-in-set",
        compare("--set", "activations=[{name: relu, name: tanh}]"),
        "duplicate key 'name'",
    ),
    Case("file-over-limit", config_file("#\n" * (MAX_CONFIG_BYTES // 2 + 1)), "larger than 1 MiB"),
    Case("dev-zero", lambda tmp_path: ["compare", "/dev/zero"], "larger than 1 MiB"),
    Case(
        "set-over-limit", compare("--set", "train.lr=" + "9" * (MAX_CONFIG_BYTES + 1)), "too long"
    ),
    # floats that fit float64 but not the float32 they are used in
    Case("weight-decay-1e39", compare("--set", "train.weight_decay=1e39"), FLOAT32),
    Case("lr-1e39", compare("--set", "train.lr=1e39"), FLOAT32),
    Case("lr-flag-1e39", compare("--lr", "1e39"), FLOAT32),
    Case("lr-1e-50", compare("--set", "train.lr=1e-50"), "rounds to 0"),
    Case("class-sep-1e39", compare("--set", "data.class_sep=1e39"), FLOAT32),
    Case("class-sep-1e180", compare("--set", "data.class_sep=1e180"), FLOAT32),
    Case("class-sep-1e308", compare("--set", "data.class_sep=1e308"), FLOAT32),
    Case("sweep-weight-decay-1e39", compare("--sweep", "train.weight_decay=0,1e39"), FLOAT32),
    Case(
        "negative-slope-1e39",
        activation("{name: leaky_relu, params: {negative_slope: 1e39}}"),
        FLOAT32,
    ),
    Case("elu-alpha-1e39", activation("{name: elu, params: {alpha: 1e39}}"), FLOAT32),
    Case("hardtanh-min-1e39", activation("{name: hardtanh, params: {min_val: -1e39}}"), FLOAT32),
    Case("hardtanh-max-1e39", activation("{name: hardtanh, params: {max_val: 1e39}}"), FLOAT32),
    Case("prelu-init-1e39", activation("{name: prelu, params: {init: 1e39}}"), FLOAT32),
    Case("softplus-beta-1e39", activation("{name: softplus, params: {beta: 1e39}}"), FLOAT32),
    Case(
        "softplus-threshold-1e39",
        activation("{name: softplus, params: {threshold: 1e39}}"),
        FLOAT32,
    ),
    Case("train-param-1e39", act("leaky_relu", "negative_slope=1e39"), FLOAT32),
    Case("train-param-elu-1e39", act("elu", "alpha=1e39"), FLOAT32),
    # labels that would drive the terminal or break a table
    Case("label-retitle", activation('{name: relu, label: "a\\e]0;pwned\\a"}'), LABEL),
    Case("label-clear-screen", activation('{name: relu, label: "\\e[2Jrelu"}'), LABEL),
    Case("label-newline", activation('{name: relu, label: "two\\nlines"}'), LABEL),
    Case(
        "label-in-file",
        config_file('activations:\n  - {name: relu, label: "tab\\there"}\n'),
        LABEL,
    ),
    # devices that only start like a valid one
    Case("device-newline", compare("--device", "cpu\n"), "unknown device 'cpu\\n'"),
    Case("device-cuda-newline", compare("--device", "cuda:0\n"), "choices: auto, cpu, cuda"),
    Case("device-suffix", compare("--device", "cpu0"), "choices: auto, cpu, cuda"),
    # sweeps: one rule
    Case("sweep-section", compare("--sweep", "train={lr: 0.01}"), "is a whole section"),
    Case(
        "sweep-section-in-file",
        config_file("sweep:\n  model: [{hidden: [3]}]\n"),
        "is a whole section",
    ),
    Case("sweep-repeat", compare("--sweep", "train.lr=0.01,0.01,1e-2"), "give each value once"),
    Case("sweep-repeat-shape", compare("--sweep", "model.hidden=50,[50]"), "are both [50]"),
    Case(
        "sweep-repeat-in-file",
        config_file("sweep:\n  train.epochs: [2, 2.0]\n"),
        "give each value once",
    ),
    Case("sweep-twice", compare("--sweep", "train.lr=0.1", "--sweep", "train.lr=0.2"), "twice"),
    Case(
        "sweep-grid-10^6",
        compare(
            *("--sweep", f"train.epochs={HUNDRED}", "--sweep", f"train.batch_size={HUNDRED}"),
            *("--sweep", f"data.random_state={HUNDRED}", "--print-config"),
        ),
        "the sweep has 1,000,000 grid points",
    ),
    # bounded work
    Case(
        "n-informative-100000",
        compare(
            *("--set", "data.n_features=100000", "--set", "data.n_informative=100000"),
            *("--set", "data.n_redundant=0"),
        ),
        "data generation",
    ),
    # gates
    Case("fail-under-percent", compare("--fail-under", "test_accuracy_mean=80"), "write 0.8"),
    # issue 24, item 13: these printed tracebacks
    Case("threads-superscript", compare("--threads", "²"), "expected auto or a thread count"),
    Case("class-sep-0", compare("--set", "data.class_sep=0"), "should be greater than 0"),
    # issue 24, item 14: accepted silently, or said something misleading
    Case(
        "label-200000",
        activation("{name: relu, label: " + "r" * 200_000 + "}"),
        "is 200,000 characters long; a label names a table row: at most 200",
    ),
    Case("sweep-threads", compare("--sweep", "train.threads=1,2"), "'train.threads' cannot be"),
    Case(
        "fail-under-minus-5",
        compare("--fail-under", "test_accuracy_mean=-5"),
        "so this bound checks nothing",
    ),
    Case("fail-over-minus-5", compare("--fail-over", "diff_mean=-5"), "can never be met"),
    Case(
        "act-twice",
        lambda tmp_path: ["train", "--act", "relu", "--act", "tanh", *DATA],
        "--act is given 2 times (relu, tanh)",
    ),
    Case("no-save-save-models", compare("--no-save", "--save-models"), "--save-models needs"),
    Case(
        "seeds-minus-1",
        lambda tmp_path: ["compare", "--set", "train.seeds=[-1]", "--epochs", "2"],
        "train.seeds[0]: input should be greater than or equal to 0 (got -1)",
    ),
    Case("fifo-config", fifo, "is a FIFO that nothing writes to"),
]


def test_the_cases_are_distinct() -> None:
    assert len({case.id for case in CASES}) == len(CASES) >= 45


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_input_is_one_line_exit_2_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "runs"
    argv = case.argv(tmp_path)
    started = time.perf_counter()
    outcome = run_cli(capsys, *argv, "--out", str(root))
    elapsed = time.perf_counter() - started
    lines = outcome.err.splitlines()
    assert outcome.code == 2, outcome.err[:500]
    assert len(lines) == 1, outcome.err[:2000]
    assert lines[0].startswith("error: ") and case.expected in lines[0], lines[0]
    assert lines[0].isprintable() and len(lines[0]) < 2100
    assert "Traceback" not in outcome.err and outcome.out == ""
    assert not root.exists()
    assert elapsed < SECONDS


def test_bench_with_layers_beyond_memory_is_refused_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # issue 24, item 5: bench had no memory guard (a traceback from the allocator, or worse)
    started = time.perf_counter()
    outcome = run_cli(capsys, "bench", "--hidden", "1000000,1000000", "--ways", "population")
    assert time.perf_counter() - started < SECONDS
    (line,) = outcome.err.splitlines()
    assert outcome.code == 2 and line.startswith("error: this run needs about 782430.7 GiB")


@pytest.mark.parametrize("command", [["bench", "--ways", "population"], ["compare", "--no-save"]])
def test_a_non_ascii_digit_as_threads_is_one_line(
    capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    # issue 24, item 13: '²'.isdigit() is true, int('²') raises
    outcome = run_cli(capsys, *command, "--threads", "²")
    (line,) = outcome.err.splitlines()
    assert outcome.code == 2 and "expected auto or a thread count from 1 to 4096 (got '²')" in line


def test_a_learning_rate_whose_adam_step_overflows_float32_diverges_cleanly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # issue 24, item 13: lr 3e38 / (1 - 0.9) does not fit float32; the same lr through a sweep
    # was already reported as diverged
    for optimizer in ("adam", "adamw"):
        outcome = run_cli(
            capsys,
            "train",
            "--act",
            "relu",
            *DATA,
            *("--lr", "3e38", "--set", f"train.optimizer={optimizer}"),
            *("--set", "train.weight_decay=10", "--no-save", "--format", "json"),
        )
        assert outcome.code == 1 and "Traceback" not in outcome.err
        assert {run["status"] for run in outcome.json["runs"]} == {"diverged"}


def test_show_reads_minus_inf_as_an_input(capsys: pytest.CaptureFixture[str]) -> None:
    # issue 24, item 14: '-inf' was read as the options -i -n -f
    outcome = run_cli(capsys, "show", "relu", "--x", "1", "-inf")
    assert (
        outcome.code == 2 and outcome.err == "error: input '-inf' is not a finite float32 number\n"
    )
    outcome = run_cli(capsys, "show", "relu", "--x", "1", "-2e3", "-f", "csv")
    assert outcome.code == 0 and outcome.out.splitlines()[1:] == ["1.0,1.0,1.0", "-2000.0,0.0,0.0"]


def test_a_saved_config_keeps_non_ascii_text_as_it_is() -> None:
    # issue 24, item 14: 'é' was saved as a 6-byte escape, so a config under the 1 MiB limit
    # could grow past it when saved, and its run could not be rerun
    from actbench.config import load_config

    label = "é" * 200
    config = load_config(None, [f"activations=[{{name: relu, label: {label}}}]"])
    text = config.to_yaml()
    assert label in text and "\\xE9" not in text
    assert len(text.encode("utf-8")) < 2 * len(label.encode("utf-8")) + 2000
