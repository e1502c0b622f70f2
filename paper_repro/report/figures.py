"""The reproduction's figures, drawn only from saved results and saved features, or from the
loss functions themselves; never by training. A missing input leaves its figure out with a
printed note, or leaves a panel saying "no results"; no number is ever made up for it.

    1  2-D deep features per head, train and test      L-Softmax Fig. 2    saved features
    2  psi(t) and cos(m t) for m = 1..4                 L-Softmax Fig. 3    loss functions
    3  binary-case decision boundaries and margin       L-Softmax Fig. 4    loss functions
    4  8 classes with 2-D features, Euclidean/angular   CosFace Fig. 3      saved features
    5  training curves: loss, test error, lambda        (training logs)     results JSON
    6  angle between test features and class weight     (margin geometry)   results JSON
    7  LFW ROC and fold accuracy                         CosFace Fig. 6     results with ROC
    8  test error per head, seeds, the paper's value    L-Softmax Tabs 2-4  results JSON

Inputs: results JSON (paper_repro.results) under <results_dir>/<profile>/<experiment>/; the
2-D feature studies' results (evaluator "features-2d") have their features beside them in
<run_id>.npz (format: paper_repro.evaluators). A verification result (Figure 7) is a
results JSON whose metrics carry `roc` = {"fpr": [...], "tpr": [...]} (fpr ascending, over
the pairs it was tested on) and `fold_accuracy` = {fold: accuracy in %} (LFW View 2 folds).
Outputs: <out_dir>/fig<N>-<name>[-<profile>[-<experiment>]].{png,pdf,txt} (txt = caption)."""

from __future__ import annotations

import math
import statistics
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Arc, Wedge
from matplotlib.ticker import LogFormatter

from paper_repro import fit
from paper_repro.experiments import EXPERIMENTS
from paper_repro.losses import HEADS
from paper_repro.losses.angular import cos_multiple_angle, psi
from paper_repro.losses.functional import lsoftmax_logits, softmax_logits
from paper_repro.provenance import REPO_ROOT
from paper_repro.report import style
from paper_repro.report.convergence import outcomes
from paper_repro.report.tables import (
    FACE_PROFILE_NOTES,
    PROFILE_NOTES,
    summarise,
    verification_of,
)
from paper_repro.results import RESULTS_DIR, experiment_names, load_results
from paper_repro.spec import PROFILES

COMMAND = "python -m paper_repro figures"
FIGURES_DIR = REPO_ROOT / "reports" / "figures"
FEATURE_STUDIES = {"lsoftmax-2d": 1, "cosface-toy": 4}  # study -> figure number


class PlainLogFormatter(LogFormatter):
    """Log-axis labels as plain numbers (0.5, 2, 20), keeping LogFormatter's choice of which
    minor ticks to label."""

    def _num_to_string(self, x, vmin, vmax):
        return f"{x:g}"


class FigureCheckError(RuntimeError):
    """A figure's own numerical check failed: the plotted geometry contradicts the paper."""


def note(message: str) -> None:
    print(f"figures: {message}")


# ---------------------------------------------------------------- Figure 2: psi and cos(m t)


def psi_curves(margins=(1, 2, 3, 4), points: int = 721) -> dict:
    """cos(m t) (L-Softmax eq. 7) and psi(t) (eq. 6) on t in [0, pi], from the very functions
    the heads use, evaluated in float64 on cos t. Keys: t_deg, cos_mt {m: array}, psi {m}."""
    t = torch.linspace(0.0, math.pi, points, dtype=torch.float64)
    cos = torch.cos(t)
    return {
        "t_deg": torch.rad2deg(t).numpy(),
        "cos_mt": {m: cos_multiple_angle(cos, m).numpy() for m in margins},
        "psi": {m: psi(cos, m).numpy() for m in margins},
    }


def _check_psi(curves: dict) -> None:
    t = np.deg2rad(curves["t_deg"])
    for m, values in curves["psi"].items():
        if not np.allclose(curves["cos_mt"][m], np.cos(m * t), atol=1e-9):
            raise FigureCheckError(f"the multiple-angle polynomial is not cos({m} t)")
        # what the figure is meant to show: psi decreases monotonically and never exceeds cos t
        if not (np.all(np.diff(values) < 0) and np.all(values <= np.cos(t) + 1e-12)):
            raise FigureCheckError(f"psi for m={m} is not decreasing below cos t")


@style.styled
def fig2_psi(out_stem: Path, command: str = COMMAND) -> list[Path]:
    """Figure 2 (L-Softmax Fig. 3): cos(m t) and psi(t) for m = 1..4 on [0, 180] degrees."""
    curves = psi_curves()
    _check_psi(curves)
    fig, axes = style.figure(1, 2, height=style.PANEL_HEIGHT + 0.4)
    t = curves["t_deg"]
    for m in curves["psi"]:
        head = "lsoftmax" if m > 1 else "softmax"
        line = {"color": style.head_colour(head, m), "ls": style.head_linestyle(head, m)}
        label = "m=1 (softmax: cos t)" if m == 1 else f"m={m}"
        axes[0, 0].plot(t, curves["cos_mt"][m], label=label, **line)
        axes[0, 1].plot(t, curves["psi"][m], label=label, **line)
        joins = np.arange(1, m) * 180.0 / m  # where the pieces k pi/m of eq. 6 meet
        axes[0, 1].plot(joins, np.interp(joins, t, curves["psi"][m]), "o", color=line["color"],
                        ms=3)  # fmt: skip
    axes[0, 0].set(title="(a) cos(m t), L-Softmax eq. 7", ylabel="cos(m t)")
    axes[0, 1].set(title="(b) ψ(t), L-Softmax eq. 6", ylabel="ψ(t)")
    for ax in axes[0]:
        ax.set(xlabel="t (degrees)", xlim=(0, 180), xticks=range(0, 181, 30))
    # one legend for both panels (same curves, same colours), below them
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    text = (
        "Figure 2 (L-Softmax Fig. 3). (a) cos(m t) from the multiple-angle polynomial in "
        "cos t (eq. 7): not monotonic for m > 1, so it cannot serve as a logit by itself. "
        "(b) ψ(t) = (-1)^k cos(m t) - 2k on [kπ/m, (k+1)π/m] (eq. 6; dots mark the joins): "
        "monotonically decreasing and never above cos t (checked numerically), so the target "
        "class must win by an angular margin. Drawn from paper_repro.losses.angular."
    )
    return style.save(fig, out_stem, style.caption(text, command))


