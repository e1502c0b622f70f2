"""Figures 5-8, drawn from saved results: training curves, target angles, LFW ROC and fold
accuracy, and the test error of every head and seed beside the paper's value."""

from __future__ import annotations

import math
import statistics
import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from paper_repro import fit
from paper_repro.experiments import EXPERIMENTS
from paper_repro.report import style
from paper_repro.report.convergence import outcomes
from paper_repro.report.figure_runs import (
    COMMAND,
    SPLIT_MARKERS,
    PlainLogFormatter,
    aligned,
    axes_title,
    caption_profile_note,
    commits_text,
    draw_band,
    draw_no_data,
    figure_title,
    head_groups,
    head_labels,
    head_order,
    kept_runs,
    run_label,
)
from paper_repro.report.tables import (
    summarise,
    verification_of,
)


def fig5_curves(results, sources, out_stem: Path, command: str = COMMAND) -> list[Path]:
    """Figure 5: training loss, test error and lambda against iteration, per head; mean over
    seeds with the min-max band."""
    fig, text = curves_figure(results)
    return style.save(fig, out_stem, style.caption(text, command, sources))


@style.styled
def curves_figure(results: list[dict]):
    """Figure 5 drawn, not saved: (figure, caption text). Panel (b) is the test error where
    the runs logged it (the tables), else the training error (LFW logs no test curve): the
    panel that shows whether each head fitted its training set."""
    experiment = results[0]["experiment"]
    tested = any(r["curves"].get("test_error") for r in results)
    fig, axes = style.figure(1, 3, height=style.PANEL_HEIGHT + 0.9)
    panels = (
        ("loss", axes[0, 0], "iteration", "train_loss", "(a) training loss (incl. margin)"),
        ("error", axes[0, 1], *(("test_iteration", "test_error", "(b) test error (%)") if tested
                               else ("iteration", "train_error", "(b) training error (%)"))),
        ("lam", axes[0, 2], "iteration", "lam", "(c) λ (annealed heads)"),
    )  # fmt: skip
    has = dict.fromkeys(("loss", "error", "lam"), False)
    handles = {}
    for (head, margin), runs in head_groups(experiment, kept_runs(results)).items():
        colour, label = style.head_colour(head, margin), f"{run_label(runs[0])} (n={len(runs)})"
        ls = style.head_linestyle(head, margin)
        for key, ax, x_key, y_key, _ in panels:
            x, y = aligned(runs, x_key, y_key)
            if len(x):
                handles[label] = draw_band(ax, x, y, colour, label, ls)
                has[key] = True
    for key, ax, _, _, title in panels:
        ax.set(title=title, xlabel="iteration")
        if not has[key]:
            draw_no_data(ax, {"lam": "no head logs λ"}.get(key, "no curve points"))
        elif (key, tested) != ("error", False) and _spans_a_decade(ax):
            # log scale where the values span a decade (a log axis over a narrower range
            # labels one or two ticks), except training error: it reaches 0
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(PlainLogFormatter())
            ax.yaxis.set_minor_formatter(PlainLogFormatter())
    # below the panels, where it covers no curve or band
    fig.legend(handles.values(), handles.keys(), loc="outside lower center",
               ncol=min(len(handles), 4), frameon=False)  # fmt: skip
    fig.suptitle(textwrap.fill(f"Training curves: {figure_title(results)}", width=90))
    subset = results[0]["config"].get("schedule", {}).get("eval_subset")
    subset_text = f", points before the last on the first {subset} test images" if subset else ""
    error_text = (
        f"(b) test error{subset_text}, the last point on the whole test set."
        if tested
        else "(b) training error of the test-time rule (no margin) on the training batches, "
        "per logging interval (no test-error curve is logged for these runs)."
    )
    faces = results[0]["evaluator"] == "verification"
    halves = {r.get("split") for r in results} <= set(SPLIT_MARKERS)
    spread = ("over the networks (seeds x halves of LFW's people: each half's network is "
              "tested on the other half's pairs)" if faces and halves
              else "over the networks (seeds x splits)" if faces else "over seeds")  # fmt: skip
    text = (
        f"Figure 5. Training curves on {figure_title(results)}: mean {spread} (line) and their "
        "min-max (band); n counts them. (a) training loss averaged over each logging "
        "interval; it includes each head's own margin, so levels are not comparable across "
        f"heads. {error_text} (c) λ of the annealed heads{_shared_schedules(results)}. "
        f"{fit.unfit_sentence(results)} {caption_profile_note(results)}. "
        f"Results at commit {commits_text(results)}."
    )
    return fig, text


