"""reports/REPORT.md, assembled from saved results, tables, figures and the derivations: what
was run (profiles, hardware, time, commits), the tables, the figures with their captions, and
a verdict per claim computed from the results with its confidence. Never trains; a claim
without enough results says so.

Claims (the papers' headline statements):
1. An angular margin lowers the test error (L-Softmax, Liu et al. 2016, Tables 2-4).
2. A larger margin m lowers it further, m = 2 -> 4 (same tables).
3. LMCL beats softmax on face verification (CosFace, Wang et al. 2018, Tables 2-4, LFW).

Confidence: a two-sided pooled-variance t-test over independent training runs (seeds; for
LFW also the networks trained on different folds' people) at 95%;
t = (mean_a - mean_b) / (s_p sqrt(1/n_a + 1/n_b)) with n_a + n_b - 2 degrees of freedom.
Fewer than 2 seeds on either side is "not enough results"."""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from paper_repro.experiments import EXPERIMENTS
from paper_repro.fileio import atomic_write
from paper_repro.provenance import REPO_ROOT
from paper_repro.report.compute import (
    CPU_BUDGET_HOURS,
    GPU_BENCHMARK,
    compute_lines,
    cpu_hours_spent,
    hours_needed,
    load_benchmark,
)
from paper_repro.report.convergence import (
    check_rows,
    convergence_lines,
    final_values,
    unconverged_heads,
)
from paper_repro.report.deviations import deviation_lines
from paper_repro.report.figures import FIGURES_DIR
from paper_repro.report.tables import (
    mean_std,
    provenance_lines,
    render,
    spread_text,
    verification_of,
)
from paper_repro.results import RESULTS_DIR, load_results
from paper_repro.spec import PROFILES

REPORT_PATH = REPO_ROOT / "reports" / "REPORT.md"
COMMAND = "python -m paper_repro report"
DERIVATIONS = REPO_ROOT / "reports" / "derivations.md"
GRADIENTS = REPO_ROOT / "reports" / "verification" / "gradients.md"

# two-sided 95% critical values of Student's t by degrees of freedom (beyond 30: normal)
_T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


# one-sided 80% quantiles of Student's t (the power term of the minimum detectable effect)
_T80 = {1: 1.376, 2: 1.061, 3: 0.978, 4: 0.941, 5: 0.920, 6: 0.906, 7: 0.896, 8: 0.889,
        9: 0.883, 10: 0.879, 12: 0.873, 15: 0.866, 20: 0.860, 30: 0.854}  # fmt: skip


def t_power(df: int) -> float:
    return 0.842 if df > 30 else _T80[max(k for k in _T80 if k <= df)]


def t_critical(df: int) -> float:
    """The 95% two-sided critical value for `df`, rounded towards fewer df (conservative)."""
    if df > 30:
        return 1.960
    return _T95[max(k for k in _T95 if k <= df)]


