"""The GPU check in one command: the CUDA tests, the whole suite, the bench and the scale runs
of issue 22, then its targets against what was measured.

    python3 benchmarks/gpu_check.py                        # on a GPU machine: ~8 minutes
    python3 benchmarks/gpu_check.py --device cpu --quick   # every part, tiny: checks the script

Run it from the repository root. It installs nothing from the network: actbench is imported
from the checkout (PYTHONPATH), and a package the machine lacks (pydantic and its three
dependencies on the lent H200) is installed from wheels in `.whl/` when that folder is there
(docs/performance.md#gpu says how to fetch them). Every part runs in its own process with a
time limit, so one that hangs or fails leaves the others their turn; the parts run in the order
below and the whole suite, the longest, last. The table goes to stdout; gpu_check.json (every
figure) and gpu_check.log (each part's output, its tail) go to --out ($OUT when set, else
a temporary folder). Parts left without time say "not measured"; `--parts suite` (or any
comma-separated subset) runs them in a call of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"]


@dataclass
class Part:
    """One measured part: its command and what came of it."""

    name: str
    argv: list[str]
    limit: float  # seconds
    seconds: float | None = None
    code: int | None = None
    output: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def ran(self) -> bool:
        return self.code is not None


def plan(device: str, quick: bool, workers: int) -> list[Part]:
    """The parts, in the order they run, with their time limits (seconds)."""
    python = [sys.executable]
    actbench = [*python, "-m", "actbench"]
    pytest = [*python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-ra"]
    bench = [*actbench, "bench", "--device", device, "--format", "json"]
    if quick:
        tiny = ["--n-samples", "200", "--epochs", "2", "--seeds", "1", "--repeat", "1"]
        return [
            Part("kernels", [*python, __file__, "--count-kernels", device], 120),
            Part("cuda-tests", [*pytest, "tests/test_cuda.py", "tests/test_fused.py"], 300),
            Part(
                "all-yaml",
                [*actbench, "compare", "configs/smoke.yaml", "--epochs", "2", "--device", device]
                + ["--no-save", "--quiet", "--format", "json"],
                120,
            ),
            Part(
                "million",
                [*bench, "--ways", "population", "--n-samples", "20000"]
                + ["--epochs", "1", "--seeds", "1", "--repeat", "1"],
                120,
            ),
            Part(
                "ten-thousand",
                [*bench, "--ways", "population", "--seeds", "30"]
                + ["--epochs", "2", "--n-samples", "200", "--repeat", "1"],
                120,
            ),
            Part("bench", [*bench, "--ways", "population,per_run,vmap,jax", *tiny], 300),
            Part("suite", [*pytest, "tests/test_step.py", "tests/test_optim.py"], 300),
        ]
    import importlib.util

    has_xdist = importlib.util.find_spec("xdist") is not None
    parallel = ["-n", str(workers)] if workers > 1 and has_xdist else []
    return [
        Part("kernels", [*python, __file__, "--count-kernels", device], 120),
        Part("cuda-tests", [*pytest, "tests/test_cuda.py", "tests/test_fused.py"], 240),
        Part(
            "all-yaml",
            [*actbench, "compare", "configs/all.yaml", "--device", device, "--no-save"]
            + ["--quiet", "--format", "json"],
            120,
        ),
        Part(
            "million",
            [*bench, "--ways", "population", "--n-samples", "1000000"]
            + ["--epochs", "2", "--repeat", "1"],
            180,
        ),
        # 7 activations x 1429 seeds = 10,003 members of the reference shape
        Part(
            "ten-thousand",
            [*bench, "--ways", "population", "--seeds", "1429"]
            + ["--epochs", "20", "--repeat", "1"],
            180,
        ),
        Part("bench", [*bench, "--ways", "population,per_run,vmap,jax"], 300),
        Part("suite", [*pytest, *parallel], 420),
    ]


def environment() -> dict[str, str]:
    """The subprocesses' environment: the checkout importable, carried wheels installed."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = [str(ROOT)]
    wheels = ROOT / ".whl"
    if wheels.is_dir() and any(wheels.glob("*.whl")):
        site = Path(tempfile.gettempdir()) / "actbench-site"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps"]
            + ["--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site)]
            + [str(w) for w in sorted(wheels.glob("*.whl"))],
            check=True,
        )
        paths.append(str(site))
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


VERSIONS = """
import importlib.metadata as m, torch
names = ("torch", "typer", "rich", "pydantic", "scikit-learn", "jax", "pytest-xdist")
for name in names:
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "missing")
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "-"
print("cuda", torch.version.cuda, gpu)
"""