def _shared_schedules(results: list[dict]) -> str:
    """Names the heads whose λ curves coincide (drawn on top of one another)."""
    by_curve = defaultdict(list)
    for runs in head_groups(results[0]["experiment"], results).values():
        lam = [v for v in runs[0]["curves"].get("lam") or [] if v is not None]
        if lam:
            by_curve[tuple(lam)].append(run_label(runs[0]))
    shared = [labels for labels in by_curve.values() if len(labels) > 1]
    return "".join(f"; {', '.join(labels)} follow one schedule (lines on top of each other)"
                   for labels in shared)  # fmt: skip


def angle_summary(results: list[dict], experiment: str | None = None) -> dict[str, dict]:
    """Per head label: density (% of test images per degree, seeds summed) and each seed's
    own, bin centres (degrees), the mean target angle (degrees) and the number of seeds, from
    the `target_angle_hist` each run saved."""
    experiment = experiment or results[0]["experiment"]
    out = {}
    for (head, margin), runs in head_groups(experiment, results).items():
        runs = [r for r in runs if "target_angle_hist" in r]
        if not runs:
            continue
        per_seed = np.array([r["target_angle_hist"]["counts"] for r in runs], float)
        counts = per_seed.sum(axis=0)
        width = 180.0 / len(counts)
        centres = (np.arange(len(counts)) + 0.5) * width
        total = counts.sum()
        out[run_label(runs[0])] = {
            "head": head,
            "margin": margin,
            "centres": centres,
            "density": 100.0 * counts / (total * width) if total else counts,
            "seed_density": [100.0 * c / (c.sum() * width) for c in per_seed if c.sum()],
            "mean_deg": float((counts * centres).sum() / total) if total else math.nan,
            "seeds": len(runs),
        }
    return out


def _spans_a_decade(ax) -> bool:
    values = np.concatenate([np.asarray(line.get_ydata(), float) for line in ax.get_lines()])
    return bool(values.size and values.min() > 0 and values.max() >= 10 * values.min())


@style.styled
def fig6_angles(results, sources, out_stem: Path, command: str = COMMAND) -> list[Path]:
    """Figure 6: distribution of the angle between each test feature and its class weight,
    per head and seed; an angular margin should show as mass shifted to smaller angles."""
    summary = angle_summary(results)
    fig, axes = style.figure(1, 1, width=style.WIDTH * 0.6, height=3.4)
    ax = axes[0, 0]
    upper = 10.0
    for label, s in summary.items():
        colour = style.head_colour(s["head"], s["margin"])
        ls = style.head_linestyle(s["head"], s["margin"])  # m = 3 and 4 share a hue
        # each seed its own thin line: a dip in one seed is not smoothed over by the others
        for i, density in enumerate(s["seed_density"]):
            ax.step(s["centres"], np.where(density > 0, density, np.nan), where="mid",
                    color=colour, ls=ls, lw=0.8, alpha=0.9,
                    label=f"{label}: mean {s['mean_deg']:.1f}° (n={s['seeds']})" if i == 0
                    else None)  # fmt: skip
        # the mean as a triangle on the axis: dotted lines would read as a fourth line style
        ax.plot(s["mean_deg"], 0, "^", color=colour, mec="black", mew=0.5, ms=7, clip_on=False,
                transform=ax.get_xaxis_transform(), zorder=5)  # fmt: skip
        cumulative = np.cumsum(s["density"]) / max(s["density"].sum(), 1e-12)
        upper = max(upper, float(s["centres"][np.searchsorted(cumulative, 0.995)]) + 5)
    right = min(upper, 180.0)
    beyond = {k: float((v["density"] * (v["centres"] > right)).sum() / v["density"].sum())
              for k, v in summary.items() if v["density"].sum()}  # fmt: skip
    beyond_text = "; ".join(f"{k} {100 * v:.2f}%" for k, v in beyond.items() if v > 0)
    ax.set(
        xlabel="angle between test feature and its class weight (degrees)",
        ylabel="% of test images per degree (log)",
        xlim=(0, right),
        yscale="log",
        title=axes_title("Target angles", results),
    )
    ax.yaxis.set_major_formatter(PlainLogFormatter())
    # below the axes: inside, it covered softmax's peak
    fig.legend(loc="outside lower center", ncol=2, fontsize=6, frameon=False)
    means = "; ".join(f"{k} {v['mean_deg']:.1f}°" for k, v in summary.items())
    share = {k: (v["density"] * (v["centres"] >= 80)).sum() / v["density"].sum()
             for k, v in summary.items() if v["density"].sum()}  # fmt: skip
    wide = "; ".join(f"{k} {100 * v:.1f}%" for k, v in share.items())
    text = (
        f"Figure 6. Angle between each test feature and the weight of its true class on "
        f"{figure_title(results)}: one line per seed (2-degree bins saved with each run; log "
        f"scale, empty bins not drawn); triangles mark each head's mean over seeds ({means}). A "
        "working angular margin shifts the mass to smaller angles than softmax's. Below about "
        "20 degrees the margin heads' lines are uneven, and their dips move from seed to "
        "seed: the features form a few narrow per-class modes, not a numeric grid (the cosine "
        "and angle are computed in float32; a bf16 grid would put its gaps in the same bins "
        "for every seed). Angles of 80 degrees and more are mostly misclassified images, "
        "lying in another class's cluster at about the angle between the two class weights: "
        f"{wide} of the test images. "
        + (f"The axis ends at {right:.0f}°; beyond it lie {beyond_text} of the test images. "
           if beyond_text else "")
        + f"{caption_profile_note(results)}. Results at commit {commits_text(results)}."
    )  # fmt: skip
    return style.save(fig, out_stem, style.caption(text, command, sources))


