"""Figures 1 and 4 are drawn from saved 2-D features alone; their numbers follow closed forms."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from paper_repro.report import feature_figures, figure_runs, figures
from tests.report.figure_fakes import assert_rendered, fake_features


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
    runs = feature_figures.feature_runs(
        *figure_runs.load_experiment("smoke", "cosface-toy", features)
    )
    assert [r["head"] for r in runs] == ["lmcl", "softmax"]  # the study's order, not by name
    # features exactly along their class weights: every target angle is 0
    np.testing.assert_allclose(feature_figures.target_angles(runs[0]), 0.0, atol=1e-3)
    assert "figure 1 missing" not in capsys.readouterr().out


@pytest.mark.parametrize("s", [1.0, 10.0, 16.0, 64.0])
def test_figure4_posterior_matches_the_closed_form(s):
    """8 weights 45 degrees apart: neighbours at 45, 90, 135 and one at 180 degrees."""
    c = math.cos(math.pi / 4)
    want = 1 / (1 + 2 * math.exp(-s * (1 - c)) + 2 * math.exp(-s) + 2 * math.exp(-s * (1 + c))
                + math.exp(-2 * s))  # fmt: skip
    assert feature_figures._posterior_on_weight(s, 8) == pytest.approx(want, rel=1e-12)


def test_angle_seam_falls_in_the_widest_gap_between_weights():
    # weights at 170, 180 (= -180) and -170 degrees: an axis cut at +-180 splits that class
    weights = np.array([170.0, -180.0, -170.0, 0.0, 45.0, 100.0, -90.0, -45.0])
    seam = feature_figures.angle_seam(weights)
    # brute force: the direction farthest from every weight on the circle
    grid = np.arange(-180.0, 180.0, 0.5)
    gap = np.min(np.abs((grid[:, None] - weights[None, :] + 180.0) % 360.0 - 180.0), axis=1)
    assert seam == pytest.approx(grid[np.argmax(gap)], abs=0.5) and -180.0 <= seam < 180.0
    assert (
        feature_figures._degrees_label(180.0) == "±180"
        and feature_figures._degrees_label(270.0) == "-90"
    )


def test_class_errors_reproduce_the_saved_error_or_decline():
    weights = np.array([[1.0, 0.0], [0.0, 1.0]])
    features = np.array([[2.0, 0.1], [1.0, 0.5], [0.1, 1.0], [1.0, 0.2]])  # last one wrong
    run = {"split": np.array(["test"] * 4), "features": features, "weights": weights,
           "labels": np.array([0, 0, 1, 1]), "classes": ("a", "b"), "test_error": 25.0,
           "head_hyper": {}}  # fmt: skip
    np.testing.assert_allclose(feature_figures.class_errors(run), [0.0, 50.0])
    assert feature_figures.class_errors({**run, "test_error": 0.0}) is None  # not the run's rule
    text = feature_figures._failure_text([{**run, "head": "lsoftmax", "head_label": "lsoftmax m=4",
                                   "labels": np.array([0, 0, 1, 1]),
                                   "features": features * [[1, 1], [1, 1], [1, -1], [1, 1]],
                                   "test_error": 50.0}])  # fmt: skip
    assert "lsoftmax m=4 misclassifies b in 100% of its test images" in text
    # b's features along W_b, but |W_b| = 0.6 < |W_a| cos(30 deg): W_a's logit wins for them
    short = np.array([[0.5, math.sqrt(3) / 2], [0.0, 0.6]])
    along = np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 1.0], [0.0, 2.0]])
    text = feature_figures._failure_text([{**run, "head": "lsoftmax", "head_label": "lsoftmax m=4",
                                   "weights": short, "features": along,
                                   "test_error": 50.0}])  # fmt: skip
    assert (
        "(its class weight is the shortest: |W| = 0.60, the others 1.00-1.00; most of "
        "them go to a)" in text
    )
    normalised = feature_figures._failure_text([{**run, "head": "lmcl", "head_label": "lmcl m=0.1",
                                         "weights": short, "features": along,
                                         "test_error": 50.0}])  # fmt: skip
    assert "misclassifies b" in normalised and "shortest" not in normalised  # W is normalised


def test_clipping_is_counted_and_said():
    fig, ax = plt.subplots()
    inside = np.random.default_rng(0).uniform(-1.0, 1.0, size=(999, 2))  # limits ~ 1.1
    _, cut = feature_figures._limits(ax, np.concatenate([inside, [[1e6, 0.0]]]))
    assert cut == 1
    text = feature_figures._clipping_text(
        {"softmax (train)": (cut, 1000), "softmax (test)": (0, 50)}
    )
    assert text.endswith("not drawn: softmax (train) 1 of 1000.")
    assert (
        feature_figures._clipping_text({"softmax": (0, 1000)})
        == "Every point lies inside the axes."
    )
    plt.close(fig)