# ------------------------------------------------------- Figure 3: binary-case geometry


@dataclass(frozen=True)
class BinaryBoundaries:
    """Boundary directions in degrees from W1 towards W2 (0 = along W1, theta12 = along W2),
    measured on an angle grid from the heads' logits (L-Softmax sec. 3.2, Fig. 4)."""

    m: int
    theta12_deg: float
    norm1: float
    norm2: float
    step_deg: float  # grid spacing: each boundary is located to within step_deg / 2
    softmax_deg: float  # W1 . x = W2 . x
    class1_deg: float  # edge of the region where L-Softmax assigns class 1 with its margin
    class2_deg: float  # edge of the region where L-Softmax assigns class 2 with its margin

    @property
    def margin_deg(self) -> float:
        return self.class2_deg - self.class1_deg

    @property
    def expected_margin_deg(self) -> float:
        """(m - 1) / (m + 1) theta12: the paper's margin for |W1| = |W2|."""
        return (self.m - 1) / (self.m + 1) * self.theta12_deg


def _switch(phi: torch.Tensor, mask: torch.Tensor, first: bool, what: str) -> float:
    """The angle where `mask` changes from `first` to `not first`, which must happen once."""
    changes = torch.nonzero(mask[1:] != mask[:-1]).squeeze(1)
    if len(changes) != 1 or bool(mask[0]) != first:
        raise FigureCheckError(f"{what}: expected one boundary between W1 and W2, found {changes}")
    i = int(changes[0])
    return float((phi[i] + phi[i + 1]) / 2)


def binary_boundaries(
    m: int, theta12_deg: float, norm1: float = 1.0, norm2: float = 1.0, step_deg: float = 0.01
) -> BinaryBoundaries:
    """Decision boundaries of softmax and L-Softmax (lambda = 0) for two classes in 2-D, found
    from `softmax_logits` / `lsoftmax_logits` on unit features x at angles 0..theta12 from W1.

    x is class 1 under L-Softmax when its target logit |W1||x| psi(t1) beats |W2||x| cos t2
    (and symmetrically for class 2); between the two edges neither class meets its margin."""
    n = round(theta12_deg / step_deg)
    phi = torch.linspace(0.0, theta12_deg, n + 1, dtype=torch.float64)
    x = torch.stack([torch.cos(torch.deg2rad(phi)), torch.sin(torch.deg2rad(phi))], dim=1)
    theta = math.radians(theta12_deg)
    weight = torch.tensor(
        [[norm1, 0.0], [norm2 * math.cos(theta), norm2 * math.sin(theta)]], dtype=torch.float64
    )
    zeros, ones = torch.zeros(len(phi), dtype=torch.int64), torch.ones(len(phi), dtype=torch.int64)
    plain = softmax_logits(x, weight, zeros)
    as1 = lsoftmax_logits(x, weight, zeros, m, 0.0)  # labelled class 1: psi on column 0
    as2 = lsoftmax_logits(x, weight, ones, m, 0.0)  # labelled class 2: psi on column 1
    in1, in2 = as1[:, 0] > as1[:, 1], as2[:, 1] > as2[:, 0]
    if (in1 & in2).any():
        raise FigureCheckError("a direction meets both classes' margins; psi exceeds cos t")
    return BinaryBoundaries(
        m=m,
        theta12_deg=theta12_deg,
        norm1=norm1,
        norm2=norm2,
        step_deg=step_deg,
        softmax_deg=_switch(phi, plain[:, 0] > plain[:, 1], True, "softmax"),
        class1_deg=_switch(phi, in1, True, "L-Softmax class 1"),
        class2_deg=_switch(phi, in2, False, "L-Softmax class 2"),
    )


def direction_regions(m, theta12_deg, norm1, norm2, step_deg=0.05) -> tuple[np.ndarray, np.ndarray]:
    """(angles in degrees, region of each direction): 1 / 2 where L-Softmax assigns class 1 / 2
    with its margin, 0 where neither meets it. Every logit scales with |x|, so a direction
    decides the region of its whole ray."""
    angles = np.arange(0.0, 360.0, step_deg)
    a = torch.tensor(np.radians(angles), dtype=torch.float64)
    x = torch.stack([torch.cos(a), torch.sin(a)], dim=1)
    theta = math.radians(theta12_deg)
    weight = torch.tensor(
        [[norm1, 0.0], [norm2 * math.cos(theta), norm2 * math.sin(theta)]], dtype=torch.float64
    )
    zeros = torch.zeros(len(x), dtype=torch.int64)
    as1 = lsoftmax_logits(x, weight, zeros, m, 0.0)
    as2 = lsoftmax_logits(x, weight, zeros + 1, m, 0.0)
    region = (as1[:, 0] > as1[:, 1]).long() + 2 * (as2[:, 1] > as2[:, 0]).long()
    return angles, region.numpy()


def _region_wedges(ax, angles, region, colours, radius, step_deg) -> None:
    """One exact wedge per run of directions with the same region (no pixel steps)."""
    starts = np.flatnonzero(np.diff(region, prepend=region[-1] - 1) != 0)
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(region)
        if region[start]:
            ax.add_patch(Wedge((0, 0), radius, angles[start] - step_deg / 2,
                               angles[end - 1] + step_deg / 2, color=colours[region[start]],
                               lw=0, zorder=0))  # fmt: skip