def fig8_errors(results, sources, out_stem: Path, command: str = COMMAND,
                doubled=((), ())) -> list[Path]:  # fmt: skip
    """Figure 8: the error table as bars (mean over seeds, std error bar, seeds as dots) with
    the paper's value marked; a table head without results gets a "no results" label.
    doubled: (results, sources) of the table's doubling check, drawn beside the bars."""
    fig, text = errors_figure(results, doubled[0])
    return style.save(fig, out_stem, style.caption(text, command, [*sources, *doubled[1]]))


@style.styled
def errors_figure(results: list[dict], doubled: list[dict] = ()):
    """Figure 8 drawn, not saved: (figure, caption text). doubled: the doubling check's runs
    (hollow diamonds); heads it found not converged get hatched bars."""
    experiment = results[0]["experiment"]
    stale = set()
    if doubled:
        key = (results[0]["profile"], experiment)
        runs = {key: results, (key[0], doubled[0]["experiment"]): list(doubled)}
        stale = {head for (_, _, head), outcome in outcomes(runs).items()
                 if outcome == "not converged"}  # fmt: skip
    rows = {(row["head"], row["margin"]): row for row in summarise(results)}
    keys = head_order(experiment, results)
    paper = dict(EXPERIMENTS[experiment].paper) if experiment in EXPERIMENTS else {}
    labels = head_labels(experiment, results)
    fig, axes = style.figure(1, 1, width=style.WIDTH * 0.6, height=3.0)
    ax = axes[0, 0]
    ax.set_axisbelow(True)  # gridlines behind the bars
    seed_errors = [r["metrics"]["test_error"] for r in [*results, *doubled]]
    top = max([r["mean"] + r["std"] for r in rows.values()] + list(paper.values()) + seed_errors)
    for x, (head, margin) in enumerate(keys):
        label = labels[(head, margin)]
        row = rows.get((head, margin))
        published = row["paper"] if row and row["paper"] is not None else paper.get(label)
        if published is not None:
            ax.hlines(
                published,
                x - 0.4,
                x + 0.4,
                color=style.PAPER_COLOUR,
                lw=2,
                label="paper" if x == 0 else None,
                zorder=3,
            )
        if row is None:
            ax.text(
                x,
                top * 0.05,
                "no results",
                rotation=90,
                ha="center",
                va="bottom",
                color="0.4",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
            continue
        colour = style.head_colour(head, margin)
        ax.bar(
            x,
            row["mean"],
            yerr=row["std"] if row["n"] > 1 else None,
            color=colour,
            capsize=4,
            alpha=0.85,
            width=0.7,
            hatch="//" if label in stale else None,
            edgecolor="white",
        )
        longer = [r["metrics"]["test_error"] for r in doubled
                  if (r["head"], r["margin"]) == (head, margin)]  # fmt: skip
        if longer:
            first = "seed 0, schedule x2" not in ax.get_legend_handles_labels()[1]
            ax.plot([x + 0.3] * len(longer), longer, "D", mfc="none", mec="black", ms=4,
                    label="seed 0, schedule x2" if first else None, zorder=4)  # fmt: skip
        seeds = [
            r["metrics"]["test_error"]
            for r in results
            if (r["head"], r["margin"]) == (head, margin)
        ]
        ax.plot(
            x + np.linspace(-0.15, 0.15, len(seeds)),
            seeds,
            "o",
            color="black",
            ms=2.5,
            label="seeds" if x == 0 else None,
            zorder=4,
        )
        spread = f"±{row['std']:.2f}" if row["n"] > 1 else " (n=1)"
        # above the highest of cap, seeds and doubled run, on white: nothing runs through it
        ax.text(
            x,
            max(row["mean"] + row["std"], *seeds, *longer) + top * 0.06,
            f"{row['mean']:.2f}{spread}",
            ha="center",
            va="bottom",
            fontsize=6,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
        )
    ax.set_xticks(range(len(keys)), [labels[k] for k in keys], rotation=20)
    # headroom above the tallest label for a one-row legend, so neither covers the other
    ax.set(ylabel="test error (%)", ylim=(0, top * 1.35), title=axes_title("Test error", results))
    ax.legend(loc="upper center", ncol=3)
    text = (
        f"Figure 8. Test error on {figure_title(results)}: bars are the mean over seeds, error "
        "bars one standard deviation (n-1), dots the individual seeds, red lines across the bars "
        "the paper's value "
        f"({results[0]['paper'].get('source', 'paper')}). "
        + ("Hollow diamonds: seed 0 trained on the schedule twice as long (the doubling "
           "check). " if doubled else "")
        + (f"Hatched: {', '.join(sorted(stale))}, which the doubling check found not "
           "converged (the doubled run better than the seeds' 95% prediction interval). "
           if stale else "")
        + f"{caption_profile_note(results)}. Results at commit {commits_text(results)}."
    )  # fmt: skip
    return fig, text


FPR_GRID = np.logspace(-4, 0, 200)  # where the runs' ROCs are averaged


@style.styled
def fig7_roc(results, sources, out_stem: Path, command: str = COMMAND) -> list[Path]:
    """Figure 7 (CosFace Fig. 6 style): (a) LFW ROC per head (true accept against false
    accept rate, mean over runs); (b) the accuracy of every tested fold of every run (each run
    reports the folds it was tested on), with their mean +- std."""
    experiment = results[0]["experiment"]
    fig, axes = style.figure(1, 2, width=style.WIDTH, height=3.4)
    roc, per_fold = axes[0, 0], axes[0, 1]
    accuracies, lowest = {}, 1.0
    groups = head_groups(experiment, results)
    seeds = sorted({r["seed"] for r in results})
    reference = fit.softmax_reference(results)
    for x, ((head, margin), runs) in enumerate(groups.items()):
        colour, label = style.head_colour(head, margin), run_label(runs[0])
        data = [verification_of(r) for r in runs]
        diverged = [fit.status(r, reference) == "diverged" for r in runs]
        tpr = [np.interp(FPR_GRID, d["fpr"], d["tpr"])
               for d, gone in zip(data, diverged, strict=True) if not gone] or [
            np.interp(FPR_GRID, d["fpr"], d["tpr"]) for d in data]  # fmt: skip
        # below one false accept among a run's mismatched pairs the ROC holds no data point
        resolution = max(r["metrics"].get("far_resolution", 0.0) for r in runs)
        seen = resolution <= FPR_GRID
        lowest = min(lowest, FPR_GRID[seen][0])
        roc.plot(FPR_GRID[seen], np.mean(tpr, axis=0)[seen], color=colour, label=f"{label} "
                 f"(n={len(tpr)})", ls=style.head_linestyle(head, margin))  # fmt: skip
        # one number per network (the mean of its folds), diverged networks left out
        kept = [statistics.fmean(d["fold_accuracies"])
                for d, gone in zip(data, diverged, strict=True)
                if d["fold_accuracies"] and not gone]  # fmt: skip
        if kept:
            mean = statistics.fmean(kept)
            std = statistics.stdev(kept) if len(kept) > 1 else 0.0
            accuracies[label] = (mean, std, len(kept))
            # each network in its own column (split, then seed), its folds spread within it
            networks = sorted(zip(runs, data, strict=True),
                              key=lambda rd: (rd[0]["split"] or "", rd[0]["seed"]))  # fmt: skip
            slot = 0.5 / len(networks)
            for i, (run, d) in enumerate(networks):
                centre = x - 0.25 + slot * (i + 0.5)
                spread = np.linspace(-0.3, 0.3, len(d["fold_accuracies"])) * slot
                # a diverged network is crossed: it is in no mean
                gone = fit.status(run, reference) == "diverged"
                marker = "x" if gone else SPLIT_MARKERS.get(run["split"], "o")
                # the first seed filled, the others hollow
                # (an 'x' has no face: it takes its colour from the face colour)
                face = colour if run["seed"] == seeds[0] or gone else "none"
                per_fold.scatter(centre + spread, d["fold_accuracies"], s=10, marker=marker,
                                 facecolors=face, edgecolors=colour, alpha=0.8)  # fmt: skip
            per_fold.errorbar(x, mean, yerr=std, fmt="_", color="black", capsize=4, ms=14)
    roc.set(xscale="log", xlabel="false accept rate", ylabel="true accept rate",
            xlim=(lowest / 1.5, 1), title="(a) ROC, mean over runs")  # fmt: skip
    roc.legend(loc="upper left", fontsize="x-small")
    per_fold.set_xticks(range(len(groups)), [run_label(runs[0]) for runs in groups.values()],
                        rotation=45, ha="right")  # fmt: skip
    per_fold.set(ylabel="verification accuracy (%)", title="(b) accuracy per test fold")
    splits = sorted({r["split"] for r in results if r["split"] in SPLIT_MARKERS})
    split_note = " (the half of LFW's people)" if splits else ""
    # one key per marker drawn: the split's shape, filled for the first seed, else hollow
    shapes = [(SPLIT_MARKERS[h], f"trained on {h}") for h in splits] if len(splits) > 1 else [
        ("o", "")]  # fmt: skip
    fills = [("0.4", f"seed {seeds[0]}"), ("none", "other seeds")] if len(seeds) > 1 else [
        ("0.4", "")]  # fmt: skip
    keys = [Line2D([], [], ls="", marker=marker, color="0.4", markerfacecolor=face,
                   label=", ".join(t for t in (where, which) if t))
            for marker, where in shapes for face, which in fills if where or which]  # fmt: skip
    if "diverged" in fit.statuses(results):
        keys.append(Line2D([], [], ls="", marker="x", color="0.4", label="diverged (in no mean)"))
    if keys:
        # mid-height: the folds sit high, a diverged network low
        per_fold.legend(handles=keys, loc="center left", fontsize="x-small")
    fig.suptitle(textwrap.fill(f"Face verification: {figure_title(results)}", width=90))
    summary = "; ".join(f"{k} {m:.2f} ± {s:.2f}% (n={n})" for k, (m, s, n) in accuracies.items())
    text = (
        f"Figure 7. Face verification on {figure_title(results)}. (a) ROC, mean over runs (n in "
        f"the legend), drawn only from one false accept up (a false accept rate of 1 / the "
        f"mismatched pairs a network was tested on; below it a ROC has no point). (b) Accuracy "
        f"of every tested fold of every network (dots; one column per head, its networks "
        f"side by side by training split{split_note} and seed: marker = split, filled = the "
        f"first seed, hollow = the others, x = diverged); in black the mean ± std over "
        "networks, each "
        f"network counted once by the mean of its folds (diverged networks left out): "
        f"{summary or 'no fold accuracies saved'}. {fit.unfit_sentence(results)} "
        f"{caption_profile_note(results)}. Results at commit {commits_text(results)}."
    )
    return style.save(fig, out_stem, style.caption(text, command, sources))


# ----------------------------------------------------------------- features-based figures
