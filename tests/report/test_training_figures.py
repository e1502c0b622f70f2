"""Figures 5-8 are drawn from saved results alone: seeds, bands, ROCs and the doubling check."""

from __future__ import annotations

import matplotlib.collections
import matplotlib.colors
import numpy as np
import pytest

from paper_repro.report import figure_runs, style, training_figures
from tests.report.figure_fakes import fake_result, verification_results


def test_error_bars_are_seed_std_and_missing_head_says_no_results(results_dir):
    results = figure_runs.load_experiment("quick", "mnist", results_dir)[0]
    fig, _ = training_figures.errors_figure(results)
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
    results = figure_runs.load_experiment("quick", "mnist", results_dir)[0]
    softmax = [r for r in results if r["head"] == "softmax"]
    for key, value in (("iteration", 50), ("train_loss", 9.0), ("lam", None)):
        softmax[0]["curves"][key].append(value)  # a point only one seed logged
    x, y = figure_runs.aligned(softmax, "iteration", "train_loss")
    assert x.tolist() == [10, 20, 30, 40] and y.shape == (3, 4)
    np.testing.assert_allclose(y.mean(0), [0.2 + 1, 0.1 + 1, 2 / 30 + 1, 0.05 + 1])
    assert len(figure_runs.aligned(softmax, "iteration", "lam")[0]) == 0  # softmax logs no lambda
    fig, text = training_figures.curves_figure(results)
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
    assert "follow one schedule" not in training_figures.curves_figure(results)[1]


def test_roc_starts_at_one_false_accept_and_marks_the_seeds(results_dir, monkeypatch):
    verification_results(results_dir)
    faces, sources = figure_runs.load_experiment("quick", "lfw", results_dir)
    seed1 = {**faces[0], "seed": 1}  # a second seed of softmax's first network
    drawn = {}
    monkeypatch.setattr(style, "save", lambda fig, stem, caption: drawn.update(
        fig=fig, caption=caption) or [])  # fmt: skip
    training_figures.fig7_roc([*faces, seed1], [*sources, sources[0]], results_dir / "fig7")
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
    results = figure_runs.load_experiment("quick", "mnist", results_dir)[0]
    summary = training_figures.angle_summary(results)
    assert summary["softmax"]["mean_deg"] == pytest.approx(21.0)  # bin 10 = 20..22 degrees
    assert summary["lsoftmax m=2"]["mean_deg"] == pytest.approx(7.0)
    assert summary["lsoftmax m=2"]["seeds"] == 3
    assert summary["softmax"]["density"].sum() * 2.0 == pytest.approx(100.0)


def test_the_doubling_check_shows_as_diamonds_and_hatches_the_unconverged(results_dir):
    results = figure_runs.load_experiment("quick", "mnist", results_dir)[0]
    doubled = [fake_result("softmax", None, 0, 1.05, experiment="mnist-x2"),
               fake_result("lsoftmax", 2, 0, 0.3, experiment="mnist-x2")]  # fmt: skip
    fig, text = training_figures.errors_figure(results, doubled)
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
    fig, text = training_figures.errors_figure(results, worse)
    assert [p.get_hatch() for p in fig.axes[0].patches] == [None, None, None]


@pytest.mark.parametrize(("augment", "named"), [
    ("pad-crop-flip", " + pad-crop-flip augmentation"),
    ("none", ""),
    (False, ""),  # results from before augmentations had names
])  # fmt: skip
def test_titles_name_the_augmentation_and_fit_one_panel(augment, named):
    result = fake_result("softmax", None, 0, 1.0, config={"augment": augment})
    result["dataset_label"] = "CIFAR-10 (JPEG q75 copy)"
    assert figure_runs.figure_title([result]) == f"CIFAR-10 (JPEG q75 copy){named}, profile `quick`"
    title = figure_runs.axes_title("Test error", [result])
    assert title.replace("\n", " ") == f"Test error: {figure_runs.figure_title([result])}"
    assert max(map(len, title.split("\n"))) <= 56