def _ray(ax, angle_deg, length, **kw):
    a = math.radians(angle_deg)
    ax.plot([0, length * math.cos(a)], [0, length * math.sin(a)], **kw)


@style.styled
def fig3_binary_geometry(
    out_stem: Path,
    command: str = COMMAND,
    m: int = 2,
    theta12_deg: float = 80.0,
    unequal: tuple[float, float] = (1.0, 0.6),
) -> tuple[list[Path], list[BinaryBoundaries]]:
    """Figure 3 (L-Softmax Fig. 4): softmax and L-Softmax boundaries for |W1| = |W2| and
    |W1| > |W2|. Raises FigureCheckError unless the measured margin for |W1| = |W2| equals
    (m - 1) / (m + 1) theta12 to within the grid spacing. Returns (files, measurements)."""
    cases = [(1.0, 1.0), unequal]
    measured = [binary_boundaries(m, theta12_deg, n1, n2) for n1, n2 in cases]
    equal = measured[0]
    if abs(equal.margin_deg - equal.expected_margin_deg) > equal.step_deg:
        raise FigureCheckError(
            f"measured margin {equal.margin_deg:.4f} deg != (m-1)/(m+1) theta12 = "
            f"{equal.expected_margin_deg:.4f} deg"
        )
    fig, axes = style.figure(1, 2, height=3.4)
    colours = {1: "#cfe2f3", 2: "#fde3c8"}  # class 1, class 2; neither stays white
    extent, step = 1.6, 0.05  # wedges reach past the view, which is shifted right
    for ax, b, tag in zip(axes[0], measured, "ab", strict=True):
        angles, region = direction_regions(m, theta12_deg, b.norm1, b.norm2, step)
        _region_wedges(ax, angles, region, colours, 2 * extent, step)
        for norm, angle, name, colour in (
            (b.norm1, 0.0, "W1", "#1f4e99"),
            (b.norm2, theta12_deg, "W2", "#b35900"),
        ):
            a = math.radians(angle)
            ax.annotate(
                "",
                xy=(norm * math.cos(a), norm * math.sin(a)),
                xytext=(0, 0),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.6},
            )
            ax.text(1.08 * norm * math.cos(a), 1.08 * norm * math.sin(a), name, color=colour)
        _ray(ax, b.softmax_deg, 2 * extent, color="0.3", ls="--", label="softmax boundary")
        _ray(ax, b.softmax_deg + 180, 2 * extent, color="0.3", ls="--")
        _ray(ax, b.class1_deg, 2 * extent, color="#1f4e99", label="L-Softmax edge, class 1")
        _ray(ax, b.class2_deg, 2 * extent, color="#b35900", label="L-Softmax edge, class 2")
        ax.add_patch(Arc((0, 0), 1.0, 1.0, theta1=b.class1_deg, theta2=b.class2_deg, lw=1.2))
        mid = math.radians((b.class1_deg + b.class2_deg) / 2)
        label = f"margin {b.margin_deg:.2f}°"  # the (m-1)/(m+1) check is in the caption
        # the label sits in class 1's region below its edge, pointing at the arc: inside the
        # margin wedge it would cover the softmax boundary that runs through it
        below = math.radians(b.class1_deg - 14.0)
        ax.annotate(
            label,
            xy=(0.5 * math.cos(mid), 0.5 * math.sin(mid)),
            xytext=(0.7 * math.cos(below), 0.7 * math.sin(below)),
            fontsize=7,
            va="center",
            arrowprops={"arrowstyle": "-", "color": "black", "lw": 0.6},
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1},
        )
        norms = "|W1| = |W2|" if b.norm1 == b.norm2 else f"|W1| = {b.norm1:g} > |W2| = {b.norm2:g}"
        ax.set(
            title=f"({tag}) {norms}, θ12 = {theta12_deg:g}°, m = {m}",
            xlim=(-1.0, 1.6),  # the side between the weights, with room for the label
            ylim=(-1.3, 1.3),
            aspect="equal",
        )
        ax.grid(False)
        ax.set(xticks=[], yticks=[])  # only directions matter: every logit scales with |x|
    axes[0, 0].legend(loc="lower left", fontsize=6)
    u = measured[1]
    text = (
        f"Figure 3 (L-Softmax Fig. 4). Two classes in 2-D, θ12 = {theta12_deg:g}°, m = {m}. "
        "Dashed: the softmax boundary W1·x = W2·x. Blue/orange: where L-Softmax (λ = 0) "
        "assigns class 1/2 with its margin (|W1||x|ψ(t1) > |W2||x|cos t2, and symmetrically); "
        "white: neither class meets its margin. Measured from the heads' logits on a "
        f"{equal.step_deg:g}° grid: (a) edges at {equal.class1_deg:.2f}° and "
        f"{equal.class2_deg:.2f}° from W1, margin {equal.margin_deg:.2f}° = "
        f"(m-1)/(m+1)·θ12 = {equal.expected_margin_deg:.2f}° (checked); (b) softmax boundary "
        f"at {u.softmax_deg:.2f}° (moved towards the shorter W2), L-Softmax edges at "
        f"{u.class1_deg:.2f}° and {u.class2_deg:.2f}°, margin {u.margin_deg:.2f}°."
    )
    return style.save(fig, out_stem, style.caption(text, command)), measured


# ------------------------------------------------------------------ results-based figures


def load_experiment(profile: str, experiment: str, root: Path = RESULTS_DIR):
    """(results, their files) of one experiment folder, in load_results' order."""
    folder = Path(root) / profile / experiment
    return load_results(profile, experiment, root), sorted(folder.glob("*.json"))


def _label(result: dict) -> str:
    return result["head_label"]


