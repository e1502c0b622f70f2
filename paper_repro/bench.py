"""Loss-head benchmarks: what is measured (`tests/bench/test_loss_heads.py` runs it under
pytest-benchmark) and the renderer that turns pytest-benchmark's JSON into
`reports/benchmarks/loss_heads.md` and its JSON twin.

Each benchmark is one training step of the loss alone: forward of the head and
cross-entropy, then the gradients of the features and of the class weights. Every head is
compared with plain `nn.Linear(bias=False)` + `F.cross_entropy` on the same inputs in the
same run ("vs softmax"), and with the pytorch-metric-learning loss of the same method where
one exists ("vs pytorch-metric-learning").

Inputs: float32 features and weights in two regimes (`REGIMES`). Where the target logit
exceeds the others by more than about 82 (ln B + 87, float32's smallest normal number is
exp(-87.3)), the softmax probabilities in the gradient are subnormal, and a CPU matmul over
subnormal numbers runs up to two orders of magnitude slower unless denormals are flushed
(`torch.set_flush_denormal(True)`); `make bench` measures both ways.

Usage: python -m paper_repro.bench RAW.json [RAW.json ...] [--out reports/benchmarks/loss_heads.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from paper_repro.fileio import atomic_write
from paper_repro.losses import HEADS, head_class
from paper_repro.provenance import REPO_ROOT, describe

SCHEMA = "paper_repro.bench/1"
BENCH_DIR = REPO_ROOT / "reports" / "benchmarks"
DEFAULT_OUT = BENCH_DIR / "loss_heads.md"
FLUSH_ENV = "PAPER_REPRO_BENCH_FLUSH_DENORMAL"  # "1": flush denormals for the whole run


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int  # B
    features: int  # D
    classes: int  # C
    target: float  # the largest ratio to plain softmax that meets the target

    @property
    def label(self) -> str:
        return f"{self.name} ({self.batch}, {self.features}, {self.classes})"


SHAPES = {
    # CASIA-WebFace classes with SphereFace/CosFace's 512-d embedding
    "face": Shape("face", 256, 512, 10572, 1.3),
    # CIFAR-10 with the paper's 256-d feature
    "cifar": Shape("cifar", 256, 256, 10, 2.0),
}


@dataclass(frozen=True)
class Regime:
    name: str
    feature_norm: float
    weight_norm: float | None  # None: nn.Linear's initialisation (row norm about 1/sqrt(3))
    description: str


# Target angles are drawn uniformly from 5 to 50 degrees in both regimes: the quick-profile
# MNIST runs ended with L-Softmax m=4 target angles mostly at 4-10 degrees and softmax at 40-50.
ANGLE_RANGE_DEG = (5.0, 50.0)
REGIMES = {
    "typical": Regime(
        "typical",
        20.0,
        None,
        "|x| = 20, class weights from nn.Linear's initialisation (|W_j| about 0.58); the "
        "quick-profile MNIST runs ended with |x| 9-15 and |W_j| 1.0-1.4, the same range of "
        "|W_j||x|; no subnormal probabilities",
    ),
    "large-norm": Regime(
        "large-norm",
        30.0,
        3.5,
        "|x| = 30, |W_j| = 3.5 (|W_j||x| = 105): a late-training stress case where the "
        "target logit can exceed the others by more than 82, so part of the softmax "
        "gradient is subnormal",
    ),
}


@dataclass(frozen=True)
class Case:
    """One row: `head` is a name for `make_head` ('plain' is the nn.Linear baseline)."""

    head: str
    hyper: dict = field(default_factory=dict)
    pml: str | None = None  # pytorch_metric_learning.losses class
    pml_kwargs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.head == "plain":
            return "Linear + cross_entropy"
        # the integer-margin heads are told apart by m; the others run one setting each
        cls = head_class(self.head)
        integer_margin = any(h.name == cls.margin and h.kind is int for h in cls.hypers)
        return self.head + (f" m={self.hyper['m']}" if integer_margin else "")

    @property
    def key(self) -> str:
        return self.label.replace(" + ", "+").replace(" ", "-").replace("=", "")


BASELINE = Case("plain")
# the dtype label of the rows whose heads run their loss as one compiled graph (compile_math)
COMPILED_DTYPE = "float32 compiled"


def _case(head: type, hyper: dict) -> Case:
    twin = head.metric_learning_twin
    return Case(head.key, hyper, twin or None, head.twin_kwargs(hyper) if twin else {})


# every registered head at each setting it declares (`MarginHead.benchmarked`)
CASES = [BASELINE, *(_case(head, hyper) for head in HEADS.values() for hyper in head.benchmarked)]
HEAD_ORDER = [c.label for c in CASES]


def make_inputs(shape: Shape, regime: Regime, device="cpu", seed: int = 0):
    """features (B, D), weight (C, D), labels (B,) on `device`, float32, reproducible.

    The weight has nn.Linear's distribution U(-1/sqrt(D), 1/sqrt(D)), rescaled to
    `regime.weight_norm` per row when given; each feature sits at a target angle drawn from
    ANGLE_RANGE_DEG to its class weight, in a random direction, with norm regime.feature_norm."""
    g = torch.Generator().manual_seed(seed)
    B, D, C = shape.batch, shape.features, shape.classes
    weight = (torch.rand(C, D, generator=g) * 2.0 - 1.0) / math.sqrt(D)
    if regime.weight_norm is not None:
        weight = regime.weight_norm * F.normalize(weight, dim=1)
    labels = torch.randint(0, C, (B,), generator=g)
    w = F.normalize(weight[labels], dim=1)  # (B, D)
    u = torch.randn(B, D, generator=g, dtype=torch.float64).float()
    u = F.normalize(u - (u * w).sum(1, keepdim=True) * w, dim=1)  # orthogonal to w
    lo, hi = (math.radians(a) for a in ANGLE_RANGE_DEG)
    angle = lo + (hi - lo) * torch.rand(B, 1, generator=g)
    features = regime.feature_norm * (torch.cos(angle) * w + torch.sin(angle) * u)
    return features.to(device), weight.to(device), labels.to(device)


def interleaved(steps: dict, rounds: int, min_seconds: float = 2e-3) -> dict[str, list[float]]:
    """Seconds per call of each of `steps` (name -> callable), every step timed once per
    round and the order rotated from round to round, so a drift of the machine's speed
    (frequency, a neighbour's load) reaches all alike and the per-round ratios cancel it.
    A step faster than `min_seconds` is repeated within its turn, the same count every round."""
    names = list(steps)
    repeats = {}
    for name in names:
        tick = time.perf_counter()
        steps[name]()
        repeats[name] = max(1, math.ceil(min_seconds / max(time.perf_counter() - tick, 1e-9)))
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step, n = steps[name], repeats[name]
            tick = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append((time.perf_counter() - tick) / n)
    return times


def round_ratios(times: dict[str, list[float]], name: str, reference: str) -> float:
    """Median over rounds of name's time over reference's time in the same round."""
    return statistics.median(a / b for a, b in zip(times[name], times[reference], strict=True))


def subnormal_share(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of dL/dlogits = (softmax - onehot) / B that is subnormal in float32: the
    entries that make the matmuls of the backward pass slow on a CPU without flushing.
    Computed in float64 (flushing must not hide them); the target's probability is rounded
    to float32 first, as the kernel holds it, so p_y = 1 gives a zero, not a tiny number."""
    with torch.no_grad():
        B = logits.shape[0]
        p = torch.softmax(logits.double(), dim=1)
        rows = torch.arange(B, device=logits.device)
        p[rows, labels] = p[rows, labels].float().double() - 1.0
        grad = (p / B).abs()
        tiny = torch.finfo(torch.float32).tiny
        return ((grad > 2.0**-150) & (grad < tiny)).double().mean().item()


def denormals_flushed() -> bool:
    """True when float32 subnormals are flushed to zero on every intra-op thread.

    torch.set_flush_denormal(True) sets the flag of the calling thread only; OpenMP workers
    started later copy it, those already running keep theirs. So it must be called before
    the first parallel operation of the process, and this check (a parallel multiply over
    subnormal bit patterns) tells whether that worked."""
    n = 1 << 20  # far above ATen's grain size: every thread takes a part
    bits = torch.arange(1, n + 1, dtype=torch.int32) % (1 << 23)  # exponent 0: subnormal
    return bool(((bits.view(torch.float32) * 1.0) == 0).all())


# ---------------------------------------------------------------- rendering


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
        base = impls.get(f"plain:{BASELINE.label}")
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
    if row["head"] == BASELINE.label:
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
        mark = "" if r["head"] == BASELINE.label or r.get("interleaved_rounds") else "*"
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
        "(`LargeMarginSoftmaxLoss`, `SphereFaceLoss`, `CosFaceLoss`, `ArcFaceLoss`; "
        "— where it has none): both the median over interleaved rounds, in which the head, "
        "plain softmax and pytorch-metric-learning each run once per round (order rotated), "
        "so that the machine's drift cancels in each round's ratio. Shapes are (B, D, C). "
        "dtype **float32 compiled**: the head's loss arithmetic as one inductor graph "
        "(`compile_math`, what training with `--compile` uses; pytorch-metric-learning and "
        "the baseline stay eager, and the kernels are compiled before timing). "
        "Hyper-parameters: lsoftmax and "
        "asoftmax lam = 0, lmcl and bdlmcl s = 64, m = 0.35 (bdlmcl k = 5, unselected = "
        "drop), arcface "
        "s = 64, m = 0.5. Targets: at most 1.30x plain softmax at the face shape and 2.00x "
        "at the CIFAR shape, and below 1.00x pytorch-metric-learning.",
        "",
        "Inputs (float32; target angles uniform in 5-50 degrees):",
        "",
        *(f"- **{r.name}**: {r.description}." for r in REGIMES.values()),
        "",
        "Produced by `python -m paper_repro.bench` from the pytest runs listed (`make bench` runs "
        "them all; a `-k` in a command means a subset); the numbers are this machine's:",
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
        prog="python -m paper_repro.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("raw", nargs="+", help="pytest-benchmark --benchmark-json files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    md, twin = write(args.raw, args.out)
    print(f"wrote {os.path.relpath(md)} and {os.path.relpath(twin)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
