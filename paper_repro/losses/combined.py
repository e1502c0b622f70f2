"""The combined margin family of the ArcFace paper (Deng et al., CVPR 2019, eq. 4), with
insightface's parametrisation: target s (cos(m1 t + m2) - m3), others s cos t_j, on normalised
features and class weights.

- m1 = 1, m2 = 0 is LMCL (CosFace) exactly;
- m1 = 1, m3 = 0 is ArcFace exactly where t + m2 <= pi. Beyond, ArcFace takes insightface's
  fallback s (cos t - m2 sin m2), which jumps; this family continues as below instead;
- m2 = m3 = 0 with an integer m1 is A-Softmax's psi (lambda = 0) times s, not times |x|.

m1 is at least 1: below, m1 t + m2 can be smaller than t and the "margin" would make the
target easier (insightface's example (0.9, 0.4, 0.15) is outside this head's range).

Where u = m1 t + m2 passes pi, cos u would rise again and reward a larger angle; like
L-Softmax's psi (eq. 6) the target continues as (-1)^k cos u - 2k on [k pi, (k+1) pi], which
is continuous, continuously differentiable and decreasing in t. insightface's code has no rule
there for a general m1. `derivations.combined` derives all of it."""

import functools
import math

import torch

from paper_repro.losses import functional
from paper_repro.losses.base import SCALE, CosineHead, Hyper
from paper_repro.losses.checks import real_in

# m1 <= 4 (SphereFace's m) and m2 < pi/2 keep u = m1 t + m2 below 9 pi / 2: pieces k = 0..4
M1_MAX = 4.0
PIECES = 5


def target_and_slope(cos: torch.Tensor, m1: float, m2: float, m3: float, slope: bool = True):
    """cos(m1 t + m2) - m3 continued past m1 t + m2 = pi (module docstring), and its
    derivative in c = cos t: (-1)^k m1 sin(u) / sin t, taken as 0 where 1 - c^2 < eps (the
    derivative is infinite at c = +-1 unless sin u vanishes there, as ArcFace's)."""
    cos = cos.clamp(-1.0, 1.0)
    u = m1 * torch.acos(cos) + m2
    k = torch.floor(u / math.pi).clamp(0.0, PIECES - 1.0)
    sign = 1.0 - 2.0 * torch.remainder(k, 2.0)  # (-1)^k
    value = sign * torch.cos(u) - 2.0 * k - m3
    if not slope:
        return value, None
    one_minus_sq = 1.0 - cos * cos
    eps = torch.finfo(cos.dtype).eps
    sin_t = torch.sqrt(torch.clamp(one_minus_sq, min=eps))
    return value, torch.where(one_minus_sq >= eps, sign * m1 * torch.sin(u) / sin_t, 0.0)


def combined_target(dot, x_norm, w_norm, s: float, m1: float, m2: float, m3: float):
    cos = functional.target_cosine(dot, x_norm, w_norm)
    return s * target_and_slope(cos, m1, m2, m3, slope=False)[0]


def combined_partials(z, x_norm, w_norm, s: float, m1: float, m2: float, m3: float):
    """`combined_target` in the plain logit z = s cos t."""
    cos = z / s
    value, slope = target_and_slope(cos, m1, m2, m3)
    return s * value, torch.where(cos.abs() <= 1.0, slope, 0.0), None, None  # clamp: flat


def _checked(s, m1, m2, m3):
    s = real_in("s", s, 0.0, low_open=True)
    m1 = real_in("m1", m1, 1.0, M1_MAX, high_open=False)
    return s, m1, real_in("m2", m2, 0.0, math.pi / 2), real_in("m3", m3, 0.0)


def combined_logits(x, weight, labels, s, m1, m2, m3):
    """The logits as plain autograd operations: s cos t_j, the target replaced."""
    s, m1, m2, m3 = _checked(s, m1, m2, m3)
    target = functools.partial(combined_target, s=s, m1=m1, m2=m2, m3=m3)
    return functional.margin_logits(x, weight, labels, target, normalise_weight=True, scale=s)


class CombinedMarginHead(CosineHead):
    """s (cos(m1 t_y + m2) - m3): ArcFace's combined margin (module docstring)."""

    key, title, colours = "combined", "combined margin", "Greys"
    reference_logits = staticmethod(combined_logits)
    target_divides_by_sine = True
    margin = None  # three of them: the label names all
    without_margin = (("m1", 1.0), ("m2", 0.0), ("m3", 0.0))
    benchmarked = ({"s": 64.0, "m1": 1.0, "m2": 0.3, "m3": 0.2},)  # ArcFace's CM1
    hypers = (
        SCALE,
        Hyper("m1", float, 1.0, low=1.0, high=M1_MAX,
              doc="multiplicative angular margin (SphereFace's m)", drawn=(1.0, 4.0)),
        Hyper("m2", float, 0.3, low=0.0, high=math.pi / 2,
              doc="additive angular margin (ArcFace's m)", drawn=(0.0, 0.6)),
        Hyper("m3", float, 0.2, low=0.0, doc="additive cosine margin (CosFace's m)",
              drawn=(0.0, 0.4)),
    )  # fmt: skip

    def __init__(self, in_features, num_classes, s: float = 64.0, m1: float = 1.0,
                 m2: float = 0.3, m3: float = 0.2):  # fmt: skip
        super().__init__(in_features, num_classes, s)
        _, self.m1, self.m2, self.m3 = _checked(s, m1, m2, m3)

    @classmethod
    def label(cls, hyper: dict) -> str:
        return f"{cls.key} ({hyper['m1']:g}, {hyper['m2']:g}, {hyper['m3']:g})"

    @classmethod
    def run_name(cls, hyper: dict) -> str:
        return f"{cls.key}-{hyper['m1']:g}-{hyper['m2']:g}-{hyper['m3']:g}"

    def target(self, dot, x_norm, w_norm):
        return combined_target(dot, x_norm, w_norm, self.s, self.m1, self.m2, self.m3)

    @property
    def partials(self):
        return functools.partial(combined_partials, s=self.s, m1=self.m1, m2=self.m2,
                                 m3=self.m3)  # fmt: skip

    def extra_repr(self) -> str:
        return f"s={self.s}, m1={self.m1}, m2={self.m2}, m3={self.m3}"
