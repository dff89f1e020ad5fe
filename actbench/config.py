"""Config: pydantic models (every key optional), YAML loading and dotted --set overrides.

Strings become typed objects here and nowhere else. No torch in this module.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from actbench import activations
from actbench.errors import ActbenchError, ConfigError, unknown


def _reject_bool(value: Any) -> Any:
    # YAML reads `yes`/`true` as booleans; pydantic's lax mode would turn them into 1.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def _finite(value: Any) -> Any:
    # Before the bounds are checked (a NaN fails `gt=0` with a confusing message). Strings are
    # parsed here too: PyYAML reads `1e-3`, `inf` and `Infinity` as strings.
    value = _reject_bool(value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # let pydantic report "not a number"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value}")
    return value


Int = Annotated[int, BeforeValidator(_reject_bool)]
Float = Annotated[float, BeforeValidator(_finite)]

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
DEFAULT_ACTIVATIONS = ("identity", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(_Section):
    """sklearn.datasets.make_classification arguments plus the train/test split."""

    n_samples: Int = Field(1000, ge=4, le=10**9, description="samples before the split")
    n_features: Int = Field(20, ge=1, le=100_000)
    n_informative: Int = Field(2, ge=1, le=100_000)
    n_redundant: Int = Field(2, ge=0, le=100_000)
    n_repeated: Int = Field(0, ge=0, le=100_000)
    n_classes: Int = Field(2, ge=2, le=10_000)
    n_clusters_per_class: Int = Field(2, ge=1, le=10_000)
    class_sep: Float = Field(1.0, ge=0)
    flip_y: Float = Field(0.01, ge=0, le=1, description="fraction of labels flipped at random")
    test_size: Float = Field(0.2, gt=0, lt=1)
    random_state: Int = Field(42, ge=0, lt=2**32)

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        used = self.n_informative + self.n_redundant + self.n_repeated
        if used > self.n_features:
            raise ValueError(
                f"n_informative + n_redundant + n_repeated = {used} exceeds "
                f"n_features = {self.n_features}"
            )
        # log2 rather than 2**n_informative: no huge integers for huge n_informative
        if math.log2(self.n_classes * self.n_clusters_per_class) > self.n_informative:
            raise ValueError(
                f"n_classes * n_clusters_per_class = "
                f"{self.n_classes * self.n_clusters_per_class} needs n_informative >= "
                f"{math.ceil(math.log2(self.n_classes * self.n_clusters_per_class))} "
                f"(got {self.n_informative})"
            )
        if self.n_test < 1 or self.n_train < 1:
            raise ValueError(
                f"test_size {self.test_size} of n_samples {self.n_samples} leaves "
                f"{self.n_train} training and {self.n_test} test samples; both need at least 1"
            )
        return self

    @property
    def n_test(self) -> int:
        """Test-set size, as sklearn's train_test_split computes it."""
        return math.ceil(self.test_size * self.n_samples)

    @property
    def n_train(self) -> int:
        return self.n_samples - self.n_test


class ModelConfig(_Section):
    hidden: tuple[Annotated[Int, Field(ge=1, le=1_000_000)], ...] = Field(
        (50,), min_length=1, description="hidden layer widths"
    )
    head: Literal["softmax", "sigmoid"] = "softmax"

    @field_validator("hidden", mode="before")
    @classmethod
    def _one_layer(cls, value: Any) -> Any:
        return [value] if isinstance(value, int) and not isinstance(value, bool) else value


class TrainConfig(_Section):
    epochs: Int = Field(100, ge=1, le=1_000_000)
    batch_size: Int = Field(
        64, ge=1, le=10**9, description="larger than the training set = full batch"
    )
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: Float = Field(0.001, gt=0)
    weight_decay: Float = Field(0.0, ge=0)
    momentum: Float = Field(0.0, ge=0, lt=1, description="sgd only")
    seeds: (
        Annotated[Int, Field(ge=1, le=10_000)] | tuple[Annotated[Int, Field(ge=0, lt=2**63)], ...]
    ) = Field(5, description="a count (seeds 0..n-1) or an explicit list")
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    cuda_graphs: bool = Field(True, description="replay each step as a CUDA graph (CUDA only)")
    threads: Literal["auto"] | Int = Field(
        "auto",
        description="CPU threads for training: auto (from the work per step and the machine's "
        "load) or a count",
    )

    @field_validator("seeds")
    @classmethod
    def _seed_list(cls, value: int | tuple[int, ...]) -> int | tuple[int, ...]:
        if isinstance(value, tuple):
            if not value:
                raise ValueError("the seed list is empty")
            if len(set(value)) != len(value):
                raise ValueError(f"the seed list {list(value)} repeats a seed")
        return value

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> Any:
        if value == "auto" or (
            isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4096
        ):
            return value
        raise ValueError(f"expected auto or a thread count from 1 to 4096 (got {value!r})")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"unknown device '{value}'; choices: auto, cpu, cuda, cuda:N")
        return value

    @model_validator(mode="after")
    def _momentum_needs_sgd(self) -> TrainConfig:
        if self.momentum and self.optimizer != "sgd":
            raise ValueError(
                f"momentum applies to optimizer sgd only (optimizer is {self.optimizer})"
            )
        return self

    @property
    def seed_values(self) -> tuple[int, ...]:
        return tuple(range(self.seeds)) if isinstance(self.seeds, int) else self.seeds


