"""Value validators the schema's fields share: numbers that are not booleans, finite float32
floats, 'auto' or a count, and the device pattern."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from actbench import activations


def _reject_bool(value: Any) -> Any:
    # YAML reads `yes`/`true` as booleans; pydantic's lax mode would turn them into 1.
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


def auto_or_count(value: Any, most: int, what: str) -> Any:
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
