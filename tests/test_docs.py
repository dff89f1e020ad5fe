"""The documentation against the code: every `actbench` command line in README.md and
docs/*.md parses with the real command line, the fast ones run, every option table names
options that exist, and every relative link and image points at a file."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
import yaml
from clirun import run_cli_redirected
from doc_outputs import blocks, outside_fences, run_python, shown_outputs
from doc_outputs import fences as _fences

from actbench.cli.app import app, register_commands

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

# Shell words that end the command itself: what follows is the shell's, not actbench's.
SEPARATORS = {"&&", "||", ";", "|"}
REDIRECTS = re.compile(r"^(\d?>>?|\d?>&\d|<(?![\w-]+>$))")  # not a <placeholder>
# Words the docs write instead of a value. A run's name becomes a saved run's id; the others
# take these values when the line runs.
RUN_WORDS = {"RUN", "<run-id>", "<id>"}
RUN_VALUES = {"CONFIG": "configs/smoke.yaml", "NAME": "relu", "LABEL": "relu"}
# ... and these when a line is only parsed (in a table: `--seeds N`), so that types convert.
PARSE_VALUES = {"N": "2", "X": "0.02", "A": "auto", "COL": "test_acc", "FILE": "ci/baseline.json"}
# Configs that train in well under a second: their commands run end to end.
FAST_CONFIGS = {"configs/smoke.yaml", "configs/tutorial.yaml"}
# Options whose value is a folder of runs: rewritten into a temporary folder when run.
OUT = "--out"


# --- collecting the documented commands --------------------------------------------------------


@dataclass(frozen=True)
class Documented:
    """One documented `actbench` command line and where it is written."""

    page: Path
    line: int
    text: str
    args: tuple[str, ...]  # the words after `actbench`
    expected: int = 0  # the exit code the page gives (`# exit 1`), 0 by default
    inline: bool = False  # a code span in prose: may name a command without its arguments

    @property
    def where(self) -> str:
        return f"{_name(self.page)}:{self.line}"

    @property
    def command(self) -> str:
        return next((arg for arg in self.args if not arg.startswith("-")), "")

    @property
    def has_placeholder(self) -> bool:
        return any(_is_placeholder(arg) for arg in self.args)


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def _names_a_run(word: str) -> bool:
    """RUN, <run-id>, "$(ls runs | tail -1)": a saved run the reader has."""
    return word in RUN_WORDS or "$" in word


def _is_placeholder(word: str) -> bool:
    return _names_a_run(word) or word in RUN_VALUES or bool(re.search(r"<[\w-]+>", word))


def _logical_lines(first: int, lines: list[str]) -> Iterator[tuple[int, str]]:
    """Shell lines with their `\\` continuations joined, each with its first line number."""
    buffer, start = "", first
    for offset, line in enumerate(lines):
        if not buffer:
            start = first + offset
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1] + " "
            continue
        yield start, buffer + line
        buffer = ""
    if buffer:
        yield start, buffer


def commands_in_script(page: Path, first: int, lines: list[str]) -> list[Documented]:
    """The `actbench` commands of a shell script: comments, redirections and pipes dropped."""
    found = []
    for number, line in _logical_lines(first, lines):
        expected = re.search(r"#.*\bexit (\d+)\b", line)
        try:
            words = shlex.split(line, comments=True)
        except ValueError as exc:
            raise AssertionError(f"{_name(page)}:{number}: {exc}: {line}") from None
        segments: list[list[str]] = [[]]
        for word in words:
            if word in SEPARATORS:
                segments.append([])
            else:
                segments[-1].append(word)
        for segment in segments:
            cut = next((i for i, word in enumerate(segment) if REDIRECTS.match(word)), None)
            segment = segment[:cut]
            if segment and segment[0] == "actbench":
                code = int(expected.group(1)) if expected else 0
                found.append(Documented(page, number, " ".join(segment), tuple(segment[1:]), code))
    return found


def _yaml_scripts(first: int, lines: list[str]) -> Iterator[tuple[int, list[str]]]:
    """The `run:` scripts of a GitHub Actions job written in a ```yaml block."""
    try:
        document = yaml.safe_load("\n".join(lines))
    except yaml.YAMLError:
        return
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            script = node.get("run")
            if isinstance(script, str):
                script_lines = script.splitlines()
                at = next(
                    (
                        first + index
                        for index, line in enumerate(lines)
                        if script_lines and script_lines[0].strip() in line
                    ),
                    first,
                )
                yield at, script_lines
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _inline_commands(page: Path, text: str) -> list[Documented]:
    """`actbench ...` in code spans of the prose (and tables), outside fenced blocks."""
    prose = outside_fences(text)
    joined = "\n".join(prose)
    found = []
    for match in re.finditer(r"(?<!`)`(actbench [^`]+)`(?!`)", joined):
        line = joined.count("\n", 0, match.start()) + 1
        span = " ".join(match.group(1).split()).replace("\\|", "|")
        # optional parts written [--flag VALUE] or [CONFIG]: documented, so parsed too
        span = re.sub(r"\[(--[^\]]*|[A-Z][A-Z_-]*)\]", r"\1", span)
        words = shlex.split(span)
        if words and words[-1] in ("...", "…"):
            words = words[:-1]
        found.append(Documented(page, line, match.group(1), tuple(words[1:]), inline=True))
    return found


