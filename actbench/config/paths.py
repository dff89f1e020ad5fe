"""Dotted config keys ('train.lr'): resolved against the schema in one place, and read or
written on plain documents (the mappings YAML and overrides give).

Every walk of a dotted key goes through here: the check of a document's keys, --set and the
Python overrides, sweep keys, and the grid points of a sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actbench.config.schema import Config, Section
from actbench.errors import ConfigError, unknown


def _no_hint(leaf: str) -> str:
    return ""


@dataclass(frozen=True)
class SchemaKey:
    """A key the schema knows: its parts, and the section's model when it names a section
    (data, train) rather than a value (train.lr, activations)."""

    parts: tuple[str, ...]
    section: type[Section] | None

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)

    @property
    def is_leaf(self) -> bool:
        return self.section is None

    def sub_keys(self) -> list[str]:
        """The section's keys, dotted ('train.epochs', ...); none for a leaf."""
        names = self.section.model_fields if self.section is not None else ()
        return [".".join([*self.parts, name]) for name in names]

    def child(self, part: Any, past_leaf: Callable[[str], str] = _no_hint) -> SchemaKey:
        """The key one part further down; a ConfigError for a part the schema does not have
        (with a close match and the valid keys) or for any part below a leaf ("config key
        'train.lr' has no sub-keys" and then past_leaf('train.lr'))."""
        if self.section is None:
            raise ConfigError(f"config key '{self.dotted}' has no sub-keys{past_leaf(self.dotted)}")
        if not isinstance(part, str) or part not in self.section.model_fields:
            dotted = ".".join([*self.parts, str(part)])
            raise ConfigError(unknown("config key", dotted, self.sub_keys()))
        annotation = self.section.model_fields[part].annotation
        section = (
            annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None
        )
        return SchemaKey((*self.parts, part), section)


ROOT = SchemaKey((), Config)


def schema_key(parts: Sequence[Any], past_leaf: Callable[[str], str] = _no_hint) -> SchemaKey:
    """parts ('train', 'lr') resolved against the schema, part by part (see SchemaKey.child)."""
    key = ROOT
    for part in parts:
        key = key.child(part, past_leaf)
    return key


def get_in(document: Mapping[str, Any], parts: Sequence[str]) -> Any:
    """document[parts[0]][parts[1]]..."""
    node: Any = document
    for part in parts:
        node = node[part]
    return node


def set_in(document: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    """document[parts] = value. The mappings on the way are copied (or made where missing), so
    one nested in another document stays untouched; a value on the way that is not a mapping
    is a ConfigError."""
    node = document
    for depth, part in enumerate(parts[:-1]):
        child = node[part] if part in node else {}
        if not isinstance(child, dict):
            dotted = ".".join(parts[: depth + 1])
            raise ConfigError(f"config section '{dotted}' must be a mapping, not {child!r}")
        copied = dict(child)
        node[part] = copied
        node = copied
    node[parts[-1]] = value