def _head_labels(experiment: str, results: list[dict]) -> dict[tuple, str]:
    """(head, margin) -> label: the experiment's heads in its order (with those that have no
    result yet), then any other head present."""
    labels = {}
    if experiment in EXPERIMENTS:
        for run in EXPERIMENTS[experiment].runs(results[0]["profile"]):
            labels.setdefault((run.head.name, run.head.margin), run.head.label)
    for r in sorted(results, key=lambda r: r.get("order", 0)):
        labels.setdefault((r["head"], r["margin"]), r["head_label"])
    return labels


def _head_order(experiment: str, results: list[dict]) -> list[tuple]:
    return list(_head_labels(experiment, results))


def _groups(experiment: str, results: list[dict]) -> dict[tuple, list[dict]]:
    by_key = defaultdict(list)
    for r in results:
        by_key[(r["head"], r["margin"])].append(r)
    return {k: by_key[k] for k in _head_order(experiment, results) if k in by_key}


def _kept(results: list[dict]) -> list[dict]:
    """The runs that did not diverge: means and bands are drawn over these (fit.py's rule)."""
    return [r for r, s in zip(results, fit.statuses(results), strict=True) if s != "diverged"]


def _title(results: list[dict]) -> str:
    r = results[0]
    # results from before augmentations had names hold a bool here
    augment = r.get("config", {}).get("augment") or "none"
    augmented = "" if augment == "none" else f" + {augment} augmentation"
    return f"{r['dataset_label']}{augmented}, profile `{r['profile']}`"


def _axes_title(what: str, results: list[dict]) -> str:
    """A one-panel figure's title, on two lines where one would run past the figure's edges
    (an augmented dataset's title did)."""
    return textwrap.fill(f"{what}: {_title(results)}", width=56)


def _profile_note(results: list[dict]) -> str:
    """The profile's note for this kind of run (the face profiles are not the tables')."""
    notes = FACE_PROFILE_NOTES if results[0]["evaluator"] == "verification" else PROFILE_NOTES
    return notes.get(results[0]["profile"], "")


def _commits(results: list[dict]) -> str:
    return ", ".join(sorted({r["provenance"].get("commit", "unknown") for r in results}))


def _points(curves: dict, x_key: str, y_key: str) -> dict:
    if x_key not in curves or y_key not in curves:  # e.g. face runs log no test-error curve
        return {}
    return {x: y for x, y in zip(curves[x_key], curves[y_key], strict=True) if y is not None}


