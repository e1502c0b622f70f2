"""Figures are drawn from saved results and features alone (fixtures written here with the real
writers' formats) or from the loss functions; their own numerical checks hold; a missing
input shows as missing."""

from __future__ import annotations

import math

import matplotlib.collections
import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from paper_repro.experiments import get_experiment
from paper_repro.report import figures, style
from paper_repro.results import SCHEMA, write_result
from tests.report.fakes import result_path

BINS = 90  # the training loop's target-angle histogram: 2-degree bins over 0..180


def fake_result(
    head,
    margin,
    seed,
    error,
    *,
    experiment="mnist",
    profile="quick",
    peak=10,
    iterations=(10, 20, 30, 40),
    **extra,
):
    label = head if margin is None else f"{head} m={margin}"
    paper = get_experiment(experiment).paper.get(label) if experiment != "lfw" else None
    order = {None: 0, 2: 1, 3: 2, 4: 3}.get(margin, 4) if head != "lmcl" else 5
    counts = [0] * BINS
    counts[peak] = 100  # every test feature at the angle of bin `peak`
    its = list(iterations)
    lam = [1000.0 / (1 + i) for i in its] if head == "lsoftmax" else [None] * len(its)
    return {
        "schema": SCHEMA, "experiment": experiment, "dataset_label": "MNIST", "profile": profile,
        "head": head, "head_label": label, "margin": margin, "seed": seed, "run": {},
        "evaluator": "verification" if experiment == "lfw" else "classification",
        "hyper": {}, "precision": "fp32", "order": order,
        "config": {"schedule": {"eval_subset": 2000, "iterations": its[-1]}}, "split": None,
        "curves": {"iteration": its, "train_loss": [2.0 / i + seed for i in its],
                   "train_error": [50.0] * len(its), "lam": lam, "lr": [0.1] * len(its),
                   "test_iteration": its[1::2], "test_error": [error + 1.0, error]},
        "target_angle_hist": {"bins_deg": BINS, "counts": counts},
        "metrics": {"test_error": error, "test_images": 100},
        "paper": {"test_error": paper, "source": "Liu et al. 2016, Table 2"},
        "wall_time_s": 60.0, "images_per_s": 100.0, "command": "make reproduce-mnist",
        "provenance": {"commit": "abc123", "software": {"torch": "2.13.0"},
                       "hardware": {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}},
        **extra,
    }  # fmt: skip


def run_name(head, margin, seed):
    return f"{head}-seed{seed}" if margin is None else f"{head}-m{margin}-seed{seed}"


@pytest.fixture
def results_dir(tmp_path):
    """quick/mnist: softmax x3 seeds (angles near 21 deg), lsoftmax m=2 x3 (near 7 deg),
    m=4 x1; m=3 has no results."""
    root = tmp_path / "results"
    for head, margin, errors, peak in (
        ("softmax", None, [1.0, 1.2, 1.7], 10),
        ("lsoftmax", 2, [0.8, 0.9, 1.0], 3),
        ("lsoftmax", 4, [0.7], 3),
    ):
        for seed, err in enumerate(errors):
            path = result_path("quick", "mnist", run_name(head, margin, seed), root)
            write_result(path, fake_result(head, margin, seed, err, peak=peak))
    return root


def verification_results(root):
    """LFW runs in paper_repro.face's format: two networks per head (one per half of the
    folds), each tested on five folds; metrics carry the ROC and per-fold accuracies, the
    curves have no test error, and there is no target-angle histogram."""
    for head, margin, acc in (("softmax", None, 97.0), ("lmcl", 0.35, 99.0)):
        for split in (0, 1):
            fpr = np.linspace(0, 1, 50)
            result = fake_result(head, margin, 0, 0.0, experiment="lfw")
            folds = {str(5 * split + i + 1): acc + (i % 2) - 0.5 for i in range(5)}
            result["metrics"] = {
                "accuracy": float(np.mean(list(folds.values()))),
                "fold_accuracy": folds,
                "roc": {"fpr": fpr.tolist(), "tpr": np.sqrt(fpr).tolist()},
                "tar_at_far": 50.0,
                "far_resolution": 1 / 1500,
            }
            result["curves"] = {  # face runs log no test-error curve
                k: result["curves"][k]
                for k in ("iteration", "train_loss", "train_error", "lam", "lr")
            }
            result["split"] = f"half{split + 1}"
            result["paper"] = {"accuracy": {}, "sources": {}}
            result["note"] = "trained on fake people"
            del result["target_angle_hist"]
            name = f"{run_name(head, margin, 0)}-split{split}"
            write_result(result_path("quick", "lfw", name, root), result)  # fmt: skip


