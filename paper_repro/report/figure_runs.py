"""What every results figure shares: loading an experiment's saved results, the heads in their
order, titles, provenance text and the drawing helpers for bands and empty panels."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.ticker import LogFormatter

from paper_repro import fit
from paper_repro.experiments import EXPERIMENTS, profile_note
from paper_repro.provenance import REPO_ROOT
from paper_repro.results import RESULTS_DIR, load_results

COMMAND = "python -m paper_repro figures"
FIGURES_DIR = REPO_ROOT / "reports" / "figures"


class PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers (0.5, 2, 20), keeping LogFormatter's choice of which
    minor ticks to label."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


class FigureCheckError(RuntimeError):
    """A figure's own numerical check failed: the plotted geometry contradicts the paper."""


def note(message: str) -> None:
    print(f"figures: {message}")


def load_experiment(profile: str, experiment: str, root: Path = RESULTS_DIR):
    """(results, their files) of one experiment folder, in load_results' order."""
    folder = Path(root) / profile / experiment
    return load_results(profile, experiment, root), sorted(folder.glob("*.json"))


def run_label(result: dict) -> str:
    return result["head_label"]


def head_labels(experiment: str, results: list[dict]) -> dict[tuple, str]:
    """(head, margin) -> label: the experiment's heads in its order (with those that have no
    result yet), then any other head present."""
    labels = {}
    if experiment in EXPERIMENTS:
        for run in EXPERIMENTS[experiment].runs(results[0]["profile"]):
            labels.setdefault((run.head.name, run.head.margin), run.head.label)
    for r in sorted(results, key=lambda r: r.get("order", 0)):
        labels.setdefault((r["head"], r["margin"]), r["head_label"])
    return labels


def head_order(experiment: str, results: list[dict]) -> list[tuple]:
    return list(head_labels(experiment, results))


def head_groups(experiment: str, results: list[dict]) -> dict[tuple, list[dict]]:
    by_key = defaultdict(list)
    for r in results:
        by_key[(r["head"], r["margin"])].append(r)
    return {k: by_key[k] for k in head_order(experiment, results) if k in by_key}


def kept_runs(results: list[dict]) -> list[dict]:
    """The runs that did not diverge: means and bands are drawn over these (fit.py's rule)."""
    return [r for r, s in zip(results, fit.statuses(results), strict=True) if s != "diverged"]


def figure_title(results: list[dict]) -> str:
    r = results[0]
    # results from before augmentations had names hold a bool here
    augment = r.get("config", {}).get("augment") or "none"
    augmented = "" if augment == "none" else f" + {augment} augmentation"
    return f"{r['dataset_label']}{augmented}, profile `{r['profile']}`"


def axes_title(what: str, results: list[dict]) -> str:
    """A one-panel figure's title, on two lines where one would run past the figure's edges
    (an augmented dataset's title did)."""
    return textwrap.fill(f"{what}: {figure_title(results)}", width=56)


def caption_profile_note(results: list[dict]) -> str:
    """The note the experiment declares for this profile (a user's runs get their kind's)."""
    r = results[0]
    return profile_note(r["experiment"], r["profile"], r["evaluator"])


def commits_text(results: list[dict]) -> str:
    return ", ".join(sorted({r["provenance"].get("commit", "unknown") for r in results}))


def curve_points(curves: dict, x_key: str, y_key: str) -> dict:
    if x_key not in curves or y_key not in curves:  # e.g. face runs log no test-error curve
        return {}
    return {x: y for x, y in zip(curves[x_key], curves[y_key], strict=True) if y is not None}


def aligned(runs: list[dict], x_key: str, y_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Curve points at the x values every seed logged with a value: x (P,), y (seeds, P)."""
    tables = [curve_points(r["curves"], x_key, y_key) for r in runs]
    common = sorted(set.intersection(*(set(t) for t in tables)))
    return np.array(common, float), np.array([[t[x] for x in common] for t in tables], float)


SPLIT_MARKERS = {"half1": "o", "half2": "^"}  # LFW's two halves of people


def draw_band(ax, x, y, colour, label, ls="-"):
    """The mean line (returned, for a legend) and the min-max band over runs."""
    (line,) = ax.plot(x, y.mean(axis=0), color=colour, label=label, ls=ls)
    if len(y) > 1:  # spread over runs; thin edges in the line's style tell overlapping bands apart
        ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=colour, alpha=0.12, lw=0)
        for edge in (y.min(axis=0), y.max(axis=0)):
            ax.plot(x, edge, color=colour, ls=ls, lw=0.5, alpha=0.8)
    return line


def draw_no_data(ax, text: str = "no results") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set(xticks=[], yticks=[])  # an empty panel shows no made-up axis range
