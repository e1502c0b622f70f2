"""The doubling check: has a profile's schedule converged? Each checking experiment
(`Experiment.checks`, e.g. mnist-x2) trains seed 0 on the checked experiment's first split
with the schedule twice as long.

The doubled run is held against the seeds of the single schedule on its split with a 95%
prediction interval (`statistics.shift`): if the schedule had converged, the doubled run
would be one more draw of the same distribution, and it falls outside the interval 5% of the
time (the false-alarm rate). The interval's std is pooled within splits over the runs that
did not diverge. Outcomes:
- *not converged*: the doubled run is better beyond the interval; verdicts on that head at
  this profile are withdrawn;
- *longer is worse*: worse beyond the interval (over-fitting or instability, not
  under-training); verdicts stand, noted;
- *converged*: inside the interval, and the check had the power to see a shift as large as the
  effect at stake (the paper's gain for that head; for softmax the smallest gain of its
  table): its smallest detectable shift is at most that effect;
- *undecided*: inside the interval, but the check could not have seen a shift of the effect's
  size (one doubled run against 2-3 seeds rarely can); verdicts stand, flagged."""

from __future__ import annotations

from paper_repro import fit
from paper_repro.experiments import EXPERIMENTS
from paper_repro.losses import BASELINE, head_class
from paper_repro.report.statistics import shift
from paper_repro.report.values import final_value, higher_is_better, paper_gain


def _effect(experiment, label: str, labels: list[str], higher: bool) -> float | None:
    """The effect at stake in the check of `label`: its paper gain over the baseline head; for
    the baseline the smallest gain of the table's heads."""
    baseline = head_class(BASELINE).label({})
    if label != baseline:
        gain = paper_gain(experiment, label, baseline, higher)
        return abs(gain) if gain is not None else None
    gains = [paper_gain(experiment, other, baseline, higher) for other in labels]
    gains = [abs(g) for g in gains if g]
    return min(gains) if gains else None


def check_rows(runs: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """One row per doubled run with results: its value, the single schedule's seeds on its
    split (mean, n, pooled std), the shift, what the check could detect, and the outcome."""
    rows = []
    for (profile, name), doubled in runs.items():
        checked = EXPERIMENTS[name].checks if name in EXPERIMENTS else ""
        if not checked:
            continue
        single = runs.get((profile, checked), [])
        kept = [r for r, s in zip(single, fit.statuses(single), strict=True) if s != "diverged"]
        labels = sorted({r["head_label"] for r in single})
        for long in doubled:
            higher = higher_is_better([long])
            same_head = [r for r in kept if r["head_label"] == long["head_label"]]
            splits = sorted({r["split"] or "" for r in same_head})
            groups = [tuple(v for r in same_head if (r["split"] or "") == split
                            if (v := final_value(r)) is not None) for split in splits]  # fmt: skip
            row = {"profile": profile, "experiment": checked, "head": long["head_label"],
                   "split": long["split"], "doubled": final_value(long),
                   "iterations": long["config"]["schedule"]["iterations"],
                   "effect": _effect(EXPERIMENTS[checked], long["head_label"], labels, higher)
                   if checked in EXPERIMENTS else None}  # fmt: skip
            own = (long["split"] or "") if (long["split"] or "") in splits else None
            if own is None or row["doubled"] is None or not groups[splits.index(own)]:
                row["outcome"] = "not decidable"
                rows.append(row)
                continue
            s = shift(row["doubled"], list(groups), splits.index(own))
            row.update(mean=s.mean, seeds=s.n, std=s.std, df=s.df, change=s.difference,
                       detectable=s.detectable)  # fmt: skip
            improved = (s.difference > 0) == higher
            if s.df < 1:
                row["outcome"] = "not decidable"
            elif s.beyond_noise:
                row["outcome"] = "not converged" if improved else "longer is worse"
            elif row["effect"] is not None and s.detectable <= row["effect"]:
                row["outcome"] = "converged"
            else:
                row["outcome"] = "undecided"
            rows.append(row)
    return rows


def outcomes(runs: dict[tuple[str, str], list[dict]]) -> dict[tuple[str, str, str], str]:
    """(profile, experiment, head label) -> the doubling check's outcome there; a head checked
    on several splits takes the gravest."""
    order = ("not converged", "undecided", "longer is worse", "not decidable", "converged")
    found: dict[tuple[str, str, str], str] = {}
    for row in check_rows(runs):
        key = (row["profile"], row["experiment"], row["head"])
        found[key] = min(found.get(key, "converged"), row["outcome"], key=order.index)
    return found


def convergence_lines(runs: dict[tuple[str, str], list[dict]]) -> list[str]:
    rows = check_rows(runs)
    if not rows:
        return ["No doubling check has results yet: no profile is shown to have converged.", ""]
    lines = [
        "| profile / experiment | head | seeds at 1x: mean (n, std) | seed 0 at 2x | shift "
        "| detects shifts of | effect at stake | outcome |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        where = f"`{r['profile']}` / {r['experiment']}" + (f" ({r['split']})" if r["split"] else "")
        doubled = "-" if r["doubled"] is None else f"{r['doubled']:.2f}"
        if "mean" not in r:
            lines.append(f"| {where} | {r['head']} | - | {doubled} | - | - | - | "
                         f"{r['outcome']} |")  # fmt: skip
            continue
        effect = "-" if r["effect"] is None else f"{r['effect']:.2f}"
        outcome = f"**{r['outcome']}**" if r["outcome"] == "not converged" else r["outcome"]
        lines.append(f"| {where} | {r['head']} | {r['mean']:.2f} ({r['seeds']}, {r['std']:.3f}) "
                     f"| {doubled} | {r['change']:+.2f} | {r['detectable']:.2f} | {effect} "
                     f"| {outcome} |")  # fmt: skip
    return [*lines, ""]
