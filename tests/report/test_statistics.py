"""Student's t, the tests over runs and what they can detect, held against published t tables,
NumPy's arithmetic and simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paper_repro.report import statistics as st

# two-sided 95% and one-sided 80% quantiles of Student's t, from a printed table
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 20: 2.086, 30: 2.042,
        100: 1.984}  # fmt: skip
T80 = {1: 1.376, 2: 1.061, 4: 0.941, 10: 0.879, 30: 0.854}


@pytest.mark.parametrize(("df", "value"), T975.items())
def test_critical_values_match_the_printed_table(df, value):
    assert st.critical(df) == pytest.approx(value, abs=1e-3)


@pytest.mark.parametrize(("df", "value"), T80.items())
def test_power_quantiles_match_the_printed_table(df, value):
    assert st.t_quantile(0.8, df) == pytest.approx(value, abs=1e-3)


@pytest.mark.parametrize("df", [1, 3, 7.5, 40])
def test_cdf_is_the_integral_of_the_density(df):
    grid = np.linspace(-200.0, 1.3, 400_001)
    density = (math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
               * (1 + grid**2 / df) ** (-(df + 1) / 2))  # fmt: skip
    tail = 0.5 * st._incomplete_beta(df / 2, 0.5, df / (df + 200.0**2))  # below -200
    integral = tail + float(np.sum((density[1:] + density[:-1]) / 2 * np.diff(grid)))
    assert st.t_cdf(1.3, df) == pytest.approx(integral, abs=1e-6)
    assert st.t_cdf(-1.3, df) == pytest.approx(1 - st.t_cdf(1.3, df), abs=1e-12)


def test_pooled_comparison_against_numpy():
    a, b = np.array([1.0, 1.2, 1.7]), np.array([0.8, 0.9, 1.0])
    c = st.Comparison(tuple(a), tuple(b))
    sp = math.sqrt((2 * a.var(ddof=1) + 2 * b.var(ddof=1)) / 4)
    se = sp * math.sqrt(2 / 3)
    assert c.std == pytest.approx(sp) and c.se == pytest.approx(se) and c.df == 4
    assert c.t == pytest.approx((a.mean() - b.mean()) / se)
    assert c.detectable == pytest.approx((2.776 + 0.941) * se, rel=1e-3)
    assert c.interval == pytest.approx((c.difference - 2.776 * se, c.difference + 2.776 * se),
                                       abs=1e-3)  # fmt: skip
    assert c.verdict() == "inconclusive"  # t = 1.91 < 2.776
    clear = st.Comparison((1.0, 1.1, 1.2), (0.5, 0.6, 0.7))
    assert clear.verdict() == "supported"
    assert st.Comparison(clear.b, clear.a).verdict() == "contradicted"
    assert st.Comparison((1.0,), (0.5, 0.6)).verdict() == "not enough runs"


def test_paired_comparison_uses_the_differences():
    pairs = ((83.0, 82.0), (84.0, 82.5), (81.0, 80.8), (82.0, 81.0))
    d = np.array([a - b for a, b in pairs])
    c = st.Paired(pairs)
    assert c.difference == pytest.approx(d.mean()) and c.df == 3
    assert c.se == pytest.approx(d.std(ddof=1) / 2)
    assert c.t == pytest.approx(d.mean() / (d.std(ddof=1) / 2))
    assert c.verdict() == ("supported" if c.t > 3.182 else "inconclusive")
    # a split effect shared by both heads cancels: the unpaired test cannot see through it
    shifted = tuple((a + 5 * i, b + 5 * i) for i, (a, b) in enumerate(pairs))
    assert st.Paired(shifted).t == pytest.approx(c.t)
    unpaired = st.Comparison(tuple(a for a, _ in shifted), tuple(b for _, b in shifted))
    assert abs(unpaired.t) < abs(c.t)


def test_the_shift_check_raises_false_alarms_five_percent_of_the_time():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(4000, 4))  # 3 seeds and one more run of the same schedule
    alarms = sum(st.shift(float(row[3]), [tuple(row[:3])]).beyond_noise for row in draws)
    assert 0.04 < alarms / len(draws) < 0.06


def test_the_detectable_difference_is_found_about_80_percent_of_the_time():
    rng = np.random.default_rng(1)
    n, sigma = 6, 1.0
    true = st.detectable_factor(2 * n - 2) * sigma * math.sqrt(2 / n)
    found = 0
    for _ in range(2000):
        a, b = rng.normal(true, sigma, n), rng.normal(0.0, sigma, n)
        found += st.Comparison(tuple(a), tuple(b)).verdict() == "supported"
    assert 0.72 < found / 2000 < 0.88


def test_seeds_needed_is_the_smallest_n_whose_detectable_difference_fits():
    # the cpu MNIST table: a seed std of 0.04 against the paper's 0.08-point gain
    n = st.seeds_needed(0.04, 0.08)
    assert n == 6
    assert (2.228 + 0.879) * 0.04 * math.sqrt(2 / 6) <= 0.08  # df 10
    assert (2.306 + 0.889) * 0.04 * math.sqrt(2 / 5) > 0.08  # df 8: 5 seeds miss it
    assert st.seeds_needed(1.0, 0.01) is None  # beyond 100 seeds a head
