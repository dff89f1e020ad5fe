"""The shared options: declared once in cli/options.py, listed by compare and train as
ordinary parameters, gathered into one RunFlags."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from typing import Any

import pytest
from clirun import run_cli

from actbench.cli import training
from actbench.cli.options import RunFlags, run_flags

SHARED = [field.name for field in fields(RunFlags)]
RUN_FLAGS_OPTIONS = [
    "--set",
    "--sweep",
    "--seeds",
    "--epochs",
    "--lr",
    "--device",
    "--threads",
    "--format",
    "--quiet",
    "--out",
    "--no-save",
    "--print-config",
    "--save-models",
    "--allow-diverged",
    "--fail-under",
    "--fail-over",
    "--baseline-file",
    "--max-regression",
    "--executor",
    "--ray-address",
    "--shards",
]
OWN_OPTIONS = {"compare": ["--baseline", "--sort", "--columns"], "train": ["--act", "--param"]}


def help_options(text: str) -> list[str]:
    """The long option names of a help text's option lines, in order."""
    names = []
    for line in text.splitlines():
        match = re.match(r"^  (?:-\w, )?(--[\w-]+)", line)
        if match and match.group(1) != "--help":
            names.append(match.group(1))
    return names


@pytest.mark.parametrize("command", ["compare", "train"])
def test_the_command_takes_every_shared_option_in_run_flags_order(command: str) -> None:
    parameters = list(inspect.signature(getattr(training, command)).parameters)
    assert parameters[-len(SHARED) :] == SHARED


@pytest.mark.parametrize("command", ["compare", "train"])
def test_shared_defaults_are_the_same_in_compare_and_train(command: str) -> None:
    ours = inspect.signature(getattr(training, command)).parameters
    theirs = inspect.signature(training.compare).parameters
    for name in SHARED:
        assert ours[name].default == theirs[name].default, name
        assert ours[name].annotation == theirs[name].annotation, name


@pytest.mark.parametrize("command", ["compare", "train"])
def test_help_lists_own_options_then_the_shared_ones(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    outcome = run_cli(capsys, command, "--help")
    assert outcome.code == 0
    assert help_options(outcome.out) == OWN_OPTIONS[command] + RUN_FLAGS_OPTIONS


def test_run_flags_takes_the_shared_options_and_ignores_the_rest() -> None:
    arguments: dict[str, Any] = {name: None for name in SHARED}
    arguments |= {"threads": "4", "config": "x.yaml", "sort": "dead"}
    flags = run_flags(arguments)
    assert flags.threads == "4"
    assert flags.config_flags()["train.threads"] == 4


def test_run_flags_needs_every_shared_option() -> None:
    with pytest.raises(KeyError, match="shards"):
        run_flags({name: None for name in SHARED if name != "shards"})