def fake_features(root, study, heads, classes=8, n=40, profile="smoke"):
    """2-D study results with their features beside them (paper_repro.evaluators' format):
    class j at angle 2 pi j / C."""
    rng = np.random.default_rng(0)
    for order, (head, margin) in enumerate(heads):
        angles = 2 * np.pi * np.arange(classes) / classes
        weights = np.stack([np.cos(angles), np.sin(angles)], 1).astype(np.float32)
        labels = np.arange(2 * n) % classes
        features = (weights[labels] * rng.uniform(1, 3, (2 * n, 1))).astype(np.float32)
        split = np.array(["train"] * n + ["test"] * n, "<U5")
        name = run_name(head, margin, 0)
        folder = root / profile / study
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / f"{name}.npz", features=features, labels=labels, split=split,
                 weights=weights, classes=np.array([str(c) for c in range(classes)]))  # fmt: skip
        result = fake_result(head, margin, 0, 12.5, experiment=study, profile=profile)
        result.update(
            evaluator="features-2d", order=order, hyper={"s": 16.0} if head == "lmcl" else {},
            metrics={"test_error": 12.5, "test_images": n}, command="pytest features",
            features={"npz": f"{name}.npz", "n_train": n, "n_test": n,
                      "classes": [str(c) for c in range(classes)]},
            config={"schedule": {"iterations": 4, "batch_size": 16, "lr": 0.01,
                                 "lr_drops": [2]}, "max_grad_norm": 10.0},
            provenance={"commit": "def456", "software": {"torch": "2.13.0"},
                        "hardware": {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}},
        )  # fmt: skip
        del result["target_angle_hist"]
        write_result(folder / f"{name}.json", result)


def assert_rendered(paths, *sources):
    """PNG + PDF + caption exist, are real images of some size, and the caption names the
    command and each source folder with its count of files."""
    png, pdf, txt = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5_000
    caption = txt.read_text()
    assert caption.count("\n") == 1 and figures.COMMAND in caption
    folders = {}
    for source in sources:
        folders[source.parent] = folders.get(source.parent, 0) + 1
    for folder, count in folders.items():
        assert f"{style.display_path(folder)}/` ({count} file" in caption
    return caption


# ------------------------------------------------------------------ figure 2: psi, cos(m t)


def test_psi_curves_are_eq6_and_eq7():
    curves = figures.psi_curves(points=181)
    t = np.deg2rad(curves["t_deg"])
    for m in (1, 2, 3, 4):
        np.testing.assert_allclose(curves["cos_mt"][m], np.cos(m * t), atol=1e-12)
        k = np.minimum(np.floor(m * t / np.pi), m - 1)  # segment [k pi/m, (k+1) pi/m]
        np.testing.assert_allclose(curves["psi"][m], (-1) ** k * np.cos(m * t) - 2 * k, atol=1e-9)
    assert curves["psi"][4][-1] == pytest.approx(-7.0)  # psi(pi) = -(2m - 1)


def test_figure2_renders_deterministically(tmp_path):
    first = figures.fig2_psi(tmp_path / "a" / "fig2")
    second = figures.fig2_psi(tmp_path / "b" / "fig2")
    caption = assert_rendered(first)
    assert "loss functions alone" in caption
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()  # no timestamps in PNG or PDF


# ---------------------------------------------------------------- figure 3: binary geometry


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("theta", [60.0, 100.0, 150.0])
def test_equal_norms_margin_is_m_minus_1_over_m_plus_1_theta(m, theta):
    b = figures.binary_boundaries(m, theta, step_deg=0.01)
    assert b.softmax_deg == pytest.approx(theta / 2, abs=b.step_deg / 2 + 1e-9)
    assert b.class1_deg == pytest.approx(theta / (m + 1), abs=b.step_deg / 2 + 1e-9)
    assert b.class2_deg == pytest.approx(m * theta / (m + 1), abs=b.step_deg / 2 + 1e-9)
    assert b.margin_deg == pytest.approx((m - 1) / (m + 1) * theta, abs=b.step_deg)


