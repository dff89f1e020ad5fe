"""Config: pydantic models (every key optional), YAML loading and dotted --set overrides.

Strings become typed objects here and nowhere else. No torch in this module.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from actbench import activations
from actbench.errors import ActbenchError, ConfigError, brief, printable, unknown
from actbench.format import grid_point

# Bounds on what a config may ask for, so that hostile or mistaken input fails in well under a
# second with one line instead of running away with time or memory.
MAX_CONFIG_BYTES = 1 << 20  # a config is a few KiB; also bounds the pure-Python YAML parser
MAX_YAML_NODES = 100_000  # values of a document once its aliases are expanded
MAX_GRID_POINTS = 10_000  # points of a sweep's cross product


def _reject_bool(value: Any) -> Any:
    # YAML reads `yes`/`true` as booleans; pydantic's lax mode would turn them into 1.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def _auto_or_count(value: Any, most: int, what: str) -> Any:
    """'auto' or an int from 1 to `most` (not a bool), as given; else the error naming both."""
    if value == "auto" or (
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most
    ):
        return value
    raise ValueError(f"expected auto or {what} from 1 to {most} (got {value!r})")


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


def _float32(value: float) -> float:
    # Every float of the config ends up in a float32 tensor (lr, weight_decay, momentum) or in
    # data made float32 (class_sep): beyond its range it becomes inf far from the cause.
    problem = activations.float32_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Int = Annotated[int, BeforeValidator(_reject_bool)]
Float = Annotated[float, BeforeValidator(_finite), AfterValidator(_float32)]

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")  # fullmatch: 'cpu\n' is not cpu
DEFAULT_ACTIVATIONS = ("identity", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


DataKind = Literal["classification", "moons", "circles", "xor", "spiral", "blobs"]
DATA_KINDS: tuple[str, ...] = get_args(DataKind)
# Keys every kind takes.
COMMON_DATA_KEYS = ("kind", "n_samples", "test_size", "random_state")
# The keys each kind takes besides the common ones, with their defaults. One default per key
# across kinds: a sweep over data.kind carries the base point's resolved values to every point,
# so a default that differed between kinds would make `--sweep data.kind=...` disagree with
# `--set data.kind=...`.
KIND_KEYS: dict[str, dict[str, Any]] = {
    "classification": {
        "n_features": 20,
        "n_informative": 2,
        "n_redundant": 2,
        "n_repeated": 0,
        "n_classes": 2,
        "n_clusters_per_class": 2,
        "class_sep": 1.0,
        "flip_y": 0.01,
    },
    "moons": {"noise": 0.1},
    "circles": {"noise": 0.1, "factor": 0.5},
    "xor": {"noise": 0.1},
    "spiral": {"noise": 0.1, "n_classes": 2},
    "blobs": {"noise": 0.1, "n_classes": 2},
}
KEY_DEFAULTS: dict[str, Any] = {k: v for keys in KIND_KEYS.values() for k, v in keys.items()}


def _is_default(key: str, value: Any) -> bool:
    default = KEY_DEFAULTS.get(key)
    return not isinstance(value, bool) and isinstance(value, int | float) and value == default


class DataConfig(_Section):
    """The data set: its kind, the kind's own keys, and the train/test split.

    A kind-specific key left out (None) takes the kind's default (KIND_KEYS) at validation;
    keys the kind does not take stay None and are left out of the resolved config.
    """

    kind: DataKind = Field(
        "classification",
        description="classification (sklearn make_classification) | moons | circles | xor | "
        "spiral | blobs (2-D)",
    )
    n_samples: Int = Field(1000, ge=4, le=10**9, description="samples before the split")
    n_features: Int | None = Field(None, ge=1, le=100_000, description="classification")
    n_informative: Int | None = Field(None, ge=1, le=100_000, description="classification")
    n_redundant: Int | None = Field(None, ge=0, le=100_000, description="classification")
    n_repeated: Int | None = Field(None, ge=0, le=100_000, description="classification")
    n_classes: Int = Field(
        2, ge=2, le=10_000, description="classification, spiral (arms), blobs; others have 2"
    )
    n_clusters_per_class: Int | None = Field(None, ge=1, le=10_000, description="classification")
    class_sep: Float | None = Field(None, ge=0, description="classification")
    flip_y: Float | None = Field(
        None, ge=0, le=1, description="classification: fraction of labels flipped at random"
    )
    noise: Float | None = Field(
        None, ge=0, le=1000, description="2-D kinds: std of the Gaussian noise on each point"
    )
    factor: Float | None = Field(
        None, gt=0, lt=1, description="circles: inner circle radius / outer circle radius"
    )
    test_size: Float = Field(0.2, gt=0, lt=1)
    random_state: Int = Field(42, ge=0, lt=2**32)

    @model_validator(mode="before")
    @classmethod
    def _kind_keys(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        kind = value.get("kind", "classification")
        if not isinstance(kind, str) or kind not in KIND_KEYS:
            return value  # the kind field reports it
        own = KIND_KEYS[kind]
        resolved = dict(value)
        for key, given in value.items():
            if key in COMMON_DATA_KEYS or key in own or key not in cls.model_fields:
                continue
            if given is None or _is_default(key, given):
                # A key at its default is what a config written out in full (all.yaml) or a
                # sweep from another kind carries; it says nothing about this kind.
                del resolved[key]
                continue
            takes = ", ".join([*own, *COMMON_DATA_KEYS[1:]])
            note = " (it has 2 classes)" if key == "n_classes" else ""
            raise ValueError(
                f"{key} does not apply to kind {kind}{note}; kind {kind} takes {takes}"
            )
        for key, default in own.items():
            if resolved.get(key) is None:
                resolved[key] = default
        return resolved

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.kind == "classification":
            params = self.kind_params()
            used = params["n_informative"] + params["n_redundant"] + params["n_repeated"]
            if used > params["n_features"]:
                raise ValueError(
                    f"n_informative + n_redundant + n_repeated = {used} exceeds "
                    f"n_features = {params['n_features']}"
                )
            clusters = self.n_classes * params["n_clusters_per_class"]
            # log2 rather than 2**n_informative: no huge integers for huge n_informative
            if math.log2(clusters) > params["n_informative"]:
                raise ValueError(
                    f"n_classes * n_clusters_per_class = {clusters} needs n_informative >= "
                    f"{math.ceil(math.log2(clusters))} (got {params['n_informative']})"
                )
        if self.n_test < 1 or self.n_train < 1:
            raise ValueError(
                f"test_size {self.test_size} of n_samples {self.n_samples} leaves "
                f"{self.n_train} training and {self.n_test} test samples; both need at least 1"
            )
        return self

    @model_serializer(mode="wrap")
    def _only_the_kinds_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        keys = {*COMMON_DATA_KEYS, *KIND_KEYS[self.kind]}
        return {key: value for key, value in handler(self).items() if key in keys}

    def kind_params(self) -> dict[str, Any]:
        """The kind's own keys (KIND_KEYS[kind]) with their resolved values."""
        return {key: getattr(self, key) for key in KIND_KEYS[self.kind]}

    @property
    def is_2d(self) -> bool:
        """Points in the plane (every kind but classification)."""
        return self.kind != "classification"

    @property
    def n_inputs(self) -> int:
        """Input features of the model: n_features, or 2 for the 2-D kinds."""
        return 2 if self.is_2d else int(self.kind_params()["n_features"])

    @property
    def n_test(self) -> int:
        """Test-set size, as sklearn's train_test_split computes it."""
        return math.ceil(self.test_size * self.n_samples)

    @property
    def n_train(self) -> int:
        return self.n_samples - self.n_test