@dataclass(frozen=True)
class Comparison:
    """Two groups of per-seed values, a and b; the claim is that a exceeds b."""

    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def difference(self) -> float:
        return statistics.fmean(self.a) - statistics.fmean(self.b)

    @property
    def enough(self) -> bool:
        return len(self.a) >= 2 and len(self.b) >= 2

    @property
    def df(self) -> int:
        return len(self.a) + len(self.b) - 2

    @property
    def pooled_std(self) -> float:
        va, vb = statistics.variance(self.a), statistics.variance(self.b)
        return math.sqrt(((len(self.a) - 1) * va + (len(self.b) - 1) * vb) / self.df)

    @property
    def se(self) -> float:
        """Standard error of the difference."""
        return self.pooled_std * math.sqrt(1 / len(self.a) + 1 / len(self.b))

    @property
    def t(self) -> float:
        if self.se == 0:
            return math.copysign(math.inf, self.difference) if self.difference else 0.0
        return self.difference / self.se

    @property
    def mde(self) -> float:
        """Minimum detectable effect: the true difference this test finds at 95% (two-sided)
        with 80% power, given the observed pooled std and the sample sizes:
        (t_0.975 + t_0.80) s_p sqrt(1/n_a + 1/n_b)."""
        return (t_critical(self.df) + t_power(self.df)) * self.se

    @property
    def interval(self) -> tuple[float, float]:
        """The 95% confidence interval of the difference (pooled-variance t)."""
        half = t_critical(self.df) * self.se
        return self.difference - half, self.difference + half

    def verdict(self) -> str:
        if not self.enough:
            return "not enough results"
        critical = t_critical(self.df)
        if self.t >= critical:
            return "supported (95%)"
        if self.t <= -critical:
            return "contradicted (95%)"
        return "inconclusive"

    def evidence(self, unit: str = "points", samples: str = "seeds") -> str:
        if not self.enough:
            return f"n = {len(self.a)} and {len(self.b)} {samples}; need at least 2 each"
        return (
            f"difference {self.difference:+.3f} {unit}, pooled std {self.pooled_std:.3f}, "
            f"t = {self.t:.2f} (df {self.df}, 95% critical {t_critical(self.df):.2f}), "
            f"n = {len(self.a)} + {len(self.b)} {samples}; 95% interval "
            f"[{self.interval[0]:+.3f}, {self.interval[1]:+.3f}]; smallest detectable "
            f"difference (80% power) {self.mde:.3f} {unit}"
        )


def _errors(results: list[dict], head: str, margin) -> tuple[float, ...]:
    return tuple(
        r["metrics"]["test_error"] for r in results if (r["head"], r["margin"]) == (head, margin)
    )


def _verification(results: list[dict], head: str) -> tuple[float, ...]:
    return final_values([r for r in results if r["head"] == head and verification_of(r)])


def saved_runs(results_dir: Path, profiles=PROFILES) -> dict[tuple[str, str], list[dict]]:
    """Every experiment's results by (profile, experiment), profiles in the given order and
    experiments in table order: read once for the whole report."""
    return {
        (profile, name): load_results(profile, name, results_dir)
        for profile in profiles
        for name in _experiment_names(results_dir, profile)
    }


