"""A config from its sources, in order: defaults <- a YAML file, a mapping or a Config <-
overrides <- dedicated flags <- sweep, validated. The command line and the Python API both
resolve here, so every check runs, and every message reads, the same.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from actbench.config.loader import read_yaml_mapping
from actbench.config.overrides import apply_override, check_keys, override_items, parse_override
from actbench.config.schema import ActivationEntry, Config, validate_schema
from actbench.config.sweeps import parse_sweep, sweep_items
from actbench.errors import ActbenchError, ConfigError, unknown

# What the Python API takes as a config: a YAML path, a mapping of sections, a Config or none.
ConfigLike = str | Path | Mapping[str, Any] | Config | None


def read_config(config: ConfigLike) -> tuple[dict[str, Any], str | None]:
    """The config as a raw mapping, and its name (a file's stem, 'python') for the run id."""
    if config is None:
        return {}, None
    if isinstance(config, Config):
        return config.to_dict(), "python"
    if isinstance(config, str | Path):
        path = Path(config)
        return relative_to_file(read_yaml_mapping(path), path.parent), path.stem
    if isinstance(config, Mapping):
        return dict(config), "python"
    raise ConfigError(
        f"config must be a path, a mapping of sections or a Config, not {type(config).__name__}"
    )


def relative_to_file(document: dict[str, Any], folder: Path) -> dict[str, Any]:
    """A config file's data paths (data.path, and a sweep's) made relative to its folder: the
    config then runs the same from any working directory."""

    def moved(value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            return os.path.join(folder, os.path.expanduser(value))  # an absolute one stays
        return value

    data, sweep = document.get("data"), document.get("sweep")
    if isinstance(data, dict) and "path" in data:
        document = {**document, "data": {**data, "path": moved(data["path"])}}
    if isinstance(sweep, dict) and isinstance(sweep.get("data.path"), list):
        paths = [moved(value) for value in sweep["data.path"]]
        document = {**document, "sweep": {**sweep, "data.path": paths}}
    return document


def load_config(
    path: Path | None = None,
    overrides: Iterable[str] = (),
    *,
    flags: Mapping[str, Any] | None = None,
    sweeps: Iterable[str] = (),
) -> Config:
    """The command line's form: a YAML file, --set texts, dedicated flags, --sweep texts.

    flags: dotted key -> value (None: not given), e.g. {"train.seeds": 3} from --seeds 3.
    """
    document, _ = read_config(path)
    # generators: each text is parsed in its turn, so the first problem is the one reported
    return config_from_mapping(
        document,
        (parse_override(text) for text in overrides),
        flags=flags,
        sweeps=(parse_sweep(text) for text in sweeps),
    )


def resolve(
    config: ConfigLike = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> tuple[Config, str | None]:
    """The Python form: the resolved Config and its name (None without a config).

    overrides: {"train.lr": 0.3}; sweep: {"train.lr": [0.001, 0.1]}; flags as load_config's.
    """
    document, name = read_config(config)
    resolved = config_from_mapping(
        document, override_items(overrides), flags=flags, sweeps=sweep_items(sweep)
    )
    return resolved, name


def config_from_mapping(
    document: Mapping[str, Any],
    overrides: Iterable[tuple[Sequence[str], Any]] = (),
    *,
    flags: Mapping[str, Any] | None = None,
    sweeps: Iterable[tuple[str, list[Any]]] = (),
) -> Config:
    """A mapping already in memory, with overrides and sweeps already parsed, resolved.

    overrides: (key path, value) pairs; sweeps: (dotted key, values) pairs. The caller's
    mapping is not changed.
    """
    working: dict[str, Any] = copy.deepcopy(dict(document))
    check_keys(working)
    for key_path, value in overrides:
        apply_override(working, key_path, value)
    for dotted, value in (flags or {}).items():
        if value is not None:
            apply_override(working, dotted.split("."), value)
    swept: set[str] = set()
    for key, values in sweeps:
        if key in swept:
            raise ConfigError(
                f"--sweep {key} is given twice; list every value in one: --sweep {key}=V1,V2,..."
            )
        swept.add(key)
        sweep = working.setdefault("sweep", {})
        if not isinstance(sweep, dict):
            raise ConfigError(
                f"config key 'sweep' must be a mapping of KEY: [values], not {sweep!r}"
            )
        sweep[key] = values
    try:
        return validate(working)
    except ActbenchError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:  # a value that defeats comparison
        raise ConfigError(f"invalid config: {exc}") from None


def validate(document: Mapping[str, Any]) -> Config:
    """A raw mapping (from YAML and overrides) -> Config, or one ConfigError."""
    check_keys(document)
    return validate_schema(document)


def check_baseline_label(config: Config, baseline: str | None) -> None:
    """The label --baseline names must be one of the config's (checked before any training)."""
    labels = [entry.label for entry in config.activations]
    if baseline is not None and baseline not in labels:
        raise ConfigError(unknown("--baseline", baseline, labels))


# --- train: one activation ----------------------------------------------------------------------


def one_activation(act: str | None, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """`train`'s --act NAME and --param pairs as a flag for the config (none without --act)."""
    if params and act is None:
        raise ConfigError("--param needs --act NAME")
    return {"activations": [{"name": act, "params": dict(params or {})}]} if act is not None else {}


def require_one_activation(config: Config) -> ActivationEntry:
    """The one activation `train` runs; a config that lists more is an error."""
    if len(config.activations) != 1:
        raise ConfigError(
            f"train runs one activation but the config lists {len(config.activations)}; "
            "pass --act NAME (or use: actbench compare)"
        )
    return config.activations[0]
