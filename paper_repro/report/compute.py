"""The compute section of the report: hours spent per table (from the saved results) and the
hours a profile would need (its runs' images over the training benchmark's images/s for the
network, at the precision the runner picks on the benchmark's machine)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from paper_repro.experiments import EXPERIMENTS
from paper_repro.provenance import REPO_ROOT

BENCHMARK = REPO_ROOT / "reports" / "benchmarks" / "training.json"
GPU_BENCHMARK = REPO_ROOT / "reports" / "benchmarks" / "training-cuda.json"  # make gpu-check
ESTIMATED = ("cpu", "paper")  # the profiles whose cost decides what can be run
# the CPU time the `cpu` profile was planned to fit (hours of a 2-core CPU): what decided
# which of its cells were trained on a CPU and which are stated as not run
CPU_BUDGET_HOURS = 8.0
# what the runner trains, as bench_train names it: (device, precision) -> the variants in
# order of preference (compiled first: `--compile auto` compiles where a C compiler is; then
# eager as the runner trains it, NCHW on CPU, channels_last on CUDA; older benchmarks lack
# some variants)
RUNNER_VARIANTS = {
    ("cpu", "fp32"): ("compiled", "fp32"),
    ("cpu", "bf16"): ("compiled-bf16", "bf16", "bf16-cl"),
    ("cuda", "fp32"): ("compiled", "fp32-cl"),
    ("cuda", "bf16"): ("compiled-bf16", "bf16-cl"),
}


def spent_lines(runs: dict[tuple[str, str], list[dict]]) -> list[str]:
    lines = [
        "| profile / experiment | runs | hours | images/s (mean) | precision | CPU or GPU |",
        "|---|---:|---:|---:|---|---|",
    ]
    for (profile, name), results in runs.items():
        hours = sum(r.get("wall_time_s") or 0.0 for r in results) / 3600
        speeds = [r["images_per_s"] for r in results
                  if r.get("images_per_s") and not r.get("diverged")]  # fmt: skip
        precisions = sorted({r.get("precision", "fp32") for r in results})
        machines = sorted({_machine(r["provenance"]["hardware"]) for r in results})
        mean = f"{sum(speeds) / len(speeds):.0f}" if speeds else "-"
        lines.append(f"| `{profile}` / {name} | {len(results)} | {hours:.2f} | {mean} | "
                     f"{', '.join(precisions)} | {'; '.join(machines)} |")  # fmt: skip
    if not runs:
        return ["No runs saved yet."]
    jobs = sorted({m.group(0) for rs in runs.values() for r in rs
                   if (m := re.search(r"JOBS=\d+", r.get("command") or ""))})  # fmt: skip
    if jobs:
        lines += ["", f"Hours sum each run's own wall time. Runs made with {', '.join(jobs)} "
                  "trained that many at once on one machine (one GPU), each at its share of it, "
                  "so the machine was held for about 1/JOBS of their hours."]  # fmt: skip
    return [*lines, "", budget_line(runs)]


def cpu_hours_spent(runs: dict[tuple[str, str], list[dict]]) -> dict[str, float]:
    """experiment -> wall hours of its `cpu` profile runs made on a CPU (none: left out)."""
    hours = {name: sum(r.get("wall_time_s") or 0.0 for r in results
                       if r["provenance"]["hardware"].get("device") != "cuda") / 3600
             for (profile, name), results in runs.items() if profile == "cpu"}  # fmt: skip
    return {name: h for name, h in hours.items() if h > 0}


def budget_line(runs: dict[tuple[str, str], list[dict]]) -> str:
    """The `cpu` profile's CPU hours so far against the plan, per experiment."""
    spent = cpu_hours_spent(runs)
    parts = ", ".join(f"{name} {h:.1f} h" for name, h in spent.items())
    on_gpu = any(r["provenance"]["hardware"].get("device") == "cuda"
                 for (profile, _), results in runs.items() if profile == "cpu"
                 for r in results)  # fmt: skip
    return (f"The `cpu` profile was planned to fit about {CPU_BUDGET_HOURS:.0f} hours of a "
            f"2-core CPU. Its runs on CPUs took {sum(spent.values()):.1f} h"
            + (f" ({parts})" if parts else "") + ("; the rest ran on a GPU" if on_gpu else "")
            + ". A cell the plan could not reach on a CPU, and no GPU ran, is stated as not "
            "run, with the hours it needs below.")  # fmt: skip


def _machine(hardware: dict) -> str:
    if hardware.get("device") == "cuda":
        return hardware.get("gpu") or "CUDA GPU"
    return f"{hardware.get('cpu')}, {hardware.get('cpu_cores')} cores"


