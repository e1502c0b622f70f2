"""Figures 1 and 4, drawn from the 2-D feature studies' saved features: deep features per
head (L-Softmax Fig. 2) and the 8-class toy (CosFace Fig. 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_repro.experiments import EXPERIMENTS, profile_note
from paper_repro.losses import BASELINE, HEADS
from paper_repro.report import style
from paper_repro.report.figure_runs import COMMAND


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
    soft = next((r["test_error"] for r in runs if r["head"] == BASELINE), None)
    notes = []
    for r in runs:
        if soft is not None and r["head"] != BASELINE and r["test_error"] > 2 * soft:
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
    caveat = profile_note(r["experiment"], r["profile"])
    caveat += ". " if caveat else ""
    return (
        f"{caveat}Profile `{r['profile']}`: {s['iterations']} SGD steps of "
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
    study = next(e for e in EXPERIMENTS.values() if e.figure == 4)
    toy = next(t for t in study.runs(r["profile"]) if "s" in t.head.kwargs)
    return (
        f"{', '.join(x['head_label'] for x in normalised)} trained at the study's shared "
        f"lr {r['schedule']['lr']:g} with s = {r['head_hyper']['s']:g}: the setting in which "
        "2-D normalised features collapse onto one side of the origin (see experiments.py, "
        f"{study.name}); Figure 4 trains its normalised heads at lr {toy.schedule.lr:g}, "
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