def versions(env: dict[str, str]) -> str:
    """The versions the parts run with (typer >= 0.28 and pydantic are actbench's needs)."""
    done = subprocess.run(
        [sys.executable, "-c", VERSIONS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    return (done.stdout + done.stderr).strip()


def run(part: Part, env: dict[str, str], budget_end: float) -> None:
    limit = max(1.0, min(part.limit, budget_end - time.monotonic()))
    print(f"-- {part.name} (limit {limit:.0f} s): {' '.join(part.argv[1:])}", flush=True)
    started = time.monotonic()
    try:
        done = subprocess.run(
            part.argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=limit
        )
        part.code, part.output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        part.code = 124
        out = exc.stdout or b""
        part.output = (out.decode() if isinstance(out, bytes) else out) + "\n(time limit)"
    part.seconds = round(time.monotonic() - started, 2)
    part.figures = read_figures(part)
    print(f"   exit {part.code} after {part.seconds} s: {part.figures}", flush=True)


def _json_in(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def read_figures(part: Part) -> dict[str, Any]:
    """What the targets need from a part's output."""
    if part.name in ("cuda-tests", "suite"):
        counts = {
            word: int(number)
            for number, word in re.findall(r"(\d+) (passed|failed|skipped|errors?)", part.output)
        }
        return {"passed": 0, "failed": 0, "skipped": 0, **counts}
    if part.name == "kernels":
        found = re.search(r"kernels per step: (\d+)", part.output)
        return {"kernels": int(found.group(1))} if found else {}
    data = _json_in(part.output)
    if data is None:
        return {}
    if part.name == "all-yaml":
        return {"seconds": data.get("seconds"), "device": data.get("device")}
    keys = ("population_seconds", "per_run_seconds", "speedup_vs_per_run", "vmap_seconds")
    keys += ("jax_seconds", "jax_compile_seconds", "members", "device", "notes")
    return {key: data.get(key) for key in keys}


def _value(parts: dict[str, Part], name: str, key: str) -> Any:
    part = parts.get(name)
    return None if part is None else part.figures.get(key)


def targets(parts: dict[str, Part]) -> list[tuple[str, str, str, bool | None]]:
    """(target, goal, measured, met) rows; met is None where nothing was measured."""

    def seconds(value: Any, goal: float) -> tuple[str, bool | None]:
        if not isinstance(value, (int, float)):
            return "not measured", None
        return f"{value:.3f} s", value <= goal

    rows: list[tuple[str, str, str, bool | None]] = []
    population = _value(parts, "bench", "population_seconds")
    shown, met = seconds(population, 0.2)
    rows.append(("reference bench: population", "<= 0.2 s", shown, met))
    speedup = _value(parts, "bench", "speedup_vs_per_run")
    if isinstance(speedup, (int, float)):
        rows.append(("  vs the per-run loop", ">= 500x", f"{speedup:.0f}x", speedup >= 500))
    else:
        rows.append(("  vs the per-run loop", ">= 500x", "not measured", None))
    jax = _value(parts, "bench", "jax_seconds")
    if isinstance(jax, (int, float)) and isinstance(population, (int, float)) and population:
        ratio = jax / population
        compile_s = _value(parts, "bench", "jax_compile_seconds") or 0.0
        rows.append(
            (
                "  vs JAX's run, same device",
                ">= 2x faster",
                f"{ratio:.2f}x (JAX {jax:.3f} s + {compile_s:.2f} s compile)",
                ratio >= 2,
            )
        )
    else:
        rows.append(("  vs JAX's run, same device", ">= 2x faster", "not measured", None))
    shown, met = seconds(_value(parts, "all-yaml", "seconds"), 0.5)
    rows.append(("configs/all.yaml: run seconds", "<= 0.5 s", shown, met))
    shown, met = seconds(_value(parts, "million", "population_seconds"), 1.5)
    rows.append(("1M samples x 2 epochs", "<= 1.5 s", shown, met))
    members = _value(parts, "ten-thousand", "members")
    shown, met = seconds(_value(parts, "ten-thousand", "population_seconds"), 5.0)
    label = f"{members:,} members x 20 epochs" if members else "10,000 members x 20 epochs"
    rows.append((label, "<= 5 s", shown, met))
    kernels = _value(parts, "kernels", "kernels")
    rows.append(
        (
            "kernels per reference step",
            "<= 25",
            str(kernels) if kernels is not None else "not measured",
            None if kernels is None else kernels <= 25,
        )
    )
    for name, label in (("cuda-tests", "CUDA tests"), ("suite", "pytest, whole suite")):
        part = parts.get(name)
        if part is None or not part.ran or part.code == 124:
            rows.append((label, "0 failures", "not measured", None))
            continue
        figures = part.figures
        failed = figures.get("failed", 0) + figures.get("error", 0) + figures.get("errors", 0)
        shown = f"{failed} ({figures.get('passed', 0)} passed, {figures.get('skipped', 0)} skipped)"
        rows.append((label, "0 failures", shown, failed == 0 and part.code == 0))
    return rows


def table(rows: list[tuple[str, str, str, bool | None]]) -> str:
    verdict = {True: "met", False: "MISSED", None: "-"}
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{'target':<{widths[0]}}  {'goal':<{widths[1]}}  {'measured':<{widths[2]}}  verdict"]
    lines += [
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {verdict[met]}"
        for a, b, c, met in rows
    ]
    return "\n".join(lines)


def count_kernels(device: str) -> int:
    """Kernels of one step of the reference population (35 members, hidden 50, batch 64): the
    CUDA kernels the profiler sees on a GPU, the ATen operations (views excepted) on the CPU."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    sys.path.insert(0, str(ROOT))
    from actbench.config import DataConfig, TrainConfig
    from actbench.data import make_dataset
    from actbench.fused import FusedEpochStep
    from actbench.optim import StackedOptimizer
    from actbench.population import MemberSpec, Population

    data = make_dataset(DataConfig(n_samples=1000)).to(device)
    members = [MemberSpec(a, a, {}, seed) for a in REFERENCE for seed in range(5)]
    population = Population(members, data.n_features, (50,), data.n_classes).to(device)
    optimizer = StackedOptimizer(population.stacked_parameters(), [1e-3] * 35, TrainConfig())
    step = FusedEpochStep(population, data, optimizer, [64] * 12 + [32], track_gradients=False)
    (segment,) = step.segments
    step._run_segment(segment, False)  # warm: handles, buffers
    batch = step._data[segment.key]
    inputs = batch.inputs[: 35 * 64].view(35, 64, -1)
    neg_onehot = batch.neg_onehot[: 35 * 64].view(35, 64, -1)

    def one_step() -> None:
        step.gradients_of(inputs, neg_onehot, step.loss_terms[0])
        optimizer.step(step.counts[0])

    if device.startswith("cuda"):
        from torch.profiler import ProfilerActivity, profile

        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            one_step()
            torch.cuda.synchronize()
        names = [
            e.name
            for e in prof.events()
            if e.device_type == torch.autograd.DeviceType.CUDA and "mem" not in e.name.lower()
        ]
    else:

        class Count(TorchDispatchMode):
            def __init__(self) -> None:
                super().__init__()
                self.names: list[str] = []

            def __torch_dispatch__(
                self, func: Any, types: Any, args: Any = (), kwargs: Any = None
            ) -> Any:
                writes = [r.alias_info for r in func._schema.returns]
                if not any(a is not None and not a.is_write for a in writes):  # not a view
                    self.names.append(str(func.overloadpacket.__name__))
                return func(*args, **(kwargs or {}))

        with Count() as counter:
            one_step()
        names = counter.names
    print("kernels:", ", ".join(names))
    return len(names)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny versions of every part")
    parser.add_argument("--parts", default="", help="comma-separated subset of the parts")
    parser.add_argument("--budget", type=float, default=570, help="seconds for all parts")
    parser.add_argument("--workers", type=int, default=8, help="pytest-xdist workers (suite)")
    parser.add_argument(
        "--out", default=os.environ.get("OUT", str(Path(tempfile.gettempdir()) / "gpu-check"))
    )
    parser.add_argument("--count-kernels", metavar="DEVICE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count_kernels:
        print(f"kernels per step: {count_kernels(args.count_kernels)}")
        return 0
    started = time.monotonic()
    parts = plan(args.device, args.quick, args.workers)
    if args.parts:
        chosen = set(args.parts.split(","))
        parts = [p for p in parts if p.name in chosen]
    env = environment()
    found = versions(env)
    print(found.replace("\n", "; "), flush=True)
    budget_end = started + args.budget
    for part in parts:
        if time.monotonic() >= budget_end - 1:
            print(f"-- {part.name}: not run (the budget of {args.budget:.0f} s is spent)")
            continue
        run(part, env, budget_end)
    by_name = {p.name: p for p in parts}
    rows = targets(by_name)
    print()
    if args.quick:
        print("quick: tiny versions of each part, so the goals do not apply to these sizes")
    print(table(rows))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "device": args.device,
        "quick": args.quick,
        "seconds": round(time.monotonic() - started, 1),
        "versions": found.splitlines(),
        "parts": [{k: v for k, v in asdict(p).items() if k != "output"} for p in parts],
        "targets": [{"target": t, "goal": g, "measured": m, "met": met} for t, g, m, met in rows],
    }
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    log = "\n\n".join(f"== {p.name} (exit {p.code})\n{p.output[-20000:]}" for p in parts)
    (out / "gpu_check.log").write_text(log)
    print(f"\nwrote {out / 'gpu_check.json'} and {out / 'gpu_check.log'}")
    return 0 if all(p.code == 0 for p in parts if p.ran) else 1


if __name__ == "__main__":
    sys.exit(main())