def load_benchmark(path: Path = BENCHMARK) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _runner_choices(benchmark: dict) -> tuple[str, ...]:
    """RUNNER_VARIANTS for the benchmark's machine: what the runner trains there first."""
    device = benchmark["provenance"]["hardware"].get("device", "cpu")
    precision = "bf16" if benchmark.get("bf16_native") else "fp32"
    return RUNNER_VARIANTS[("cuda" if device == "cuda" else "cpu", precision)]


def runner_variant(benchmark: dict, row: dict) -> str | None:
    """The benchmark variant closest to what the runner trains on the benchmark's machine."""
    return next((v for v in _runner_choices(benchmark) if v in row["images_per_s"]), None)


def speeds(benchmark: dict) -> dict[str, tuple[float, str]]:
    """network -> (images/s, variant) of what the runner trains on the benchmark's machine."""
    out = {}
    for row in benchmark["rows"]:
        variant = runner_variant(benchmark, row)
        if variant:
            out[row["network"]] = (row["images_per_s"][variant], variant)
    return out


def _remaining_hours(specs, done: int, images_per_s: float) -> float:
    images = specs[0].schedule.iterations * specs[0].schedule.batch_size
    return max(len(specs) - done, 0) * images / images_per_s / 3600


def hours_needed(name: str, profile: str, done: int, benchmark: dict | None) -> float | None:
    """Training hours still needed for an experiment's profile, or None if not estimable."""
    specs = EXPERIMENTS[name].runs(profile)
    speed = speeds(benchmark).get(specs[0].network) if benchmark else None
    return None if speed is None else _remaining_hours(specs, done, speed[0])


def estimate_lines(runs: dict[tuple[str, str], list[dict]], benchmark: dict | None) -> list[str]:
    """Hours still to train per profile and experiment on the benchmark's machine."""
    if benchmark is None:
        return ["No training benchmark saved (`make bench-train`): no estimate."]
    speed = speeds(benchmark)
    hardware = benchmark["provenance"]["hardware"]
    variants = sorted({v for _, v in speed.values()})
    trained = _runner_choices(benchmark)[0]
    which = (
        "what `make reproduce` trains there"
        if variants == [trained]
        else f"the nearest this benchmark has to `{trained}`, what `make reproduce` trains there"
    )
    lines = [
        f"Estimated from `{benchmark['command']}` at commit {benchmark['provenance']['commit'][:7]}"
        f" ({_machine(hardware)}; variant {', '.join(f'`{v}`' for v in variants)}, {which}; "
        "images/s of a full training step in one process (`--jobs` trains several at once); "
        "evaluation not included).",
        "",
        "| profile / experiment | runs (done) | images per run | images/s | hours still to train |",
        "|---|---:|---:|---:|---:|",
    ]
    for profile in ESTIMATED:
        for name, exp in EXPERIMENTS.items():
            if (exp.checks and profile == "paper") or exp.recipe_study:
                continue  # the doubling check is for the profiles short of the paper's
            specs = exp.runs(profile)
            done = len(runs.get((profile, name), []))
            images = specs[0].schedule.iterations * specs[0].schedule.batch_size
            network = specs[0].network
            if network not in speed:
                continue  # said once below the table
            hours = _remaining_hours(specs, done, speed[network][0])
            if hours == 0:
                continue  # done: the Spent table has it
            lines.append(f"| `{profile}` / {name} | {len(specs)} ({done}) | {images:,} | "
                         f"{speed[network][0]:.0f} | {hours:.1f} |")  # fmt: skip
    missing = sorted({exp.runs("paper")[0].network for exp in EXPERIMENTS.values()
                      if not exp.recipe_study} - set(speed))  # fmt: skip
    return [
        *lines,
        "",
        "Only runs still to train are listed"
        + (f"; not benchmarked, so not estimated: {', '.join(missing)}." if missing else "."),
    ]


def compute_lines(runs: dict[tuple[str, str], list[dict]], benchmark: dict | None,
                  gpu_benchmark: dict | None = None) -> list[str]:  # fmt: skip
    gpu = (estimate_lines(runs, gpu_benchmark) if gpu_benchmark else
           ["No GPU training benchmark saved yet (`make gpu-check` writes "
            f"`{GPU_BENCHMARK.relative_to(REPO_ROOT).as_posix()}`): not estimated."])  # fmt: skip
    return [
        "### Spent",
        "",
        *spent_lines(runs),
        "",
        "### Needed on the benchmark's CPU",
        "",
        *estimate_lines(runs, benchmark),
        "",
        "### Needed on one GPU",
        "",
        *gpu,
        "",
    ]