def documented_commands(page: Path) -> list[Documented]:
    """Every `actbench` command of a page: shell blocks, CI job scripts and code spans."""
    text = page.read_text(encoding="utf-8")
    found: list[Documented] = []
    for language, first, lines in _fences(text):
        if language in ("bash", "sh", "shell"):
            found += commands_in_script(page, first, lines)
        elif language == "yaml":
            for at, script in _yaml_scripts(first, lines):
                found += commands_in_script(page, at, script)
    for shown in shown_outputs(page):  # console blocks: their `$ ` commands
        found += commands_in_script(page, shown.line, [shown.command])
    return found + _inline_commands(page, text)


ALL_COMMANDS = [command for page in PAGES for command in documented_commands(page)]


# --- parsing with the real command line --------------------------------------------------------


def _root() -> typer.core.TyperGroup:
    """The click group Typer builds from the app: the very parser `actbench` runs."""
    register_commands()
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    return root


def parse_error(args: tuple[str, ...], complete: bool = True) -> str | None:
    """Parse a command line with the real Typer commands, without running it: None if it
    parses, else the click message (an unknown option, a bad choice, a missing value).
    `complete=False` lets a required argument be missing (`actbench report` in a sentence)."""
    root = _root()
    words = [PARSE_VALUES.get(arg, arg) for arg in args if arg != "--debug"]
    parent = typer.Context(root, info_name="actbench", **root.context_settings)
    try:
        if not words or words[0].startswith("-"):
            with root.make_context("actbench", words, **root.context_settings):
                return None
        command = root.get_command(parent, words[0])
        if command is None:
            return f"no command '{words[0]}'"
        with command.make_context(words[0], words[1:], parent=parent, resilient_parsing=False):
            return None
    except typer.Exit as exc:  # --help, --version
        return None if exc.exit_code == 0 else f"exit {exc.exit_code}"
    except typer.TyperException as exc:  # click's UsageError and friends
        if not complete and type(exc).__name__ == "MissingParameter":
            return None
        format_message = getattr(exc, "format_message", None)
        message = format_message() if format_message else str(exc)
        return f"{type(exc).__name__}: {message}"


def test_the_docs_document_commands() -> None:
    pages = {command.page.name for command in ALL_COMMANDS}
    assert "README.md" in pages
    texts = {command.text for command in ALL_COMMANDS if command.page.name == "README.md"}
    assert "actbench compare configs/all.yaml" in texts


@pytest.mark.parametrize("documented", ALL_COMMANDS, ids=lambda command: command.where)
def test_every_documented_command_parses(documented: Documented) -> None:
    error = parse_error(documented.args, complete=not documented.inline)
    assert error is None, f"{documented.where}: `{documented.text}`: {error}"


def _option_tables(page: Path) -> Iterator[tuple[int, set[str], list[tuple[int, str]]]]:
    """(line, commands named in the sentence above, rows) of every `| option | ... |` table."""
    lines = page.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        if not re.match(r"^\|\s*option\s*\|", line):
            continue
        above = index - 1
        while above >= 0 and not lines[above].strip():
            above -= 1
        intro = []
        while above >= 0 and lines[above].strip() and not lines[above].startswith("|"):
            intro.insert(0, lines[above])
            above -= 1
        named = set(re.findall(r"`(\w+)`", " ".join(intro)))
        rows = []
        for row_index in range(index + 2, len(lines)):
            if not lines[row_index].startswith("|"):
                break
            first_cell = re.split(r"(?<!\\)\|", lines[row_index])[1]
            rows.append((row_index + 1, first_cell))
        yield index + 1, named, rows