def test_unequal_norms_boundaries_solve_their_equations():
    m, theta, n1, n2 = 3, 80.0, 1.0, 0.6
    b = figures.binary_boundaries(m, theta, n1, n2, step_deg=0.01)
    th = math.radians(theta)
    softmax = math.degrees(math.atan2(n1 - n2 * math.cos(th), n2 * math.sin(th)))
    assert b.softmax_deg == pytest.approx(softmax, abs=b.step_deg / 2 + 1e-9)
    assert b.softmax_deg > theta / 2  # the boundary moves towards the shorter weight
    # class 1's edge: |W1| cos(m t1) = |W2| cos(theta - t1), with m t1 < pi (psi's first piece)
    f = lambda d: n1 * math.cos(m * math.radians(d)) - n2 * math.cos(th - math.radians(d))  # noqa: E731
    assert f(b.class1_deg - b.step_deg) > 0 > f(b.class1_deg + b.step_deg)
    assert b.margin_deg != pytest.approx(b.expected_margin_deg, abs=0.5)  # only for |W1|=|W2|


def test_figure3_renders_with_measured_margin(tmp_path):
    paths, measured = figures.fig3_binary_geometry(tmp_path / "fig3", m=2, theta12_deg=80.0)
    caption = assert_rendered(paths)
    assert measured[0].margin_deg == pytest.approx(80.0 / 3, abs=0.01)
    assert f"{80.0 / 3:.2f}°" in caption and "(checked)" in caption


def test_figure3_refuses_a_wrong_psi(monkeypatch, tmp_path):
    def no_margin(cos, m, slope=True):  # psi(t) = cos t, slope 1
        return cos, (cos * 0.0 + 1.0 if slope else None)

    monkeypatch.setattr("paper_repro.losses.functional.psi_and_slope", no_margin)
    with pytest.raises(figures.FigureCheckError):
        figures.fig3_binary_geometry(tmp_path / "fig3")
    assert not list(tmp_path.iterdir())  # nothing saved


# ------------------------------------------------------------- results-based figures 5-8


def test_make_figures_from_saved_results(results_dir, tmp_path, capsys):
    verification_results(results_dir)
    out = tmp_path / "figures"
    written = figures.make_figures(results_dir, out)
    names = {p.name for p in written}
    for stem in (
        "fig2-psi",
        "fig3-binary-geometry",
        "fig5-curves-quick-mnist",
        "fig6-angles-quick-mnist",
        "fig8-errors-quick-mnist",
        "fig7-roc-quick-lfw",
    ):
        assert {f"{stem}.png", f"{stem}.pdf", f"{stem}.txt"} <= names  # fmt: skip
    mnist = sorted((results_dir / "quick" / "mnist").glob("*.json"))
    for stem in ("fig5-curves-quick-mnist", "fig6-angles-quick-mnist", "fig8-errors-quick-mnist"):
        caption = assert_rendered([out / f"{stem}.{e}" for e in ("png", "pdf", "txt")], *mnist)
        assert "quick/mnist" in caption and "QUICK profile" in caption and "abc123" in caption
    lfw = sorted((results_dir / "quick" / "lfw").glob("*.json"))
    caption = assert_rendered([out / f"fig7-roc-quick-lfw.{e}" for e in ("png", "pdf", "txt")],
                              *lfw)  # fmt: skip
    # one number per network (the mean of its five folds), not the ten folds pooled
    networks = [np.mean([98.5, 99.5, 98.5, 99.5, 98.5])] * 2
    assert f"lmcl m=0.35 {np.mean(networks):.2f} ± 0.00% (n=2)" in caption
    # face runs log training curves but no test error or angles: figure 5 only
    assert (
        "fig5-curves-quick-lfw.png" in names
        and "no test-error curve" in (out / "fig5-curves-quick-lfw.txt").read_text()
    )
    assert not {"fig6-angles-quick-lfw.png", "fig8-errors-quick-lfw.png"} & names
    faces, _ = figures.load_experiment("quick", "lfw", results_dir)
    fig, text = figures.curves_figure(faces)
    # (b) falls back to the training error, one line per head; the legend sits outside
    assert fig.axes[1].get_title() == "(b) training error (%)"
    means = [line for line in fig.axes[1].get_lines() if not line.get_label().startswith("_")]
    assert len(means) == len({r["head_label"] for r in faces})
    assert fig.legends and all(ax.get_legend() is None for ax in fig.axes)
    assert "over the networks (seeds x halves" in text
    # no feature runs: figures 1 and 4 are left out and say so
    assert not any(n.startswith(("fig1", "fig4")) for n in names)
    printed = capsys.readouterr().out
    assert "figure 1 missing" in printed and "figure 4 missing" in printed


