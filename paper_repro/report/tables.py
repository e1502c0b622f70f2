"""Markdown tables from the results JSON files alone, next to the papers' numbers: test error
(mean +- std over seeds) for classification runs, LFW accuracy (mean +- std over folds) for
verification runs. The 2-D feature studies are figures, not tables."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np

from paper_repro import fit
from paper_repro.experiments import Experiment, profile_note
from paper_repro.fileio import atomic_write
from paper_repro.losses import BASELINE
from paper_repro.provenance import REPO_ROOT
from paper_repro.report.statistics import Comparison
from paper_repro.results import RESULTS_DIR, load_results

TABLES_DIR = REPO_ROOT / "reports" / "tables"


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def spread_text(mean: float, std: float, n: int) -> str:
    """'mean ± std' with two decimals; the mean alone for one value, whose std is undefined."""
    return f"{mean:.2f}" if n < 2 else f"{mean:.2f} ± {std:.2f}"


def verification_of(result: dict) -> dict | None:
    """ROC and per-fold accuracies (%) of a verification result (paper_repro.face writes
    metrics.roc = {fpr, tpr} and metrics.fold_accuracy = {fold: %}); None for a
    classification result."""
    metrics = result.get("metrics", {})
    if "roc" not in metrics:
        return None
    folds = metrics.get("fold_accuracy", {})
    return {
        "fpr": metrics["roc"]["fpr"],
        "tpr": metrics["roc"]["tpr"],
        "fold_accuracies": [float(a) for a in folds.values()],
    }


def variant_of(result: dict) -> str:
    return result["recipe"]["variant"]


def summarise(results: list[dict], variants: tuple[str, ...] = ("",)) -> list[dict]:
    """One row per head and margin: softmax first, then by margin (the papers' order); within
    a head, one row per variant in the order of `variants` (others after, by name)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    diverged = {id(r) for r, s in zip(results, fit.statuses(results), strict=True)
                if s == "diverged"}  # fmt: skip
    rank = {v: i for i, v in enumerate(variants)}

    def order(r: dict) -> tuple:
        variant = variant_of(r)
        return (r["head"] != BASELINE, r["head"], r["margin"] or 0,
                rank.get(variant, len(rank)), variant)  # fmt: skip

    for r in sorted(results, key=order):
        groups[(r["head"], r["margin"], variant_of(r))].append(r)
    rows = []
    for (head, margin, variant), runs in groups.items():
        left_out = sum(id(r) in diverged for r in runs)
        errors = [r["metrics"]["test_error"] for r in runs if id(r) not in diverged] or [math.nan]
        mean, std = mean_std(errors)
        paper = runs[0]["paper"]["test_error"]
        rows.append(
            {
                "head": head,
                "margin": margin,
                "variant": variant,
                "errors": tuple(errors),
                "mean": mean,
                "std": std,
                "n": len(runs) - left_out,
                "diverged": left_out,
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
    lines = [f"# {experiment.title}: test error (%), profile `{profile}`", ""]
    lines += [f"Reproduces {experiment.source} (Liu et al., ICML 2016).", ""]
    lines += [f"> {profile_note(experiment.name, profile)}", ""]
    notes = sorted({r["note"] for r in results if r.get("note")}) or [experiment.note]
    lines += [line for note in notes if note for line in (f"> {note}", "")]
    if not results:
        lines += [f"**No results.** {missing or 'No run of this table has finished yet.'}", ""]
        return "\n".join(lines)
    if any(variant_of(r) for r in results):
        variants = tuple(dict.fromkeys(r.variant for r in experiment.runs(profile)))
        lines += variant_table(summarise(results, variants))
    else:
        lines += _head_table(summarise(results))
    unfit = fit.unfit_sentence(results)
    lines += ["", *([unfit, ""] if unfit else []), *provenance_lines(results)]
    return "\n".join(lines) + "\n"


def _head_table(rows: list[dict]) -> list[str]:
    lines = [
        "| head | margin | our error (mean ± std, n seeds) | paper error | difference |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        ours = f"{spread_text(row['mean'], row['std'], row['n'])} (n={row['n']})"
        if row["diverged"]:
            ours += f"; {row['diverged']} diverged, left out"
        margin = "-" if row["margin"] is None else str(row["margin"])
        lines.append(
            f"| {row['head']} | {margin} | {ours} | {_fmt(row['paper'])} | "
            f"{_fmt(row['difference'], signed=True)} |"
        )
    return lines


def variant_table(rows: list[dict]) -> list[str]:
    """Each variant of a head against the head's plain run: the difference of the means, its
    95% interval, and the smallest difference the seeds could have detected (pooled t-test,
    report.statistics.Comparison)."""
    lines = [
        "| head | variant | test error (mean ± std, n seeds) | vs the plain run | 95% interval "
        "| smallest detectable | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    plain = {(r["head"], r["margin"]): r for r in rows if not r["variant"]}
    for row in rows:
        label = row["head"] + ("" if row["margin"] is None else f" m={row['margin']}")
        ours = f"{spread_text(row['mean'], row['std'], row['n'])} (n={row['n']})"
        if row["diverged"]:
            ours += f"; {row['diverged']} diverged, left out"
        if row["n"] == 0:
            ours = f"- ({row['diverged']} diverged)"
        base = plain.get((row["head"], row["margin"]))
        cells = ["-"] * 4
        if row["n"] == 0:
            cells[3] = f"all {row['diverged']} diverged"
        elif row["variant"] and base is not None and base["n"] == 0:
            cells[3] = "the plain runs diverged"
        elif row["variant"] and base is not None:
            test = Comparison(row["errors"], base["errors"])
            if test.enough:
                low, high = test.interval
                verdict = {"supported": "higher error", "contradicted": "lower error"}.get(
                    test.verdict(), "no difference detected"
                )
                cells = [f"{test.difference:+.2f}", f"[{low:+.2f}, {high:+.2f}]",
                         f"{test.detectable:.2f}", verdict]  # fmt: skip
            else:
                cells = [f"{test.difference:+.2f}", "-", "-", "too few seeds (2 a side)"]
        lines.append(f"| {label} | {row['variant'] or 'plain (paper recipe)'} | {ours} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return lines


def provenance_lines(results: list[dict]) -> list[str]:
    commits = sorted({r["provenance"]["commit"] for r in results})
    commands = sorted({r["command"] for r in results if r["command"]})
    hardware = sorted({_hardware(r) for r in results})
    torch_versions = sorted({r["provenance"]["software"]["torch"] for r in results})
    seeds = sorted({r["seed"] for r in results})
    hours = sum(r["wall_time_s"] for r in results) / 3600
    # a diverged run stopped early: its images per second are not a training speed
    speeds = [r["images_per_s"] for r in results
              if math.isfinite(r["images_per_s"]) and not r.get("diverged")]  # fmt: skip
    speed = statistics.fmean(speeds) if speeds else math.nan
    return [
        "Provenance (from the result files in "
        f"`reports/results/{results[0]['profile']}/{results[0]['experiment']}/`):",
        "",
        f"- command: {', '.join(f'`{c}`' for c in commands) or 'n/a'}",
        f"- commit: {', '.join(commits)}",
        *(
            f"- commit note: {note}"
            for note in sorted({r["provenance"].get("commit_correction") for r in results} - {None})
        ),
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


def summarise_lfw(results: list[dict]) -> dict[str, list[dict]]:
    """Per training data: one row per head in the experiment's order. The unit is the network:
    its accuracy is the mean of its test folds (folds share the network, so they are not
    independent samples); mean +- std over networks, diverged networks left out; TAR@FAR
    averaged over the same networks."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    diverged = {id(r) for r, s in zip(results, fit.statuses(results), strict=True)
                if s == "diverged"}  # fmt: skip
    for r in results:
        groups[r["dataset_label"]][r["head_label"]].append(r)
    table = {}
    for label, by_head in groups.items():
        rows = []
        for head_label in sorted(by_head, key=lambda h: (by_head[h][0].get("order", 0), h)):
            every = by_head[head_label]
            runs = [r for r in every if id(r) not in diverged] or every
            accs = [statistics.fmean(r["metrics"]["fold_accuracy"].values()) for r in runs]
            mean, std = mean_std(accs)
            rows.append(
                {
                    "head": runs[0]["head"],
                    "margin": runs[0]["margin"],
                    "label": head_label,
                    "mean": mean,
                    "std": std,
                    "runs": len(runs),
                    "diverged": len(every) - len(runs),
                    "tar": float(np.mean([r["metrics"]["tar_at_far"] for r in runs])),
                    "paper": runs[0]["paper"].get("accuracy", {}),
                }
            )
        table[label] = rows
    return table


def render_verification_table(experiment: Experiment, profile: str, results: list[dict],
                              missing: str = "") -> str:  # fmt: skip
    lines = [f"# {experiment.title}: accuracy (%), profile `{profile}`", ""]
    lines += [
        f"Reproduces: {experiment.source}. The papers train on CASIA-WebFace and test on LFW's "
        "6000 pairs.",
        "",
        f"> {profile_note(experiment.name, profile, 'verification')}",
        "",
    ]
    if not results:
        missing = missing or "No run of this table has finished yet."
        return "\n".join([*lines, f"**No results.** {missing}", ""])
    # the papers' columns in the experiment's order (a result's JSON sorts its keys)
    declared = experiment.runs(profile)[0].paper.get("sources", {})
    order = {k: i for i, k in enumerate(declared)}
    given = results[0]["paper"].get("sources", {})
    sources = {k: given[k] for k in sorted(given, key=lambda k: order.get(k, len(order)))}
    marked_source, marked_head, footnote = experiment.footnote or ("", "", "")
    paper_head = " | ".join(sources.values())
    for label, rows in summarise_lfw(results).items():
        note = next(r["note"] for r in results if r["dataset_label"] == label)
        lines += [f"## Ours: {label}", "", f"> {note}", ""]
        lines += [
            "| head | margin | our accuracy (mean ± std over networks) | TAR @ FAR=1e-3 "
            f"(mean over networks) | {paper_head} |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            margin = "-" if row["margin"] is None else str(row["margin"])
            ours = f"{row['mean']:.2f} ± {row['std']:.2f} (n={row['runs']} networks)"
            if row["diverged"]:
                ours += f"; {row['diverged']} diverged, left out"
            papers = " | ".join(
                _fmt(row["paper"].get(k))
                + ("†" if (k, row["head"]) == (marked_source, marked_head) else "")
                for k in sources
            )
            lines.append(f"| {row['head']} | {margin} | {ours} | {row['tar']:.2f} | {papers} |")
        lines.append("")
    resolution = max(r["metrics"]["far_resolution"] for r in results)
    lines += [
        *([f"† {footnote}", ""] if footnote else []),
        *([fit.unfit_sentence(results), ""] if fit.unfit_sentence(results) else []),
        "Accuracy: a network's accuracy is the mean over its test folds; each test fold's "
        "threshold is chosen on the other folds (maximum accuracy "
        "over the midpoints between scores) and applied to it; cosine similarity of the "
        "features of the image and its horizontal flip, concatenated. TAR @ FAR=1e-3 is over "
        f"each network's test pairs; with their mismatched pairs one false accept is a FAR of "
        f"up to {resolution:.2g}, so at 1e-3 it may allow none. The papers do not report "
        "TAR on LFW.",
        "",
        *provenance_lines(results),
    ]
    return "\n".join(lines) + "\n"


def render(experiment: Experiment, profile: str, evaluator: str, results, missing="") -> str:
    """The markdown table of an experiment's results; "" for the 2-D feature studies."""
    if evaluator == "verification":
        return render_verification_table(experiment, profile, results, missing)
    if evaluator == "classification":
        return render_table(experiment, profile, results, missing)
    return ""


def table_path(profile: str, experiment: Experiment, root: Path = TABLES_DIR) -> Path:
    return Path(root) / f"{profile}-{experiment.name}.md"


def write_table(
    experiment: Experiment,
    profile: str,
    evaluator: str,
    missing: str = "",
    results_dir: Path = RESULTS_DIR,
    tables_dir: Path = TABLES_DIR,
) -> Path | None:
    """reports/tables/<profile>-<experiment>.md from the result files; None when the
    experiment has no table (the 2-D studies)."""
    text = render(
        experiment, profile, evaluator, load_results(profile, experiment.name, results_dir), missing
    )
    if not text:
        return None
    path = table_path(profile, experiment, tables_dir)
    with atomic_write(path, "w") as f:
        f.write(text)
    return path
