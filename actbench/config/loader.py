"""The bounded YAML loader: a size limit, an alias-expansion limit and no duplicate keys, so
that hostile or mistaken input fails in well under a second with one line."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml

from actbench.errors import ConfigError, printable

MAX_CONFIG_BYTES = 1 << 20  # a config is a few KiB; also bounds the pure-Python YAML parser
MAX_YAML_NODES = 100_000  # values of a document once its aliases are expanded


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and documents whose aliases expand too far.

    An alias (`*a`) repeats its anchor's node without copying it, so ~300 bytes can describe
    billions of values that only blow up later (validation, copies, error messages). The
    composed node graph is measured, expanded, before anything is constructed.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expanded_size(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # Before the merge keys (`<<: *base`) are flattened: overriding a merged key is fine.
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: SafeConstructor reports it
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key '{printable(str(key))}' (first at line "
                        f"{first.start_mark.line + 1})",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a node graph that has a cycle or expands to more than MAX_YAML_NODES nodes.

    Iterative depth-first search with the size of each distinct node computed once, so the
    cost is the size of the document as written, not as expanded.
    """
    size: dict[int, int] = {}
    open_nodes: set[int] = set()  # expansion begun, not finished: ancestors of the stack top
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        ident = id(node)
        if finished:
            open_nodes.discard(ident)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > MAX_YAML_NODES:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"aliases expand this document to more than {MAX_YAML_NODES:,} values "
                    "(a config needs far fewer)",
                    node.start_mark,
                )
            size[ident] = total
            continue
        if ident in size:
            continue
        if ident in open_nodes:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to a node that contains it", node.start_mark
            )
        open_nodes.add(ident)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def load_yaml(text: str, what: str) -> Any:
    """One YAML document from text, bounded in size; every failure is a ConfigError naming
    `what` (a path, '--set train.lr')."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{what}: {len(text):,} characters is too long (at most {MAX_CONFIG_BYTES:,})"
        )
    try:
        return yaml.load(text, Loader=_ConfigLoader)
    except RecursionError:
        raise ConfigError(f"{what}: invalid YAML: nested too deeply") from None
    except Exception as exc:  # constructors raise ValueError & co. (`2001-02-30`, `!!int x`)
        raise ConfigError(f"{what}: {describe_yaml_error(exc)}") from None


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping; every way it can fail is a one-line ConfigError."""
    try:
        # O_NONBLOCK: opening a FIFO that nobody writes to would wait forever; once open, it
        # reads as usual (a pipe with a writer to its end, one without as empty)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as handle:
            os.set_blocking(fd, True)
            fifo = stat.S_ISFIFO(os.fstat(fd).st_mode)
            # at most one byte past the limit: /dev/zero or a huge file is refused, not read
            blob = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config path '{path}' is a directory, not a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from None
    if len(blob) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file '{path}' is larger than {MAX_CONFIG_BYTES // 2**20} MiB; "
            "a config is a few KiB of YAML"
        )
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from None
    document = load_yaml(text, str(path))
    if document is None and fifo and not blob:
        raise ConfigError(f"config file '{path}' is a FIFO that nothing writes to")
    if document is None:
        raise ConfigError(
            f"config file '{path}' is empty; give at least one section "
            "(data, model, train, metrics, activations) or run without a config for the defaults"
        )
    if not isinstance(document, dict):
        raise ConfigError(
            f"config file '{path}' must be a mapping of sections, not a {type(document).__name__}"
        )
    return document


def describe_yaml_error(exc: Exception) -> str:
    if not isinstance(exc, yaml.YAMLError):
        return f"invalid YAML value: {exc}"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if "\t" in problem or "'\\t'" in problem:
        problem += " (YAML does not allow tabs for indentation; use spaces)"
    if mark is not None:
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"invalid YAML: {problem}"