def test_missing_results_leave_figures_out(tmp_path, capsys):
    written = figures.make_figures(tmp_path / "none", tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(
        f"{s}.{e}" for s in ("fig2-psi", "fig3-binary-geometry") for e in ("png", "pdf", "txt")
    )
    printed = capsys.readouterr().out
    for number in (1, 4, 5, 6, 7, 8):
        assert f"figure {number} missing" in printed


def test_error_bars_are_seed_std_and_missing_head_says_no_results(results_dir):
    results = figures.load_experiment("quick", "mnist", results_dir)[0]
    fig, _ = figures.errors_figure(results)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([np.mean([1.0, 1.2, 1.7]), 0.9, 0.7])
    labels = [t.get_text() for t in ax.texts]
    assert f"{np.mean([1.0, 1.2, 1.7]):.2f}±{np.std([1.0, 1.2, 1.7], ddof=1):.2f}" in labels
    assert "no results" in labels  # lsoftmax m=3 has no run: no bar, no number
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["softmax", "lsoftmax m=2", "lsoftmax m=3", "lsoftmax m=4"]
    marks = [
        seg for c in ax.collections for seg in c.get_segments() if seg[0][1] == seg[1][1]
    ]  # fmt: skip  (horizontal: the paper's ticks)
    assert [(round(s[0][0] + 0.4), s[0][1]) for s in marks] == [
        (0, 0.40),
        (1, 0.32),
        (2, 0.31),
        (3, 0.31),
    ]  # Table 2, also for the head without results


def test_curves_average_seeds_at_common_iterations(results_dir):
    results = figures.load_experiment("quick", "mnist", results_dir)[0]
    softmax = [r for r in results if r["head"] == "softmax"]
    for key, value in (("iteration", 50), ("train_loss", 9.0), ("lam", None)):
        softmax[0]["curves"][key].append(value)  # a point only one seed logged
    x, y = figures.aligned(softmax, "iteration", "train_loss")
    assert x.tolist() == [10, 20, 30, 40] and y.shape == (3, 4)
    np.testing.assert_allclose(y.mean(0), [0.2 + 1, 0.1 + 1, 2 / 30 + 1, 0.05 + 1])
    assert len(figures.aligned(softmax, "iteration", "lam")[0]) == 0  # softmax logs no lambda
    fig, text = figures.curves_figure(results)
    # the band edges are unlabelled lines ('_child...'), kept out of the legend
    lam_lines = [line.get_label() for line in fig.axes[2].get_lines()
                 if not line.get_label().startswith("_")]  # fmt: skip
    assert lam_lines == ["lsoftmax m=2 (n=3)", "lsoftmax m=4 (n=1)"]
    # m = 2 and m = 4 share one lambda schedule: the caption says the lines coincide, and
    # different line styles keep them apart; softmax logs no lambda and is not named
    assert "lsoftmax m=2, lsoftmax m=4 follow one schedule" in text
    assert "softmax, " not in text.split("(c)")[1].split(".")[0]
    assert len({line.get_linestyle() for line in fig.axes[2].get_lines()}) == 2
    # each band has its two edges in its line's style: the bands stay apart where they overlap
    loss = fig.axes[0].get_lines()
    assert len(loss) == 3 * 2 + 1  # softmax and m=2: a mean and two edges; m=4 (n=1): a mean
    results[0]["curves"]["lam"] = [1.0, 2.0, 3.0, 4.0]  # softmax's first seed: no longer shared
    m4 = next(r for r in results if r["margin"] == 4)
    m4["curves"]["lam"] = [5.0, 6.0, 7.0, 8.0]
    assert "follow one schedule" not in figures.curves_figure(results)[1]


def test_line_styles_part_close_shades_of_one_hue():
    styles = [style.head_linestyle("lsoftmax", m) for m in (2, 3, 4)]
    assert len(set(styles)) == 3  # m = 3 and m = 4 are near blues: styles keep them apart
    assert style.head_linestyle("softmax") == style.head_linestyle("lmcl", 0.35) == "-"
    assert style.head_linestyle("asoftmax", 4) == ":"


def test_roc_starts_at_one_false_accept_and_marks_the_seeds(results_dir, monkeypatch):
    verification_results(results_dir)
    faces, sources = figures.load_experiment("quick", "lfw", results_dir)
    seed1 = {**faces[0], "seed": 1}  # a second seed of softmax's first network
    drawn = {}
    monkeypatch.setattr(figures.style, "save", lambda fig, stem, caption: drawn.update(
        fig=fig, caption=caption) or [])  # fmt: skip
    figures.fig7_roc([*faces, seed1], [*sources, sources[0]], results_dir / "fig7")
    roc, per_fold = drawn["fig"].axes[:2]
    first = min(line.get_xdata().min() for line in roc.get_lines())
    # drawn from one false accept in 1500 mismatched pairs (the first grid point at or above
    # it), the axis starting just left of it: no empty decade
    assert 1 / 1500 <= first < 1.01 / 1500
    assert roc.get_xlim()[0] == pytest.approx(first / 1.5)
    dots = [c.get_facecolors() for c in per_fold.collections
            if isinstance(c, matplotlib.collections.PathCollection)]  # fmt: skip
    assert len(dots) == 5 and sum(len(f) == 0 or f[0][3] == 0 for f in dots) == 1  # seed 1
    assert "filled = the first seed, hollow = the others" in drawn["caption"]


def test_angle_summary_means_and_density(results_dir):
    results = figures.load_experiment("quick", "mnist", results_dir)[0]
    summary = figures.angle_summary(results)
    assert summary["softmax"]["mean_deg"] == pytest.approx(21.0)  # bin 10 = 20..22 degrees
    assert summary["lsoftmax m=2"]["mean_deg"] == pytest.approx(7.0)
    assert summary["lsoftmax m=2"]["seeds"] == 3
    assert summary["softmax"]["density"].sum() * 2.0 == pytest.approx(100.0)


# -------------------------------------------------------------- features-based figures 1, 4


def test_feature_figures_from_saved_features(tmp_path, capsys):
    features = tmp_path / "results"
    fake_features(features, "lsoftmax-2d", [("softmax", None), ("lsoftmax", 2)], classes=10)
    fake_features(features, "cosface-toy", [("lmcl", 0.1), ("softmax", None)])
    out = tmp_path / "figures"
    written = figures.make_figures(features, out)
    for stem, study in (("fig1-lsoftmax-2d-smoke", "lsoftmax-2d"),
                        ("fig4-cosface-toy-smoke", "cosface-toy")):  # fmt: skip
        files = sorted((features / "smoke" / study).iterdir())
        paths = [out / f"{stem}.{e}" for e in ("png", "pdf", "txt")]
        assert set(paths) <= set(written)
        caption = assert_rendered(paths, *files)
        assert "pytest features" in caption and "def456" in caption
    assert "MNIST digits 0-7 stand in" in (out / "fig4-cosface-toy-smoke.txt").read_text()
    runs = figures.feature_runs(*figures.load_experiment("smoke", "cosface-toy", features))
    assert [r["head"] for r in runs] == ["lmcl", "softmax"]  # the study's order, not by name
    # features exactly along their class weights: every target angle is 0
    np.testing.assert_allclose(figures.target_angles(runs[0]), 0.0, atol=1e-3)
    assert "figure 1 missing" not in capsys.readouterr().out


def test_head_colours_are_fixed_and_distinct():
    keys = [("softmax", None), ("lsoftmax", 2), ("lsoftmax", 3), ("lsoftmax", 4),
            ("lmcl", 0.0), ("lmcl", 0.1), ("lmcl", 0.35), ("arcface", 0.5)]  # fmt: skip
    colours = [np.array(matplotlib.colors.to_rgb(style.head_colour(*k))) for k in keys]
    # every pair apart by a visible step in RGB (m = 3 and m = 4 were near-identical blues)
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(colours) for b in colours[i + 1 :]]
    assert min(gaps) > 0.08, min(gaps)
    # L-Softmax m = 3 and m = 4 read as one dark blue at the previous shades (RGB gap 0.24)
    assert np.linalg.norm(colours[2] - colours[3]) > 0.28
    assert style.head_colour("lsoftmax", 2) == style.head_colour("lsoftmax", 2)


