"""Sweeps: the sweep's keys and values as given (--sweep, Python), and the grid of configs
they span."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from actbench.config.loader import load_yaml
from actbench.config.paths import get_in, schema_key, set_in
from actbench.config.schema import Config, validate_schema
from actbench.errors import ConfigError, brief
from actbench.format import grid_point

MAX_GRID_POINTS = 10_000  # points of a sweep's cross product; bounds the work a config asks for
# Keys a sweep may not vary: they are the compared axis, the repetition, or where it runs.
# train.threads changes how fast, not what, a run trains (the numbers are the same at any thread
# count), and one run trains with one thread count: time thread counts with `actbench bench`
NOT_SWEEPABLE = ("activations", "sweep", "train.seeds", "train.device", "train.threads")


@dataclass(frozen=True)
class GridPoint:
    """One point of a sweep: its values and the config it resolves to (without the sweep)."""

    values: dict[str, Any]
    config: Config

    def describe(self) -> str:
        return grid_point(self.values)


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
            set_in(document, path, value)
        document.update(untouched)
        try:
            resolved = validate_schema(document)
        except ConfigError as exc:
            where = grid_point(dict(zip(keys, combination, strict=True)), {k: k for k in keys})
            raise ConfigError(f"sweep point {where}: {exc}") from None
        resolved_document = resolved.model_dump(mode="json")
        values = {k: get_in(resolved_document, p) for k, p in zip(keys, paths, strict=True)}
        for key, index in zip(keys, indices, strict=True):
            normalised[key].setdefault(index, values[key])
        points.append(GridPoint(values, resolved))
    for key in keys:
        _check_distinct(key, config.sweep[key], normalised[key])
    return points


def check_sweep_key(key: str) -> None:
    """A sweep key is a sweepable leaf key of the schema ('train.lr', not 'train')."""
    if key in NOT_SWEEPABLE or any(key.startswith(f"{k}.") for k in NOT_SWEEPABLE):
        raise ConfigError(
            f"sweep key '{key}' cannot be swept (not sweepable: {', '.join(NOT_SWEEPABLE)})"
        )
    found = schema_key(key.split("."), lambda leaf: f" (sweep key '{key}')")
    if not found.is_leaf:
        raise ConfigError(
            f"sweep key '{key}' is a whole section; sweep its keys one by one "
            f"({', '.join(found.sub_keys())})"
        )


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


def _empty_value(key: str, given: str) -> ConfigError:
    return ConfigError(f"--sweep {key}: empty value in {given}")


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
        raise _empty_value(key, f"'{brief(raw)}'")
    return key, values


def sweep_items(sweep: Mapping[str, Any] | None) -> Iterator[tuple[str, list[Any]]]:
    """The Python form, {"train.lr": [0.001, 0.1]} -> ("train.lr", [...]), checked like --sweep."""
    if sweep is not None and not isinstance(sweep, Mapping):
        raise ConfigError(f"sweep must be a mapping of KEY: [values], not {sweep!r}")
    for key, values in (sweep or {}).items():
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise ConfigError(
                f"sweep key '{key}' needs a list of values, like [0.001, 0.01] (got {values!r})"
            )
        if any(v is None for v in values):
            raise _empty_value(key, repr(list(values)))
        yield str(key).strip(), list(values)
