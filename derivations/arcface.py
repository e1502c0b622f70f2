"""ArcFace (Deng et al., CVPR 2019): additive angular margin, insightface fallback.

Logits ``f_j = s cos(theta_j)`` for ``j != y`` and, for the target (ArcFace eq. 3),
``f_y = s cos(theta_y + m) = s (c cos m - sqrt(1 - c^2) sin m)`` while ``c > cos(pi - m)``;
below that threshold ``theta_y + m`` would pass ``pi`` and ``cos`` would turn back up, so the
insightface implementation (``easy_margin=False``) switches to ``s (c - m sin m)``.

Two facts the proofs make explicit: the switch is a *discontinuity* (an upward jump of
``s (cos m + m sin m - 1) > 0`` for ``0 < m < pi/2``), and ``df_y/dc`` is unbounded as
``c -> 1`` (it behaves like ``s sin m / sqrt(1 - c^2)``).
"""

from __future__ import annotations

import functools
import math

import sympy as sp

from derivations import common, lmcl
from derivations.common import Proof, c, m, s, theta
from derivations.equations import OVERVIEW, T_CLOSED, T_MUTANT, T_POLES, T_RANDOM, A, F, equation

# its entries of the equation index (derivations.SECTIONS)
AF_LOSS = equation(
    "arcface-eq3",
    "ArcFace eq. 3 (additive angular margin; numbering not confirmed)",
    "f_y = s cos(θ_y + m) and its gradients in x and W_j",
    f"no source text prints ArcFace's equations ({OVERVIEW} only names it)",
    [
        f"{F}:arcface_logit",
        f"{F}:arcface_partials",
        f"{A}:arcface_target_and_slope",
        "paper_repro.losses.arcface:ArcFaceHead",
    ],
    [
        T_RANDOM,
        T_POLES,
        f"{T_MUTANT}[factor-2-near-pole]",
        f"{T_MUTANT}[arcface-slope-sign-of-sine-term]",
        T_CLOSED,
    ],
)
AF_FALLBACK = equation(
    "arcface-fallback",
    "ArcFace fallback s (cos θ_y - m sin m), insightface easy_margin=False (not in the paper)",
    "the branch used where θ_y + m > π",
    "implementation convention of insightface, not printed in any source text",
    [f"{A}:arcface_target"],
    [T_RANDOM, T_POLES, f"{T_MUTANT}[arcface-fallback-off-by-a-term]"],
)

# the head's declaration: registry key, oracle parameters (logit_spec takes STRUCTURAL),
# index section
KEY = "arcface"
PARAMS = (
    common.SCALE,
    common.Param("m", lambda n, v: common.finite(n, v, 0.0, math.pi / 2)),
)
STRUCTURAL = None
EQUATIONS = (AF_LOSS, AF_FALLBACK)


TITLE = "ArcFace (additive angular margin)"
DESCRIPTION = (
    "Normalised features and weights; the margin is added to the target angle. Below the "
    "threshold cos θ_y = cos(π − m) the insightface implementation replaces cos(θ_y + m) by "
    "a shifted cosine so that the target logit keeps increasing with cos θ_y."
)
REF_LOSS = AF_LOSS.label
REF_FALLBACK = AF_FALLBACK.label

_U = sp.Symbol("u", real=True)


def threshold() -> sp.Expr:
    """``cos(pi - m)``: below it the fallback branch is used."""
    return sp.cos(sp.pi - m)


def margin_branch(cos=c) -> sp.Expr:
    """``s cos(theta + m)`` written in ``c = cos(theta)``, valid for ``theta`` in [0, pi]."""
    return s * (cos * sp.cos(m) - sp.sqrt(1 - cos**2) * sp.sin(m))


def fallback_branch(cos=c) -> sp.Expr:
    """insightface ``easy_margin=False``: ``s (c - m sin m)``."""
    return s * (cos - m * sp.sin(m))


def target_logit() -> sp.Expr:
    return sp.Piecewise((margin_branch(), c > threshold()), (fallback_branch(), True))


def target_logit_gradient() -> common.Partials:
    return common.partials(target_logit())