@pytest.mark.parametrize("s", [1.0, 10.0, 16.0, 64.0])
def test_figure4_posterior_matches_the_closed_form(s):
    """8 weights 45 degrees apart: neighbours at 45, 90, 135 and one at 180 degrees."""
    c = math.cos(math.pi / 4)
    want = 1 / (1 + 2 * math.exp(-s * (1 - c)) + 2 * math.exp(-s) + 2 * math.exp(-s * (1 + c))
                + math.exp(-2 * s))  # fmt: skip
    assert figures._posterior_on_weight(s, 8) == pytest.approx(want, rel=1e-12)


def test_angle_seam_falls_in_the_widest_gap_between_weights():
    # weights at 170, 180 (= -180) and -170 degrees: an axis cut at +-180 splits that class
    weights = np.array([170.0, -180.0, -170.0, 0.0, 45.0, 100.0, -90.0, -45.0])
    seam = figures.angle_seam(weights)
    # brute force: the direction farthest from every weight on the circle
    grid = np.arange(-180.0, 180.0, 0.5)
    gap = np.min(np.abs((grid[:, None] - weights[None, :] + 180.0) % 360.0 - 180.0), axis=1)
    assert seam == pytest.approx(grid[np.argmax(gap)], abs=0.5) and -180.0 <= seam < 180.0
    assert figures._degrees_label(180.0) == "±180" and figures._degrees_label(270.0) == "-90"


