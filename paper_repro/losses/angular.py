"""Angular building blocks shared by the margin heads, all algebraic in cos(t) (no acos).

L-Softmax (Liu et al., 2016) replaces cos(t) of the target class by
psi(t) = (-1)^k cos(m t) - 2k for t in [k pi/m, (k+1) pi/m]   (eq. 6),
with cos(m t) from the multiple-angle expansion                    (eq. 7).
"""

from __future__ import annotations

import functools
import math

import torch


def cos_multiple_angle(cos: torch.Tensor, m: int) -> torch.Tensor:
    """cos(m t) as a polynomial in c = cos(t), L-Softmax eq. 7:
    sum_n (-1)^n C(m, 2n) c^(m-2n) (1 - c^2)^n."""
    sin_sq = 1.0 - cos * cos
    terms = [
        (-1) ** n * math.comb(m, 2 * n) * cos ** (m - 2 * n) * sin_sq**n for n in range(m // 2 + 1)
    ]
    return functools.reduce(torch.add, terms)


def multiple_angle_slope(cos: torch.Tensor, m: int) -> torch.Tensor:
    """d cos(m t) / d cos(t) = m U_(m-1)(c), the Chebyshev polynomial of the second kind from
    U_0 = 1, U_1 = 2c, U_(n+1) = 2c U_n - U_(n-1): the derivative of eq. 7's polynomial."""
    previous, current = torch.ones_like(cos), 2.0 * cos
    if m == 1:
        return previous
    for _ in range(m - 2):
        previous, current = current, 2.0 * cos * current - previous
    return m * current


def angle_segment(cos: torch.Tensor, m: int) -> torch.Tensor:
    """k such that t in [k pi/m, (k+1) pi/m]: the number of thresholds cos(j pi/m), j = 1..m-1,
    that cos(t) lies below. Ties are harmless because psi is continuous at k pi/m."""
    # comparisons, not a sorted search: compiled, they fuse into the element-wise loop
    # (each threshold is rounded to cos's dtype, as a search over a tensor of them would be)
    k = torch.zeros_like(cos)
    for j in range(1, m):
        k = k + (cos < math.cos(j * math.pi / m))
    return k


def psi(cos: torch.Tensor, m: int) -> torch.Tensor:
    """psi(t) = (-1)^k cos(m t) - 2k, L-Softmax eq. 6, evaluated from cos(t)."""
    return psi_and_slope(cos, m, slope=False)[0]


def psi_and_slope(cos: torch.Tensor, m: int, slope: bool = True):
    """psi(cos t) and, when asked, d psi / d cos t = (-1)^k m U_(m-1)(cos t) (k is piecewise
    constant), sharing the segment k."""
    k = angle_segment(cos, m)
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    value = sign * cos_multiple_angle(cos, m) - 2.0 * k
    return value, (sign * multiple_angle_slope(cos, m) if slope else None)


def arcface_target(cos: torch.Tensor, m: float) -> torch.Tensor:
    """cos(t + m) = c cos m - sin t sin m where t + m <= pi; beyond that, the insightface
    fallback (easy_margin=False) c - m sin m keeps the target logit decreasing in t."""
    return arcface_target_and_slope(cos, m, slope=False)[0]


def arcface_target_and_slope(cos: torch.Tensor, m: float, slope: bool = True):
    """arcface_target and, when asked, its derivative in c: cos m + sin m c / sin t on the
    shifted branch, 1 on the fallback."""
    one_minus_sq = 1.0 - cos * cos
    # the value takes the exact sine (0 at c = +-1): a floor here would bias the target by up
    # to s sin(m) sqrt(eps) (about 0.01 at s = 64 in float32)
    sin = torch.sqrt(torch.clamp(one_minus_sq, min=0.0))
    shifted = cos * math.cos(m) - sin * math.sin(m)
    on_shifted = cos > math.cos(math.pi - m)
    value = torch.where(on_shifted, shifted, cos - m * math.sin(m))
    if not slope:
        return value, None
    # the slope -c / sin is infinite at c = +-1: within 1 - c^2 < eps it is taken as 0 (sin
    # held constant there), and the floor only keeps the division finite where it is unused
    eps = torch.finfo(cos.dtype).eps
    sin_slope = torch.where(one_minus_sq >= eps, -cos / torch.clamp(sin, min=math.sqrt(eps)), 0.0)
    return value, torch.where(on_shifted, math.cos(m) - math.sin(m) * sin_slope, 1.0)
