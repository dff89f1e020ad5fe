"""Trained members as plain modules: saved model files, their index, and raw features -> logits
(`TrainedMember`: also predict / predict_proba / score on NumPy, pandas or torch input).

A run saved with --save-models holds one SimpleNN state_dict per member in models/ and a
models/index.json that says which member each file is and what it needs to be used on new
data: its shape, head, activation and the data scaler it was trained behind.

    models/index.json
    {"format": 1,
     "scalers": [{"mean": [float64...], "scale": [float64...],     one per distinct data config
                  "classes": [label...]}],      class i's original label (str, int, bool, float)
     "models": [{"file", "label", "activation", "params", "grid", "seed", "hidden": [int],
                 "head", "n_features", "n_classes", "scaler": int}]}

File names are readable (`relu-seed0.pt`, `relu-lr_0.3-seed1.pt`) and unique: labels that
differ only in characters a file name cannot hold, in case, or sweep values that print alike
get a `-2`, `-3` suffix. The index, not the name, is what maps a file back to its member.
"""

from __future__ import annotations

import io
import itertools
import json
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import Tensor, nn

from actbench import activations
from actbench import format as fmt
from actbench.config import Config, DataConfig, GridPoint, grid_points
from actbench.data import Dataset
from actbench.errors import ActbenchError, ConfigError, RunFolderError, brief, unknown
from actbench.model import Head, SimpleNN, n_logits
from actbench.population import MemberSpec
from actbench.runs import Label
from actbench.untrusted import read_untrusted

INDEX_FILE = "index.json"
MAX_STEM = 120  # file names stay well under the usual 255-byte limit
# models/index.json: ~300 bytes a member plus two float64 lists per data config
MAX_INDEX_BYTES = 64 * 2**20
# A model file is its float32 parameters plus torch's zip framing: a few hundred bytes per
# tensor. More than this over the parameters is not a file actbench wrote.
STATE_SLACK_BYTES = 2**20


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Scaler(_Entry):
    """sklearn's StandardScaler as fitted on the training split: mean_ and scale_, float64;
    and the data's classes: the original label of each (logit i is classes[i]; sorted). The
    per-data entry of models/index.json; runs saved before classes were recorded have none."""

    mean: list[float]
    scale: list[float]
    classes: list[Label] | None = None

    @field_validator("mean", "scale")
    @classmethod
    def _finite(cls, values: list[float]) -> list[float]:
        if not all(math.isfinite(v) for v in values):
            raise ValueError("holds a value that is not a finite number")
        return values

    @field_validator("scale")
    @classmethod
    def _positive(cls, values: list[float]) -> list[float]:
        # StandardScaler's scale_ is a std, with 1.0 for a constant feature: never 0 or below
        if not all(v > 0 for v in values):
            raise ValueError("holds a scale of 0 or below")
        return values


class ModelEntry(_Entry):
    """One saved member: its file, who it is, and the shape to rebuild it."""

    file: str
    label: str
    activation: str
    params: dict[str, float | bool | str] = Field(default_factory=dict)
    grid: dict[str, Any] = Field(default_factory=dict)
    seed: int
    hidden: list[int]
    head: Literal["softmax", "sigmoid"]
    n_features: int = Field(ge=1)
    n_classes: int = Field(ge=2)
    scaler: int = Field(ge=0)  # position in ModelIndex.scalers

    @field_validator("file")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        """A file name in models/, as index_models writes them: no folder, no way out."""
        if (
            not name.endswith(".pt")
            or name.startswith(".")
            or any(c in name for c in "/\\\0:")
            or len(name.encode("utf-8", "surrogatepass")) > 255
        ):
            raise ValueError(f"{name!r} is not a model file name (NAME.pt, in models/)")
        return name

    @property
    def n_parameters(self) -> int:
        widths = [self.n_features, *self.hidden, n_logits(self.head, self.n_classes)]
        return sum(a * b + b for a, b in itertools.pairwise(widths))


class ModelIndex(_Entry):
    format: int = 1
    scalers: list[Scaler] = Field(default_factory=list)
    models: list[ModelEntry] = Field(default_factory=list)

    def to_json(self) -> str:
        return self.model_dump_json(indent=1) + "\n"


# --- the data scaler ----------------------------------------------------------------------------


def scaler_of(data: Dataset) -> Scaler:
    """The scaler a dataset was standardised with (fit on its training split)."""
    return Scaler(
        mean=[float(v) for v in data.scaler_mean],
        scale=[float(v) for v in data.scaler_scale],
        classes=list(data.classes) or None,
    )