def test_class_errors_reproduce_the_saved_error_or_decline():
    weights = np.array([[1.0, 0.0], [0.0, 1.0]])
    features = np.array([[2.0, 0.1], [1.0, 0.5], [0.1, 1.0], [1.0, 0.2]])  # last one wrong
    run = {"split": np.array(["test"] * 4), "features": features, "weights": weights,
           "labels": np.array([0, 0, 1, 1]), "classes": ("a", "b"), "test_error": 25.0,
           "head_hyper": {}}  # fmt: skip
    np.testing.assert_allclose(figures.class_errors(run), [0.0, 50.0])
    assert figures.class_errors({**run, "test_error": 0.0}) is None  # not the run's rule
    text = figures._failure_text([{**run, "head": "lsoftmax", "head_label": "lsoftmax m=4",
                                   "labels": np.array([0, 0, 1, 1]),
                                   "features": features * [[1, 1], [1, 1], [1, -1], [1, 1]],
                                   "test_error": 50.0}])  # fmt: skip
    assert "lsoftmax m=4 misclassifies b in 100% of its test images" in text
    # b's features along W_b, but |W_b| = 0.6 < |W_a| cos(30 deg): W_a's logit wins for them
    short = np.array([[0.5, math.sqrt(3) / 2], [0.0, 0.6]])
    along = np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 1.0], [0.0, 2.0]])
    text = figures._failure_text([{**run, "head": "lsoftmax", "head_label": "lsoftmax m=4",
                                   "weights": short, "features": along,
                                   "test_error": 50.0}])  # fmt: skip
    assert (
        "(its class weight is the shortest: |W| = 0.60, the others 1.00-1.00; most of "
        "them go to a)" in text
    )
    normalised = figures._failure_text([{**run, "head": "lmcl", "head_label": "lmcl m=0.1",
                                         "weights": short, "features": along,
                                         "test_error": 50.0}])  # fmt: skip
    assert "misclassifies b" in normalised and "shortest" not in normalised  # W is normalised