def option_table_errors(page: Path) -> list[str]:
    """Options in an option table that the commands named above it do not take."""
    root = _root()
    parent = typer.Context(root, info_name="actbench", **root.context_settings)
    global_options = {opt for param in root.params for opt in param.opts}
    errors = []
    for line, named, rows in _option_tables(page):
        commands = {name: root.get_command(parent, name) for name in named}
        commands = {name: command for name, command in commands.items() if command}
        where = f"{_name(page)}:{line}"
        if not commands:
            errors.append(f"{where}: the sentence above an option table names no command")
            continue
        for row_line, cell in rows:
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", cell):
                for name, command in sorted(commands.items()):
                    taken = {
                        opt
                        for param in command.params
                        for opt in (*param.opts, *getattr(param, "secondary_opts", []))
                    }
                    if option not in taken | global_options:
                        errors.append(f"{_name(page)}:{row_line}: `{name}` has no {option}")
    return errors


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(_name(page)))
def test_option_tables_name_options_that_exist(page: Path) -> None:
    assert option_table_errors(page) == []


def test_the_checks_catch_options_that_do_not_exist(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nactbench report RUN --baseline relu   # a comment\n"
        "actbench report RUN --quiet > out.txt\nactbench report RUN --html\n```\n\n"
        "`compare` (and `report`) also take:\n\n| option | meaning |\n|---|---|\n"
        "| `--baseline LABEL` | paired |\n| `--sort COL` | sort |\n",
        encoding="utf-8",
    )
    commands = documented_commands(page)
    assert [command.args for command in commands] == [
        ("report", "RUN", "--baseline", "relu"),
        ("report", "RUN", "--quiet"),
        ("report", "RUN", "--html"),
    ]
    errors = [parse_error(command.args) for command in commands]
    assert errors[0] is not None and "--baseline" in errors[0]
    assert errors[1] is not None and "--quiet" in errors[1]
    assert errors[2] is None
    assert option_table_errors(page) == ["page.md:11: `report` has no --baseline"]


def test_continuations_comments_and_pipes_are_shell_not_actbench() -> None:
    page = ROOT / "README.md"
    script = [
        "mkdir -p ci && actbench compare configs/smoke.yaml --format json \\",
        "   --no-save > ci/baseline.json   # exit 1",
        "actbench runs | head -3",
        "pytest   # actbench is not a command here",
    ]
    commands = commands_in_script(page, 10, script)
    assert [(c.line, c.args, c.expected) for c in commands] == [
        (10, ("compare", "configs/smoke.yaml", "--format", "json", "--no-save"), 1),
        (12, ("runs",), 0),
    ]


# --- running the fast ones ---------------------------------------------------------------------


def _run(args: list[str]) -> tuple[int, str]:
    """Run a command line in this process as the console script does: (exit code, stderr)."""
    outcome = run_cli_redirected(*args)
    return outcome.code, outcome.err


def _config_of(args: list[str]) -> str | None:
    positional = [arg for arg in args[1:] if arg.endswith((".yaml", ".yml"))]
    return positional[0] if positional else None


