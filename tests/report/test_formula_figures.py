"""Figures 2 and 3 are drawn from the loss functions, and their own numerical checks hold."""

from __future__ import annotations

import math

import matplotlib.collections
import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
import pytest

from paper_repro.report import figure_runs, formula_figures
from tests.report.figure_fakes import assert_rendered


def test_psi_curves_are_eq6_and_eq7():
    curves = formula_figures.psi_curves(points=181)
    t = np.deg2rad(curves["t_deg"])
    for m in (1, 2, 3, 4):
        np.testing.assert_allclose(curves["cos_mt"][m], np.cos(m * t), atol=1e-12)
        k = np.minimum(np.floor(m * t / np.pi), m - 1)  # segment [k pi/m, (k+1) pi/m]
        np.testing.assert_allclose(curves["psi"][m], (-1) ** k * np.cos(m * t) - 2 * k, atol=1e-9)
    assert curves["psi"][4][-1] == pytest.approx(-7.0)  # psi(pi) = -(2m - 1)


def test_figure2_renders_deterministically(tmp_path):
    first = formula_figures.fig2_psi(tmp_path / "a" / "fig2")
    second = formula_figures.fig2_psi(tmp_path / "b" / "fig2")
    caption = assert_rendered(first)
    assert "loss functions alone" in caption
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()  # no timestamps in PNG or PDF


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("theta", [60.0, 100.0, 150.0])
def test_equal_norms_margin_is_m_minus_1_over_m_plus_1_theta(m, theta):
    b = formula_figures.binary_boundaries(m, theta, step_deg=0.01)
    assert b.softmax_deg == pytest.approx(theta / 2, abs=b.step_deg / 2 + 1e-9)
    assert b.class1_deg == pytest.approx(theta / (m + 1), abs=b.step_deg / 2 + 1e-9)
    assert b.class2_deg == pytest.approx(m * theta / (m + 1), abs=b.step_deg / 2 + 1e-9)
    assert b.margin_deg == pytest.approx((m - 1) / (m + 1) * theta, abs=b.step_deg)


def test_unequal_norms_boundaries_solve_their_equations():
    m, theta, n1, n2 = 3, 80.0, 1.0, 0.6
    b = formula_figures.binary_boundaries(m, theta, n1, n2, step_deg=0.01)
    th = math.radians(theta)
    softmax = math.degrees(math.atan2(n1 - n2 * math.cos(th), n2 * math.sin(th)))
    assert b.softmax_deg == pytest.approx(softmax, abs=b.step_deg / 2 + 1e-9)
    assert b.softmax_deg > theta / 2  # the boundary moves towards the shorter weight
    # class 1's edge: |W1| cos(m t1) = |W2| cos(theta - t1), with m t1 < pi (psi's first piece)
    f = lambda d: n1 * math.cos(m * math.radians(d)) - n2 * math.cos(th - math.radians(d))  # noqa: E731
    assert f(b.class1_deg - b.step_deg) > 0 > f(b.class1_deg + b.step_deg)
    assert b.margin_deg != pytest.approx(b.expected_margin_deg, abs=0.5)  # only for |W1|=|W2|


def test_figure3_renders_with_measured_margin(tmp_path):
    paths, measured = formula_figures.fig3_binary_geometry(tmp_path / "fig3", m=2, theta12_deg=80.0)
    caption = assert_rendered(paths)
    assert measured[0].margin_deg == pytest.approx(80.0 / 3, abs=0.01)
    assert f"{80.0 / 3:.2f}°" in caption and "(checked)" in caption


def test_figure3_refuses_a_wrong_psi(monkeypatch, tmp_path):
    def no_margin(cos, m, slope=True):  # psi(t) = cos t, slope 1
        return cos, (cos * 0.0 + 1.0 if slope else None)

    monkeypatch.setattr("paper_repro.losses.functional.psi_and_slope", no_margin)
    with pytest.raises(figure_runs.FigureCheckError):
        formula_figures.fig3_binary_geometry(tmp_path / "fig3")
    assert not list(tmp_path.iterdir())  # nothing saved


def test_geometry_regions_have_the_closed_form_edges_and_become_exact_wedges():
    # |W1| = |W2|: cos(m t) = cos(theta12 - t) puts the class-1 edge at theta12 / (m + 1)
    angles, region = formula_figures.direction_regions(2, 80.0, 1.0, 1.0, step_deg=0.05)
    edge = 80.0 / 3
    assert (region[(angles > 0.1) & (angles < edge - 0.1)] == 1).all()
    assert (region[(angles > edge + 0.1) & (angles < 80.0 - edge - 0.1)] == 0).all()
    assert (region[(angles > 80.0 - edge + 0.1) & (angles < 79.9)] == 2).all()
    fig, ax = plt.subplots()
    formula_figures._region_wedges(ax, angles, region, {1: "blue", 2: "orange"}, 3.0, 0.05)
    spans = {c: sum((p.theta2 - p.theta1) % 360 for p in ax.patches if p.get_facecolor()[:3]
                    == matplotlib.colors.to_rgb(c)) for c in ("blue", "orange")}  # fmt: skip
    assert spans["blue"] == pytest.approx(0.05 * (region == 1).sum())
    assert spans["orange"] == pytest.approx(0.05 * (region == 2).sum())
    plt.close(fig)
