"""The config: its schema (every key optional), YAML loading, overrides and sweeps.

Strings become typed objects here and nowhere else. No torch in this package. The modules, from
the bottom up: values (validators), schema (the sections and Config), paths (dotted keys),
loader (bounded YAML), overrides (--set and flags), sweeps (the grid), sources (a config from
all of them, for the command line and the Python API).
"""

from __future__ import annotations

from actbench.config.kinds import (
    BUNDLED_KINDS,
    BUNDLED_SHAPES,
    COMMON_DATA_KEYS,
    DATA_FILE_TYPES,
    DATA_KINDS,
    KEY_DEFAULTS,
    KIND_KEYS,
    SYNTHETIC_KINDS,
    DataKind,
)
from actbench.config.loader import (
    MAX_CONFIG_BYTES,
    MAX_YAML_NODES,
    describe_yaml_error,
    load_yaml,
    read_yaml_mapping,
)
from actbench.config.overrides import (
    apply_override,
    check_keys,
    parse_override,
    shortcuts,
)
from actbench.config.schema import (
    DEFAULT_ACTIVATIONS,
    HEALTH_PROBES,
    ActivationEntry,
    Config,
    DataConfig,
    InitScheme,
    MetricsConfig,
    ModelConfig,
    TrainConfig,
    format_validation_error,
)
from actbench.config.sources import (
    ConfigLike,
    check_baseline_label,
    config_from_mapping,
    load_config,
    one_activation,
    require_one_activation,
    resolve,
    validate,
)
from actbench.config.sweeps import (
    MAX_GRID_POINTS,
    NOT_SWEEPABLE,
    GridPoint,
    check_sweep_key,
    grid_points,
    grid_size,
    parse_sweep,
)
from actbench.config.values import DEVICE_PATTERN
from actbench.errors import ConfigError

__all__ = [
    "BUNDLED_KINDS",
    "BUNDLED_SHAPES",
    "COMMON_DATA_KEYS",
    "DATA_FILE_TYPES",
    "DATA_KINDS",
    "DEFAULT_ACTIVATIONS",
    "DEVICE_PATTERN",
    "HEALTH_PROBES",
    "KEY_DEFAULTS",
    "KIND_KEYS",
    "MAX_CONFIG_BYTES",
    "MAX_GRID_POINTS",
    "MAX_YAML_NODES",
    "NOT_SWEEPABLE",
    "SYNTHETIC_KINDS",
    "ActivationEntry",
    "Config",
    "ConfigError",
    "ConfigLike",
    "DataConfig",
    "DataKind",
    "GridPoint",
    "InitScheme",
    "MetricsConfig",
    "ModelConfig",
    "TrainConfig",
    "apply_override",
    "check_baseline_label",
    "check_keys",
    "check_sweep_key",
    "config_from_mapping",
    "describe_yaml_error",
    "format_validation_error",
    "grid_points",
    "grid_size",
    "load_config",
    "load_yaml",
    "one_activation",
    "parse_override",
    "parse_sweep",
    "read_yaml_mapping",
    "require_one_activation",
    "resolve",
    "shortcuts",
    "validate",
]