def aligned(runs: list[dict], x_key: str, y_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Curve points at the x values every seed logged with a value: x (P,), y (seeds, P)."""
    tables = [_points(r["curves"], x_key, y_key) for r in runs]
    common = sorted(set.intersection(*(set(t) for t in tables)))
    return np.array(common, float), np.array([[t[x] for x in common] for t in tables], float)


SPLIT_MARKERS = {"half1": "o", "half2": "^"}  # LFW's two halves of people


def _band(ax, x, y, colour, label, ls="-"):
    """The mean line (returned, for a legend) and the min-max band over runs."""
    (line,) = ax.plot(x, y.mean(axis=0), color=colour, label=label, ls=ls)
    if len(y) > 1:  # spread over runs; thin edges in the line's style tell overlapping bands apart
        ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=colour, alpha=0.12, lw=0)
        for edge in (y.min(axis=0), y.max(axis=0)):
            ax.plot(x, edge, color=colour, ls=ls, lw=0.5, alpha=0.8)
    return line


def _no_data(ax, text: str = "no results") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set(xticks=[], yticks=[])  # an empty panel shows no made-up axis range


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
    for (head, margin), runs in _groups(experiment, _kept(results)).items():
        colour, label = style.head_colour(head, margin), f"{_label(runs[0])} (n={len(runs)})"
        ls = style.head_linestyle(head, margin)
        for key, ax, x_key, y_key, _ in panels:
            x, y = aligned(runs, x_key, y_key)
            if len(x):
                handles[label] = _band(ax, x, y, colour, label, ls)
                has[key] = True
    for key, ax, _, _, title in panels:
        ax.set(title=title, xlabel="iteration")
        if not has[key]:
            _no_data(ax, {"lam": "no head logs λ"}.get(key, "no curve points"))
        elif (key, tested) != ("error", False) and _spans_a_decade(ax):
            # log scale where the values span a decade (a log axis over a narrower range
            # labels one or two ticks), except training error: it reaches 0
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(PlainLogFormatter())
            ax.yaxis.set_minor_formatter(PlainLogFormatter())
    # below the panels, where it covers no curve or band
    fig.legend(handles.values(), handles.keys(), loc="outside lower center",
               ncol=min(len(handles), 4), frameon=False)  # fmt: skip
    fig.suptitle(textwrap.fill(f"Training curves: {_title(results)}", width=90))
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
        f"Figure 5. Training curves on {_title(results)}: mean {spread} (line) and their "
        "min-max (band); n counts them. (a) training loss averaged over each logging "
        "interval; it includes each head's own margin, so levels are not comparable across "
        f"heads. {error_text} (c) λ of the annealed heads{_shared_schedules(results)}. "
        f"{fit.unfit_sentence(results)} {_profile_note(results)}. "
        f"Results at commit {_commits(results)}."
    )
    return fig, text


def _shared_schedules(results: list[dict]) -> str:
    """Names the heads whose λ curves coincide (drawn on top of one another)."""
    by_curve = defaultdict(list)
    for runs in _groups(results[0]["experiment"], results).values():
        lam = [v for v in runs[0]["curves"].get("lam") or [] if v is not None]
        if lam:
            by_curve[tuple(lam)].append(_label(runs[0]))
    shared = [labels for labels in by_curve.values() if len(labels) > 1]
    return "".join(f"; {', '.join(labels)} follow one schedule (lines on top of each other)"
                   for labels in shared)  # fmt: skip


def angle_summary(results: list[dict], experiment: str | None = None) -> dict[str, dict]:
    """Per head label: density (% of test images per degree, seeds summed) and each seed's
    own, bin centres (degrees), the mean target angle (degrees) and the number of seeds, from
    the `target_angle_hist` each run saved."""
    experiment = experiment or results[0]["experiment"]
    out = {}
    for (head, margin), runs in _groups(experiment, results).items():
        runs = [r for r in runs if "target_angle_hist" in r]
        if not runs:
            continue
        per_seed = np.array([r["target_angle_hist"]["counts"] for r in runs], float)
        counts = per_seed.sum(axis=0)
        width = 180.0 / len(counts)
        centres = (np.arange(len(counts)) + 0.5) * width
        total = counts.sum()
        out[_label(runs[0])] = {
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
        title=_axes_title("Target angles", results),
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
        f"{_title(results)}: one line per seed (2-degree bins saved with each run; log scale, "
        f"empty bins not drawn); triangles mark each head's mean over seeds ({means}). A "
        "working angular margin shifts the mass to smaller angles than softmax's. Below about "
        "20 degrees the margin heads' lines are uneven, and their dips move from seed to "
        "seed: the features form a few narrow per-class modes, not a numeric grid (the cosine "
        "and angle are computed in float32; a bf16 grid would put its gaps in the same bins "
        "for every seed). Angles of 80 degrees and more are mostly misclassified images, "
        "lying in another class's cluster at about the angle between the two class weights: "
        f"{wide} of the test images. "
        + (f"The axis ends at {right:.0f}°; beyond it lie {beyond_text} of the test images. "
           if beyond_text else "")
        + f"{_profile_note(results)}. Results at commit {_commits(results)}."
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
    keys = _head_order(experiment, results)
    paper = dict(EXPERIMENTS[experiment].paper) if experiment in EXPERIMENTS else {}
    labels = _head_labels(experiment, results)
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
    ax.set(ylabel="test error (%)", ylim=(0, top * 1.35), title=_axes_title("Test error", results))
    ax.legend(loc="upper center", ncol=3)
    text = (
        f"Figure 8. Test error on {_title(results)}: bars are the mean over seeds, error bars "
        "one standard deviation (n-1), dots the individual seeds, red lines across the bars "
        "the paper's value "
        f"({results[0]['paper'].get('source', 'paper')}). "
        + ("Hollow diamonds: seed 0 trained on the schedule twice as long (the doubling "
           "check). " if doubled else "")
        + (f"Hatched: {', '.join(sorted(stale))}, which the doubling check found not "
           "converged (the doubled run better than the seeds' 95% prediction interval). "
           if stale else "")
        + f"{_profile_note(results)}. Results at commit {_commits(results)}."
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
    groups = _groups(experiment, results)
    seeds = sorted({r["seed"] for r in results})
    reference = fit.softmax_reference(results)
    for x, ((head, margin), runs) in enumerate(groups.items()):
        colour, label = style.head_colour(head, margin), _label(runs[0])
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
    per_fold.set_xticks(range(len(groups)), [_label(runs[0]) for runs in groups.values()],
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
    fig.suptitle(textwrap.fill(f"Face verification: {_title(results)}", width=90))
    summary = "; ".join(f"{k} {m:.2f} ± {s:.2f}% (n={n})" for k, (m, s, n) in accuracies.items())
    text = (
        f"Figure 7. Face verification on {_title(results)}. (a) ROC, mean over runs (n in the "
        f"legend), drawn only from one false accept up (a false accept rate of 1 / the "
        f"mismatched pairs a network was tested on; below it a ROC has no point). (b) Accuracy "
        f"of every tested fold of every network (dots; one column per head, its networks "
        f"side by side by training split{split_note} and seed: marker = split, filled = the "
        f"first seed, hollow = the others, x = diverged); in black the mean ± std over "
        "networks, each "
        f"network counted once by the mean of its folds (diverged networks left out): "
        f"{summary or 'no fold accuracies saved'}. {fit.unfit_sentence(results)} "
        f"{_profile_note(results)}. Results at commit {_commits(results)}."
    )
    return style.save(fig, out_stem, style.caption(text, command, sources))


# ----------------------------------------------------------------- features-based figures


def feature_runs(results: list[dict], sources: list[Path]) -> list[dict]:
    """The finished runs of one 2-D study, in the figure's head order: each result with its
    arrays, its test error, schedule, hyper-parameters and file paths at the top level."""
    runs = []
    for r, path in zip(results, sources, strict=True):
        npz = path.parent / r["features"]["npz"]
        with np.load(npz, allow_pickle=False) as arrays:
            runs.append({
                **r, **r["features"], **{k: arrays[k] for k in arrays.files},
                "test_error": r["metrics"]["test_error"], "schedule": r["config"]["schedule"],
                "head_hyper": r["hyper"], "max_grad_norm": r["config"]["max_grad_norm"],
                "json_path": path, "npz_path": npz,
            })  # fmt: skip
    return sorted(runs, key=lambda r: (r["order"], r["seed"]))


def _feature_sources(runs) -> list[Path]:
    return [p for r in runs for p in (r["json_path"], r["npz_path"])]


def _scatter_classes(ax, features, labels, classes) -> None:
    for j in range(len(classes)):
        pts = features[labels == j]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=1.5,
            color=style.class_colour(j),
            alpha=0.6,
            lw=0,
            rasterized=True,
            label=classes[j],
        )


def _weight_rays(ax, weights, reach) -> None:
    for j, w in enumerate(weights):
        w = w / max(np.linalg.norm(w), 1e-12) * reach
        ax.plot([0, w[0]], [0, w[1]], color=style.class_colour(j), lw=0.9, ls="--")


def _limits(ax, features) -> tuple[float, int]:
    """Square axes at 1.1x the 99.5th percentile of |coordinate| (robust to outliers):
    (reach, how many points that cuts off)."""
    reach = float(np.quantile(np.abs(features), 0.995)) * 1.1 or 1.0
    ax.set(xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal")
    ax.tick_params(labelsize=5)
    return reach, int((np.abs(features) > reach).any(axis=1).sum())


def _clipping_text(cut: dict[str, tuple[int, int]]) -> str:
    """The caption's account of the points the axis limits leave out: panel -> (cut, shown)."""
    if not any(n for n, _ in cut.values()):
        return "Every point lies inside the axes."
    counts = ", ".join(f"{k} {n} of {shown}" for k, (n, shown) in cut.items() if n)
    return (f"Axes end at 1.1x the 99.5th percentile of |coordinate|; points beyond are not "
            f"drawn: {counts}.")  # fmt: skip


def class_errors(r: dict, split: str = "test") -> np.ndarray | None:
    """Per-class error (%) of `split` by the head's test-time rule (W_j . x; cos t_j for the
    heads on normalised features), or None where that rule does not reproduce the run's
    saved test error (then the per-class numbers would not be the run's)."""
    keep = r["split"] == split
    f, labels, w = r["features"][keep], r["labels"][keep], r["weights"]
    scores = f @ w.T
    if "s" in r.get("head_hyper", {}):
        scores = scores / (np.linalg.norm(f, axis=1, keepdims=True) * np.linalg.norm(w, axis=1))
    wrong = scores.argmax(axis=1) != labels
    if split == "test" and abs(100.0 * wrong.mean() - r["test_error"]) > 0.05:
        return None
    return np.array([100.0 * wrong[labels == j].mean() for j in range(len(r["classes"]))])


def _failure_text(runs: list[dict]) -> str:
    """Heads with a test error over twice softmax's, and any class a head gets mostly
    wrong."""
    soft = next((r["test_error"] for r in runs if r["head"] == "softmax"), None)
    notes = []
    for r in runs:
        if soft is not None and r["head"] != "softmax" and r["test_error"] > 2 * soft:
            notes.append(f"{r['head_label']} ends at {r['test_error']:.1f}% test error, "
                         f"{r['test_error'] / soft:.1f}x softmax's {soft:.1f}%")  # fmt: skip
        errors = class_errors(r)
        if errors is None:
            continue
        norms = np.linalg.norm(r["weights"], axis=1)
        for j in np.flatnonzero(errors > 50.0):
            why = ""
            # unnormalised weights: a short W_j loses the test-time logit W.x to a longer
            # neighbour even for features along W_j itself
            if not HEADS[r["head"]].normalise_weight and j == norms.argmin():
                others = np.delete(norms, j)
                test = r["split"] == "test"
                mine = r["features"][test][r["labels"][test] == j]
                taken = np.bincount((mine @ r["weights"].T).argmax(1)).argmax()
                why = (f" (its class weight is the shortest: |W| = {norms[j]:.2f}, the "
                       f"others {others.min():.2f}-{others.max():.2f}; most of them go to "
                       f"{r['classes'][taken]})")  # fmt: skip
            notes.append(f"{r['head_label']} misclassifies {r['classes'][j]} in "
                         f"{errors[j]:.0f}% of its test images{why}")  # fmt: skip
    return ("Failures kept as trained: " + "; ".join(notes) + ". ") if notes else ""


def _runs_note(runs) -> str:
    r = runs[0]
    s = r["schedule"]
    commands = sorted({x["command"].strip() for x in runs if x["command"]})
    profile_note = {
        "quick": "QUICK profile, a short CPU schedule: clusters are looser than the papers'. ",
        "smoke": "SMOKE profile: the features mean nothing. ",
    }.get(r["profile"], "")
    return (
        f"{profile_note}Profile `{r['profile']}`: {s['iterations']} SGD steps of "
        f"{s['batch_size']} images "
        f"per head, seed {r['seed']}; features made by "
        f"{', '.join(f'`{c}`' for c in commands) or 'n/a'} at commit "
        f"{', '.join(sorted({x['provenance']['commit'] for x in runs}))}"
    )


@style.styled
def fig1_features(runs: list[dict], out_stem: Path, command: str = COMMAND) -> list[Path]:
    """Figure 1 (L-Softmax Fig. 2): 2-D features of train (top) and test (bottom) images per
    head, coloured by class, with the directions of the class weights dashed."""
    fig, axes = style.figure(2, len(runs), width=max(style.WIDTH, 1.8 * len(runs)), height=4.0)
    cut = {}
    for col, r in enumerate(runs):
        for row, split in enumerate(("train", "test")):
            ax = axes[row, col]
            keep = r["split"] == split
            reach, n_cut = _limits(ax, r["features"][keep])
            cut[f"{r['head_label']} ({split})"] = (n_cut, int(keep.sum()))
            _scatter_classes(ax, r["features"][keep], r["labels"][keep], list(r["classes"]))
            _weight_rays(ax, r["weights"], reach)
        axes[0, col].set_title(r["head_label"], fontsize=8)
        axes[1, col].set_title(f"test error {r['test_error']:.1f}%", fontsize=7)
        errors = class_errors(r)
        lost = [] if errors is None else np.flatnonzero(errors > 50.0)
        if len(lost):  # a class the head gets mostly wrong is invisible in a scatter of points
            axes[1, col].text(0.03, 0.03, "\n".join(f"digit {r['classes'][j]}: {errors[j]:.0f}% "
                                                    "wrong" for j in lost),
                              transform=axes[1, col].transAxes, fontsize=5, color="#c00000",
                              va="bottom", bbox={"facecolor": "white", "alpha": 0.4,
                                                 "edgecolor": "none"})  # fmt: skip
    axes[0, 0].set_ylabel("train")
    axes[1, 0].set_ylabel("test")
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4, fontsize=6)
    text = (
        "Figure 1 (L-Softmax Fig. 2). 2-D features of the visualisation network on MNIST "
        f"({runs[0]['n_train']} train and {runs[0]['n_test']} test images shown per head), "
        "coloured by digit; dashed rays are the directions of the class weights. Larger "
        f"angular margins should narrow each digit's wedge. Test error by each head's own "
        f"decision rule: {', '.join(_test_errors(runs))}. {_failure_text(runs)}"
        f"{_normalised_note(runs)}{_clipping_text(cut)} {_runs_note(runs)}."
    )
    return style.save(fig, out_stem, style.caption(text, command, _feature_sources(runs)))


