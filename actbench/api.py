"""The Python entry points: compare, train and load return a Result; nothing is printed.

Configs resolve as on the command line: defaults <- config (file, mapping or Config) <-
overrides <- seeds/epochs/lr/device <- sweep, with the same validation and the same one-line
error messages, raised as ActbenchError subclasses. On the CPU the numbers are the CLI's, bit
for bit.
"""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from actbench.activations.spec import Saturation
from actbench.config import (
    Config,
    ConfigLike,
    config_from_mapping,
    one_activation,
    require_one_activation,
    resolve,
    shortcuts,
)
from actbench.errors import (
    ConfigError,
    RunFolderError,
    SaveWarning,
    brief,
)
from actbench.result import Result, _Models
from actbench.runs import load_result, resolve_run

# --- entry points -------------------------------------------------------------------------------


def _run(
    config: Config,
    name: str,
    *,
    baseline: str | None,
    save: bool,
    save_models: bool,
    out: str | Path,
    progress: bool,
    per_member: bool,
) -> Result:
    from rich.console import Console

    from actbench.pipeline import RunRequest, run, stop_on_signals
    from actbench.render.progress import progress_updates

    request = RunRequest(
        config,
        name,
        baseline=baseline,
        out=_out_folder(out) if save else None,
        save_models=save_models,
        keep_models=True,
    )
    # a notebook's interrupt (Ctrl-C) stops at the next step and keeps the finished epochs
    with (
        progress_updates(Console(stderr=True), progress) as on_progress,
        stop_on_signals((signal.SIGINT,)) as stop,
    ):
        experiment = run(request, on_progress=on_progress, should_stop=stop.is_set)
    if experiment.untrained:  # stopped before the first epoch finished: nothing to return
        raise KeyboardInterrupt
    if experiment.save_error is not None:
        # the CLI prints the results and says the save failed; here the Result comes back with
        # the reason attached, and a warning says so: training is never lost to a full disk
        warnings.warn(experiment.save_error, SaveWarning, stacklevel=3)
    models = None
    if experiment.model_index is not None:
        models = _Models(experiment.model_index, blobs=experiment.models)
    return Result(
        experiment.config,
        experiment.result,
        experiment.run_dir,
        per_member=per_member,
        models=models,
        save_error=experiment.save_error,
    )


def _check_type(name: str, value: Any, kind: Any, what: str) -> None:
    """An argument of the wrong type is a ConfigError naming it, not a TypeError from deep
    inside (compare(baseline=1), train(params=[1]))."""
    if value is not None and not isinstance(value, kind):
        raise ConfigError(f"{name} must be {what} (got {brief(value)})")


def _out_folder(out: Any) -> Path:
    """`out` as the folder of run folders, checked before anything is trained."""
    if isinstance(out, bool) or not isinstance(out, str | os.PathLike) or not str(out).strip():
        raise ConfigError(
            f"save=True needs out: the folder that holds run folders, like 'runs' (got "
            f"{brief(out)})"
        )
    return Path(out)


def _arrays(X: Any, y: Any) -> dict[str, Any]:
    """X and y (NumPy, pandas or torch) as the data flags of a run: kind arrays, kept in this
    process under their SHA-256 (and saved in the run folder with save=True)."""
    if X is None and y is None:
        return {}
    from actbench.data.arrays import keep, table_of

    return {"data.kind": "arrays", "data.sha256": keep(table_of(X, y))}


def compare(
    config: ConfigLike = None,
    *,
    X: Any = None,
    y: Any = None,
    overrides: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
    seeds: int | Sequence[int] | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    device: str | None = None,
    baseline: str | None = None,
    save: bool = False,
    save_models: bool = False,
    out: str | Path = "runs",
    progress: bool = False,
) -> Result:
    """Train every activation x every seed (x every sweep point) side by side.

    config: a YAML path, a mapping of sections ({"train": {"epochs": 5}}) or a Config;
    X, y: your own data instead of the config's: features (rows x columns) and one label per
    row, as NumPy arrays, a pandas DataFrame and Series, or torch tensors (labels of any one
    type; the classes are their sorted values; save=True keeps them in the run folder);
    overrides: dotted keys, {"train.lr": 0.3, "model.hidden": [8, 8]}; sweep: dotted key ->
    values, {"train.lr": [0.001, 0.1]}; seeds/epochs/lr/device: shortcuts for train.*.
    baseline: compare every label with this one, paired over seeds. save: write a run folder
    under `out` (save_models: with every member's state_dict). progress: a progress bar on stderr.
    An unusable `out` is an error before training; a save that fails after training returns the
    Result anyway, with `save_error` set and a SaveWarning.
    """
    _check_type("baseline", baseline, str, "a label, like 'relu'")
    cfg, name = resolve(
        config,
        overrides=overrides,
        sweep=sweep,
        flags={**_arrays(X, y), **shortcuts(seeds=seeds, epochs=epochs, lr=lr, device=device)},
    )
    return _run(
        cfg,
        name or ("arrays" if X is not None else "defaults"),
        baseline=baseline,
        save=save,
        save_models=save_models,
        out=out,
        progress=progress,
        per_member=False,
    )