def other_logit() -> sp.Expr:
    return lmcl.other_logit()


@functools.cache
def logit_spec() -> common.LogitSpec:
    return common.LogitSpec(target=target_logit(), other=other_logit(), params=(s, m))


def steps() -> list[common.Step]:
    f_y = sp.Symbol("f_y")
    return [
        common.step("Margin branch in the angle", REF_LOSS, f_y, s * sp.cos(theta + m), "y"),
        *common.logit_steps(logit_spec(), REF_FALLBACK, REF_LOSS),
    ]


# ---------------------------------------------------------------------------------------
# Proofs.
# ---------------------------------------------------------------------------------------
def _cos_addition_proof() -> Proof:
    angle_form = sp.expand_trig(s * sp.cos(theta + m))
    via_cos = margin_branch(sp.cos(theta))
    # sqrt(1 - cos^2) = |sin theta| = sin theta needs sin theta >= 0, i.e. theta in [0, pi].
    sin_nonnegative = sp.solveset(sp.sin(_U) < 0, _U, sp.Interval(0, sp.pi)) == sp.S.EmptySet
    with_sin = via_cos.subs(sp.sqrt(1 - sp.cos(theta) ** 2), sp.sin(theta))
    return Proof(
        "arcface-eq3-cos-addition",
        REF_LOSS,
        common.eq_tex(s * sp.cos(theta + m), margin_branch(), "y"),
        sin_nonnegative and common.is_zero(angle_form - with_sin),
        "expand_trig(s cos(θ + m)) equals the branch with sqrt(1 - cos²θ) = sin θ, which holds "
        "on [0, π] because solveset(sin u < 0, [0, π]) is empty",
    )


def _m0_proof() -> Proof:
    at_zero = target_logit().subs(m, 0)
    return Proof(
        "arcface-eq3-m0-equals-nsl",
        REF_LOSS,
        common.eq_tex(sp.Subs(target_logit(), m, 0), other_logit(), "y"),
        common.is_zero(sp.piecewise_fold(at_zero) - other_logit()),
        "m = 0: both branches reduce to s cos θ_y (Piecewise simplifies to 0 difference)",
    )


def _jump_proof() -> Proof:
    """Upward jump at the threshold: right limit minus left value is s (cos m + m sin m - 1)."""
    mm = sp.Symbol("m", positive=True)
    # At c = cos(pi - m) = -cos m the branch contains sqrt(1 - cos^2 m) = sin m, valid
    # because sin m >= 0 on [0, pi/2].
    sin_ok = sp.solveset(sp.sin(mm) < 0, mm, sp.Interval(0, sp.pi / 2)) == sp.S.EmptySet
    right = margin_branch(threshold()).subs(m, mm).subs(sp.sqrt(1 - sp.cos(mm) ** 2), sp.sin(mm))
    left = fallback_branch(threshold()).subs(m, mm)
    jump = sp.simplify(right - left)
    expected = s * (sp.cos(mm) + mm * sp.sin(mm) - 1)
    # g(m) = cos m + m sin m - 1 has g(0) = 0 and g'(m) = m cos m > 0 on (0, pi/2).
    g = expected / s
    g_slope = sp.simplify(sp.diff(g, mm))
    slope_positive = sp.solveset(g_slope <= 0, mm, sp.Interval.open(0, sp.pi / 2)) == sp.S.EmptySet
    return Proof(
        "arcface-fallback-jump-at-threshold",
        REF_FALLBACK,
        common.tex_list(
            sp.Eq(sp.Subs(margin_branch() - fallback_branch(), c, threshold()), expected),
            sp.StrictGreaterThan(expected, 0),
            sp.Contains(mm, sp.Interval.open(0, sp.pi / 2)),
            role="y",
        ),
        sin_ok and common.is_zero(jump - expected) and g.subs(mm, 0) == 0 and slope_positive,
        "the target logit is discontinuous at cos θ_y = cos(π - m) for m > 0: the margin branch "
        "sits s (cos m + m sin m - 1) above the fallback; positive on (0, π/2) since the bracket "
        f"vanishes at m = 0 and its derivative {g_slope} is > 0 there (solveset)",
    )


