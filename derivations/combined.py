"""The combined margin family (ArcFace paper, eq. 4; insightface's m1, m2, m3).

Logits ``f_j = s cos(theta_j)`` for ``j != y`` and, with ``u = m1 acos(c) + m2``,
``f_y = s (cos u - m3)`` while ``u <= pi``. Past ``u = pi`` ``cos u`` would rise again; the
family continues as L-Softmax's psi does, ``s ((-1)^k cos u - 2k - m3)`` on
``[k pi, (k + 1) pi]`` (this project's choice: insightface's code has no rule there for a
general m1). The proofs say where the family is exactly another head and where it is not.
"""

from __future__ import annotations

import functools
import math

import sympy as sp
from sympy.calculus.util import function_range

from derivations import arcface, common, equations, lmcl, lsoftmax
from derivations.common import Proof, c, s, theta

M1_MAX = 4  # SphereFace's m; with m2 < pi/2, u stays below 9 pi / 2
PIECES = 5
m1 = sp.Symbol("m1", positive=True)  # at least 1 (paper_repro.losses.combined)
m2 = sp.Symbol("m2", nonnegative=True)
m3 = sp.Symbol("m3", nonnegative=True)
_U = sp.Symbol("u", real=True)

_HERE = "derivations/combined.py and paper_repro/losses/combined.py"
COMBINED = equations.Equation(
    "combined-eq4",
    "ArcFace eq. 4, combined margin (numbering not confirmed)",
    "f_y = s (cos(m1 θ + m2) - m3), continued past m1 θ + m2 = π as L-Softmax's ψ is; "
    "m1 = 1, m2 = 0: LMCL; m1 = 1, m3 = 0: ArcFace before its fallback; m2 = m3 = 0: "
    "A-Softmax's ψ with s in place of |x|",
    "not in the source texts (they cover L-Softmax, softmax, LMCL and BD-LMCL): the family "
    f"as insightface parametrises it, written for this project ({_HERE})",
    (
        "paper_repro.losses.combined:target_and_slope",
        "paper_repro.losses.combined:combined_logits",
        "paper_repro.losses.combined:CombinedMarginHead",
    ),
    (
        equations.T_RANDOM,
        equations.T_POLES,
        f"{equations.T_MUTANT}[combined-drops-minus-2k]",
        f"{equations.T_MUTANT}[combined-slope-ignores-segment-sign]",
    ),
)

# the head's declaration: registry key, oracle parameters (logit_spec takes STRUCTURAL),
# index section
KEY = "combined"
PARAMS = (
    common.SCALE,
    common.Param("m1", lambda n, v: common.finite(n, v, 1.0, M1_MAX, high_open=False)),
    common.Param("m2", lambda n, v: common.finite(n, v, 0.0, math.pi / 2)),
    common.Param("m3", lambda n, v: common.finite(n, v, 0.0)),
)
STRUCTURAL = None
EQUATIONS = (COMBINED,)


TITLE = "Combined margin (ArcFace eq. 4)"
DESCRIPTION = (
    "Normalised features and weights; the target angle is multiplied by m1 and shifted by "
    "m2, and m3 is subtracted from its cosine. It contains LMCL (m1 = 1, m2 = 0) everywhere, "
    "ArcFace (m1 = 1, m3 = 0) only before ArcFace's fallback, and A-Softmax's ψ "
    "(m2 = m3 = 0, integer m1) only up to the scale: s here, |x| there."
)
REF = COMBINED.label


def piece(k, u=_U) -> sp.Expr:
    """``(-1)^k cos u - 2k`` on ``[k pi, (k + 1) pi]``: continuous, decreasing in u."""
    return (-1) ** k * sp.cos(u) - 2 * k


def angle(cos=c) -> sp.Expr:
    return m1 * sp.acos(cos) + m2


def target_logit() -> sp.Expr:
    u = angle()
    pieces = [(s * (piece(k, u) - m3), u <= (k + 1) * sp.pi) for k in range(PIECES - 1)]
    return sp.Piecewise(*pieces, (s * (piece(PIECES - 1, u) - m3), True))


def other_logit() -> sp.Expr:
    return lmcl.other_logit()


@functools.cache
def logit_spec() -> common.LogitSpec:
    return common.LogitSpec(target=target_logit(), other=other_logit(), params=(s, m1, m2, m3))


def steps() -> list[common.Step]:
    return [
        common.step("Angle of the target", REF, _U, angle(), "y"),
        common.step(
            "Piece k of the target (u in [kπ, (k+1)π])",
            REF,
            sp.Symbol("f_y"),
            s * (piece(sp.Symbol("k", integer=True), _U) - m3),
            "y",
        ),
        *common.logit_steps(logit_spec(), REF, REF),
    ]


# ---------------------------------------------------------------------------------------
# Proofs.
# ---------------------------------------------------------------------------------------
def _acos_within_0_pi() -> bool:
    values = function_range(sp.acos(theta), theta, sp.Interval(-1, 1))
    return values == sp.Interval(0, sp.pi)


def _lmcl_proof() -> Proof:
    first = s * (piece(0, angle()) - m3)
    at = {m1: 1, m2: 0}
    lmcl_target = lmcl.target_logit().subs(lmcl.m, m3)
    return Proof(
        "combined-m1-1-m2-0-is-lmcl",
        REF,
        common.eq_tex(sp.Subs(sp.Symbol("f_y"), (m1, m2), (1, 0)), lmcl_target, "y"),
        common.is_zero(first.subs(at) - lmcl_target) and _acos_within_0_pi(),
        "m1 = 1, m2 = 0: u = acos c lies in [0, π] for every c in [-1, 1] (function_range), "
        "so only piece 0 applies, and s (cos(acos c) - m3) - s (c - m3) is 0: LMCL with "
        "m = m3, everywhere",
    )