def _normalised_note(runs: list[dict]) -> str:
    """Figure 1's normalised heads train with the study's shared lr and the papers' s: the
    setting in which Figure 4's study saw 2-D normalised features collapse."""
    normalised = [r for r in runs if "s" in r.get("head_hyper", {})]
    if not normalised:
        return ""
    r = normalised[0]
    toy = next(t for t in EXPERIMENTS["cosface-toy"].runs(r["profile"]) if "s" in t.head.kwargs)
    return (
        f"{', '.join(x['head_label'] for x in normalised)} trained at the study's shared "
        f"lr {r['schedule']['lr']:g} with s = {r['head_hyper']['s']:g}: the setting in which "
        "2-D normalised features collapse onto one side of the origin (see experiments.py, "
        f"cosface-toy); Figure 4 trains its normalised heads at lr {toy.schedule.lr:g}, "
        f"s = {toy.head.kwargs['s']:g} instead. "
    )


def _test_errors(runs: list[dict]) -> list[str]:
    return [f"{r['head_label']} {r['test_error']:.1f}%" for r in runs]


def target_angles(r: dict, split: str = "test") -> np.ndarray:
    """Angle (degrees) between each feature of `split` and its class weight."""
    keep = r["split"] == split
    f, w = r["features"][keep], r["weights"][r["labels"][keep]]
    cos = (f * w).sum(1) / (np.linalg.norm(f, axis=1) * np.linalg.norm(w, axis=1) + 1e-12)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _fig4_settings(runs: list[dict]) -> str:
    """What Figure 4's runs were trained with, read from their sidecars: the scale s of the
    normalised heads, the learning rate schedule, clipping, and each head's test error."""
    parts = []
    scales = sorted({r["head_hyper"]["s"] for r in runs if "s" in r.get("head_hyper", {})})
    if scales:
        n = len(runs[0]["classes"])
        posteriors = ", ".join(f"{_posterior_on_weight(v, n):.2f} at s = {v:g}" for v in scales)
        parts.append(
            f"Normalised heads: s = {', '.join(f'{v:g}' for v in scales)} (the paper's s = 64 "
            f"is for face training with thousands of identities; with {n} class weights evenly "
            f"spread in 2-D, a feature on its class weight has posterior {posteriors})"
        )
    schedule = runs[0]["schedule"]
    if "lr" in schedule:
        drops = ", ".join(str(d) for d in schedule.get("lr_drops", ()))
        clip = runs[0].get("max_grad_norm")
        parts.append(
            f"every head, softmax included: SGD lr {schedule['lr']:g}"
            + (f" (/10 after steps {drops})" if drops else "")
            + (f", gradient norm clipped at {clip:g}" if clip else "")
        )
    errors = ", ".join(_test_errors(runs))
    parts.append(f"test error by each head's own decision rule on the images shown: {errors}")
    return "; ".join(parts) + ". "


