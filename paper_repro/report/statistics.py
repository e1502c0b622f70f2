"""Tests over independently trained networks, and what each can detect.

- `Comparison`: two groups of runs (seeds), pooled-variance two-sided t-test at 95%.
- `Paired`: matched runs (LFW: the same split of people and seed), a paired t-test.
- `shift`: one new run against the seeds it should resemble (the doubling check): a 95%
  prediction interval, so a converged schedule raises a false alarm 5% of the time.
- `seeds_needed`: the seeds a head that a t-test needs to detect a given difference.

The smallest detectable difference of a test is the true difference it finds at 95%
(two-sided) with 80% power: (t_0.975 + t_0.80) x its standard error. Student's t is computed
here (no SciPy in the dependencies) from the regularised incomplete beta function."""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

LEVEL, POWER = 0.95, 0.80


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < 1e-15:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))  # fmt: skip
    # the fraction converges fast only below the mean of the beta distribution
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


@functools.cache
def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p (bisection on `t_cdf`)."""
    if not 0 < p < 1 or df <= 0:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df > 0, got p={p}, df={df}")
    low, high = -1e6, 1e6
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


def critical(df: float) -> float:
    """The two-sided 95% critical value."""
    return t_quantile(1 - (1 - LEVEL) / 2, df)


def detectable_factor(df: float) -> float:
    """(t_0.975 + t_0.80): times a standard error, the smallest detectable difference."""
    return critical(df) + t_quantile(POWER, df)


def _verdict(t: float, df: int) -> str:
    if t >= critical(df):
        return "supported"
    if t <= -critical(df):
        return "contradicted"
    return "inconclusive"


class _TTest:
    """What a t-test reads from its difference, standard error and degrees of freedom; the
    subclasses say how those come from the runs (difference, se, df, enough)."""

    @property
    def t(self) -> float:
        if self.se == 0:
            return math.copysign(math.inf, self.difference) if self.difference else 0.0
        return self.difference / self.se

    @property
    def detectable(self) -> float:
        return detectable_factor(self.df) * self.se

    @property
    def interval(self) -> tuple[float, float]:
        half = critical(self.df) * self.se
        return self.difference - half, self.difference + half

    def verdict(self) -> str:
        return _verdict(self.t, self.df) if self.enough else "not enough runs"


@dataclass(frozen=True)
class Comparison(_TTest):
    """Two groups of per-run values, a and b; the claim is that a exceeds b."""

    a: tuple[float, ...]
    b: tuple[float, ...]

    @property
    def difference(self) -> float:
        return statistics.fmean(self.a) - statistics.fmean(self.b)

    @property
    def enough(self) -> bool:
        return len(self.a) >= 2 and len(self.b) >= 2

    @property
    def df(self) -> int:
        return len(self.a) + len(self.b) - 2

    @property
    def std(self) -> float:
        """The pooled between-run standard deviation."""
        va, vb = statistics.variance(self.a), statistics.variance(self.b)
        return math.sqrt(((len(self.a) - 1) * va + (len(self.b) - 1) * vb) / self.df)

    @property
    def se(self) -> float:
        """Standard error of the difference."""
        return self.std * math.sqrt(1 / len(self.a) + 1 / len(self.b))

    @property
    def design(self) -> str:
        return f"{len(self.a)} + {len(self.b)} runs, pooled t-test"


@dataclass(frozen=True)
class Paired(_TTest):
    """Matched runs: pairs[i] = (a_i, b_i) trained on the same split (and seed); the claim is
    that a exceeds b. Pairing removes what the split adds to both."""

    pairs: tuple[tuple[float, float], ...]

    @property
    def differences(self) -> tuple[float, ...]:
        return tuple(a - b for a, b in self.pairs)

    @property
    def difference(self) -> float:
        return statistics.fmean(self.differences)

    @property
    def enough(self) -> bool:
        return len(self.pairs) >= 2

    @property
    def df(self) -> int:
        return len(self.pairs) - 1

    @property
    def std(self) -> float:
        """The standard deviation of the paired differences."""
        return statistics.stdev(self.differences)

    @property
    def se(self) -> float:
        return self.std / math.sqrt(len(self.pairs))

    @property
    def design(self) -> str:
        return f"{len(self.pairs)} pairs (same split and seed), paired t-test"


def evidence(c: Comparison | Paired, unit: str = "points") -> str:
    """The whole reading of a test, for the experiment pages."""
    if not c.enough:
        return f"{c.design}: too few runs for a test (at least 2 a side)"
    low, high = c.interval
    return (f"difference {c.difference:+.3f} {unit} (95% interval [{low:+.3f}, {high:+.3f}]), "
            f"std {c.std:.3f}, t = {c.t:.2f} on {c.df} df; {c.design}; smallest detectable "
            f"difference {c.detectable:.3f}")  # fmt: skip


@dataclass(frozen=True)
class Shift:
    """The mean of `runs` new runs against n reference runs, in a pooled within-group std on
    `df` degrees of freedom: t = (new - mean) / (std sqrt(1/runs + 1/n)). Under 'the new runs
    are more draws of the same distribution' |t| exceeds the 95% critical value 5% of the
    time."""

    new: float
    mean: float
    std: float
    n: int
    df: int
    runs: int = 1

    @property
    def difference(self) -> float:
        return self.new - self.mean

    @property
    def se(self) -> float:
        return self.std * math.sqrt(1 / self.runs + 1 / self.n)

    @property
    def beyond_noise(self) -> bool:
        return self.df >= 1 and abs(self.difference) > critical(self.df) * self.se

    @property
    def detectable(self) -> float:
        return detectable_factor(self.df) * self.se if self.df >= 1 else math.inf


def pooled_std(groups: list[tuple[float, ...]]) -> tuple[float, int]:
    """(std, degrees of freedom) pooled within groups: each group keeps its own mean (a split,
    or a head), they share the spread; nan with no group of 2 or more."""
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    ss = sum((len(g) - 1) * statistics.variance(g) for g in groups if len(g) > 1)
    return (math.sqrt(ss / df) if df else math.nan), df


def shift(new: float, groups: list[tuple[float, ...]], own: int = 0) -> Shift:
    """`new` against groups[own] (its own split), with the std pooled over every group's runs
    (one group per split: splits differ in level, not in spread)."""
    std, df = pooled_std(groups)
    return Shift(new, statistics.fmean(groups[own]), std, len(groups[own]), df)


def agreement(new: tuple[float, ...], reference: tuple[float, ...]) -> Shift | None:
    """The mean of `new` runs against what the `reference` runs' seeds predict for it (their
    std); None where the reference has fewer than 2 runs."""
    if len(reference) < 2 or not new:
        return None
    return Shift(statistics.fmean(new), statistics.fmean(reference), statistics.stdev(reference),
                 len(reference), len(reference) - 1, len(new))  # fmt: skip


def seeds_needed(std: float, effect: float, limit: int = 100) -> int | None:
    """The fewest seeds a head (n + n runs, pooled t-test) whose smallest detectable
    difference at `std` is at most `effect`; None beyond `limit`."""
    if std <= 0:
        return 2
    for n in range(2, limit + 1):
        if detectable_factor(2 * n - 2) * std * math.sqrt(2 / n) <= effect:
            return n
    return None