def train(
    act: str | None = None,
    config: ConfigLike = None,
    *,
    X: Any = None,
    y: Any = None,
    params: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    sweep: Mapping[str, Sequence[Any]] | None = None,
    seeds: int | Sequence[int] | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    device: str | None = None,
    save: bool = False,
    save_models: bool = False,
    out: str | Path = "runs",
    progress: bool = False,
) -> Result:
    """Train one activation over its seeds, like `actbench train --act NAME`.

    act: an activation name (params: its parameters, {"negative_slope": 0.2}); without it the
    config must list exactly one activation. The other arguments (X and y too) are compare()'s.
    """
    _check_type("act", act, str, "an activation name, like 'relu'")
    _check_type("params", params, Mapping, "parameter -> value, like {'negative_slope': 0.2}")
    flags = {
        **_arrays(X, y),
        **shortcuts(seeds=seeds, epochs=epochs, lr=lr, device=device),
        **one_activation(act, params),
    }
    cfg, name = resolve(config, overrides=overrides, sweep=sweep, flags=flags)
    label = require_one_activation(cfg).label
    return _run(
        cfg,
        f"{name}-{label}" if name is not None else f"train-{label}",
        baseline=None,
        save=save,
        save_models=save_models,
        out=out,
        progress=progress,
        per_member=not cfg.sweep,
    )


def register_activation(
    name: str,
    fn: Any,
    *,
    formula: str | None = None,
    output_range: str | None = None,
    derivative: str | None = None,
    typical_use: str | None = None,
    gain: float = 1.0,
    saturation: Saturation = "derivative",
) -> str:
    """Make `fn` an activation named `name` in this session; returns the name to use.

    fn: a function of a tensor, `def squareplus(x, b=4.0)` (its keyword arguments become the
    activation's params), or an nn.Module class (its __init__'s). It is checked at once: it
    must keep its input's shape and dtype, give finite values and derivatives on [-10, 10] and
    act on each unit on its own. It trains through autograd. gain: the kaiming gain of the
    layers feeding it (model.init: kaiming); saturation: "derivative" counts a unit as
    saturated where |f'| < 1% of its largest |f'| (autograd's), "never"/"always" where |f'| is
    constant. The formula, range, derivative and use texts are what `actbench activations`
    and report.html show (by default: the docstring's first line, the range measured on
    [-10, 10], "by autograd"). Registering a name again replaces it.
    """
    from actbench import activations

    spec = activations.register(
        name,
        fn,
        formula=formula,
        output_range=output_range,
        derivative=derivative,
        typical_use=typical_use,
        gain=gain,
        saturation=saturation,
    )
    return spec.name


def load(run: str | Path, *, out: str | Path = "runs", allow_code: bool = False) -> Result:
    """A saved run: a run id, a unique prefix of one, or a run folder.

    allow_code: run the code its activations name (module:function, file.py:function); a
    saved run never runs code unasked (code this session has loaded already is fine).
    """
    from actbench.activations import (
        saved_activation_names,
        saved_run_code,
        saved_run_problem,
    )
    from actbench.members import read_index

    run_dir = resolve_run(str(run), Path(out))
    result = load_result(run_dir)
    how = "pass allow_code=True to actbench.load"
    names = saved_activation_names(result)
    problem = saved_run_problem(run_dir.name, names, allow_code=allow_code, how=how)
    if problem:
        raise RunFolderError(problem)
    try:
        with saved_run_code(allow_code, how):
            config = config_from_mapping(result.config)
    except ConfigError as exc:
        raise RunFolderError(f"'{run_dir}': its config does not load: {exc}") from None
    index = read_index(run_dir / "models")
    per_member = len({r.label for r in result.runs}) == 1 and not any(r.grid for r in result.runs)
    return Result(
        config,
        result,
        run_dir,
        per_member=per_member,
        models=_Models(index, run_dir=run_dir) if index is not None else None,
    )
