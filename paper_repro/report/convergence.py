"""The doubling check of a profile: has its schedule converged? Each checking experiment
(`Experiment.checks`, e.g. mnist-x2) trains seed 0 on the checked experiment's first split
with the schedule twice as long. Converged means: doubling moved the final number by less
than the checked experiment's between-seed standard deviation (same split)."""

from __future__ import annotations

import statistics

from paper_repro.experiments import EXPERIMENTS
from paper_repro.report.tables import verification_of


def final_value(result: dict) -> float | None:
    """Test error (%), or the network's LFW accuracy (%, mean of its test folds; None where
    the run saved no fold accuracies). Each run is an independently trained network (a seed,
    or a split of LFW's people): one sample of a test over runs."""
    if result["evaluator"] == "verification":
        data = verification_of(result)
        folds = data["fold_accuracies"] if data else []
        return statistics.fmean(folds) if folds else None
    return result["metrics"]["test_error"]


def final_values(results: list[dict]) -> tuple[float, ...]:
    """final_value of every run that has one."""
    return tuple(v for v in map(final_value, results) if v is not None)


def check_rows(runs: dict[tuple[str, str], list[dict]]) -> list[dict]:
    """One row per head of every doubling check with results: the seed-0 values at 1x and
    2x, the between-seed std at 1x on the same split, and whether the change is below it."""
    rows = []
    for (profile, name), doubled in runs.items():
        checked = EXPERIMENTS[name].checks if name in EXPERIMENTS else ""
        if not checked:
            continue
        single = runs.get((profile, checked), [])
        for long in doubled:
            key = (long["head_label"], long["split"])
            same = [r for r in single if (r["head_label"], r["split"]) == key]
            seed0 = [r for r in same if r["seed"] == long["seed"]]
            values = final_values(same)
            row = {"profile": profile, "experiment": checked, "head": long["head_label"],
                   "split": long["split"], "doubled": final_value(long), "seeds": len(values),
                   "iterations": long["config"]["schedule"]["iterations"]}  # fmt: skip
            if seed0:
                row["single"] = final_value(seed0[0])
                row["change"] = row["doubled"] - row["single"]
            if len(values) > 1:
                row["seed_std"] = statistics.stdev(values)
            if "change" in row and "seed_std" in row:
                row["converged"] = abs(row["change"]) < row["seed_std"]
            rows.append(row)
    return rows


def unconverged_heads(runs: dict[tuple[str, str], list[dict]]) -> dict[tuple[str, str], list]:
    """(profile, experiment) -> the head labels whose doubling check found the schedule not
    converged: a verdict on those heads there compares schedules, not losses."""
    found: dict[tuple[str, str], list] = {}
    for row in check_rows(runs):
        if row.get("converged") is False:
            found.setdefault((row["profile"], row["experiment"]), []).append(row["head"])
    return found


def convergence_lines(runs: dict[tuple[str, str], list[dict]]) -> list[str]:
    rows = check_rows(runs)
    if not rows:
        return ["No doubling check has results yet: no profile is shown to have converged.", ""]
    lines = [
        "| profile / experiment | head | seed 0 (schedule) | seed 0 (schedule x2) | change "
        "| between-seed std (n) | converged? |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        where = f"`{r['profile']}` / {r['experiment']}" + (f" ({r['split']})" if r["split"] else "")
        single = f"{r['single']:.2f}" if "single" in r else "not run"
        change = f"{r['change']:+.2f}" if "change" in r else "-"
        # three decimals: a change and a std that round alike must still show which is larger
        std = f"{r['seed_std']:.3f} ({r['seeds']})" if "seed_std" in r else f"- ({r['seeds']})"
        verdict = {True: "yes", False: "**no**"}.get(r.get("converged"), "not decidable")
        if "converged" in r:
            verdict += f" (std of {r['seeds']} seeds)"
        lines.append(f"| {where} | {r['head']} | {single} | {r['doubled']:.2f} "
                     f"({r['iterations']} it.) | {change} | {std} | {verdict} |")  # fmt: skip
    return [*lines, ""]
