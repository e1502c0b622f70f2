"""The loss-head benchmark tables: pytest-benchmark's JSON (what `bench` measures) rendered as
`reports/benchmarks/loss_heads.md` and its JSON twin, with provenance: per shape, regime and
denormal setting, each head's time and its ratios to plain softmax and to
pytorch-metric-learning, measured in interleaved rounds where the run has them.

Usage: python -m paper_repro.bench_report RAW.json [RAW.json ...]
       [--out reports/benchmarks/loss_heads.md]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from paper_repro.bench import CASES, COMPILED_DTYPE, HEAD_ORDER, PLAIN, REGIMES, SHAPES
from paper_repro.fileio import atomic_write
from paper_repro.provenance import REPO_ROOT, describe

SCHEMA = "paper_repro.bench/1"
BENCH_DIR = REPO_ROOT / "reports" / "benchmarks"
DEFAULT_OUT = BENCH_DIR / "loss_heads.md"


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}x"


def _fmt_ms(ms: float) -> str:
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def load_benchmarks(paths) -> tuple[list[dict], list[dict]]:
    """(entries, runs): one entry per benchmark with its run's index, and each file's header."""
    entries, runs = [], []
    for i, path in enumerate(paths):
        data = json.loads(Path(path).read_text())
        runs.append(
            {
                "source": str(path),
                "datetime": data.get("datetime"),
                "machine_info": data.get("machine_info", {}),
                "commit_info": data.get("commit_info", {}),
            }
        )
        for b in data.get("benchmarks", []):
            info = b.get("extra_info") or {}
            if info.get("suite") != "loss_heads":
                continue
            entries.append({"run": i, "stats": b["stats"], "info": info})
    return entries, runs


SECTION_ORDER = [
    ("typical", False),
    ("typical", True),
    ("large-norm", False),
    ("large-norm", True),
]


def section_title(regime: str, flush: bool) -> str:
    how = "denormals flushed (`torch.set_flush_denormal(True)`)" if flush else "torch defaults"
    return f"{regime} inputs, {how}"


def build_rows(entries: list[dict]) -> list[dict]:
    """Rows with ratios; ratios only between benchmarks of the same run and configuration."""
    by_config: dict[tuple, dict[str, dict]] = {}
    for e in entries:
        i = e["info"]
        config = (e["run"], i["shape"], i["device"], i["dtype"], i["regime"], i["flush"])
        by_config.setdefault(config, {})[f"{i['impl']}:{i['head']}"] = e
    rows = []
    for config, impls in by_config.items():
        run, shape, device, dtype, regime, flush = config
        base = impls.get(f"plain:{PLAIN.label}")
        for key, e in impls.items():
            impl, head = key.split(":", 1)
            if impl == "pml":
                continue
            info, ms = e["info"], e["stats"]["median"] * 1e3
            pml = next((v for k, v in impls.items() if k == f"pml:{head}"), None)
            pml_ms = None if pml is None else pml["stats"]["median"] * 1e3
            # ratios from the head's own interleaved rounds where measured, else medians
            # of the separate benchmarks
            mixed = info.get("interleaved") or {}
            vs_softmax = mixed.get("vs_softmax")
            if vs_softmax is None and base is not None:
                vs_softmax = ms / (base["stats"]["median"] * 1e3)
            vs_pml = mixed.get("vs_pml")
            if vs_pml is None and pml_ms is not None:
                vs_pml = ms / pml_ms
            rows.append(
                {
                    "run": run,
                    "shape": shape,
                    "shape_label": info["shape_label"],
                    "device": device,
                    "dtype": dtype,
                    "regime": regime,
                    "flush": flush,
                    "flushed_all_threads": info.get("flushed_all_threads"),
                    "head": head,
                    "ms": ms,
                    "stddev_ms": e["stats"]["stddev"] * 1e3,
                    "rounds": e["stats"]["rounds"],
                    "baseline_ms": None if base is None else base["stats"]["median"] * 1e3,
                    "vs_softmax": vs_softmax,
                    "pml_ms": pml_ms,
                    "vs_pml": vs_pml,
                    "interleaved_rounds": mixed.get("rounds"),
                    "subnormal_share": info.get("subnormal_share"),
                    "pml_error": (pml or {}).get("info", {}).get("error"),
                    "target": info["target"],
                }
            )
    shape_rank = {s: k for k, s in enumerate(SHAPES)}
    head_rank = {h: k for k, h in enumerate(HEAD_ORDER)}
    rows.sort(
        key=lambda r: (
            shape_rank.get(r["shape"], 99),
            r["device"],
            r["dtype"],
            head_rank.get(r["head"], 99),
        )
    )
    for r in rows:
        r["misses"] = misses(r)
    return rows


def misses(row: dict) -> list[str]:
    if row["head"] == PLAIN.label:
        return []
    out = []
    if row["vs_softmax"] is not None and row["vs_softmax"] > row["target"]:
        out.append(f"{_fmt_ratio(row['vs_softmax'])} plain softmax (target ≤ {row['target']:.2f}x)")
    if row["vs_pml"] is not None and row["vs_pml"] >= 1.0:
        out.append(f"{_fmt_ratio(row['vs_pml'])} pytorch-metric-learning (target < 1.00x)")
    return out


TABLE_HEADER = [
    "| shape | device | dtype | head | ms | vs softmax | vs pytorch-metric-learning |",
    "|---|---|---|---|---:|---:|---:|",
]


def render_section(rows: list[dict]) -> list[str]:
    lines = list(TABLE_HEADER)
    separate = False
    for r in rows:
        mark = "" if r["head"] == PLAIN.label or r.get("interleaved_rounds") else "*"
        separate = separate or bool(mark)
        softmax, pml = (
            _fmt_ratio(v) + mark * (v is not None) for v in (r["vs_softmax"], r["vs_pml"])
        )
        lines.append(
            f"| {r['shape_label']} | {r['device']} | {r['dtype']} | {r['head']} | "
            f"{_fmt_ms(r['ms'])} | {softmax} | {pml} |"
        )
    lines.append("")
    if separate:
        lines += ["\\* ratio of the separate benchmarks' medians (no interleaved rounds).", ""]
    missed = [r for r in rows if r["misses"]]
    if missed:
        lines.append("Misses against the targets:")
        lines.append("")
        for r in missed:
            where = f"{r['head']}, {r['shape']}, {r['device']}, {r['dtype']}"
            lines.append(f"- **{where}**: {'; '.join(r['misses'])}")
    else:
        lines.append("No misses against the targets.")
    compiled = {(r["shape"], r["device"], r["head"]): r for r in rows
                if r["dtype"] == COMPILED_DTYPE}  # fmt: skip
    twins = [compiled.get((r["shape"], r["device"], r["head"])) for r in missed]
    if missed and all(t is not None and not t["misses"] for t in twins):
        lines += [
            "",
            "Every miss is on the eager path, which training takes only with `--compile off` "
            "or where inductor cannot build kernels; the same heads compiled, training's "
            "default (`--compile auto`) on this machine, meet every target.",
        ]
    shares = [r for r in rows if r["subnormal_share"]]
    if shares:
        lines.append("")
        lines.append(
            "Subnormal share of dL/dlogits (float32): "
            + ", ".join(
                f"{r['head']} ({r['shape']}) {100 * r['subnormal_share']:.0f} %" for r in shares
            )
            + "."
        )
    if any(r["flush"] and r["flushed_all_threads"] is False for r in rows):
        lines += ["", "**Warning: flushing was asked for but did not reach every thread.**"]
    errors = sorted({r["pml_error"] for r in rows if r["pml_error"]})
    for err in errors:
        lines += ["", f"pytorch-metric-learning not measured: {err}"]
    return lines


def _provenance_lines(prov: dict, runs: list[dict], entries: list[dict]) -> list[str]:
    hw, sw = prov["hardware"], prov["software"]
    versions = sorted({e["info"].get("pml_version") or "" for e in entries} - {""})
    when = sorted({r["datetime"][:16].replace("T", " ") for r in runs if r["datetime"]})
    commands = sorted({e["info"].get("command") or "" for e in entries} - {""})
    lines = [
        f"- commit: {prov['commit']}",
        f"- measured: {', '.join(when) or 'unknown'} UTC",
        f"- commands: {', '.join(f'`{c}`' for c in commands) or 'unknown'}",
        f"- CPU: {hw['cpu']}, {hw['cpu_cores']} cores, {hw['torch_threads']} torch threads",
        f"- torch {sw['torch']}, CUDA {sw['cuda'] or 'none'}, Python {sw['python']}, "
        f"{sw['platform']}",
        f"- pytorch-metric-learning: {', '.join(versions) or 'not available (its column shows —)'}",
    ]
    gpus = sorted({e["info"]["gpu"] for e in entries if e["info"].get("gpu")})
    lines.append(
        f"- GPU: {', '.join(gpus)}"
        if gpus
        else "- GPU: none on this machine; the CUDA rows (float32 and bf16 autocast) are "
        "measured where `torch.cuda.is_available()`"
    )
    return lines


def _settings() -> str:
    """Each benchmarked head with the settings of its rows."""
    by_head: dict[str, list[str]] = {}
    for case in CASES:
        if case.hyper:
            text = ", ".join(f"{k} = {v}" for k, v in case.hyper.items())
            by_head.setdefault(case.head, []).append(text)
    return "; ".join(f"{head} {' / '.join(texts)}" for head, texts in by_head.items())


def render(entries: list[dict], runs: list[dict]) -> tuple[str, dict]:
    """(markdown, json twin) from loaded benchmarks."""
    if not entries:
        raise ValueError("no loss-head benchmarks in the given files")
    rows = build_rows(entries)
    prov = entries[0]["info"].get("provenance") or describe("cpu")
    lines = [
        "# Loss-head benchmarks",
        "",
        "One training step of each loss head alone: forward of the head and cross-entropy, "
        "then the gradients of the features and of the class weights. **ms** is the median "
        "over the rounds of pytest-benchmark; **vs softmax** is the head's time over plain "
        "`nn.Linear(bias=False)` + `F.cross_entropy` on the same inputs, **vs "
        "pytorch-metric-learning** over its loss of the same method "
        f"({', '.join(f'`{t}`' for t in dict.fromkeys(c.pml for c in CASES if c.pml))}; "
        "— where it has none): both the median over interleaved rounds, in which the head, "
        "plain softmax and pytorch-metric-learning each run once per round (order rotated), "
        "so that the machine's drift cancels in each round's ratio. Shapes are (B, D, C). "
        "dtype **float32 compiled**: the head's loss arithmetic as one inductor graph "
        "(`compile_math`, what training with `--compile` uses; pytorch-metric-learning and "
        "the baseline stay eager, and the kernels are compiled before timing). "
        f"Hyper-parameters (each head's `benchmarked` settings; lambda = 0): {_settings()}. "
        "Targets: at most 1.30x plain softmax at the face shape and 2.00x "
        "at the CIFAR shape, and below 1.00x pytorch-metric-learning.",
        "",
        "Inputs (float32; target angles uniform in 5-50 degrees):",
        "",
        *(f"- **{r.name}**: {r.description}." for r in REGIMES.values()),
        "",
        "Produced by `python -m paper_repro.bench_report` from the pytest runs listed (`make "
        "bench` runs them all; a `-k` in a command means a subset); the numbers are this "
        "machine's:",
        "",
        *_provenance_lines(prov, runs, entries),
    ]
    sections = []
    present = {(r["regime"], r["flush"]) for r in rows}
    order = [s for s in SECTION_ORDER if s in present] + sorted(present - set(SECTION_ORDER))
    for regime, flush in order:
        section_rows = [r for r in rows if (r["regime"], r["flush"]) == (regime, flush)]
        lines += ["", f"## {section_title(regime, flush)}", "", *render_section(section_rows)]
        sections.append({"regime": regime, "flush_denormal": flush, "rows": section_rows})
    twin = {
        "schema": SCHEMA,
        "provenance": prov,
        "targets": {s.name: s.target for s in SHAPES.values()} | {"vs_pml_below": 1.0},
        "regimes": {k: vars(v) for k, v in REGIMES.items()},
        "sources": runs,
        "sections": sections,
    }
    return "\n".join(lines) + "\n", twin


def write(paths, out: Path = DEFAULT_OUT) -> tuple[Path, Path]:
    entries, runs = load_benchmarks(paths)
    markdown, twin = render(entries, runs)
    out = Path(out)
    twin_path = out.with_suffix(".json")
    with atomic_write(out, "w") as f:
        f.write(markdown)
    with atomic_write(twin_path, "w") as f:
        json.dump(twin, f, indent=2)
        f.write("\n")
    return out, twin_path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m paper_repro.bench_report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("raw", nargs="+", help="pytest-benchmark --benchmark-json files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    md, twin = write(args.raw, args.out)
    print(f"wrote {os.path.relpath(md)} and {os.path.relpath(twin)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