def claim_rows(runs: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """One row per claim and (profile, experiment) of `saved_runs`: claim, where, comparison,
    verdict; withdrawn where the doubling check found a compared head's schedule not
    converged."""
    rows = []
    unconverged = unconverged_heads(runs)
    for (profile, name), results in runs.items():
        if _is_check(name):
            continue
        source = EXPERIMENTS[name].source if name in EXPERIMENTS else ""
        where = f"{name} (`{profile}`{'; ' + source if source else ''})"
        labels = {(r["head"], r["margin"]): r["head_label"] for r in results}
        unchecked = unconverged.get((profile, name), ())
        classification = [r for r in results if r["evaluator"] == "classification"]
        if classification:
            softmax = _errors(classification, "softmax", None)
            for m in (2, 3, 4):
                c = Comparison(softmax, _errors(classification, "lsoftmax", m))
                stale = _stale([labels.get(("softmax", None)), labels.get(("lsoftmax", m))],
                               unchecked)  # fmt: skip
                rows.append(_row(1, f"softmax - L-Softmax m={m} test error", where, c, stale))
            c = Comparison(
                _errors(classification, "lsoftmax", 2), _errors(classification, "lsoftmax", 4)
            )
            stale = _stale([labels.get(("lsoftmax", 2)), labels.get(("lsoftmax", 4))], unchecked)
            rows.append(_row(2, "L-Softmax m=2 - m=4 test error", where, c, stale))
        if any(verification_of(r) for r in results):
            lmcl = next((label for (h, _), label in labels.items() if h == "lmcl"), None)
            c = Comparison(_verification(results, "lmcl"), _verification(results, "softmax"))
            stale = _stale([lmcl, labels.get(("softmax", None))], unchecked)
            rows.append(_row(3, "LMCL - softmax LFW accuracy", where, c, stale, "% accuracy",
                             "runs"))  # fmt: skip
    return rows


def _row(claim, measure, where, c: Comparison, stale: list, unit="points",
         samples="seeds") -> dict:  # fmt: skip
    verdict, evidence = c.verdict(), c.evidence(unit, samples)
    if stale:
        evidence = f"{_not_converged(stale)}; as measured: {verdict}, {evidence}"
        verdict = "withdrawn"
    return {
        "claim": claim,
        "measure": measure,
        "where": where,
        "verdict": verdict,
        "evidence": evidence,
    }


def _stale(head_labels: list, unconverged) -> list[str]:
    """The compared heads (labels; None for a head without results) that the doubling check
    found not converged."""
    return [label for label in head_labels if label in unconverged]


def _not_converged(heads: list[str]) -> str:
    return (f"the doubling check found the schedule not converged for {', '.join(heads)}, so "
            "the test would compare schedules, not losses")  # fmt: skip


# the papers' claims; each verdict row names the table it was measured on
CLAIMS = {
    1: "An angular margin lowers the test error (L-Softmax)",
    2: "A larger margin lowers it further, m = 2 -> 4 (L-Softmax)",
    3: "LMCL beats softmax on LFW verification (CosFace)",
}


def _experiment_names(results_dir: Path, profile: str) -> list[str]:
    folder = Path(results_dir) / profile
    present = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    present = [p for p in present if any((folder / p).glob("*.json"))]
    return [e for e in EXPERIMENTS if e in present] + [e for e in present if e not in EXPERIMENTS]


def _is_check(name: str) -> bool:
    """A doubling check (e.g. mnist-x2): reported in its own section, not as table cells."""
    return name in EXPERIMENTS and bool(EXPERIMENTS[name].checks)


OFFLINE_MISSING = ("cifar10", "cifar100")  # datasets the offline machines do not have


def _values(results: list[dict], label: str) -> tuple[float, ...]:
    """Per-run values of one head: test error (%), or mean LFW fold accuracy (%)."""
    return final_values([r for r in results if r["head_label"] == label])


def _paper_value(run) -> str:
    if "test_error" in run.paper:
        value = run.paper["test_error"]
        return "-" if value is None else f"{value:.2f}"
    acc = run.paper.get("accuracy", {})
    return " / ".join(f"{v:.2f}" for v in acc.values()) or "-"


def _effect(ours: tuple, softmax: tuple, lower_better: bool, paper_gap: float | None) -> str:
    """Verdict of 'this head beats softmax', its MDE, and the direction in words."""
    if not ours or not softmax:
        return "-"
    c = Comparison(softmax, ours) if lower_better else Comparison(ours, softmax)
    gain = c.difference  # > 0: better than softmax
    words = f"{'better' if gain > 0 else 'worse'} than softmax by {abs(gain):.2f}"
    if paper_gap is not None:
        words += f" (paper: better by {paper_gap:.2f}"
        words += ", same direction)" if gain > 0 else ", opposite direction)"
    if not c.enough:
        return f"not testable (n = {len(ours)}, {len(softmax)}); {words}"
    low, high = c.interval
    if paper_gap is not None:
        inside = low <= paper_gap <= high
        words += (f"; the paper's gain of {paper_gap:.2f} lies {'inside' if inside else 'outside'}"
                  f" our 95% interval [{low:+.2f}, {high:+.2f}]")  # fmt: skip
    return f"{c.verdict()}, smallest detectable {c.mde:.2f}; {words}"


def _cost_text(name: str, runs, benchmark, gpu_benchmark=None) -> str:
    """What running the experiment's cpu profile would take, from the training benchmarks."""
    done = len(runs.get(("cpu", name), []))
    hours = hours_needed(name, "cpu", done, benchmark)
    if hours is None:
        return ""
    text = (
        f": the experiment's `cpu` profile needs {hours:.1f} h of training on the benchmark's CPU"
    )
    spent = sum(cpu_hours_spent(runs).values())
    if spent + hours > CPU_BUDGET_HOURS:
        text += (f" (past the {CPU_BUDGET_HOURS:.0f} h the profile was planned to fit on a CPU, "
                 f"{spent:.1f} h of which are spent)")  # fmt: skip
    gpu_hours = hours_needed(name, "cpu", done, gpu_benchmark) if gpu_benchmark else None
    if gpu_hours is not None:
        text += f", {gpu_hours:.1f} h on one GPU in one process (Compute)"
    return text


def master_lines(runs: dict[tuple[str, str], list[dict]], profiles=PROFILES,
                 benchmark: dict | None = None,
                 gpu_benchmark: dict | None = None) -> list[str]:  # fmt: skip
    """One row per cell of the papers' tables and figures: the paper's value, ours per profile
    (mean +- std, n), the status, and the test against softmax with its minimum detectable
    effect."""
    lines = [
        "| experiment | head | paper | ours (profile: mean ± std, n) | status | vs softmax "
        "(95% t-test; smallest detectable difference at 80% power) |",
        "|---|---|---|---|---|---|",
    ]
    converged = _convergence_status(runs)
    unconverged = unconverged_heads(runs)
    for name, exp in EXPERIMENTS.items():
        if exp.checks:
            continue
        cells = {}
        for run in exp.runs("paper"):
            cells.setdefault(run.head.label, run)
        measured = [p for p in profiles if runs.get((p, name))]
        for label, run in cells.items():
            ours, tests = [], []
            for profile in measured:
                results = runs[(profile, name)]
                values = _values(results, label)
                if not values:
                    continue
                spread = spread_text(*mean_std(values), len(values))
                ours.append(f"{profile}: {spread}, n={len(values)}")
                if label != "softmax" and run.head.name != "softmax":
                    verification = run.evaluator == "verification"
                    paper_gap = _paper_gap(exp, label, verification)
                    effect = _effect(values, _values(results, "softmax"), not verification,
                                     paper_gap)  # fmt: skip
                    stale = _stale(["softmax", label], unconverged.get((profile, name), ()))
                    if stale:
                        effect = (
                            f"verdict withdrawn ({_not_converged(stale)}); as measured: {effect}"
                        )
                    tests.append(f"{profile}: {effect}")
            if ours:
                status = "measured (" + ", ".join(
                    f"{p}: {_head_convergence(label, converged.get((p, name)))}"
                    for p in measured
                ) + ")"  # fmt: skip
            elif run.dataset in OFFLINE_MISSING:
                status = "data not available offline"
            elif run.dataset == "casia-webface":
                status = "needs CASIA-WebFace (the paper profile); not run"
            else:
                status = "not run yet" + _cost_text(name, runs, benchmark, gpu_benchmark)
            lines.append(
                f"| {name} | {label} | {_paper_value(run)} | {'; '.join(ours) or '-'} | "
                f"{status} | {'; '.join(tests) or '-'} |"
            )
    return lines


def _convergence_status(runs) -> dict[tuple[str, str], dict[str, list[dict]]]:
    """(profile, experiment) -> head label -> its doubling-check rows (one per split)."""
    found: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for row in check_rows(runs):
        key = (row["profile"], row["experiment"])
        found.setdefault(key, {}).setdefault(row["head"], []).append(row)
    return found


def _head_convergence(label: str, checked: dict[str, list[dict]] | None) -> str:
    """What the doubling check found for one head, in words."""
    if checked is None:
        return "convergence not checked"
    rows = checked.get(label, [])
    decided = [r for r in rows if r.get("converged") is not None]
    if not decided:
        return "doubling check not decided for this head"
    moves = ", ".join(f"{r['change']:+.2f}" for r in decided)
    if all(r["converged"] for r in decided):
        return f"converged (doubling check: {moves} at 2x)"
    return f"**not converged** (doubling check: {moves} at 2x)"


def _paper_gap(exp, label: str, verification: bool) -> float | None:
    """How much better than softmax the paper reports this head (first source)."""
    if verification:
        mine, base = exp.paper.get(label, {}), exp.paper.get("softmax", {})
        shared = [k for k in mine if k in base]
        return mine[shared[0]] - base[shared[0]] if shared else None
    mine, base = exp.paper.get(label), exp.paper.get("softmax")
    return None if mine is None or base is None else base - mine


def verdict_lines(rows: list[dict]) -> list[str]:
    lines = [
        "| claim | measured as | experiment (profile) | verdict | evidence |",
        "|---|---|---|---|---|",
    ]
    for number, claim in CLAIMS.items():
        mine = [r for r in rows if r["claim"] == number]
        if not mine:
            lines.append(f"| {number}. {claim} | - | - | not enough results | no results |")
        for r in mine:
            lines.append(
                f"| {number}. {claim} | {r['measure']} | {r['where']} | **{r['verdict']}** | "
                f"{r['evidence']} |"
            )
    return lines


def _run_lines(runs: dict, profiles) -> list[str]:
    lines = []
    for profile in profiles:
        for name, results in _of_profile(runs, profile):
            heads = sorted({r["head_label"] for r in results})
            lines += [f"### `{profile}` / {name}: {len(results)} runs ({', '.join(heads)})", ""]
            lines += [*provenance_lines(results), ""]
    return lines or ["No training run has finished yet: no results.", ""]


def _fit_lines(runs: dict) -> list[str]:
    """Each head's training error over its runs' last logging interval: a head that has not
    fit its training set on a short schedule says little about its loss."""
    lines = []
    for (profile, name), results in runs.items():
        finals = {}
        for r in results:
            curve = r.get("curves", {}).get("train_error") or []
            if curve:
                finals.setdefault(r["head_label"], []).append(curve[-1])
        if not finals:
            continue
        lines += [
            f"`{profile}` / {name}:",
            "",
            "| head | runs | final training error (%), mean (min - max) |",
            "|---|---:|---|",
            *(
                f"| {label} | {len(v)} | {statistics.fmean(v):.1f} ({min(v):.1f} - {max(v):.1f}) |"
                for label, v in finals.items()
            ),
            "",
        ]
    return lines or ["No training curves saved yet.", ""]


def _of_profile(runs: dict, profile: str) -> list[tuple[str, list[dict]]]:
    return [(name, results) for (p, name), results in runs.items() if p == profile]


def _table_lines(runs: dict) -> list[str]:
    lines = []
    for (profile, name), results in runs.items():
        if name not in EXPERIMENTS or _is_check(name):
            continue
        text = render(EXPERIMENTS[name], profile, results[0]["evaluator"], results)
        if not text:
            continue
        # the table's own headings sit one level below this section
        lines += [("##" + line if line.startswith("#") else line) for line in text.splitlines()]
        lines.append("")
    return lines or ["No results yet: every table is empty.", ""]


def _figure_number(path: Path) -> int:
    digits = path.name[3 : path.name.index("-")] if path.name.startswith("fig") else ""
    return int(digits) if digits.isdigit() else 99


def _figure_lines(figures_dir: Path, out_dir: Path) -> list[str]:
    pngs = sorted(Path(figures_dir).glob("fig*.png"), key=lambda p: (_figure_number(p), p.name))
    lines = []
    for png in pngs:
        txt = png.with_suffix(".txt")
        caption = txt.read_text().strip() if txt.exists() else "(no caption file)"
        link = Path(os.path.relpath(png, out_dir)).as_posix()
        pdf = Path(os.path.relpath(png.with_suffix(".pdf"), out_dir)).as_posix()
        lines += [f"![{png.stem}]({link})", "", f"{caption} ([PDF]({pdf}))", ""]
    drawn = {_figure_number(p) for p in pngs}
    missing = [n for n in range(1, 9) if n not in drawn]
    if missing:
        lines += [
            f"Not drawn (their inputs are missing): figure {', '.join(map(str, missing))}. "
            "Figures are never drawn from placeholder numbers.",
            "",
        ]
    return lines


def render_report(
    results_dir: Path = RESULTS_DIR,
    figures_dir: Path = FIGURES_DIR,
    out_dir: Path = REPORT_PATH.parent,
    *,
    profiles=PROFILES,
    command: str = COMMAND,
) -> str:
    runs = saved_runs(results_dir, profiles)
    rows = claim_rows(runs)
    derivations = (
        f"[{Path(os.path.relpath(DERIVATIONS, out_dir)).as_posix()}]"
        f"({Path(os.path.relpath(DERIVATIONS, out_dir)).as_posix()})"
        if DERIVATIONS.exists()
        else "not rendered yet (`make derivations`)"
    )
    gradients = (
        f"[verification/gradients.md]({Path(os.path.relpath(GRADIENTS, out_dir)).as_posix()})"
        if GRADIENTS.exists()
        else "not run yet (`make verify-gradients`)"
    )
    lines = [
        "# Reproduction report: L-Softmax (ICML 2016) and CosFace / LMCL (CVPR 2018)",
        "",
        f"Assembled by `{command}` from the saved results, tables and figures under `reports/`;"
        " nothing here was trained by this command. Numbers of the `cpu`, `quick` and `smoke` "
        "profiles come from schedules shorter than the papers' and are labelled so; whether "
        "a schedule converged is the doubling check below.",
        "",
        "## Every cell of the papers",
        "",
        "Each row is one number the papers print, beside ours from the saved results. The test "
        "asks whether the head beats softmax in that experiment and profile (lower test error; "
        "higher LFW accuracy), over independent runs; *smallest detectable* is the true "
        "difference that test would find with 80% power at the observed spread and n. A "
        "difference far below it cannot register, whichever way it points. LFW accuracies "
        "are per network (mean of its test folds). The CosFace toy and Figure 1 studies have "
        "no printed numbers and are figures below.",
        "",
        *master_lines(runs, profiles, load_benchmark(), load_benchmark(GPU_BENCHMARK)),
        "",
        "## Verdicts",
        "",
        "Each verdict is a two-sided pooled-variance t-test over seeds (independent runs) at "
        "95%: *supported* when the difference favours the claim beyond the critical value, "
        "*contradicted* when it goes the other way beyond it, *inconclusive* in between; "
        "*withdrawn* where the doubling check below found the schedule of a compared head not "
        "converged (what the test reads is kept beside it). A verdict holds for the profile "
        "it names, not for the paper's schedule.",
        "",
        *verdict_lines(rows),
        "",
        "## Convergence: the doubling check",
        "",
        "A profile's numbers speak for its losses only where its schedule has converged: "
        "seed 0 trained again with the schedule twice as long (the `-x2` experiments, same "
        "lr drops in proportion) must move the final number by less than the between-seed "
        "standard deviation on the same data. The check is strict: the doubled run is a new "
        "draw with its own seed noise, so even a fully converged schedule moves by more than "
        "one between-seed std in about half of such checks (|N(0, 2 s^2)| > s: p = 0.48); a "
        "*no* by a margin smaller than that std is weak evidence either way.",
        "",
        *convergence_lines(runs),
        "## Deviations from the papers",
        "",
        *deviation_lines(),
        "## Compute",
        "",
        *compute_lines(runs, load_benchmark(), load_benchmark(GPU_BENCHMARK)),
        "## Derivations",
        "",
        f"- the losses and their gradients, derived in SymPy: {derivations}",
        f"- PyTorch heads against those derivations: {gradients}",
        "",
        "## What was run",
        "",
        *_run_lines(runs, profiles),
        "## Training fit",
        "",
        "The training error over the last logging interval of each run: the test-time rule "
        "(no margin) on the training batches as drawn, augmented where the experiment "
        "augments. Where a head is far from fitting its training set, its test numbers "
        "measure the short schedule more than the loss.",
        "",
        *_fit_lines(runs),
        "## Tables",
        "",
        *_table_lines(runs),
        "## Figures",
        "",
        *_figure_lines(figures_dir, out_dir),
    ]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    results_dir: Path = RESULTS_DIR,
    figures_dir: Path = FIGURES_DIR,
    out: Path = REPORT_PATH,
    *,
    profiles=PROFILES,
    command: str = COMMAND,
) -> Path:
    """Write the report (atomically) and return its path."""
    out = Path(out)
    text = render_report(results_dir, figures_dir, out.parent, profiles=profiles, command=command)
    with atomic_write(out, "w") as f:
        f.write(text)
    return out