def _posterior_on_weight(s: float, classes: int) -> float:
    """Softmax posterior of s cos t_j for a 2-D feature on its class weight, the weights
    evenly spread: CosFace sec. 3.3's bound on s, in the plane."""
    angles = 2 * np.pi * np.arange(classes) / classes
    logits = s * np.cos(angles)
    return float(np.exp(logits[0] - logits.max()) / np.exp(logits - logits.max()).sum())


def _degrees_label(angle: float) -> str:
    """An axis angle (any turn) as its direction in (-180, 180]; 180 reads ±180."""
    wrapped = (angle + 180.0) % 360.0 - 180.0
    return "±180" if wrapped == -180.0 else f"{wrapped:.0f}"


def angle_seam(weight_deg: np.ndarray) -> float:
    """Where to cut the circle of angles (degrees): the middle of the widest gap between
    consecutive class-weight angles."""
    ordered = np.sort(np.mod(weight_deg, 360.0))
    gaps = np.diff(np.append(ordered, ordered[0] + 360.0))
    widest = int(np.argmax(gaps))
    middle = float(ordered[widest] + gaps[widest] / 2.0)  # in [0, 540)
    return (middle + 180.0) % 360.0 - 180.0  # the same direction, in [-180, 180)


@style.styled
def fig4_cosface_toy(runs: list[dict], out_stem: Path, command: str = COMMAND) -> list[Path]:
    """Figure 4 (CosFace Fig. 3): 8 classes with 2-D features; top the features in Euclidean
    space, bottom histograms of their angles, per head."""
    fig, axes = style.figure(2, len(runs), width=max(style.WIDTH, 1.8 * len(runs)), height=4.2)
    cut, seams = {}, []
    for col, r in enumerate(runs):
        keep = r["split"] == "test"
        f, labels, classes = r["features"][keep], r["labels"][keep], list(r["classes"])
        reach, n_cut = _limits(axes[0, col], f)
        cut[r["head_label"]] = (n_cut, len(f))
        _scatter_classes(axes[0, col], f, labels, classes)
        _weight_rays(axes[0, col], r["weights"], reach)
        spread = float(np.mean(target_angles(r)))
        axes[0, col].set_title(f"{r['head_label']}\nmean angle to W_y {spread:.1f}°", fontsize=7)
        ax = axes[1, col]
        weight_deg = np.degrees(np.arctan2(r["weights"][:, 1], r["weights"][:, 0]))
        seam = angle_seam(weight_deg)
        seams.append(seam)
        # angles on [seam, seam + 360): the cut falls between classes, not through one
        angle = seam + np.mod(np.degrees(np.arctan2(f[:, 1], f[:, 0])) - seam, 360.0)
        bins = np.linspace(seam, seam + 360.0, 181)
        for j in range(len(classes)):
            ax.hist(angle[labels == j], bins=bins, color=style.class_colour(j), alpha=0.7)
            w_deg = seam + np.mod(weight_deg[j] - seam, 360.0)
            # a tick above the panel, so that it hides no bar
            ax.plot(w_deg, 1.0, marker="v", ms=4, color=style.class_colour(j), clip_on=False,
                    transform=ax.get_xaxis_transform())  # fmt: skip
        ticks = np.arange(np.ceil(seam / 90.0) * 90.0, seam + 360.0, 90.0)
        ax.set(xlim=(seam, seam + 360.0), xlabel="feature angle (degrees)")
        ax.set_xticks(ticks, [_degrees_label(t) for t in ticks])
        ax.tick_params(labelsize=5)
    top = max(ax.get_ylim()[1] for ax in axes[1])
    for ax in axes[1]:
        ax.set_ylim(0, top)  # one count scale across heads, so their peaks compare
    axes[0, 0].set_ylabel("Euclidean space")
    axes[1, 0].set_ylabel("angular space (count)")
    axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=4, fontsize=6)
    text = (
        "Figure 4 (CosFace Fig. 3, toy experiment). MNIST digits 0-7 stand in for the paper's "
        "8 face identities (no face training data offline), through the 2-D visualisation "
        "network of Figure 1, not the paper's face CNN. Top: 2-D test features "
        f"({runs[0]['n_test']} images) per head, dashed rays the class weights; bottom: "
        "histograms of the same features' angles atan2(x2, x1) (count per 2° bin, one scale "
        "for every head; each "
        "panel's axis starts in the middle of the widest gap between class weights, at "
        f"{', '.join(f'{(v + 180.0) % 360.0 - 180.0:.0f}°' for v in seams)}, not through a "
        "class's weight), triangles above each panel the weight angles. Panel titles: the mean "
        "angle between a test feature and its own class's weight. LMCL m=0 is the normalised "
        "softmax; m = 0.1 and 0.2 lie below the bound 1 - cos(π/4) ≈ 0.29 for 8 classes in "
        f"2-D, and should open gaps between the classes' angular ranges. {_fig4_settings(runs)}"
        f"{_failure_text(runs)}{_clipping_text(cut)} {_runs_note(runs)}."
    )
    return style.save(fig, out_stem, style.caption(text, command, _feature_sources(runs)))