def _arcface_proofs() -> list[Proof]:
    first = sp.expand_trig(s * (piece(0, angle()) - m3)).subs({m1: 1, m3: 0})
    margin_branch = arcface.margin_branch().subs(arcface.m, m2)
    # at t = π (c = -1) the family is on piece 1, ArcFace on its fallback
    family_at_pi = s * piece(1, sp.pi + m2)
    fallback_at_pi = arcface.fallback_branch(-1).subs(arcface.m, m2)
    gap = sp.simplify((family_at_pi - fallback_at_pi) / s)
    positive = sp.Interval.open(0, sp.pi / 2)
    gap_range = function_range(gap.subs(m2, theta), theta, positive)
    return [
        Proof(
            "combined-m1-1-m3-0-is-arcface-before-its-fallback",
            REF,
            common.eq_tex(sp.Subs(sp.Symbol("f_y"), (m1, m3), (1, 0)), margin_branch, "y"),
            common.is_zero(first - margin_branch),
            "m1 = 1, m3 = 0, piece 0 (θ + m2 <= π, i.e. c >= cos(π - m2)): s cos(acos c + m2) "
            "expanded minus ArcFace's margin branch is 0; ArcFace takes that branch for "
            "c > cos(π - m2), so the two agree except at c = cos(π - m2) and beyond",
        ),
        Proof(
            "combined-m1-1-m3-0-differs-from-arcface-past-pi",
            REF,
            common.eq_tex(
                sp.Symbol(r"(f_y^{combined} - f_y^{ArcFace}) / s \big|_{\theta=\pi}"), gap, "y"
            ),
            gap_range.inf >= 0 and not gap_range.contains(0),
            "at θ = π (c = -1), m2 in (0, π/2): the family's piece 1 minus ArcFace's fallback, "
            "divided by s, is cos m2 - 1 + m2 sin m2, whose range over (0, π/2) "
            "(function_range) excludes 0: the family is not ArcFace past its threshold",
        ),
    ]


def _asoftmax_proof() -> Proof:
    """m2 = m3 = 0, m1 = m integer: on each piece k, the family is psi_m(θ) times s."""
    holds = True
    for m in range(1, M1_MAX + 1):
        for k in range(m):
            mine = piece(k, m * theta)
            holds = holds and common.is_zero(mine - lsoftmax.psi_piece_t(m, k))
    return Proof(
        "combined-m2-m3-0-is-asoftmax-psi-times-s",
        REF,
        common.eq_tex(
            sp.Subs(sp.Symbol("f_y") / s, (m2, m3), (0, 0)), sp.Function("psi_{m_1}")(theta), "y"
        ),
        holds,
        "m = m1 = 1..4, every piece k = 0..m-1 (θ in [kπ/m, (k+1)π/m]): (-1)^k cos(mθ) - 2k "
        "minus L-Softmax's ψ piece is 0. So the family is A-Softmax's target with λ = 0 "
        "times s, where A-Softmax has |x|: the two heads agree only where |x| = s, and "
        "A-Softmax's λ annealing has no counterpart here; non-integer m1 has no A-Softmax twin",
    )


def _continuity_proof() -> Proof:
    """Adjacent pieces agree in value and slope at u = kπ; each piece decreases in u."""
    joins = all(
        common.is_zero((piece(k - 1) - piece(k)).subs(_U, k * sp.pi))
        and common.is_zero(sp.diff(piece(k - 1) - piece(k), _U).subs(_U, k * sp.pi))
        for k in range(1, PIECES)
    )
    # on piece k, u = kπ + v with v in [0, π]: the slope is -sin v <= 0
    v = sp.Symbol("v", real=True)
    falling = all(
        common.is_zero(sp.diff(piece(k), _U).subs(_U, k * sp.pi + v) + sp.sin(v))
        for k in range(PIECES)
    )
    sin_never_negative = sp.solveset(sp.sin(v) < 0, v, sp.Interval(0, sp.pi)) == sp.S.EmptySet
    return Proof(
        "combined-pieces-join-and-decrease",
        REF,
        common.eq_tex(
            sp.Derivative(piece(sp.Symbol("k", integer=True)), _U).subs(
                _U, sp.Symbol("k", integer=True) * sp.pi + v
            ),
            -sp.sin(v),
            "y",
        ),
        joins and falling and sin_never_negative,
        f"k = 1..{PIECES - 1}: value and d/du of pieces k-1 and k agree at u = kπ; on piece "
        "k the slope with u = kπ + v, v in [0, π], is -sin v <= 0 (solveset of sin v < 0 "
        "is empty); u = m1 θ + m2 increases with θ (m1 > 0), so the target decreases in θ",
    )


def _slope_proof() -> Proof:
    """The closed-form slope the implementation uses: (-1)^k m1 sin(u) / sin θ."""
    k = sp.Symbol("k", integer=True, nonnegative=True)
    u = angle()
    derived = sp.diff(piece(k, u), c)
    closed = (-1) ** k * m1 * sp.sin(u) / sp.sqrt(1 - c**2)
    return Proof(
        "combined-target-slope",
        REF,
        common.eq_tex(sp.Derivative(sp.Symbol("f_y") / s, c), closed, "y"),
        common.is_zero(derived - closed),
        "symbolic piece k: sympy.diff of (-1)^k cos(m1 acos c + m2) - 2k in c minus "
        "(-1)^k m1 sin u / sqrt(1 - c^2) is 0",
    )


@functools.cache
def proofs() -> list[Proof]:
    return [
        _lmcl_proof(),
        *_arcface_proofs(),
        _asoftmax_proof(),
        _continuity_proof(),
        _slope_proof(),
    ]
