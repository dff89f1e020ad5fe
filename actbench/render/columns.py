"""The columns of the comparison table: one entry per column, read by the table, the Markdown,
`--sort` and `--columns`. A new summary metric becomes a column by adding one entry here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from actbench import format as fmt
from actbench.errors import ConfigError, unknown
from actbench.runs import SummaryRow


@dataclass(frozen=True)
class SummaryColumn:
    """How to read, show and rank one column of summary rows."""

    key: str  # the name in --sort and --columns
    header: str  # "\n" splits a header over two lines (narrow columns)
    value: Callable[[SummaryRow], float | str | None]
    text: Callable[[SummaryRow], str]
    higher_is_better: bool | None  # None: not ranked (text)
    default: bool = True  # shown without --columns
    help: str = ""
    # may be left out of the terminal table when it does not fit (with a note saying so)
    optional: bool = False
    # highlight the best value; False where "best" would mislead (the lowest train loss is
    # the net that fits the training set hardest, often the one that overfits)
    highlight: bool = True


def _label(row: SummaryRow) -> str:
    return row.label + (f" ({row.n_diverged} diverged)" if row.n_diverged else "")


def _ci(row: SummaryRow) -> str:
    if not row.test_accuracy_ci95:
        return fmt.MISSING
    low, high = row.test_accuracy_ci95
    return f"[{fmt.percent(low)}, {fmt.percent(high)}]"


COLUMNS: tuple[SummaryColumn, ...] = (
    SummaryColumn("activation", "activation", lambda r: r.label, _label, None, help="label"),
    SummaryColumn(
        "train_loss",
        "train\nloss",
        lambda r: r.train_loss_mean,
        lambda r: fmt.number(r.train_loss_mean),
        False,
        help="mean training loss after the last epoch",
        highlight=False,
    ),
    SummaryColumn(
        "test_loss",
        "test\nloss",
        lambda r: r.test_loss_mean,
        lambda r: fmt.number(r.test_loss_mean),
        False,
        help="mean test loss",
    ),
    SummaryColumn(
        "test_acc",
        "test acc %",
        lambda r: r.test_accuracy_mean,
        lambda r: fmt.percent(r.test_accuracy_mean, r.test_accuracy_std),
        True,
        help="mean test accuracy ± std over seeds",
    ),
    SummaryColumn(
        "ci95",
        "95% CI\n%",
        lambda r: r.test_accuracy_ci95[0] if r.test_accuracy_ci95 else None,
        _ci,
        True,
        default=False,
        optional=True,
        help="95% confidence interval of the mean test accuracy",
    ),
    SummaryColumn(
        "dead",
        "dead",
        lambda r: r.dead_neurons_mean,
        lambda r: fmt.count(r.dead_neurons_mean),
        False,
        help="hidden units with a constant output after training",
    ),
    SummaryColumn(
        "dead_init",
        "dead\n@init",
        lambda r: r.dead_neurons_init_mean,
        lambda r: fmt.count(r.dead_neurons_init_mean),
        False,
        optional=True,
        help="the same before training",
    ),
    SummaryColumn(
        "dormant",
        "dormant",
        lambda r: r.dormant_neurons_mean,
        lambda r: fmt.count(r.dormant_neurons_mean),
        False,
        optional=True,
        help="units with mean |output| <= tau of the layer's average",
    ),
    SummaryColumn(
        "saturated",
        "satur.\n%",
        lambda r: r.saturated_mean,
        lambda r: fmt.percent(r.saturated_mean),
        False,
        default=False,
        optional=True,
        help="(sample, unit) pairs with |f'(z)| < 1% of its maximum",
    ),
    SummaryColumn(
        "revived",
        "revived",
        lambda r: r.revived_neurons_mean,
        lambda r: fmt.count(r.revived_neurons_mean),
        None,
        default=False,
        optional=True,
        help="units dead at one check and alive at a later one",
    ),
    SummaryColumn(
        "grad_ratio",
        "grad\nratio",
        lambda r: r.grad_ratio_mean,
        lambda r: fmt.significant(r.grad_ratio_mean),
        None,
        default=False,
        optional=True,
        help="first / last hidden layer gradient norm after epoch 1 (vanishing: << 1)",
    ),
    SummaryColumn(
        "std_init_last",
        "std@init\nlast",
        lambda r: r.std_init_last_mean,
        lambda r: fmt.significant(r.std_init_last_mean),
        None,
        default=False,
        optional=True,
        help="std of the last hidden layer's outputs before training",
    ),
)
KEYS: tuple[str, ...] = tuple(column.key for column in COLUMNS)
SORT_KEYS: tuple[str, ...] = KEYS
DEFAULT_KEYS: tuple[str, ...] = tuple(c.key for c in COLUMNS if c.default)
_BY_KEY = {column.key: column for column in COLUMNS}


def get(key: str) -> SummaryColumn:
    return _BY_KEY[key]


def select(spec: str | None) -> list[SummaryColumn]:
    """--columns: 'a,b,c' replaces the default columns; '+x,-y' adds to / removes from them.

    The activation column always comes first.
    """
    keys = list(DEFAULT_KEYS)
    if spec is not None and spec.strip():
        parts = [part.strip() for part in spec.split(",") if part.strip()]
        relative = all(part[0] in "+-" for part in parts)
        if not relative:
            keys = ["activation"]
        for part in parts:
            name = part.lstrip("+-")
            if name not in _BY_KEY:
                raise ConfigError(unknown("--columns name", name, KEYS))
            if part.startswith("-"):
                if name in keys:
                    keys.remove(name)
            elif name not in keys:
                keys.append(name)
        if "activation" not in keys:
            keys.insert(0, "activation")
    order = {key: i for i, key in enumerate(KEYS)}
    return sorted((_BY_KEY[k] for k in keys), key=lambda c: order[c.key])


def requested(spec: str | None) -> set[str]:
    """The columns --columns names (shown even where the terminal is narrow)."""
    if spec is None:
        return set()
    return {part.strip().lstrip("+") for part in spec.split(",") if part.strip()[:1] != "-"}


def sort_rows(rows: Sequence[SummaryRow], key: str | None) -> list[SummaryRow]:
    """Best first for metric columns, alphabetical for text; missing values last."""
    if key is None:
        return list(rows)
    column = get(key)
    values = [column.value(r) for r in rows]
    if not all(isinstance(v, int | float) or v is None for v in values):
        return sorted(rows, key=lambda r: (column.value(r) is None, str(column.value(r))))
    # lower is better only where it says so; counts without a direction go largest first
    sign = 1.0 if column.higher_is_better is False else -1.0

    def rank(row: SummaryRow) -> tuple[bool, float]:
        value = column.value(row)
        return (value is None, sign * float(value) if isinstance(value, int | float) else 0.0)

    return sorted(rows, key=rank)


def best_rows(rows: Sequence[SummaryRow], column: SummaryColumn) -> set[int]:
    """Indices of the rows holding the best value of a ranked column (ties all win; nothing
    is best when all values are equal)."""
    if column.higher_is_better is None or not column.highlight:
        return set()
    values = [column.value(r) for r in rows]
    numbers = [float(v) for v in values if isinstance(v, int | float) and v == v]
    if len(numbers) < 2 or len(set(numbers)) < 2:
        return set()
    target = max(numbers) if column.higher_is_better else min(numbers)
    return {i for i, v in enumerate(values) if v == target}
