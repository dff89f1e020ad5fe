"""The view of `actbench bench`: time per way of training the same members, and accuracy."""

from __future__ import annotations

from typing import Any

from actbench import format as fmt
from actbench.render.view import Cell, Column, TableView, View, text_column

# way -> (display name, key of its seconds in the benchmark's JSON)
WAYS: dict[str, tuple[str, str]] = {
    "population": ("population", "population_seconds"),
    "population_health": ("population + health", "population_with_health_seconds"),
    "per_run": ("per-run loop", "per_run_seconds"),
    "vmap": ("vmap recipe", "vmap_seconds"),
    "jax": ("JAX + optax", "jax_seconds"),
    "sklearn": ("sklearn", "sklearn_seconds_for_all_members"),
}


def bench_view(result: dict[str, Any]) -> View:
    """Timing per way (with how much faster the population is), then accuracy per way."""
    ways = [way for way in WAYS if way in result["accuracy"]]
    settings = result["settings"]
    population = result.get("population_seconds")
    compile_seconds = result.get("jax_compile_seconds")
    gflops = result.get("gflops", {})
    repeat = settings.get("repeat", 1)
    caption = [
        f"{fmt.plural(settings['n_samples'], 'sample')}, hidden "
        f"{fmt.hidden(settings['hidden'])}, batch {settings['batch_size']}, "
        f"{fmt.plural(settings['epochs'], 'epoch')}"
        + (f", {fmt.plural(result['threads'], 'thread')}" if result.get("threads") else ""),
        "short ways: " + ("one timing" if repeat == 1 else f"median of {repeat} timings"),
    ]
    if "sklearn" in ways:
        caption.append("sklearn has fewer activations: its time is scaled to all members")
    if compile_seconds is not None:
        caption.append(f"JAX: run time, plus {compile_seconds:.2f} s to compile")
    caption += list(result.get("notes", []))
    timing = TableView(
        title=f"actbench bench: {fmt.plural(result['members'], 'model')}, {result['device']}",
        columns=[
            text_column("way"),
            Column("seconds"),
            Column("population\nis"),
            Column("Msamples\n·models/s"),
            Column("GFLOP/s"),
            Column("peak\nMB"),
        ],
        caption=caption,
    )
    records = []
    rows = []
    for way in ways:
        name, key = WAYS[way]
        seconds = result.get(key)
        if way == "sklearn" and result.get("sklearn_models"):
            name = f"sklearn ({result['sklearn_models']} models)"
        compared = seconds
        if way == "jax" and seconds is not None and compile_seconds is not None:
            compared = seconds + compile_seconds  # end to end, as a user waits for it
        speedup = (
            compared / population
            if compared and population and way not in ("population", "population_health")
            else None
        )
        throughput = result["samples_members_per_second"][way] / 1e6
        rows.append(
            [
                Cell(name),
                Cell(fmt.MISSING if seconds is None else f"{seconds:.2f}"),
                Cell(_faster(speedup)),
                Cell(f"{throughput:.2f}"),
                Cell(f"{gflops[way]:.1f}" if way in gflops else ""),
                Cell(f"{result['peak_memory_mb'][way]:.0f}"),
            ]
        )
        records.append(
            {
                "way": way,
                "seconds": seconds,
                "population_speedup": None if speedup is None else round(speedup, 2),
                "msamples_members_per_second": round(throughput, 4),
                "gflops": gflops.get(way),
                "peak_memory_mb": result["peak_memory_mb"][way],
                **{f"accuracy.{name}": value for name, value in result["accuracy"][way].items()},
            }
        )
    floor = result.get("gemm_floor_seconds")
    if floor is not None:
        rows.append(
            [
                Cell("GEMMs alone (floor)", style="dim"),
                Cell(f"{floor:.2f}"),
                Cell(""),
                Cell(""),
                Cell(f"{result.get('gemm_roofline_gflops') or 0:.1f}"),
                Cell(""),
            ]
        )
    timing.add_section(rows)
    accuracy = TableView(
        title="test accuracy % (mean over seeds)",
        columns=[
            text_column("activation"),
            *(Column(WAYS[way][0].replace(" + ", "\n+ ")) for way in ways),
        ],
    )
    names = list(dict.fromkeys(a for way in ways for a in result["accuracy"][way]))
    accuracy.add_section(
        [
            [
                Cell(name),
                *(Cell(fmt.percent(result["accuracy"][way].get(name))) for way in ways),
            ]
            for name in names
        ]
    )
    return View(tables=[timing, accuracy], records=records, document=result)


def _faster(speedup: float | None) -> str:
    """How the population compares: '12.9x faster', or '1.3x slower' where it is."""
    if speedup is None:
        return ""
    return f"{speedup:.1f}x faster" if speedup >= 1 else f"{1 / speedup:.1f}x slower"