def test_clipping_is_counted_and_said():
    fig, ax = plt.subplots()
    inside = np.random.default_rng(0).uniform(-1.0, 1.0, size=(999, 2))  # limits ~ 1.1
    _, cut = figures._limits(ax, np.concatenate([inside, [[1e6, 0.0]]]))
    assert cut == 1
    text = figures._clipping_text({"softmax (train)": (cut, 1000), "softmax (test)": (0, 50)})
    assert text.endswith("not drawn: softmax (train) 1 of 1000.")
    assert figures._clipping_text({"softmax": (0, 1000)}) == "Every point lies inside the axes."
    plt.close(fig)


def test_geometry_regions_have_the_closed_form_edges_and_become_exact_wedges():
    # |W1| = |W2|: cos(m t) = cos(theta12 - t) puts the class-1 edge at theta12 / (m + 1)
    angles, region = figures.direction_regions(2, 80.0, 1.0, 1.0, step_deg=0.05)
    edge = 80.0 / 3
    assert (region[(angles > 0.1) & (angles < edge - 0.1)] == 1).all()
    assert (region[(angles > edge + 0.1) & (angles < 80.0 - edge - 0.1)] == 0).all()
    assert (region[(angles > 80.0 - edge + 0.1) & (angles < 79.9)] == 2).all()
    fig, ax = plt.subplots()
    figures._region_wedges(ax, angles, region, {1: "blue", 2: "orange"}, 3.0, 0.05)
    spans = {c: sum((p.theta2 - p.theta1) % 360 for p in ax.patches if p.get_facecolor()[:3]
                    == matplotlib.colors.to_rgb(c)) for c in ("blue", "orange")}  # fmt: skip
    assert spans["blue"] == pytest.approx(0.05 * (region == 1).sum())
    assert spans["orange"] == pytest.approx(0.05 * (region == 2).sum())
    plt.close(fig)


def test_the_doubling_check_shows_as_diamonds_and_hatches_the_unconverged(results_dir):
    results = figures.load_experiment("quick", "mnist", results_dir)[0]
    doubled = [fake_result("softmax", None, 0, 1.05, experiment="mnist-x2"),
               fake_result("lsoftmax", 2, 0, 0.3, experiment="mnist-x2")]  # fmt: skip
    fig, text = figures.errors_figure(results, doubled)
    ax = fig.axes[0]
    # softmax 1.05 against seeds 1.0, 1.2, 1.7: inside; m=2 0.3 against 0.8, 0.9, 1.0 (std
    # 0.1): the 95% prediction interval reaches down to 0.9 - 4.30 x 0.1 x 1.15 = 0.40
    assert [p.get_hatch() for p in ax.patches] == [None, "//", None]
    diamonds = [line for line in ax.get_lines() if line.get_marker() == "D"]
    assert [list(d.get_ydata()) for d in diamonds] == [[1.05], [0.3]]
    assert "Hatched: lsoftmax m=2, which the doubling check found not" in text
    assert "Hollow diamonds" in text
    # worse when doubled is not under-training: no hatch
    worse = [doubled[0], fake_result("lsoftmax", 2, 0, 3.0, experiment="mnist-x2")]
    fig, text = figures.errors_figure(results, worse)
    assert [p.get_hatch() for p in fig.axes[0].patches] == [None, None, None]


@pytest.mark.parametrize(("augment", "named"), [
    ("pad-crop-flip", " + pad-crop-flip augmentation"),
    ("none", ""),
    (False, ""),  # results from before augmentations had names
])  # fmt: skip
def test_titles_name_the_augmentation_and_fit_one_panel(augment, named):
    result = fake_result("softmax", None, 0, 1.0, config={"augment": augment})
    result["dataset_label"] = "CIFAR-10 (JPEG q75 copy)"
    assert figures._title([result]) == f"CIFAR-10 (JPEG q75 copy){named}, profile `quick`"
    title = figures._axes_title("Test error", [result])
    assert title.replace("\n", " ") == f"Test error: {figures._title([result])}"
    assert max(map(len, title.split("\n"))) <= 56