class MetricsConfig(_Section):
    dormant_tau: Float = Field(0.1, ge=0, le=1, description="dormant threshold (Sokar et al. 2023)")
    probe_size: Int = Field(
        2048, ge=1, le=10_000_000, description="training samples used for per-epoch health"
    )
    health: bool = Field(True, description="measure neuron health during training")
    health_every: Int = Field(
        1,
        ge=1,
        le=1_000_000,
        description="epochs between health probes; the first and last epoch are always probed",
    )


class ActivationEntry(_Section):
    """One compared activation: canonical name, every param resolved, and its table label."""

    name: str
    params: dict[str, float | bool | str] = Field(default_factory=dict)
    label: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value}
        return value

    @model_validator(mode="after")
    def _resolve(self) -> ActivationEntry:
        spec = activations.get(self.name)
        params = spec.resolve_params(self.params)
        changed = {k: v for k, v in params.items() if v != spec.params[k].default}
        label = self.label or spec.name + (
            "(" + ", ".join(f"{k}={v}" for k, v in changed.items()) + ")" if changed else ""
        )
        # frozen model: set the resolved values once, here
        object.__setattr__(self, "name", spec.name)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "label", label)
        return self


# Keys a sweep may not vary: they are the compared axis, the repetition, or where it runs.
NOT_SWEEPABLE = ("activations", "sweep", "train.seeds", "train.device")


class Config(_Section):
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    metrics: MetricsConfig = MetricsConfig()
    activations: tuple[ActivationEntry, ...] = Field(
        tuple(ActivationEntry(name=n) for n in DEFAULT_ACTIVATIONS), min_length=1
    )
    # dotted key -> values; the cross product of all keys is the grid (see grid_points)
    sweep: dict[str, list[Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        labels = [a.label for a in self.activations]
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(
                f"activation label '{duplicates[0]}' is used twice; give each entry its own label"
            )
        if self.model.head == "sigmoid" and self.data.n_classes != 2 and not self.sweep:
            raise ValueError(
                f"model.head sigmoid is binary only (data.n_classes is {self.data.n_classes}); "
                "use head softmax"
            )
        if self.sweep:
            grid_points(self)  # every point must be a valid config
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples), in the order of the sections above."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)


# --- sweeps -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep: its values and the config it resolves to (without the sweep)."""

    values: dict[str, Any]
    config: Config

    def describe(self) -> str:
        return ", ".join(f"{short_key(k)}={format_value(v)}" for k, v in self.values.items())


def short_key(key: str) -> str:
    """'train.lr' -> 'lr': the last part names a sweep column well enough."""
    return key.rsplit(".", 1)[-1]


def format_value(value: Any) -> str:
    """Compact text for a sweep value: [3,3,3,3] -> 3x4, [50] -> 50."""
    if isinstance(value, list | tuple):
        if value and all(v == value[0] for v in value) and len(value) > 2:
            return f"{value[0]}x{len(value)}"
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def grid_points(config: Config) -> list[GridPoint]:
    """The cross product of config.sweep (one point, no values, without a sweep)."""
    base = config.model_dump(mode="json", exclude={"sweep"})
    if not config.sweep:
        return [GridPoint({}, config)]
    keys = list(config.sweep)
    for key in keys:
        if key in NOT_SWEEPABLE or any(key.startswith(f"{k}.") for k in NOT_SWEEPABLE):
            raise ConfigError(
                f"sweep key '{key}' cannot be swept (not sweepable: {', '.join(NOT_SWEEPABLE)})"
            )
        if not config.sweep[key]:
            raise ConfigError(f"sweep key '{key}' needs a non-empty list of values")
    points = []
    for combination in itertools.product(*(config.sweep[k] for k in keys)):
        document = copy.deepcopy(base)
        for key, value in zip(keys, combination, strict=True):
            apply_override(document, key.split("."), value)
        values = dict(zip(keys, combination, strict=True))
        try:
            resolved = validate(document)
        except ConfigError as exc:
            where = ", ".join(f"{k}={format_value(v)}" for k, v in values.items())
            raise ConfigError(f"sweep point {where}: {exc}") from None
        # the validated values ('1e-2' -> 0.01, [50] -> [50])
        resolved_document = resolved.model_dump(mode="json")
        points.append(GridPoint({k: _lookup(resolved_document, k) for k in keys}, resolved))
    return points


def _lookup(document: Mapping[str, Any], dotted: str) -> Any:
    node: Any = document
    for part in dotted.split("."):
        node = node[part]
    return node


def parse_sweep(text: str) -> tuple[str, list[Any]]:
    """--sweep 'train.lr=0.001,0.01' or 'model.hidden=[50],[3,3]' -> (key, values)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ConfigError(f"--sweep expects KEY=V1,V2,..., like train.lr=0.001,0.01 (got '{text}')")
    try:
        values = yaml.safe_load(f"[{raw}]")
    except Exception as exc:  # see read_yaml_mapping
        raise ConfigError(f"--sweep {key}: {describe_yaml_error(exc)}") from None
    if not values or any(v is None for v in values):
        raise ConfigError(f"--sweep {key}: empty value in '{raw}'")
    return key, values


# --- loading ------------------------------------------------------------------------------------


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file that must hold a mapping; every way it can fail is a one-line ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' not found") from None
    except IsADirectoryError:
        raise ConfigError(f"config path '{path}' is a directory, not a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}") from None
    try:
        document = yaml.safe_load(text)
    except Exception as exc:  # constructors raise ValueError & co. (`2001-02-30`, `!!int x`)
        raise ConfigError(f"{path}: {describe_yaml_error(exc)}") from None
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


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.lr=0.3' -> (['train', 'lr'], 0.3). The value is read as YAML ([3,3], true, 1e-3)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set expects KEY=VALUE, like train.lr=0.3 (got '{text}')")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except Exception as exc:  # see read_yaml_mapping
        raise ConfigError(f"--set {key}: {describe_yaml_error(exc)}") from None
    if value is None:
        raise ConfigError(f"--set {key}= needs a value")
    path = key.split(".")
    if any(not part for part in path):
        raise ConfigError(f"--set key '{key}' has an empty part")
    return path, value


def _field_names(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def check_keys(
    document: Mapping[str, Any], model: type[BaseModel] = Config, prefix: str = ""
) -> None:
    """Unknown keys are errors that name the key, a close match and the valid keys."""
    for key, value in document.items():
        if not isinstance(key, str) or key not in model.model_fields:
            raise ConfigError(
                unknown(
                    "config key",
                    f"{prefix}{key}",
                    [f"{prefix}{name}" for name in _field_names(model)],
                )
            )
        annotation = model.model_fields[key].annotation
        if isinstance(annotation, type) and issubclass(annotation, _Section):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"config section '{prefix}{key}' must be a mapping of keys "
                    f"({', '.join(_field_names(annotation))}), not {value!r}"
                )
            check_keys(value, annotation, f"{prefix}{key}.")


def apply_override(document: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Set document[path] = value, checking each part of the path against the schema."""
    model: type[BaseModel] = Config
    node = document
    for depth, part in enumerate(path):
        dotted = ".".join(path[: depth + 1])
        if part not in model.model_fields:
            choices = [".".join([*path[:depth], name]) for name in _field_names(model)]
            raise ConfigError(unknown("config key", dotted, choices))
        if depth == len(path) - 1:
            node[part] = value
            return
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, _Section)):
            raise ConfigError(f"config key '{dotted}' has no sub-keys; use --set {dotted}=VALUE")
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"config section '{dotted}' must be a mapping, not {child!r}")
        node, model = child, annotation


