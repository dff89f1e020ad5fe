"""The benchmark command: bench."""

from __future__ import annotations

from typing import Annotated

import typer

from actbench.bench_settings import WAYS, BenchSettings
from actbench.cli.app import app, say, stderr_console, stdout_console
from actbench.cli.options import TABLE, FormatOpt, count_or_word
from actbench.cli.training import EXAMPLES
from actbench.errors import ConfigError, unknown
from actbench.render import emit

DEFAULTS = BenchSettings()  # the defaults --help shows are the benchmark's own


def _listed(items: tuple[object, ...]) -> str:
    """A tuple as the comma-separated text its option takes: (16, 16) -> '16,16'."""
    return ",".join(str(item) for item in items)


@app.command(
    short_help="Time the population engine against other ways.",
    epilog=EXAMPLES + "  actbench bench\n"
    "  actbench bench --device cuda --format json\n"
    "  actbench bench --n-samples 1000000 --ways population --epochs 2",
)
def bench(
    device: Annotated[
        str, typer.Option("--device", help="cpu, cuda, cuda:N or auto.")
    ] = DEFAULTS.device,
    n_samples: Annotated[
        int, typer.Option("--n-samples", help="Samples before the split.")
    ] = DEFAULTS.n_samples,
    hidden: Annotated[
        str, typer.Option("--hidden", help="Hidden widths, comma-separated: 50 or 16,16.")
    ] = _listed(DEFAULTS.hidden),
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs per model.")] = DEFAULTS.epochs,
    seeds: Annotated[int, typer.Option("--seeds", help="Seeds per activation.")] = DEFAULTS.seeds,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Minibatch size.")
    ] = DEFAULTS.batch_size,
    activations: Annotated[
        str, typer.Option("--activations", help="Comma-separated activation names.")
    ] = _listed(DEFAULTS.activations),
    ways: Annotated[
        str,
        typer.Option(
            "--ways",
            help="Comma-separated ways to time (default: all but the slow "
            "optional ones); see docs/performance.md.",
        ),
    ] = _listed(DEFAULTS.ways),
    health: Annotated[
        bool, typer.Option("--health", help="Also time the population with neuron health on.")
    ] = DEFAULTS.health,
    threads: Annotated[
        str,
        typer.Option(
            "--threads",
            metavar="N|auto",
            help="CPU threads of the population (and vmap); the per-run loop uses one.",
        ),
    ] = str(DEFAULTS.threads),
    repeat: Annotated[
        int,
        typer.Option(
            "--repeat", min=1, help="Time the short ways (population, sklearn) this often; median."
        ),
    ] = DEFAULTS.repeat,
    fmt: FormatOpt = TABLE,
) -> None:
    """Time the population engine against a plain per-run loop and sklearn, same members."""
    from actbench.bench import run_bench
    from actbench.render.bench import bench_view

    chosen = tuple(w.strip() for w in ways.split(",") if w.strip())
    for way in chosen:
        if way not in WAYS:
            raise ConfigError(unknown("--ways value", way, WAYS))
    try:
        widths = tuple(int(w) for w in hidden.split(","))
    except ValueError:
        raise ConfigError(
            f"--hidden expects comma-separated integers, like 50 or 16,16 (got '{hidden}')"
        ) from None
    settings = BenchSettings(
        n_samples=n_samples,
        hidden=widths,
        epochs=epochs,
        seeds=seeds,
        batch_size=batch_size,
        activations=tuple(a.strip() for a in activations.split(",") if a.strip()),
        device=device,
        ways=chosen,
        health=health,
        repeat=repeat,
        threads=count_or_word(threads),
    )
    stderr = stderr_console()
    result = run_bench(settings, on_way=lambda way: say(stderr, "", f"timing: {way}")).to_dict()
    emit(bench_view(result), fmt.value, stdout_console())