def _increasing_proof() -> Proof:
    """Both branches increase in c: the margin branch's slope is s sin(theta + m)/sin(theta)."""
    slope_c = sp.diff(margin_branch(), c).subs(c, sp.cos(theta))
    # On the margin branch theta is in [0, pi - m) so sqrt(1 - cos^2) = sin theta > 0.
    slope_c = slope_c.subs(sp.sqrt(1 - sp.cos(theta) ** 2), sp.sin(theta))
    slope_expected = s * sp.sin(theta + m) / sp.sin(theta)
    formula_ok = common.is_zero(sp.expand_trig(slope_c - slope_expected))
    # theta + m ranges over (m, pi) inside (0, pi) where sin > 0; sin(theta) > 0 likewise.
    sin_positive = sp.solveset(sp.sin(_U) <= 0, _U, sp.Interval.open(0, sp.pi)) == sp.S.EmptySet
    fallback_slope = sp.diff(fallback_branch(), c)
    return Proof(
        "arcface-fallback-target-increasing",
        REF_FALLBACK,
        common.tex_list(
            sp.Eq(sp.Derivative(margin_branch(), c), slope_expected),
            sp.Contains(theta, sp.Interval.Ropen(0, sp.pi - m)),
            role="y",
        ),
        formula_ok and sin_positive and bool(fallback_slope.is_positive),
        "margin branch slope in c equals s sin(θ + m)/sin θ, both sines > 0 for θ in (0, π - m) "
        f"(solveset(sin u <= 0, (0, π)) empty); fallback slope {fallback_slope} > 0",
    )


def _unbounded_gradient_proof() -> Proof:
    """As c -> 1 the margin-branch slope grows like s sin m / sqrt(1 - c^2)."""
    mm = sp.Symbol("m", positive=True)
    slope = sp.diff(margin_branch(), c).subs(m, mm)
    scaled_limit = sp.limit(slope * sp.sqrt(1 - c**2), c, 1, "-")
    sin_m_positive = (
        sp.solveset(sp.sin(mm) <= 0, mm, sp.Interval.open(0, sp.pi / 2)) == sp.S.EmptySet
    )
    return Proof(
        "arcface-eq3-grad-unbounded-at-c1",
        REF_LOSS,
        common.eq_tex(
            sp.Limit(sp.Derivative(sp.Symbol("f_y"), c) * sp.sqrt(1 - c**2), c, 1, "-"),
            scaled_limit,
            "y",
        ),
        common.is_zero(scaled_limit - s * sp.sin(mm)) and sin_m_positive,
        "limit computed by sympy.limit; sin m > 0 on (0, π/2), so df_y/dcos θ_y -> +oo as "
        "cos θ_y -> 1 and the oracle's gradient is not finite there",
    )


@functools.cache
def proofs() -> list[Proof]:
    return [
        _cos_addition_proof(),
        _m0_proof(),
        _increasing_proof(),
        _jump_proof(),
        _unbounded_gradient_proof(),
        *lmcl.orthogonality_proofs(
            ("arcface-eq3-grad-x-orthogonal", "arcface-eq3-grad-W-orthogonal"),
            REF_LOSS,
            logit_spec(),
        ),
        # margin branch: slope s sin(θ + m)/sin θ = s (cos m + c sin m / sqrt(1 - c²))
        *lmcl.gradient_proofs(
            (
                "arcface-eq3-target-grad-x",
                "arcface-eq3-target-grad-W",
                "arcface-eq3-other-grad-x",
                "arcface-eq3-other-grad-W",
            ),
            REF_LOSS,
            margin_branch(),
            other_logit(),
            lambda cc: s * (sp.cos(m) + cc * sp.sin(m) / sp.sqrt(1 - cc**2)),
        ),
        *common.closed_form_gradient_proofs(
            ("arcface-fallback-target-grad-x", "arcface-fallback-target-grad-W"),
            REF_FALLBACK,
            fallback_branch(),
            common.cosine_closed_form(lambda cc: s),
            "y",
            "explicit 3-vectors with |x|, |W_y| free; derived minus written-out form is 0",
        ),
    ]