def format_validation_error(exc: ValidationError) -> str:
    """The first problem, as 'train.epochs: input should be >= 1 (got 0)'."""
    errors = exc.errors()
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"] if not str(part).startswith("function-"))
    loc = re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", loc)
    message = first["msg"]
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    if first["type"] in ("value_error", "assertion_error") or first["type"].startswith("model_"):
        text = f"{loc}: {message}" if loc else message
    else:
        text = f"{loc}: {message} (got {first['input']!r})"
    more = len(errors) - 1
    return text + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def validate(document: Mapping[str, Any]) -> Config:
    """A raw mapping (from YAML and overrides) -> Config, or one ConfigError."""
    check_keys(document)
    try:
        return Config.model_validate(dict(document))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def load_config(
    path: Path | None = None,
    overrides: Iterable[str] = (),
    *,
    flags: Mapping[str, Any] | None = None,
    sweeps: Iterable[str] = (),
) -> Config:
    """Defaults <- YAML file <- --set overrides <- dedicated flags <- --sweep, validated.

    flags: dotted key -> value (None: not given), e.g. {"train.seeds": 3} from --seeds 3.
    """
    document = read_yaml_mapping(path) if path is not None else {}
    check_keys(document)
    for text in overrides:
        key_path, value = parse_override(text)
        apply_override(document, key_path, value)
    for dotted, value in (flags or {}).items():
        if value is not None:
            apply_override(document, dotted.split("."), value)
    for text in sweeps:
        key, values = parse_sweep(text)
        sweep = document.setdefault("sweep", {})
        if not isinstance(sweep, dict):
            raise ConfigError(
                f"config key 'sweep' must be a mapping of KEY: [values], not {sweep!r}"
            )
        sweep[key] = values
    try:
        return validate(document)
    except ActbenchError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:  # a value that defeats comparison
        raise ConfigError(f"invalid config: {exc}") from None
