"""The config schema: pydantic sections (every key optional, defaults visible here), the data
kinds and their keys, the compared activations, and the whole Config.

Strings become typed objects here and nowhere else. No torch in this package.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from actbench import activations
from actbench.config.kinds import (
    BUNDLED_SHAPES,
    DATA_FILE_TYPES,
    KIND_KEYS,
    SAMPLES_DEFAULT,
    SYNTHETIC_KINDS,
    DataKind,
    common_keys,
    is_default,
)
from actbench.config.values import DEVICE_PATTERN, Float, Int, auto_or_count
from actbench.errors import ConfigError, brief, printable

DEFAULT_ACTIVATIONS = ("identity", "step", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")


class Section(BaseModel):
    """A part of the config with its own keys (data, model, ...): frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class DataConfig(Section):
    """The data set: its kind, the kind's own keys, and the train/test split.

    A kind-specific key left out (None) takes the kind's default (KIND_KEYS) at validation;
    keys the kind does not take stay None and are left out of the resolved config. The shape
    of a file's or arrays' data is known once they are read (actbench.data.describe).
    """

    kind: DataKind = Field(
        "classification",
        description="classification (sklearn make_classification) | moons | circles | xor | "
        "spiral | blobs (2-D) | digits | iris | wine | breast_cancer (bundled with "
        "scikit-learn) | file (your own: path, target) | arrays (the Python API's X, y)",
    )
    n_samples: Int = Field(
        SAMPLES_DEFAULT, ge=4, le=10**9, description="generated kinds: samples before the split"
    )
    n_features: Int | None = Field(None, ge=1, le=100_000, description="classification")
    n_informative: Int | None = Field(None, ge=1, le=100_000, description="classification")
    n_redundant: Int | None = Field(None, ge=0, le=100_000, description="classification")
    n_repeated: Int | None = Field(None, ge=0, le=100_000, description="classification")
    n_classes: Int = Field(
        2, ge=2, le=10_000, description="classification, spiral (arms), blobs; others have 2"
    )
    n_clusters_per_class: Int | None = Field(None, ge=1, le=10_000, description="classification")
    # sklearn's make_classification takes class_sep in the open range (0, inf)
    class_sep: Float | None = Field(None, gt=0, description="classification")
    flip_y: Float | None = Field(
        None, ge=0, le=1, description="classification: fraction of labels flipped at random"
    )
    noise: Float | None = Field(
        None, ge=0, le=1000, description="2-D kinds: std of the Gaussian noise on each point"
    )
    factor: Float | None = Field(
        None, gt=0, lt=1, description="circles: inner circle radius / outer circle radius"
    )
    path: str | None = Field(
        None,
        description="file: the data file (.csv, .tsv, .txt, .npz, .parquet); relative to the "
        "config file's folder (to the working directory on the command line)",
    )
    target: Annotated[Int, Field(ge=-100_000, le=100_000)] | str | None = Field(
        None,
        description="file: the label column, a name or a 0-based index (-1: the last); "
        ".npz: the labels array (default y)",
    )
    features: tuple[Annotated[Int, Field(ge=-100_000, le=100_000)] | str, ...] | None = Field(
        None, description="file: the feature columns (names or indices); default all but target"
    )
    header: Literal["auto"] | bool = Field(
        "auto", description="file (.csv, .tsv, .txt): auto (detected) | true | false"
    )
    sha256: str | None = Field(
        None, description="arrays: the SHA-256 of the arrays (compare(X=..., y=...) sets it)"
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
        common = common_keys(kind)
        resolved = dict(value)
        for key, given in value.items():
            if key in common or key in own or key not in cls.model_fields:
                continue
            if given is None or is_default(key, given):
                # A key at its default is what a config written out in full (all.yaml) or a
                # sweep from another kind carries; it says nothing about this kind.
                del resolved[key]
                continue
            takes = ", ".join([*own, *common[1:]])
            note = " (it has 2 classes)" if key == "n_classes" and kind in SYNTHETIC_KINDS else ""
            raise ValueError(
                f"{key} does not apply to kind {kind}{note}; kind {kind} takes {takes}"
            )
        for key, default in own.items():
            if resolved.get(key) is None:
                resolved[key] = default
        return resolved

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        # A relative path is the working directory's here: a config file's own paths were
        # made relative to its folder when it was read (config.sources).
        if value is None:
            return None
        if not value.strip():
            raise ValueError("data.path is empty; give the data file")
        return os.path.abspath(os.path.expanduser(value))

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError(f"sha256 must be 64 hexadecimal digits (got {brief(value)})")
        return value

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
        if self.kind == "file":
            self._check_file()
        if self.kind == "arrays" and self.sha256 is None:
            raise ValueError(
                "kind arrays needs sha256 (the Python API sets it: compare(X=..., y=...))"
            )
        if self.kind in SYNTHETIC_KINDS and (self.n_test < 1 or self.n_train < 1):
            raise ValueError(
                f"test_size {self.test_size} of n_samples {self.n_samples} leaves "
                f"{self.n_train} training and {self.n_test} test samples; both need at least 1"
            )
        return self

    def _check_file(self) -> None:
        """kind file: a path of a known type, and the label column where a table needs one."""
        if self.path is None:
            raise ValueError(
                "kind file needs path: the data file (" + ", ".join(DATA_FILE_TYPES) + ")"
            )
        suffix = os.path.splitext(self.path)[1].lower()
        name = os.path.basename(self.path)
        if suffix not in DATA_FILE_TYPES:
            raise ValueError(
                f"unknown data file type '{printable(suffix or '(none)')}' of '{printable(name)}'; "
                f"choices: {', '.join(DATA_FILE_TYPES)}"
            )
        if self.target is None and suffix != ".npz":
            raise ValueError(
                f"kind file needs target for '{printable(name)}': the label column, a name or "
                "a 0-based index (--target COL on the command line)"
            )
        if self.header != "auto" and suffix in (".npz", ".parquet"):
            raise ValueError(f"header applies to .csv, .tsv and .txt files, not {suffix}")

    @model_serializer(mode="wrap")
    def _only_the_kinds_keys(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        keys = {*common_keys(self.kind), *KIND_KEYS[self.kind]}
        dumped = handler(self).items()
        return {key: value for key, value in dumped if key in keys}

    def kind_params(self) -> dict[str, Any]:
        """The kind's own keys (KIND_KEYS[kind]) with their resolved values."""
        return {key: getattr(self, key) for key in KIND_KEYS[self.kind]}

    @property
    def is_synthetic(self) -> bool:
        """Generated from the config alone (every shape below is known without data)."""
        return self.kind in SYNTHETIC_KINDS

    @property
    def is_2d(self) -> bool:
        """Generated points in the plane (the generated kinds but classification); whether a
        file's data are 2-D is actbench.data.is_planar's to say."""
        return self.kind in SYNTHETIC_KINDS and self.kind != "classification"

    @property
    def known_classes(self) -> int | None:
        """The number of classes when the config alone tells it (None: a file's or arrays')."""
        if self.kind in BUNDLED_SHAPES:
            return BUNDLED_SHAPES[self.kind][2]
        return self.n_classes if self.kind in SYNTHETIC_KINDS else None

    @property
    def n_inputs(self) -> int:
        """Input features of the model: n_features, or 2 for the 2-D kinds (generated kinds;
        a file's or arrays' count: actbench.data.describe)."""
        if self.kind in BUNDLED_SHAPES:
            return BUNDLED_SHAPES[self.kind][1]
        return 2 if self.is_2d else int(self.kind_params().get("n_features") or 0)

    @property
    def n_test(self) -> int:
        """Test-set size of a generated kind, as sklearn's train_test_split computes it."""
        return math.ceil(self.test_size * self.n_samples)

    @property
    def n_train(self) -> int:
        return self.n_samples - self.n_test


InitScheme = Literal["default", "kaiming", "xavier", "lecun"]


class ModelConfig(Section):
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


class TrainConfig(Section):
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
    cuda_graphs: bool = Field(True, description="record training as CUDA graphs (CUDA only)")
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
        return auto_or_count(value, 4096, "a thread count")

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


class MetricsConfig(Section):
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
        return auto_or_count(value, 1_000_000, "a number of epochs")

    def probe_interval(self, epochs: int) -> int:
        """Epochs between health probes for a run of `epochs` (health_every resolved)."""
        if self.health_every == "auto":
            return max(1, math.ceil(epochs / HEALTH_PROBES))
        return self.health_every


MAX_LABEL = 200  # characters: a label names a table row, a figure's legend entry, a file


class ActivationEntry(Section):
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
        if len(value) > MAX_LABEL:
            raise ValueError(
                f"label '{value[:20]}...' is {len(value):,} characters long; a label names a "
                f"table row: at most {MAX_LABEL}"
            )
        return value

    @model_validator(mode="after")
    def _resolve(self) -> ActivationEntry:
        spec = activations.get(self.name)
        params = spec.resolve_params(self.params)
        label = self.label or spec.default_label(params)
        # frozen model: set the resolved values once, here
        object.__setattr__(self, "name", spec.name)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "label", label)
        return self


class Config(Section):
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
        classes = self.data.known_classes
        if self.model.head == "sigmoid" and classes not in (None, 2) and not self.sweep:
            what = "data.n_classes is" if self.data.is_synthetic else f"{self.data.kind} has"
            raise ValueError(
                f"model.head sigmoid is binary only ({what} {classes}); use head softmax"
            )
        if self.sweep:
            # sweeps build on the schema: imported here, when a config with a sweep is checked
            from actbench.config.sweeps import grid_points

            grid_points(self)  # every point must be a valid config
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples), in the order of the sections above."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        # allow_unicode: a label 'é' is 2 bytes, not a 6-byte escape, so a config under the
        # loader's 1 MiB limit stays under it when saved (and the run can be rerun)
        return yaml.safe_dump(
            self.to_dict(), sort_keys=False, default_flow_style=None, allow_unicode=True
        )


