"""The shared options: declared once in cli/options.py, listed by compare and train as
ordinary parameters, gathered into one RunFlags."""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from clirun import run_cli

from actbench.cli import training
from actbench.cli.options import OutputFormat, RunFlags, run_flags
from actbench.render import FORMATS

SHARED = [field.name for field in fields(RunFlags)]
RUN_FLAGS_OPTIONS = [
    "--data",
    "--target",
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


# --- output formats: render's FORMATS, offered by every command that writes output ------------

FORMAT_COMMANDS = {
    "compare": ["compare", "--print-config"],
    "train": ["train", "--act", "relu", "--print-config"],
    "activations": ["activations"],
    "show": ["show", "tanh", "--x", "1"],
    "runs": ["runs", "--out", "{tmp}"],
    "report": ["report", "some-run", "--out", "{tmp}"],
    "bench": ["bench", "--ways", "nope"],
}


def test_the_cli_formats_are_the_render_formats() -> None:
    assert [form.value for form in OutputFormat] == list(FORMATS)


@pytest.mark.parametrize("command", FORMAT_COMMANDS)
def test_help_lists_every_format_once(capsys: pytest.CaptureFixture[str], command: str) -> None:
    outcome = run_cli(capsys, command, "--help")
    match = re.search(r"--format <([^>]*)>", outcome.out)
    assert match is not None
    assert match.group(1).split("|") == list(FORMATS)


@pytest.mark.parametrize("command", FORMAT_COMMANDS)
def test_an_unknown_format_is_one_usage_line_naming_every_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in FORMAT_COMMANDS[command]]
    outcome = run_cli(capsys, *argv, "--format", "xml")
    assert outcome.code == 2
    [line] = outcome.err.splitlines()
    assert line.startswith("error: Invalid value for '--format'")
    assert ", ".join(f"'{form}'" for form in FORMATS) in line
    assert line.endswith(f"(see: actbench {command} --help)")


@pytest.mark.parametrize("form", FORMATS)
@pytest.mark.parametrize("command", ["compare", "train", "activations", "show", "runs"])
def test_every_format_is_accepted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str, form: str
) -> None:
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in FORMAT_COMMANDS[command]]
    outcome = run_cli(capsys, *argv, "--format", form)
    assert outcome.code == 0, outcome.err