InitScheme = Literal["default", "kaiming", "xavier", "lecun"]


class ModelConfig(_Section):
    hidden: tuple[Annotated[Int, Field(ge=1, le=1_000_000)], ...] = Field(
        (50,), min_length=1, description="hidden layer widths"
    )
    head: Literal["softmax", "sigmoid"] = "softmax"
    init: InitScheme = Field(
        "default",
        description="default (PyTorch's nn.Linear) | kaiming (He normal, the activation's gain) | "
        "xavier (Glorot normal) | lecun (normal, variance 1/fan_in); zero biases but default",
    )

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
                raise ValueError(f"the seed list {brief(list(value))} repeats a seed")
        return value

    @field_validator("threads", mode="before")
    @classmethod
    def _threads(cls, value: Any) -> Any:
        return _auto_or_count(value, 4096, "a thread count")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not DEVICE_PATTERN.fullmatch(value):
            raise ValueError(
                f"unknown device '{printable(value)}'; choices: auto, cpu, cuda, cuda:N"
            )
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


# Probes of a run with metrics.health_every: auto. A probe reads every member's hidden outputs
# and derivatives over the probe set, about 40% of an epoch's training at the reference setup:
# every epoch of a long run would make health cost more than training; 40 points draw a curve.
HEALTH_PROBES = 40


