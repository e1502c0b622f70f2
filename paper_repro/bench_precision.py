"""`make bench-precision`: does bf16 autocast change what training computes? The quick
MNIST profile's softmax runs, 3 seeds in float32 and 3 in bf16, trained by the runner as
any table run, and their final test errors compared with the tables' t-test and its
smallest detectable difference.

About 25 minutes on 2 CPU cores with native bf16 (AVX512-BF16 or AMX); on a CPU without it
bf16 is emulated and the bf16 half takes hours. The runs are saved under
reports/benchmarks/precision/<precision>/ (resumable like any run); the comparison goes to
reports/benchmarks/precision.md and its JSON twin, with provenance."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from paper_repro.checkpoints import RUNS_DIR
from paper_repro.experiments import EXPERIMENTS
from paper_repro.fileio import atomic_write
from paper_repro.losses import BASELINE
from paper_repro.provenance import REPO_ROOT, describe
from paper_repro.report.statistics import Comparison, evidence
from paper_repro.runner import train_run
from paper_repro.spec import PRECISIONS

SCHEMA = "paper_repro.bench-precision/1"
OUT = REPO_ROOT / "reports" / "benchmarks" / "precision.md"
EXPERIMENT, PROFILE, HEAD = "mnist", "quick", BASELINE


def precision_runs() -> dict[str, list]:
    """precision -> the quick MNIST softmax runs (one per seed) in that precision."""
    return {p: [r for r in EXPERIMENTS[EXPERIMENT].runs(PROFILE, p) if r.head.name == HEAD]
            for p in PRECISIONS}  # fmt: skip


def compare(results: dict[str, list[dict]]) -> dict:
    errors = {p: [r["metrics"]["test_error"] for r in rs] for p, rs in results.items()}
    c = Comparison(tuple(errors["bf16"]), tuple(errors["fp32"]))
    return {
        "test_error": errors,
        "mean": {p: statistics.fmean(e) for p, e in errors.items()},
        "std": {p: statistics.stdev(e) for p, e in errors.items()},
        "images_per_s": {
            p: statistics.fmean(r["images_per_s"] for r in rs) for p, rs in results.items()
        },
        "difference": c.difference,
        "verdict": c.verdict(),
        "evidence": evidence(c),
        "mde": c.detectable,
    }


def render(summary: dict, results: dict[str, list[dict]], command: str) -> str:
    first = next(iter(results.values()))[0]
    prov, s = first["provenance"], summary
    hw, sw = prov["hardware"], prov["software"]
    seeds = ", ".join(str(r["seed"]) for r in results["fp32"])
    schedule = first["config"]["schedule"]
    minutes = sum(r["wall_time_s"] for rs in results.values() for r in rs) / 60
    lines = [
        "# bf16 against float32: same results?",
        "",
        f"The `{PROFILE}` profile's {EXPERIMENT.upper()} {HEAD} runs ({schedule['iterations']} "
        f"SGD steps of {schedule['batch_size']}, seeds {seeds}) trained "
        "once with the network in float32 and once under bf16 autocast (the heads compute in "
        f"float32 either way). Final test error on {first['metrics']['test_images']:,} test "
        "images.",
        "",
        f"- command: `{command}`",
        f"- commit: {prov['commit']}",
        f"- hardware: {hw['device']}: {hw['cpu']}, {hw['cpu_cores']} cores, "
        f"bf16 native: {hw.get('bf16_native')}",
        f"- torch {sw['torch']}; wall time {minutes:.1f} min in all",
        "",
        "| precision | test error per seed (%) | mean ± std (%) | training images/s |",
        "|---|---|---:|---:|",
    ]
    for p, errors in s["test_error"].items():
        lines.append(
            f"| {p} | {', '.join(f'{e:.2f}' for e in errors)} | {s['mean'][p]:.2f} ± "
            f"{s['std'][p]:.2f} | {s['images_per_s'][p]:.0f} |"
        )
    finding = {
        "inconclusive": "no difference found",
        "supported": "bf16's test error is higher",
        "contradicted": "bf16's test error is lower",
    }[s["verdict"]]
    seeds_each = len(s["test_error"]["fp32"])
    lines += [
        "",
        f"bf16 - fp32: {s['evidence']}. Two-sided test at 95%: {finding}; a true difference "
        f"below {s['mde']:.2f} points could not have been detected with {seeds_each} seeds "
        "each.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper_repro.bench_precision",
                                     description=__doc__.splitlines()[0])  # fmt: skip
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--command", default="make bench-precision")
    args = parser.parse_args(argv)
    folder = args.out.with_suffix("")
    results = {
        p: [train_run(spec, runs_dir=RUNS_DIR / "precision" / p, results_dir=folder / p,
                      command=args.command) for spec in runs]
        for p, runs in precision_runs().items()
    }  # fmt: skip
    summary = compare(results)
    with atomic_write(args.out, "w") as f:
        f.write(render(summary, results, args.command))
    twin = {"schema": SCHEMA, "command": args.command, "summary": summary,
            "provenance": describe("cpu")}  # fmt: skip
    with atomic_write(args.out.with_suffix(".json"), "w") as f:
        f.write(json.dumps(twin, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