# ------------------------------------------------------------------------------ driver


def _select(results, sources, keep) -> tuple[list[dict], list[Path]]:
    pairs = [(r, p) for r, p in zip(results, sources, strict=True) if keep(r)]
    return [r for r, _ in pairs], [p for _, p in pairs]


def make_figures(
    results_dir: Path = RESULTS_DIR,
    out_dir: Path = FIGURES_DIR,
    *,
    profiles: tuple[str, ...] = PROFILES,
    command: str = COMMAND,
) -> list[Path]:
    """Every figure that the saved results and features allow; prints a note for each one left
    out. Returns the files written (PNG, PDF and caption of each figure)."""
    out_dir = Path(out_dir)
    written = fig2_psi(out_dir / "fig2-psi", command)
    written += fig3_binary_geometry(out_dir / "fig3-binary-geometry", command)[0]
    drawn = {1: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0}
    for profile in profiles:
        for experiment in experiment_names(profile, results_dir, tuple(EXPERIMENTS)):
            exp = EXPERIMENTS.get(experiment)
            if exp is not None and (exp.checks or exp.recipe_study):
                continue  # a doubling check is a row of the report's convergence table, a
                # recipe study a table of the deviations section
            results, sources = load_experiment(profile, experiment, results_dir)
            features = _select(results, sources, lambda r: r["evaluator"] == "features-2d")
            number = FEATURE_STUDIES.get(experiment)
            if features[0] and number:
                draw = fig1_features if number == 1 else fig4_cosface_toy
                stem = out_dir / f"fig{number}-{experiment}-{profile}"
                written += draw(feature_runs(*features), stem, command)
                drawn[number] += 1
            results, sources = _select(results, sources, lambda r: r["evaluator"] != "features-2d")
            stem = f"{profile}-{experiment}"
            verification = _select(results, sources, lambda r: verification_of(r) is not None)
            classification = _select(results, sources, lambda r: verification_of(r) is None)
            if verification[0]:
                written += fig7_roc(*verification, out_dir / f"fig7-roc-{stem}", command)
                drawn[7] += 1
            if classification[0]:
                check = next((e for e, x in EXPERIMENTS.items() if x.checks == experiment), None)
                doubled = ((), ())
                if check and (Path(results_dir) / profile / check).is_dir():
                    doubled = load_experiment(profile, check, results_dir)
                written += fig8_errors(*classification, out_dir / f"fig8-errors-{stem}", command,
                                       doubled)  # fmt: skip
                drawn[8] += 1
            with_curves = _select(results, sources, lambda r: bool(r["curves"].get("iteration")))
            if with_curves[0]:
                written += fig5_curves(*with_curves, out_dir / f"fig5-curves-{stem}", command)
                drawn[5] += 1
            with_hist = _select(results, sources, lambda r: "target_angle_hist" in r)
            if with_hist[0]:
                written += fig6_angles(*with_hist, out_dir / f"fig6-angles-{stem}", command)
                drawn[6] += 1
    where = {
        1: f"2-D feature results under {results_dir}/<profile>/lsoftmax-2d",
        4: f"2-D feature results under {results_dir}/<profile>/cosface-toy",
        5: f"results with training curves under {results_dir}",
        6: f"results with target_angle_hist under {results_dir}",
        7: f"verification results (metrics.roc) under {results_dir}",
        8: f"classification results under {results_dir}",
    }
    for number, count in drawn.items():
        if not count:
            note(f"figure {number} missing: no {where[number]}")
    return written
