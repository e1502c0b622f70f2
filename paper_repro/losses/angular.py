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


def angle_segment(cos: torch.Tensor, m: int) -> torch.Tensor:
    """k such that t in [k pi/m, (k+1) pi/m]: the number of thresholds cos(j pi/m), j = 1..m-1,
    that cos(t) lies below. Ties are harmless because psi is continuous at k pi/m."""
    k = torch.zeros_like(cos)
    for j in range(1, m):
        k = k + (cos < math.cos(j * math.pi / m)).to(cos.dtype)
    return k


def psi(cos: torch.Tensor, m: int) -> torch.Tensor:
    """psi(t) = (-1)^k cos(m t) - 2k, L-Softmax eq. 6, evaluated from cos(t)."""
    k = angle_segment(cos, m)
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
    return sign * cos_multiple_angle(cos, m) - 2.0 * k


def arcface_target(cos: torch.Tensor, m: float) -> torch.Tensor:
    """cos(t + m) = c cos m - sin t sin m where t + m <= pi; beyond that, the insightface
    fallback (easy_margin=False) c - m sin m keeps the target logit decreasing in t."""
    # clamp keeps d sin/d c finite at c = +-1, where the exact derivative is infinite
    sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=torch.finfo(cos.dtype).eps))
    shifted = cos * math.cos(m) - sin * math.sin(m)
    return torch.where(cos > math.cos(math.pi - m), shifted, cos - m * math.sin(m))