class MetricsConfig(_Section):
    dormant_tau: Float = Field(0.1, ge=0, le=1, description="dormant threshold (Sokar et al. 2023)")
    probe_size: Int = Field(
        2048,
        ge=1,
        le=10_000_000,
        description="training samples the health probes use during training",
    )
    health: bool = Field(True, description="measure neuron health during training")
    health_every: Literal["auto"] | Int = Field(
        "auto",
        description="epochs between health probes: auto (every epoch up to "
        f"{HEALTH_PROBES} epochs, then about {HEALTH_PROBES} probes a run) or a count; the "
        "first and last epoch are always probed",
    )

    @field_validator("health_every", mode="before")
    @classmethod
    def _health_every(cls, value: Any) -> Any:
        return _auto_or_count(value, 1_000_000, "a number of epochs")

    def probe_interval(self, epochs: int) -> int:
        """Epochs between health probes for a run of `epochs` (health_every resolved)."""
        if self.health_every == "auto":
            return max(1, math.ceil(epochs / HEALTH_PROBES))
        return self.health_every


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

    @field_validator("label")
    @classmethod
    def _printable(cls, value: str) -> str:
        # A label is printed in tables, Markdown and file names: an escape sequence in it
        # would retitle or clear the terminal, a newline would break the table.
        if not value.isprintable():
            raise ValueError(
                f"label '{printable(value)}' contains control characters (newline, tab or "
                "escape); a label is printable text"
            )
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
        return grid_point(self.values)


def check_baseline_label(config: Config, baseline: str | None) -> None:
    """The label --baseline names must be one of the config's (checked before any training)."""
    labels = [entry.label for entry in config.activations]
    if baseline is not None and baseline not in labels:
        raise ConfigError(unknown("--baseline", baseline, labels))


def grid_size(sweep: Mapping[str, Sequence[Any]]) -> int:
    """Points of the sweep's cross product, counted without building it."""
    return math.prod(len(values) for values in sweep.values())


def grid_points(config: Config) -> list[GridPoint]:
    """The cross product of config.sweep (one point, no values, without a sweep).

    Values are the validated ones ('1e-2' -> 0.01, 50 -> [50]); a key that lists one value
    twice is an error: a repeated point is not another seed.
    """
    if not config.sweep:
        return [GridPoint({}, config)]
    keys = list(config.sweep)
    for key in keys:
        check_sweep_key(key)
        if not config.sweep[key]:
            raise ConfigError(f"sweep key '{key}' needs a non-empty list of values")
    size = grid_size(config.sweep)
    if size > MAX_GRID_POINTS:
        counts = " x ".join(f"{len(config.sweep[k])} {k}" for k in keys)
        raise ConfigError(
            f"the sweep has {size:,} grid points ({counts}); at most {MAX_GRID_POINTS:,} are "
            "allowed: sweep fewer values"
        )
    base = config.model_dump(mode="json", exclude={"sweep"})
    # Sections no key sweeps are passed validated (pydantic does not validate an instance
    # again): a point costs the swept sections, not the whole config.
    untouched = {
        name: getattr(config, name)
        for name in base
        if not any(key.split(".")[0] == name for key in keys)
    }
    paths = [key.split(".") for key in keys]
    normalised: dict[str, dict[int, Any]] = {key: {} for key in keys}
    points = []
    for indices in itertools.product(*(range(len(config.sweep[k])) for k in keys)):
        combination = [config.sweep[k][i] for k, i in zip(keys, indices, strict=True)]
        document = dict(base)
        for path, value in zip(paths, combination, strict=True):
            _set_copied(document, path, value)
        document.update(untouched)
        try:
            resolved = _validate_point(document)
        except ConfigError as exc:
            where = grid_point(dict(zip(keys, combination, strict=True)), {k: k for k in keys})
            raise ConfigError(f"sweep point {where}: {exc}") from None
        resolved_document = resolved.model_dump(mode="json")
        values = {k: _lookup(resolved_document, k) for k in keys}
        for key, index in zip(keys, indices, strict=True):
            normalised[key].setdefault(index, values[key])
        points.append(GridPoint(values, resolved))
    for key in keys:
        _check_distinct(key, config.sweep[key], normalised[key])
    return points