def validate_schema(document: Mapping[str, Any]) -> Config:
    """Config.model_validate, its first problem as one ConfigError (the keys checked before)."""
    try:
        return Config.model_validate(dict(document))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def format_validation_error(exc: ValidationError) -> str:
    """The first problem, as 'train.epochs: input should be >= 1 (got 0)'."""
    errors = exc.errors()
    first = errors[0]
    tags = [i for i, part in enumerate(first["loc"]) if _is_union_branch(part)]
    if tags:
        # the input failed every branch of a union (seeds: a count or a list): the branch that
        # took the input's kind found the real problem; the others' "should be a valid
        # integer" are not more problems
        union = first["loc"][: tags[0]]
        branches = [
            e
            for e in errors
            if e["loc"][: len(union)] == union
            and len(e["loc"]) > len(union)
            and _is_union_branch(e["loc"][len(union)])
        ]
        fitting = [e for e in branches if not e["type"].endswith("_type")]
        first = fitting[0] if fitting else first
        errors = [first, *(e for e in errors if e not in branches)]
    loc = ".".join(str(part) for part in first["loc"] if "function-" not in str(part))
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


def _is_union_branch(part: Any) -> bool:
    """pydantic names a union's branches by their validators ('function-after[...]',
    'tuple[...]') where a field name or an index would be."""
    return isinstance(part, str) and not part.isidentifier()
