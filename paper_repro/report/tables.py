"""Markdown tables from the results JSON files: mean +- std over seeds next to the paper."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from paper_repro.experiments import PROFILES, Experiment
from paper_repro.fileio import atomic_write
from paper_repro.provenance import REPO_ROOT
from paper_repro.results import RESULTS_DIR, load_results

TABLES_DIR = REPO_ROOT / "reports" / "tables"

PROFILE_NOTES = {
    "paper": "the paper's schedule (18k iterations of batch 256)",
    "quick": "QUICK profile: a schedule 90x shorter than the paper's (200 iterations), for 2 "
    "CPU cores; errors are far above the paper's and only the ordering of heads is comparable",
    "smoke": "SMOKE profile: a few iterations on a few hundred images; numbers are meaningless",
}


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(results: list[dict]) -> list[dict]:
    """One row per head and margin: softmax first, then by margin (the papers' order)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in sorted(results, key=lambda r: (r["head"] != "softmax", r["head"], r["margin"] or 0)):
        groups[(r["head"], r["margin"])].append(r)
    rows = []
    for (head, margin), runs in groups.items():
        errors = [r["metrics"]["test_error"] for r in runs]
        mean, std = mean_std(errors)
        paper = runs[0]["paper"]["test_error"]
        rows.append(
            {
                "head": head,
                "margin": margin,
                "mean": mean,
                "std": std,
                "n": len(errors),
                "seeds": sorted(r["seed"] for r in runs),
                "paper": paper,
                "difference": None if paper is None else mean - paper,
            }
        )
    return rows


def _fmt(value, spec=".2f", signed=False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+{spec}}" if signed else f"{value:{spec}}"


def render_table(
    experiment: Experiment, profile: str, results: list[dict], missing: str = ""
) -> str:
    lines = [f"# {experiment.label}: test error (%), profile `{profile}`", ""]
    lines += [f"Reproduces {experiment.paper_source} (Liu et al., ICML 2016).", ""]
    lines += [f"> {PROFILE_NOTES[profile]}", ""]
    if experiment.note:
        lines += [f"> {experiment.note}", ""]
    if not results:
        lines += [f"**No results.** {missing or 'No run of this table has finished yet.'}", ""]
        return "\n".join(lines)
    lines += [
        "| head | margin | our error (mean ± std, n seeds) | paper error | difference |",
        "|---|---|---|---|---|",
    ]
    for row in summarise(results):
        ours = f"{row['mean']:.2f} ± {row['std']:.2f} (n={row['n']})"
        margin = "-" if row["margin"] is None else str(row["margin"])
        lines.append(
            f"| {row['head']} | {margin} | {ours} | {_fmt(row['paper'])} | "
            f"{_fmt(row['difference'], signed=True)} |"
        )
    lines += ["", *provenance_lines(results)]
    return "\n".join(lines) + "\n"


def provenance_lines(results: list[dict]) -> list[str]:
    commits = sorted({r["provenance"]["commit"] for r in results})
    commands = sorted({r["command"] for r in results if r["command"]})
    hardware = sorted({_hardware(r) for r in results})
    torch_versions = sorted({r["provenance"]["software"]["torch"] for r in results})
    seeds = sorted({r["seed"] for r in results})
    hours = sum(r["wall_time_s"] for r in results) / 3600
    speed = statistics.fmean(r["images_per_s"] for r in results)
    return [
        "Provenance (from the result files in "
        f"`reports/results/{results[0]['profile']}/{results[0]['experiment']}/`):",
        "",
        f"- command: {', '.join(f'`{c}`' for c in commands) or 'n/a'}",
        f"- commit: {', '.join(commits)}",
        f"- seeds: {', '.join(map(str, seeds))}",
        f"- hardware: {'; '.join(hardware)}",
        f"- torch: {', '.join(torch_versions)}",
        f"- wall time: {hours:.2f} h over {len(results)} runs; mean training speed "
        f"{speed:.0f} images/s",
    ]


def _hardware(result: dict) -> str:
    hw = result["provenance"]["hardware"]
    where = hw.get("gpu") or f"{hw['cpu']}, {hw['cpu_cores']} cores"
    return f"{hw['device']}: {where}"


def table_path(profile: str, experiment: Experiment, root: Path = TABLES_DIR) -> Path:
    return Path(root) / f"{profile}-{experiment.name}.md"


def write_table(
    experiment: Experiment,
    profile: str,
    missing: str = "",
    results_dir: Path = RESULTS_DIR,
    tables_dir: Path = TABLES_DIR,
) -> Path:
    assert profile in PROFILES
    results = load_results(profile, experiment.name, results_dir)
    path = table_path(profile, experiment, tables_dir)
    with atomic_write(path, "w") as f:
        f.write(render_table(experiment, profile, results, missing))
    return path
