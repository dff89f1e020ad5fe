"""The view of `actbench bench`: time per way of training the same members, and accuracy."""

from __future__ import annotations

from typing import Any

from actbench.render import format as fmt
from actbench.render.view import Cell, Column, TableView, View, text_column

# way -> (display name, key of its seconds in the benchmark's JSON)
WAYS: dict[str, tuple[str, str]] = {
    "population": ("population", "population_seconds"),
    "population_health": ("population + health", "population_with_health_seconds"),
    "per_run": ("per-run loop", "per_run_seconds"),
    "sklearn": ("sklearn", "sklearn_seconds_for_all_members"),
}


def bench_view(result: dict[str, Any]) -> View:
    """Timing per way (with how much faster the population is), then accuracy per way."""
    ways = [way for way in WAYS if way in result["accuracy"]]
    settings = result["settings"]
    population = result.get("population_seconds")
    timing = TableView(
        title=f"actbench bench: {fmt.plural(result['members'], 'model')}, {result['device']}",
        columns=[
            text_column("way"),
            Column("seconds"),
            Column("population\nis"),
            Column("Msamples\n·models/s"),
            Column("peak\nMB"),
        ],
        caption=[
            f"{fmt.plural(settings['n_samples'], 'sample')}, hidden "
            f"{fmt.hidden(settings['hidden'])}, batch {settings['batch_size']}, "
            f"{fmt.plural(settings['epochs'], 'epoch')}",
            "population and sklearn: "
            + (
                "one timing"
                if settings.get("repeat", 1) == 1
                else f"median of {settings['repeat']} timings"
            ),
            "sklearn has fewer activations: its time is scaled to all members",
        ],
    )
    records = []
    rows = []
    for way in ways:
        name, key = WAYS[way]
        seconds = result.get(key)
        if way == "sklearn" and result.get("sklearn_models"):
            name = f"sklearn ({result['sklearn_models']} models)"
        speedup = (
            seconds / population
            if seconds and population and way not in ("population", "population_health")
            else None
        )
        faster = "" if speedup is None else f"{speedup:.1f}x faster"
        throughput = result["samples_members_per_second"][way] / 1e6
        rows.append(
            [
                Cell(name),
                Cell("-" if seconds is None else f"{seconds:.2f}"),
                Cell(faster),
                Cell(f"{throughput:.2f}"),
                Cell(f"{result['peak_memory_mb'][way]:.0f}"),
            ]
        )
        records.append(
            {
                "way": way,
                "seconds": seconds,
                "population_speedup": None if speedup is None else round(speedup, 2),
                "msamples_members_per_second": round(throughput, 4),
                "peak_memory_mb": result["peak_memory_mb"][way],
                **{f"accuracy.{name}": value for name, value in result["accuracy"][way].items()},
            }
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
                *(
                    Cell(
                        f"{100 * result['accuracy'][way][name]:.1f}"
                        if name in result["accuracy"][way]
                        else "-"
                    )
                    for way in ways
                ),
            ]
            for name in names
        ]
    )
    return View(tables=[timing, accuracy], records=records, document=result)
