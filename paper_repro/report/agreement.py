"""A user's own runs beside the reference (the results committed under reports/results/) and
the paper: per cell, each one's mean +- std (n), and whether the user's mean lies inside what
the reference's seeds predict for a mean of that many runs (95%: `statistics.agreement`).
Diverged runs are left out on both sides (`fit`)."""

from __future__ import annotations

import statistics
from pathlib import Path

from paper_repro.experiments import EXPERIMENTS
from paper_repro.report.statistics import agreement, critical
from paper_repro.report.values import paper_values
from paper_repro.report.verdicts import head_runs
from paper_repro.results import load_results


def _spread(values: tuple[float, ...]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f} (n=1)"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f} (n={len(values)})"


def rows(user: dict[tuple[str, str], list[dict]], reference_dir: Path) -> list[dict]:
    """One row per (profile, experiment, head) the user trained."""
    out = []
    for (profile, name), results in user.items():
        theirs = head_runs(load_results(profile, name, reference_dir))
        for label, head in head_runs(results).items():
            ref = theirs[label].values if label in theirs else ()
            check = agreement(head.values, ref)
            if check is None:
                verdict = "no reference" if not ref else "reference has 1 run"
            else:
                verdict = "differs" if check.beyond_noise else "agrees"
            paper = paper_values(EXPERIMENTS[name], label) if name in EXPERIMENTS else {}
            out.append({"profile": profile, "experiment": name, "head": label,
                        "yours": head.values, "reference": ref,
                        "paper": next(iter(paper.values()), None), "check": check,
                        "verdict": verdict,
                        "diverged": len(head.runs) - len(head.kept)})  # fmt: skip
    return out


def lines(found: list[dict]) -> list[str]:
    table = [
        "| profile / experiment | head | yours | reference | paper | yours - reference "
        "(95% range if they agree) | verdict |",
        "|---|---|---|---|---:|---|---|",
    ]
    for r in found:
        c = r["check"]
        gap = "-" if c is None else f"{c.difference:+.2f} (±{critical(c.df) * c.se:.2f})"
        paper = "-" if r["paper"] is None else f"{r['paper']:.2f}"
        yours = _spread(r["yours"]) + (f"; {r['diverged']} diverged" if r["diverged"] else "")
        table.append(f"| `{r['profile']}` / {r['experiment']} | {r['head']} | {yours} | "
                     f"{_spread(r['reference'])} | {paper} | {gap} | {r['verdict']} |")  # fmt: skip
    return table
