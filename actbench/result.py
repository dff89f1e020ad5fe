"""A Result: a finished (or saved) run in Python: its records, tables, figures and members.

`actbench.compare`, `train` and `load` return one; nothing here trains or prints.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from actbench.config import Config
from actbench.errors import ActbenchError, ConfigError, RunFolderError, unknown
from actbench.runs import RunRecord, RunResult, SummaryRow

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure
    from rich.console import RenderableType

    from actbench.members import ModelEntry, ModelIndex, TrainedMember
    from actbench.render.view import View

PANDAS_HINT = "pip install 'actbench[pandas]'"
# The terminal table's highlight (bold green) and layout in a notebook; scoped to a Result.
_NOTEBOOK_STYLE = (
    ".actbench-result td.best strong{color:#1a7f37}"
    ".actbench-result td,.actbench-result th{text-align:right}"
    ".actbench-result td.text,.actbench-result th.text{text-align:left}"
    ".actbench-result p.note{color:#666;margin:0}"
)


@dataclass(frozen=True)
class _Models:
    """Trained members: the index, and where their state_dicts are (in memory or a run folder).

    A run folder is untrusted: each entry is checked against the run's config and its file is
    read within the folder, bounded by the entry's shape (members.check_entry, read_model_file).
    """

    index: ModelIndex
    blobs: Mapping[str, bytes] | None = None  # file name -> state_dict bytes
    run_dir: Path | None = None

    def build(self, entry: ModelEntry, config: Config) -> TrainedMember:
        from actbench.members import build_model, check_entry, read_model_file

        if self.blobs is not None:
            return build_model(entry, self.index.scalers[entry.scaler], self.blobs[entry.file])
        assert self.run_dir is not None
        scaler = check_entry(entry, self.index, config)
        return build_model(entry, scaler, read_model_file(self.run_dir, entry))


class Result:
    """A finished comparison: its resolved config, per-member records and summary rows.

    `runs` and `summary` hold the records of results.json (actbench.runs.RunRecord and
    SummaryRow); `run_result` is the whole of it. `model(label, seed)` is a trained member
    that maps raw features to logits.
    """

    def __init__(
        self,
        config: Config,
        run_result: RunResult,
        run_dir: Path | None = None,
        *,
        per_member: bool = False,
        models: _Models | None = None,
        save_error: str | None = None,
    ) -> None:
        self.config = config
        self.run_result = run_result
        self.run_dir = run_dir
        # why the run folder is incomplete, when saving failed after training (a SaveWarning
        # was issued); None when it was saved or not asked to be
        self.save_error = save_error
        self._per_member = per_member
        self._models = models

    @property
    def runs(self) -> list[RunRecord]:
        """One record per member (activation label x seed x grid point)."""
        return self.run_result.runs

    @property
    def summary(self) -> list[SummaryRow]:
        """One row per activation label (per grid point): mean, std and CI over seeds."""
        return self.run_result.summary

    @property
    def run_id(self) -> str:
        return self.run_result.run_id

    @property
    def notices(self) -> list[str]:
        return self.run_result.notices

    def __repr__(self) -> str:
        labels = list(dict.fromkeys(run.label for run in self.runs))
        where = f", run_dir='{self.run_dir}'" if self.run_dir is not None else ""
        return (
            f"<actbench.Result {self.run_id}: {len(self.runs)} models, "
            f"{len(labels)} activations ({', '.join(labels[:6])}"
            f"{', ...' if len(labels) > 6 else ''}){where}>"
        )

    # --- tables ---------------------------------------------------------------------------------

    def view(self, sort: str | None = None, columns: str | None = None) -> View:
        """What the CLI prints for this run: its tables and notes (see actbench.render)."""
        from actbench.render.columns import SORT_KEYS
        from actbench.render.results import result_view

        if sort is not None and sort not in SORT_KEYS:
            raise ConfigError(unknown("sort column", sort, SORT_KEYS))
        return result_view(self.run_result, per_member=self._per_member, sort=sort, columns=columns)

    def table(self, sort: str | None = None, columns: str | None = None) -> RenderableType:
        """The rich tables the CLI prints (with a baseline, its table too)."""
        from rich.console import Console, Group

        from actbench.render.view import to_rich

        width = Console().width
        return Group(*(to_rich(table, width) for table in self.view(sort, columns).tables))

    def _repr_markdown_(self) -> str:
        from actbench.render.view import to_markdown, to_markdown_text

        view = self.view()
        notes = [*self.notices, *view.notes]
        return "\n".join(to_markdown(table) for table in view.tables) + "".join(
            f"\n- {to_markdown_text(line)}" for line in notes
        )

    def _repr_html_(self) -> str:
        """The tables as in the terminal, best values in bold green, then the notices and
        notes (what a notebook shows for a Result)."""
        from actbench.render.view import to_html

        view = self.view()
        tables = "".join(to_html(table, strong_best=True) for table in view.tables)
        lines = [*self.notices, *view.notes]
        notes = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        return (
            f'<div class="actbench-result"><style>{_NOTEBOOK_STYLE}</style>'
            f"<strong>actbench {html.escape(self.run_id or '(not saved)')}</strong>{tables}"
            + (f'<ul class="notes">{notes}</ul>' if notes else "")
            + "</div>"
        )

    def plot(self, name: str) -> Figure:
        """Figure `name` of this run as a matplotlib Figure: curves, boundary, neurons,
        health, sweep or activations (what `actbench report` writes as <name>.png). A
        notebook shows it; `.savefig(path)` writes it."""
        from actbench.plots import draw_figure, needs_of

        models = self.model if self._models is not None else None
        figure = draw_figure(self.run_result, name, models)
        if figure is None:
            raise ActbenchError(
                f"figure '{name}' has nothing to show for run {self.run_id or '(not saved)'}: "
                f"it needs {needs_of(name)}"
            )
        return figure

    def to_pandas(
        self, what: Literal["summary", "runs", "layers", "history"] = "summary"
    ) -> pandas.DataFrame:
        """A DataFrame of flat columns: one row per summary row, per member, per member and
        hidden layer, or per member and epoch.

        Sweep values come first, one column per swept key (lists as tuples, so they group);
        a 95% interval is two columns (`test_accuracy_ci95_low`, `_high`), a param one
        (`params.negative_slope`); per-layer values are in "layers" (final) and "history"
        (`dead_l1`, ... at the probed epochs). Needs pandas: pip install 'actbench[pandas]'.
        """
        from actbench.render.results import flat_run, flat_summary, layer_records

        tables = ["summary", "runs", "layers", "history"]
        if what not in tables:
            raise ActbenchError(unknown("table", str(what), tables))
        try:
            import pandas as pd
        except ImportError:
            raise ActbenchError(f"to_pandas() needs pandas: {PANDAS_HINT}") from None
        if what == "summary":
            rows = [_tuples_in(flat_summary(row, "")) for row in self.summary]
        elif what == "runs":
            rows = [_tuples_in(flat_run(run, "")) for run in self.runs]
        elif what == "layers":
            rows = [_tuples_in(row) for row in layer_records(self.run_result, "")]
        else:
            rows = [row for run in self.runs for row in _history_rows(run)]
        return pd.DataFrame(rows)

    # --- files ----------------------------------------------------------------------------------

    def figures(self, directory: str | Path) -> list[Path]:
        """Write the run's PNG figures (as `actbench report` does) into directory."""
        from actbench.plots import write_figures

        models = self.model if self._models is not None else None
        return _writing(directory, lambda: write_figures(self.run_result, Path(directory), models))

    def html_report(self, directory: str | Path) -> Path:
        """Write the figures and one self-contained report.html into directory."""
        from actbench.html import write_html_report

        figures = self.figures(directory)
        return _writing(
            directory, lambda: write_html_report(self.run_result, Path(directory), figures)
        )

    # --- trained members ------------------------------------------------------------------------

    def model(
        self, label: str, seed: int = 0, grid: Mapping[str, Any] | None = None
    ) -> TrainedMember:
        """Member (label, seed[, grid point]): a classifier with `predict`, `predict_proba`
        and `score` on raw features (NumPy, pandas or torch), and a torch module from raw
        features to logits when called.

        The run's data scaler comes first (Standardize, float64 like sklearn, then float32),
        then the trained SimpleNN. With a sweep, `grid` picks the point: {"train.lr": 0.3}
        (or {"lr": 0.3}). Pass float64 features to get exactly the run's inputs.
        """
        from actbench.members import find_entry

        if self._models is None:
            folder = self.run_dir / "models" if self.run_dir is not None else None
            if folder is not None and any(folder.glob("*.pt")):
                raise ActbenchError(
                    f"run '{self.run_id}' has model files but no models/index.json (saved by "
                    "an older actbench): load them with torch.load into a SimpleNN"
                )
            raise ActbenchError(
                f"run '{self.run_id}' has no saved models; train it with "
                "`actbench compare ... --save-models` (or compare(..., save=True, "
                "save_models=True))"
            )
        entry = find_entry(self._models.index, label, seed, grid)
        return self._models.build(entry, self.config)


def _writing(directory: str | Path, write: Any) -> Any:
    try:
        return write()
    except OSError as exc:
        raise RunFolderError(f"cannot write into '{directory}': {exc.strerror or exc}") from None


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _tuples_in(record: dict[str, Any]) -> dict[str, Any]:
    """List values (a swept model.hidden) as tuples, which pandas can group by."""
    return {key: _tuples(value) for key, value in record.items()}


def _history_rows(run: RunRecord) -> Iterator[dict[str, Any]]:
    identity = {
        **{key: _tuples(value) for key, value in run.grid.items()},
        "label": run.label,
        "activation": run.activation,
        "seed": run.seed,
        "status": run.status,
    }
    for epoch, loss, accuracy, health in run.history.epochs():
        row = {**identity, "epoch": epoch, "train_loss": loss, "test_accuracy": accuracy}
        for name, values in health.items():  # only the probed epochs have health
            for layer, value in enumerate(values):
                row[f"{name}_l{layer + 1}"] = value
        yield row
