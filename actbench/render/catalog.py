"""Views of the activation registry: `actbench activations` and `actbench show`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from actbench import format as fmt
from actbench.activations import ActivationSpec
from actbench.render.view import Cell, Column, TableView, View, text_column


def activations_view(specs: Sequence[ActivationSpec], more: bool = False) -> View:
    """The registry: formula, output range, derivative, parameters, typical use. `more`: say
    in the caption which other names the registry takes."""
    table = TableView(
        title="activations",
        columns=[
            text_column("name"),
            text_column("formula"),
            text_column("range"),
            text_column("derivative"),
            text_column("params"),
            text_column("typical use", optional=True),
        ],
        caption=["(aliases); params: the defaults, set with --param NAME=VALUE"]
        + (
            [
                "also: torch.nn.<Class> (--torch lists them), module:function and "
                "file.py:function (docs/activations.md)"
            ]
            if more
            else []
        ),
    )
    records = []
    for spec in specs:
        defaults = {
            name: "required" if param.required else param.default
            for name, param in spec.params.items()
        }
        name = spec.name + (f"\n({', '.join(spec.aliases)})" if spec.aliases else "")
        table.add_section(
            [
                [
                    Cell(name, style="bold"),
                    Cell(spec.formula),
                    Cell(spec.output_range),
                    Cell(spec.derivative),
                    Cell(
                        ", ".join(f"{k}: {fmt.value(v)}" for k, v in defaults.items())
                        or fmt.MISSING
                    ),
                    Cell(spec.typical_use),
                ]
            ]
        )
        records.append(
            {
                "name": spec.name,
                "aliases": list(spec.aliases),
                "formula": spec.formula,
                "range": spec.output_range,
                "derivative": spec.derivative,
                "params": defaults,
                "typical_use": spec.typical_use,
            }
        )
    return View(tables=[table], records=records, document=records)


def show_view(
    name: str,
    params: Mapping[str, Any],
    xs: Sequence[float],
    ys: Sequence[float],
    slopes: Sequence[float],
) -> View:
    """f(x) and f'(x) of one activation at the given inputs."""
    title = name + (f" ({fmt.params(params)})" if params else "")
    table = TableView(title=title, columns=[Column("x"), Column("f(x)"), Column("f'(x)")])
    table.add_section(
        [
            [Cell(f"{x:g}"), Cell(f"{y:.4f}"), Cell(f"{dy:.4f}")]
            for x, y, dy in zip(xs, ys, slopes, strict=True)
        ]
    )
    records = [{"x": x, "y": y, "dy": dy} for x, y, dy in zip(xs, ys, slopes, strict=True)]
    document = {
        "activation": name,
        "params": dict(params),
        "x": list(xs),
        "y": list(ys),
        "dy": list(slopes),
    }
    return View(tables=[table], records=records, document=document)