def _how_to_run(documented: Documented) -> str:
    """'full' (fast: run as written), 'print-config' (training that takes longer: validate its
    config, overrides and sweep with --print-config), or 'parse' (only parsed)."""
    args = documented.args
    if not args or args[0].startswith("-") or "--help" in args or "-h" in args:
        return "full"
    command = args[0]
    if command in ("activations", "show", "runs", "report", "rerun"):
        return "full"
    if command not in ("compare", "train"):
        return "parse"  # bench: tens of seconds by design
    if "--executor" in args or "--ray-address" in args:
        return "parse"  # the optional ray extra
    config = _config_of(list(args))
    if config in FAST_CONFIGS and "--sweep" not in args and not documented.has_placeholder:
        return "full"
    return "print-config"


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A saved smoke run (compared against relu) for the commands that name a run."""
    out = tmp_path_factory.mktemp("runs")
    smoke = str(ROOT / "configs" / "smoke.yaml")
    code, err = _run(["compare", smoke, "--out", str(out), "--baseline", "relu"])
    assert code == 0, err
    (run_dir,) = [path for path in out.iterdir() if path.is_dir()]
    return out, run_dir.name


def _substituted(documented: Documented, how: str, out: Path, saved: tuple[Path, str]) -> list[str]:
    """The command line to run: placeholders replaced by the saved run, every run folder
    written under `out` (the repository's runs/ stays untouched)."""
    saved_out, run_id = saved
    names_run = documented.command in ("report", "rerun") or documented.has_placeholder
    root = saved_out if names_run else out
    args: list[str] = []
    skip = False
    for index, arg in enumerate(documented.args):
        if skip:
            skip = False
            continue
        if arg == OUT:
            skip = index + 1 < len(documented.args)
            continue
        if _names_a_run(arg):
            args.append(run_id)
        elif re.match(r"^runs/<[\w-]+>", arg):  # runs/<id>/config.yaml
            args.append(str(saved_out / run_id) + re.sub(r"^runs/<[\w-]+>", "", arg))
        else:
            args.append(RUN_VALUES.get(arg, arg))
    if args and args[0] in ("compare", "train", "rerun", "runs", "report"):
        args += [OUT, str(root)]
    if how == "print-config":
        args.append("--print-config")
    return args


# Shell lines run; code spans in sentences (`actbench report` as a name) are parsed only.
RUNNABLE = [c for c in ALL_COMMANDS if not c.inline and _how_to_run(c) != "parse"]
# A command line written on several pages (or as RUN and <run-id>) runs once: its outcome
# (exit code, stderr) by the words it runs with.
_OUTCOMES: dict[tuple[str, ...], tuple[int, str]] = {}


@pytest.mark.parametrize("documented", RUNNABLE, ids=lambda command: command.where)
def test_documented_commands_run(
    documented: Documented,
    saved_run: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    how = _how_to_run(documented)
    args = _substituted(documented, how, tmp_path, saved_run)
    if any(arg.startswith("cuda") for arg in args) and how == "full":
        pytest.skip("a CUDA command")
    key = tuple(_substituted(documented, how, Path("<tmp>"), saved_run))
    if key not in _OUTCOMES:
        _OUTCOMES[key] = _run(args)
    code, err = _OUTCOMES[key]
    # a gate (exit 1) needs the training --print-config skips; a usage error (2) does not
    expected = 0 if how == "print-config" and documented.expected == 1 else documented.expected
    assert code == expected, (
        f"{documented.where}: `{documented.text}` ran as `actbench {' '.join(args)}`: "
        f"exit {code}, expected {expected}\n{err}"
    )


@pytest.mark.parametrize("page", ["api.md", "activations.md"])  # sklearn.md: pycon, with outputs
def test_docs_python_examples_run(page: str, tmp_path: Path) -> None:
    """The Python examples of a docs page, in one script, as a reader would paste them (in a
    folder with the repository's configs/ and examples/)."""
    pytest.importorskip("pandas", reason="the examples use the pandas extra")
    examples = blocks((ROOT / "docs" / page).read_text(encoding="utf-8"), "python")
    assert examples
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    done = run_python("\n\n".join(examples), tmp_path)
    assert done.returncode == 0, done.stderr


# --- links, the README's size, the pages' shape ------------------------------------------------


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def _anchors(page: Path) -> set[str]:
    lines = outside_fences(page.read_text(encoding="utf-8"))
    anchors: set[str] = set()
    for line in lines:
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if match:
            slug = _slug(match.group(1))
            count = 0
            while (slug if not count else f"{slug}-{count}") in anchors:
                count += 1
            anchors.add(slug if not count else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> Iterator[tuple[int, str]]:
    """(line, target) of every Markdown link and image and HTML src/href, outside code."""
    lines = outside_fences(page.read_text(encoding="utf-8"))
    for number, line in enumerate(lines, start=1):
        line = re.sub(r"`[^`]*`", "", line)
        for match in re.finditer(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", line):
            yield number, match.group(1)
        for match in re.finditer(r"\b(?:src|href)=\"([^\"]+)\"", line):
            yield number, match.group(1)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(_name(page)))
def test_relative_links_and_images_resolve(page: Path) -> None:
    broken = []
    for number, target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        where = f"{_name(page)}:{number}: {target}"
        if not resolved.exists():
            broken.append(f"{where}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{where}: no heading with that anchor")
    assert broken == []


def test_the_readme_fits_and_keeps_the_commands_ci_relies_on() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    shell = [
        line.split("#")[0].strip()
        for language, _, lines in _fences(text)
        if language == "bash"
        for line in lines
    ]
    assert 'pip install torch==2.13.0 && pip install -e ".[dev]"' in shell  # .ci/run's install
    assert "pytest" in shell  # .ci/run's test command


def test_every_docs_page_starts_with_a_title_and_a_one_line_summary() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# "), page.name
        assert lines[1] == "" and lines[2].strip() and lines[3] == "", (
            f"{page.name}: a one-line summary under the title"
        )


def test_the_docs_index_links_every_page() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "README.md":
            assert f"({page.name})" in index, page.name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/README.md)" in readme