def _validate_point(document: Mapping[str, Any]) -> Config:
    try:
        return Config.model_validate(dict(document))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def check_sweep_key(key: str) -> None:
    """A sweep key is a sweepable leaf key of the schema ('train.lr', not 'train')."""
    if key in NOT_SWEEPABLE or any(key.startswith(f"{k}.") for k in NOT_SWEEPABLE):
        raise ConfigError(
            f"sweep key '{key}' cannot be swept (not sweepable: {', '.join(NOT_SWEEPABLE)})"
        )
    model: type[BaseModel] = Config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        dotted = ".".join(parts[: depth + 1])
        if part not in model.model_fields:
            choices = [".".join([*parts[:depth], name]) for name in _field_names(model)]
            raise ConfigError(unknown("config key", dotted, choices))
        annotation = model.model_fields[part].annotation
        section = isinstance(annotation, type) and issubclass(annotation, _Section)
        if depth == len(parts) - 1:
            if section:
                assert isinstance(annotation, type)
                leaves = ", ".join(f"{key}.{name}" for name in _field_names(annotation))
                raise ConfigError(
                    f"sweep key '{key}' is a whole section; sweep its keys one by one ({leaves})"
                )
            return
        if not section:
            raise ConfigError(f"config key '{dotted}' has no sub-keys (sweep key '{key}')")
        assert isinstance(annotation, type)
        model = annotation


def _set_copied(document: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """document[path] = value, copying the mappings on the path: the base stays untouched."""
    node = document
    for part in path[:-1]:
        child = dict(node.get(part) or {})
        node[part] = child
        node = child
    node[path[-1]] = value


def _check_distinct(key: str, raw: Sequence[Any], normalised: Mapping[int, Any]) -> None:
    groups: dict[str, list[int]] = {}
    for index, value in normalised.items():
        groups.setdefault(_text(value), []).append(index)
    repeated = [indices for indices in groups.values() if len(indices) > 1]
    if not repeated:
        return
    indices = sorted(repeated, key=min)[0]
    given = [_text(raw[i]) for i in sorted(indices)]
    listed = ", ".join(given[:-1]) + " and " + given[-1]
    times, both = ("twice", "both") if len(given) == 2 else (f"{len(given)} times", "all")
    raise ConfigError(
        f"sweep key '{key}' lists one value {times}: {listed} are {both} "
        f"{_text(normalised[indices[0]])}; give each value once (repeats are not seeds: "
        "use train.seeds)"
    )


def _text(value: Any) -> str:
    """A sweep value as the user would type it: 0.01, 1e-2, [50]."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError):
        return brief(value)


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
        raise ConfigError(
            f"--sweep expects KEY=V1,V2,..., like train.lr=0.001,0.01 (got '{brief(text)}')"
        )
    values = load_yaml(f"[{raw}]", f"--sweep {key}")
    if not values or any(v is None for v in values):
        raise ConfigError(f"--sweep {key}: empty value in '{brief(raw)}'")
    return key, values


# --- loading ------------------------------------------------------------------------------------


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
        with path.open("rb") as handle:
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
        raise ConfigError(f"--set expects KEY=VALUE, like train.lr=0.3 (got '{brief(text)}')")
    value = load_yaml(raw, f"--set {key}") if raw.strip() else None
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
        text = f"{loc}: {message} (got {brief(first['input'])})"
    # a problem inside an item also fails its container (`too_short`): not another problem
    more = sum(1 for error in errors[1:] if error["loc"] != first["loc"][: len(error["loc"])])
    return text + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def validate(document: Mapping[str, Any]) -> Config:
    """A raw mapping (from YAML and overrides) -> Config, or one ConfigError."""
    check_keys(document)
    try:
        return Config.model_validate(dict(document))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


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
    # generators: each text is parsed in its turn, so the first problem is the one reported
    return config_from_mapping(
        document,
        (parse_override(text) for text in overrides),
        flags=flags,
        sweeps=(parse_sweep(text) for text in sweeps),
    )


def config_from_mapping(
    document: Mapping[str, Any],
    overrides: Iterable[tuple[Sequence[str], Any]] = (),
    *,
    flags: Mapping[str, Any] | None = None,
    sweeps: Iterable[tuple[str, list[Any]]] = (),
) -> Config:
    """load_config for a mapping already in memory, with overrides and sweeps already parsed.

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
