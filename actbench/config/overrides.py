"""Overrides of single keys: --set KEY=VALUE, the Python form {"train.lr": 0.3} and the
dedicated flags (--seeds, --epochs, ...), checked against the schema and applied to a document."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from actbench.config.loader import load_yaml
from actbench.config.paths import ROOT, SchemaKey, schema_key, set_in
from actbench.errors import ConfigError, brief


def override_path(key: str, value: Any) -> list[str]:
    """The parts of an override's dotted key; a missing value or an empty part is an error."""
    if value is None:
        raise ConfigError(f"--set {key}= needs a value")
    path = key.strip().split(".")
    if any(not part for part in path):
        raise ConfigError(f"--set key '{key}' has an empty part")
    return path


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.lr=0.3' -> (['train', 'lr'], 0.3). The value is read as YAML ([3,3], true, 1e-3)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE, like train.lr=0.3 (got '{brief(text)}')")
    value = load_yaml(raw, f"--set {key}") if raw.strip() else None
    return override_path(key, value), value


def override_items(overrides: Mapping[str, Any] | None) -> Iterator[tuple[list[str], Any]]:
    """The Python form, {"train.lr": 0.3} -> (["train", "lr"], 0.3), checked like --set."""
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigError(f"overrides must be a mapping of KEY: VALUE, not {overrides!r}")
    for key, value in (overrides or {}).items():
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"override key {key!r} must be a dotted config key, like train.lr")
        yield override_path(key, value), value


def shortcuts(
    *,
    seeds: Any = None,
    epochs: Any = None,
    lr: Any = None,
    device: Any = None,
    threads: Any = None,
) -> dict[str, Any]:
    """The dedicated flags (--seeds, --epochs, --lr, --device, --threads and their Python
    keywords) as the dotted keys load_config takes; None: not given."""
    return {
        "train.seeds": seeds,
        "train.epochs": epochs,
        "train.lr": lr,
        "train.device": device,
        "train.threads": threads,
    }


def check_keys(document: Mapping[Any, Any], under: SchemaKey = ROOT) -> None:
    """Unknown keys are errors that name the key, a close match and the valid keys."""
    for key, value in document.items():
        found = under.child(key)
        if found.section is None:
            continue
        if not isinstance(value, dict):
            raise ConfigError(
                f"config section '{found.dotted}' must be a mapping of keys "
                f"({', '.join(found.section.model_fields)}), not {value!r}"
            )
        check_keys(value, found)


def apply_override(document: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Set document[path] = value, the path checked against the schema first."""
    key = schema_key(path, lambda leaf: f"; use --set {leaf}=VALUE")
    set_in(document, key.parts, value)