def fit_scaler(cfg: DataConfig) -> Scaler:
    """The scaler the members of this data config were trained behind: the data made again.
    Runs pass the scaler they trained with instead (index_models' `scalers`)."""
    from actbench.data import make_dataset

    return scaler_of(make_dataset(cfg))


class Standardize(nn.Module):
    """(x - mean) / scale in float64, then float32: StandardScaler.transform and the float32
    cast of data.make_dataset, operation for operation, so raw float64 features give exactly the
    inputs the member was trained and tested on."""

    mean: Tensor
    scale: Tensor

    def __init__(self, mean: Sequence[float], scale: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(list(scale), dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return ((x.to(torch.float64) - self.mean) / self.scale).to(torch.float32)


# --- naming and indexing ------------------------------------------------------------------------


def readable_name(member: MemberSpec, point: GridPoint) -> str:
    """'relu-seed0', 'leaky_relu-lr_0.3-seed1': label, grid point and seed, file-name safe."""
    name = member.label + (f"-{point.describe()}" if point.values else "")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    suffix = f"-seed{member.seed}"
    return safe[: MAX_STEM - len(suffix)] + suffix


def unique_filenames(stems: Sequence[str]) -> list[str]:
    """Each stem + '.pt', with -2, -3, ... where a name is taken (case-insensitively: macOS and
    Windows file systems do not tell `ReLU` from `relu`)."""
    taken: set[str] = set()
    names = []
    for stem in stems:
        candidate, number = stem, 1
        while candidate.lower() in taken:
            number += 1
            candidate = f"{stem}-{number}"
        taken.add(candidate.lower())
        names.append(f"{candidate}.pt")
    return names


def index_models(
    kept: Sequence[tuple[MemberSpec, GridPoint, bytes]],
    scalers: Mapping[str, Scaler] | None = None,
) -> tuple[dict[str, bytes], ModelIndex]:
    """File name -> state_dict bytes, and the index that maps each file to its member.

    scalers: data config (as JSON) -> the scaler its members trained behind; a data config
    without one is made again to fit it (fit_scaler).
    """
    names = unique_filenames([readable_name(spec, point) for spec, point, _ in kept])
    found: list[Scaler] = []  # the index's scalers, one per distinct data config
    index_of: dict[str, int] = {}
    entries = []
    for name, (spec, point, _) in zip(names, kept, strict=True):
        cfg = point.config
        data_key = cfg.data.model_dump_json()
        if data_key not in index_of:
            index_of[data_key] = len(found)
            known = (scalers or {}).get(data_key)
            found.append(known if known is not None else fit_scaler(cfg.data))
        scaler = index_of[data_key]
        classes = found[scaler].classes
        entries.append(
            ModelEntry(
                file=name,
                label=spec.label,
                activation=spec.activation,
                params=dict(spec.params),
                grid=point.values,
                seed=spec.seed,
                hidden=list(cfg.model.hidden),
                head=cfg.model.head,
                n_features=len(found[scaler].mean),
                n_classes=len(classes) if classes else cfg.data.n_classes,
                scaler=scaler,
            )
        )
    models = {name: blob for name, (_, _, blob) in zip(names, kept, strict=True)}
    return models, ModelIndex(scalers=found, models=entries)


def read_index(models_dir: Path) -> ModelIndex | None:
    """models/index.json of a run folder; None when the run saved no models or no index.
    Read like any file of a run folder: bounded (MAX_INDEX_BYTES) and within the run folder."""
    path = models_dir / INDEX_FILE
    if not path.exists():
        return None
    try:
        blob = read_untrusted(path, MAX_INDEX_BYTES, inside=models_dir.parent, what=INDEX_FILE)
        return ModelIndex.model_validate_json(blob.decode("utf-8-sig"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, ValidationError) as exc:
        raise RunFolderError(f"'{path}' is unreadable or corrupt: {_first_error(exc)}") from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return _first_line(exc)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


# --- finding and building a member --------------------------------------------------------------


def _same_value(wanted: Any, stored: Any) -> bool:
    if isinstance(wanted, tuple | list) and isinstance(stored, list):
        return len(wanted) == len(stored) and all(
            _same_value(a, b) for a, b in zip(wanted, stored, strict=True)
        )
    if isinstance(wanted, float | int) and isinstance(stored, float | int):
        return not isinstance(wanted, bool) and math.isclose(wanted, stored, rel_tol=1e-12)
    return bool(wanted == stored)


def _grid_matches(wanted: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Every wanted key (dotted, or its last part) has the stored value."""
    for key, value in wanted.items():
        found = [k for k in stored if k == key or k.rsplit(".", 1)[-1] == key]
        if len(found) != 1 or not _same_value(value, stored[found[0]]):
            return False
    return True


def _describe_grid(grid: Mapping[str, Any]) -> str:
    """{"train.lr": 0.3}: ready to paste as grid=..."""
    return json.dumps(dict(grid))


def find_entry(
    index: ModelIndex, label: str, seed: int, grid: Mapping[str, Any] | None
) -> ModelEntry:
    """The one member with this label, seed and (with a sweep) grid point, or a clear error."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ActbenchError(f"seed must be an integer, like 0 (got {brief(seed)})")
    if not isinstance(label, str):
        raise ActbenchError(f"label must be a string, like 'relu' (got {brief(label)})")
    labels = list(dict.fromkeys(e.label for e in index.models))
    if label not in labels:
        raise ActbenchError(unknown("label", label, labels))
    of_label = [e for e in index.models if e.label == label]
    seeds = sorted({e.seed for e in of_label})
    if seed not in seeds:
        raise ActbenchError(
            f"label '{label}' has no seed {seed}; seeds: {', '.join(map(str, seeds))}"
        )
    candidates = [e for e in of_label if e.seed == seed]
    if grid is not None:
        candidates = [e for e in candidates if _grid_matches(grid, e.grid)]
    if len(candidates) == 1:
        return candidates[0]
    points = ", ".join(_describe_grid(e.grid) for e in of_label if e.seed == seed)
    if not candidates:
        raise ActbenchError(
            f"no grid point {dict(grid or {})} for '{label}'; grid points: {points}"
        )
    raise ActbenchError(
        f"'{label}' seed {seed} was trained at {len(candidates)} grid points; pick one with "
        f"grid=..., one of: {points}"
    )


def check_entry(entry: ModelEntry, index: ModelIndex, config: Config) -> Scaler:
    """Before anything is read or allocated for a saved member: its scaler exists and fits its
    input width, and its shape (hidden widths, head, classes) is one the run's config trains
    (index.json may have been edited). Returns its scaler."""
    where = f"models/{INDEX_FILE} entry '{entry.file}'"
    if entry.scaler >= len(index.scalers):
        raise RunFolderError(
            f"{where}: scaler {entry.scaler} does not exist (the index has "
            f"{fmt.plural(len(index.scalers), 'scaler')})"
        )
    scaler = index.scalers[entry.scaler]
    if not len(scaler.mean) == len(scaler.scale) == entry.n_features:
        raise RunFolderError(
            f"{where}: its scaler has {len(scaler.mean)} means and {len(scaler.scale)} scales "
            f"for {entry.n_features} features"
        )
    shapes = {
        (tuple(point.config.model.hidden), point.config.model.head, point.config.data.known_classes)
        for point in grid_points(config)
    }
    # a data file's class count comes from its labels (None here): any count fits it
    if not any(
        (tuple(entry.hidden), entry.head) == (hidden, head) and classes in (None, entry.n_classes)
        for hidden, head, classes in shapes
    ):
        trained = "; ".join(
            f"hidden {fmt.hidden(h)}, {head} head, {n} classes" for h, head, n in sorted(shapes)
        )
        raise RunFolderError(
            f"{where}: hidden {fmt.hidden(entry.hidden)}, {entry.head} head, "
            f"{entry.n_classes} classes is not a shape this run trained ({trained})"
        )
    return scaler


def read_model_file(run_dir: Path, entry: ModelEntry) -> bytes:
    """The state_dict bytes of a saved member: within the run folder, and no larger than its
    parameters (float32) and torch's framing: a larger file is not read."""
    path = run_dir / "models" / entry.file
    limit = 4 * entry.n_parameters + STATE_SLACK_BYTES
    try:
        return read_untrusted(path, limit, inside=run_dir, what="model file of this shape")
    except FileNotFoundError:
        raise RunFolderError(f"model file '{path}' is missing") from None


def build_model(entry: ModelEntry, scaler: Scaler, state: bytes) -> TrainedMember:
    """Raw features -> logits: Standardize with the run's scaler, then the trained SimpleNN.

    `state` is checked before the network is built (its size against the entry's shape) and
    loaded with weights_only; a file torch cannot read, or whose tensors do not fit the shape,
    is a RunFolderError naming the member."""
    where = f"model file '{entry.file}'"
    if len(state) < 4 * entry.n_parameters:
        raise RunFolderError(
            f"{where} is {fmt.size(len(state))}, too small for its shape "
            f"({entry.n_parameters:,} parameters): truncated or not this member's"
        )
    try:
        spec = activations.get(entry.activation)
        network = SimpleNN(
            entry.n_features,
            entry.hidden,
            n_logits(entry.head, entry.n_classes),
            lambda: spec.build(entry.params),
        )
    except ConfigError as exc:
        raise RunFolderError(f"{where}: {exc}") from None
    try:
        loaded = torch.load(io.BytesIO(state), weights_only=True)
        network.load_state_dict(loaded)
    except Exception as exc:  # zip, pickle and shape errors all mean: not this member's weights
        raise RunFolderError(f"{where} is corrupt: {_first_line(exc)}") from None
    classes = scaler.classes if scaler.classes is not None else range(entry.n_classes)
    return TrainedMember(Standardize(scaler.mean, scaler.scale), network, entry.head, classes)


class FeaturesError(ActbenchError, ValueError):
    """Input of the wrong shape for a trained member (a ValueError, as scikit-learn raises)."""


class TrainedMember(nn.Sequential):
    """A trained member: raw features -> logits when called (a torch module: the scaler, then
    the SimpleNN), and a classifier like scikit-learn's: `predict`, `predict_proba`, `score`,
    `classes_`, on NumPy arrays, pandas DataFrames or tensors of raw features [n, features].

    predict returns the original labels where the run knows them (models/index.json's
    `classes`), else class indices 0, 1, ...
    """

    def __init__(
        self, scaler: Standardize, network: SimpleNN, head: Head, classes: Sequence[Any]
    ) -> None:
        super().__init__(OrderedDict(scaler=scaler, network=network))
        self.head: Head = head
        self.classes_ = np.asarray(list(classes))
        self.n_features_in_ = int(scaler.mean.shape[0])
        self.eval()

    @property
    def module(self) -> nn.Sequential:
        """The torch module from raw features to logits (this very object)."""
        return self

    def forward(self, x: Any) -> Tensor:
        """Logits [..., n_out] of raw features (a tensor, array or DataFrame)."""
        return super().forward(self._features(x))

    def _features(self, x: Any) -> Tensor:
        if isinstance(x, Tensor):
            return x
        if hasattr(x, "to_numpy"):  # pandas
            x = x.to_numpy()
        try:
            values = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise FeaturesError(f"the features are not numbers: {exc}") from None
        # a copy: a DataFrame's array may be read-only, which torch warns about
        return torch.tensor(values, device=next(self.buffers()).device)

    @torch.no_grad()
    def logits(self, x: Any) -> Tensor:
        """Logits [n, n_out] of raw features [n, features], as float32 on the member's device."""
        features = self._features(x)
        if features.dim() != 2 or features.shape[1] != self.n_features_in_:
            raise FeaturesError(
                f"X has shape {list(features.shape)}; this member takes [samples, "
                f"{self.n_features_in_}] raw features"
            )
        return self(features)

    def predict_proba(self, x: Any) -> np.ndarray:
        """[n, classes] class probabilities (float64), columns in `classes_` order."""
        logits = self.logits(x).double().cpu()
        if self.head == "sigmoid":
            positive = torch.sigmoid(logits.squeeze(-1))
            return torch.stack([1 - positive, positive], dim=1).numpy()
        return torch.softmax(logits, dim=-1).numpy()

    def predict(self, x: Any) -> np.ndarray:
        """The predicted class of every sample: argmax of the logits (logit > 0 with a sigmoid
        head), as a label of `classes_`."""
        logits = self.logits(x).cpu()
        index = (logits.squeeze(-1) > 0).long() if self.head == "sigmoid" else logits.argmax(-1)
        return np.asarray(self.classes_[index.numpy()])

    def score(self, x: Any, y: Any) -> float:
        """Accuracy on (x, y): the fraction of samples predicted right."""
        truth = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
        predicted = self.predict(x)
        if truth.shape != predicted.shape:
            raise FeaturesError(f"y has shape {list(truth.shape)}; X has {len(predicted)} samples")
        return float(np.mean(predicted == truth))
