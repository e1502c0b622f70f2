"""L-Softmax (Liu et al., ICML 2016): large-margin softmax with an integer angular margin m.

Target logit (eqs. 4 and 6, with the lambda annealing of the experiments section)::

    f_y = (lam |W_y||x| cos(theta_y) + |W_y||x| psi(theta_y)) / (1 + lam)
    psi(theta) = (-1)^k cos(m theta) - 2k,   theta in [k pi/m, (k+1) pi/m],  k = 0..m-1

Everything is written in ``c = cos(theta)``: ``cos(m theta)`` by the multiple-angle expansion
of eq. 7 and the piece index by ``cos((k+1) pi/m) <= c <= cos(k pi/m)``, so no ``acos``.

Labels come from :mod:`derivations.equations`: the walkthrough text confirms eqs. 1, 4, 6
and 7, and that eqs. 8-10 are the forward and backward for general m (not which is which);
the m = 2 example and the lambda-blended logit carry no confirmed number.
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.calculus.util import function_range

from derivations import common, softmax_ce
from derivations.common import NW, NX, Proof, W, X, c, lam, theta, w_norm, x_norm
from derivations.equations import (
    T_CLOSED,
    T_JOINTS,
    T_MUTANT,
    T_POLES,
    T_RANDOM,
    T_WORKED,
    WALK,
    A,
    F,
    equation,
)

# its entries of the equation index (derivations.SECTIONS)
LS_LOSS = equation(
    "lsoftmax-eq4",
    "L-Softmax eq. 4",
    "L-Softmax loss: the target logit |W_y||x| ψ(θ_y) (λ = 0)",
    f"{WALK}, section 2.2: '将式子1,式子4,式子6相结合,得到的L-Softmax loss' (the formula is "
    "an image)",
    [f"{F}:lsoftmax_target", f"{F}:lsoftmax_logits", "paper_repro.losses.lsoftmax:LSoftmaxHead"],
    [T_RANDOM, T_POLES],
)
LS_DEFINITION = equation(
    "lsoftmax-eq5",
    "L-Softmax eq. 5 (reconstructed; numbering not confirmed)",
    "ψ(θ) = cos(mθ) on [0, π/m], D(θ) on (π/m, π], D decreasing; continuity needs "
    "D(π/m) = cos(m π/m) = -1, not the cos(π/m) the text prints",
    f"{WALK}, section 2.2: '其中定义为:' (the definition is an image), then "
    "'D(θ)是一个单调递减的函数,D(π/m)等于cos(π/m)'; the number 5 is the one between eq. 4 "
    "and the printed \\tag{6}",
    [f"{A}:psi", f"{A}:psi_and_slope"],
    [T_JOINTS],
)
LS_PSI = equation(
    "lsoftmax-eq6",
    "L-Softmax eq. 6",
    "ψ(θ) = (-1)^k cos(mθ) - 2k on [kπ/m, (k+1)π/m]; it must decrease (section 2.2)",
    f"{WALK}: printed with \\tag{{6}}",
    [f"{A}:psi", f"{A}:psi_and_slope", f"{A}:angle_segment"],
    [T_JOINTS, f"{T_MUTANT}[psi-drops-minus-2k]"],
)
LS_EXPANSION = equation(
    "lsoftmax-eq7",
    "L-Softmax eq. 7",
    "cos(mθ) = Σ_n (-1)^n C(m, 2n) cos^{m-2n}θ (1 - cos²θ)^n, 2n <= m",
    f"{WALK}, section 3: '将式子6和式子7相结合,得到f_yi'; the expansion is the only formula "
    "between eq. 6 and section 3 ('这里n是整数且2n≤m' survives, the formula is an image)",
    [f"{A}:cos_multiple_angle"],
    [T_RANDOM, T_JOINTS],
)
LS_FORWARD = equation(
    "lsoftmax-eq8-10-forward",
    "L-Softmax eqs. 8-10: f_y for general m (reconstructed; which of the three: not confirmed)",
    "f_y = (-1)^k |W||x| cos(mθ) - 2k |W||x| with eq. 7 expanded in W_yᵀx: our reconstruction, "
    "so its proof shows the expansion is eq. 7's algebra, not that it matches a printed formula",
    f"{WALK}, section 3: '当m≥3时,仍然可以通过式子8,式子9,式子10来计算前向和后向' confirms "
    "eqs. 8-10 as forward and backward for general m; the formulas are images",
    [f"{F}:lsoftmax_target", f"{A}:psi"],
    [T_RANDOM],
)
LS_GRAD_X = equation(
    "lsoftmax-eq8-10-grad-x",
    "L-Softmax eqs. 8-10: ∂f_y/∂x (reconstructed; which of the three: not confirmed)",
    "the term-by-term derivative of the forward form, every m",
    LS_FORWARD.checked,
    [f"{F}:_margin_backward", f"{F}:lsoftmax_partials", f"{A}:multiple_angle_slope"],
    [T_RANDOM, T_JOINTS, f"{T_MUTANT}[psi-slope-ignores-segment-sign]", T_CLOSED],
)
LS_GRAD_W = equation(
    "lsoftmax-eq8-10-grad-w",
    "L-Softmax eqs. 8-10: ∂f_y/∂W_y (reconstructed; which of the three: not confirmed)",
    "the W_y counterpart of ∂f_y/∂x",
    LS_FORWARD.checked,
    [f"{F}:_margin_backward", f"{F}:lsoftmax_partials", f"{A}:multiple_angle_slope"],
    [T_RANDOM, T_JOINTS, f"{T_MUTANT}[psi-slope-ignores-segment-sign]", T_CLOSED],
)
LS_M2 = equation(
    "lsoftmax-m2",
    "L-Softmax m = 2 example after eqs. 8-10 (reconstructed; numbering not confirmed)",
    "f_y = (-1)^k 2(W_yᵀx)²/(|W||x|) - ((-1)^k + 2k)|W||x| and its gradients",
    f"{WALK}, section 3: '举个例子,给定一个m=2时候' after eqs. 8-10; the formulas are images",
    [f"{F}:lsoftmax_target", f"{F}:lsoftmax_partials"],
    [T_RANDOM, f"{T_WORKED}::test_lsoftmax_m2_example_matches_its_closed_form"],
)
LS_LAMBDA = equation(
    "lsoftmax-lambda",
    "L-Softmax λ-blended target logit (numbering not confirmed)",
    "f_y = (λ|W||x| cos θ + |W||x| ψ(θ)) / (1 + λ), λ annealed towards 0, and its gradients",
    f"{WALK}, section 4: '这时候的学习策略是' (an image), then large λ decreased towards 0",
    [f"{F}:_annealed_psi", f"{F}:lsoftmax_target", "paper_repro.losses.schedule:LambdaSchedule"],
    [T_RANDOM, f"{T_MUTANT}[lambda-weights-swapped]"],
)

# the head's declaration: registry key, oracle parameters (logit_spec takes STRUCTURAL),
# index section
KEY = "lsoftmax"
PARAMS = (common.INT_MARGIN, common.LAMBDA)
STRUCTURAL = "m"  # the integer margin fixes the number of psi pieces
EQUATIONS = (
    LS_LOSS,
    LS_DEFINITION,
    LS_PSI,
    LS_EXPANSION,
    LS_FORWARD,
    LS_GRAD_X,
    LS_GRAD_W,
    LS_M2,
    LS_LAMBDA,
)


TITLE = "L-Softmax (large-margin softmax)"
DESCRIPTION = (
    "The target logit replaces cos θ_y by ψ(θ_y), a monotonically decreasing extension of "
    "cos(mθ) to [0, π]; non-target logits are unchanged. The λ term mixes in the plain "
    "softmax logit, as in the reference implementation's annealing."
)
REF_LOSS = LS_LOSS.label
REF_PSI = LS_PSI.label
REF_EXPANSION = LS_EXPANSION.label
REF_FORWARD = LS_FORWARD.label
REF_GRAD_X = LS_GRAD_X.label
REF_GRAD_W = LS_GRAD_W.label
REF_M2 = LS_M2.label
REF_LAMBDA = LS_LAMBDA.label

MARGINS = tuple(range(1, 9))
LAMBDA_MARGINS = (1, 2, 3, 4)

M = sp.Symbol("m", integer=True, positive=True)
K = sp.Symbol("k", integer=True, nonnegative=True)
N = sp.Symbol("n", integer=True, nonnegative=True)
_U = sp.Symbol("u", real=True)
_Z = sp.Symbol("z")


# ---------------------------------------------------------------------------------------
# Forward, symbolic.
# ---------------------------------------------------------------------------------------
def multiple_angle_cos_general() -> sp.Sum:
    """Eq. 7: ``cos(m theta) = sum_n (-1)^n binom(m, 2n) c^(m-2n) (1-c^2)^n``, m symbolic."""
    return sp.Sum(
        (-1) ** N * sp.binomial(M, 2 * N) * c ** (M - 2 * N) * (1 - c**2) ** N,
        (N, 0, sp.floor(M / 2)),
    )


@functools.cache
def multiple_angle_cos(m: int) -> sp.Expr:
    """Eq. 7 for a concrete margin: a polynomial in ``c``."""
    return sp.expand(multiple_angle_cos_general().subs(M, m).doit())


def multiple_angle_cos_gradient(m: int) -> sp.Expr:
    return sp.diff(multiple_angle_cos(m), c)


def boundary(m: int, k: int) -> sp.Expr:
    """``cos(k pi/m)``: the cosine at which piece k-1 of psi hands over to piece k."""
    return sp.cos(k * sp.pi / m)


def psi_piece(m: int, k) -> sp.Expr:
    """Eq. 6 on piece k, as a polynomial in ``c`` (k may be the symbol :data:`K`)."""
    return (-1) ** k * multiple_angle_cos(m) - 2 * k


def psi_piece_t(m, k) -> sp.Expr:
    """Eq. 6 on piece k, as a function of the angle ``theta``."""
    return (-1) ** k * sp.cos(m * theta) - 2 * k


@functools.cache
def psi(m: int) -> sp.Expr:
    """Eq. 6 as a Piecewise in ``c``: piece k where ``c >= cos((k+1) pi/m)``, first match wins.

    At a shared end point both pieces give the same value and slope (see
    :func:`continuity_proof`), so which piece claims it does not matter.
    """
    pieces = [(psi_piece(m, k), c >= boundary(m, k + 1)) for k in range(m - 1)]
    return sp.Piecewise(*pieces, (psi_piece(m, m - 1), True))


def psi_gradient(m: int) -> sp.Expr:
    return sp.diff(psi(m), c)


def mixed_logit(psi_expr: sp.Expr, wn=w_norm) -> sp.Expr:
    """``(lam |W||x| c + |W||x| psi) / (1 + lam)``: eq. 4's target logit blended with the
    plain softmax logit by the annealing weight lambda (experiments section)."""
    return (lam * wn * x_norm * c + wn * x_norm * psi_expr) / (1 + lam)


def target_logit(m: int) -> sp.Expr:
    """The lambda-blended eq. 4 target logit with the Piecewise psi of eq. 6 (``w_norm`` is
    |W_y|); lambda = 0 is eq. 4 itself."""
    return mixed_logit(psi(m))


def target_logit_gradient(m: int) -> common.Partials:
    return common.partials(target_logit(m))


@functools.cache
def logit_spec(m: int) -> common.LogitSpec:
    return common.LogitSpec(target=target_logit(m), other=softmax_ce.logit(), params=(lam,))


# ---------------------------------------------------------------------------------------
# Closed forms of the optimisation section (eqs. 8-10 and the m = 2 example), built by hand
# from the printed term pattern (lambda = 0).
# Vectors are explicit 3-component; norms are the free symbols NX = |x|, NW = |W_y|.
# ---------------------------------------------------------------------------------------
def paper_dcos_dx():
    """``dcos/dx = W/(|W||x|) - (W.x) x/(|W||x|^3)``."""
    return W / (NW * NX) - W.dot(X) * X / (NW * NX**3)


def paper_dcos_dw():
    """``dcos/dW = x/(|W||x|) - (W.x) W/(|x||W|^3)``."""
    return X / (NW * NX) - W.dot(X) * W / (NX * NW**3)


def _paper_monomials(m: int):
    """``|W||x| cos(m theta) = sum coef * |W||x| c^p`` with ``(1 - c^2)^n`` expanded."""
    for n in range(m // 2 + 1):
        for i in range(n + 1):
            coef = (-1) ** n * sp.binomial(m, 2 * n) * (-1) ** i * sp.binomial(n, i)
            yield coef, m - 2 * n + 2 * i


def paper_forward(m: int):
    """Forward form: ``(-1)^k sum coef (W.x)^p/(|W||x|)^(p-1) - 2k |W||x|``."""
    dot = W.dot(X)
    total = sum(coef * dot**p / (NW * NX) ** (p - 1) for coef, p in _paper_monomials(m))
    return (-1) ** K * total - 2 * K * NW * NX


def paper_grad_x(m: int):
    """Printed term pattern of ``df_y/dx``: each ``|W||x| c^p = (W.x)^p/(|W||x|)^(p-1)`` gives
    ``p (W.x)^(p-1) W/(|W|^(p-1)|x|^(p-1)) - (p-1)(W.x)^p x/(|W|^(p-1)|x|^(p+1))``; the
    ``-2k|W||x|`` term gives ``-2k |W| x/|x|``."""
    dot = W.dot(X)
    total = sp.zeros(3, 1)
    for coef, p in _paper_monomials(m):
        total += coef * (
            p * dot ** (p - 1) * W / (NW ** (p - 1) * NX ** (p - 1))
            - (p - 1) * dot**p * X / (NW ** (p - 1) * NX ** (p + 1))
        )
    return (-1) ** K * total - 2 * K * NW * X / NX


def paper_grad_w(m: int):
    """The ``W_y`` counterpart of :func:`paper_grad_x` (x and W swap roles)."""
    dot = W.dot(X)
    total = sp.zeros(3, 1)
    for coef, p in _paper_monomials(m):
        total += coef * (
            p * dot ** (p - 1) * X / (NW ** (p - 1) * NX ** (p - 1))
            - (p - 1) * dot**p * W / (NX ** (p - 1) * NW ** (p + 1))
        )
    return (-1) ** K * total - 2 * K * NX * W / NW


def paper_m2_logit():
    """m = 2: ``f_y = (-1)^k 2 (W.x)^2/(|W||x|) - ((-1)^k + 2k) |W||x|``."""
    dot = W.dot(X)
    return (-1) ** K * 2 * dot**2 / (NW * NX) - ((-1) ** K + 2 * K) * NW * NX


def paper_m2_grad_x():
    dot = W.dot(X)
    return (-1) ** K * (4 * dot * W / (NW * NX) - 2 * dot**2 * X / (NW * NX**3)) - (
        (-1) ** K + 2 * K
    ) * NW * X / NX


def paper_m2_grad_w():
    dot = W.dot(X)
    return (-1) ** K * (4 * dot * X / (NW * NX) - 2 * dot**2 * W / (NX * NW**3)) - (
        (-1) ** K + 2 * K
    ) * NX * W / NW


# ---------------------------------------------------------------------------------------
# Display.
# ---------------------------------------------------------------------------------------
def steps() -> list[common.Step]:
    psi_f = sp.Function("psi")(theta)
    # cos(m theta) as an undefined function of c, so the general-m partials show the chain
    # rule through cos(m theta) instead of an unwieldy differentiated sum.
    cos_m = sp.Function("T_m")(c)
    general_piece = mixed_logit((-1) ** K * cos_m - 2 * K)
    f_y = sp.Symbol("f_y")
    out = [
        common.step("ψ on piece k (θ in [kπ/m, (k+1)π/m])", REF_PSI, psi_f, psi_piece_t(M, K), "y"),
        common.Step(
            "Piece k in terms of the cosine",
            REF_PSI,
            common.tex(sp.And(sp.cos((K + 1) * sp.pi / M) <= c, c <= sp.cos(K * sp.pi / M)), "y"),
        ),
        common.step(
            "Multiple-angle expansion T_m(cos θ) = cos(mθ)",
            REF_EXPANSION,
            sp.Function("T_m")(sp.cos(theta)),
            multiple_angle_cos_general().subs(c, sp.cos(theta)),
            "y",
        ),
        common.step("Target logit on piece k (general m)", REF_LAMBDA, f_y, general_piece, "y"),
    ]
    for var in (x_norm, w_norm, c):
        out.append(
            common.step(
                "Scalar partial on piece k (sympy.diff)",
                REF_LAMBDA,
                sp.Derivative(f_y, var),
                sp.diff(general_piece, var),
                "y",
            )
        )
    out.append(
        common.step(
            "Slope of the expansion (proved below for m = 1..8)",
            REF_EXPANSION,
            sp.Derivative(cos_m, c),
            expansion_slope_closed_form(M),
            "y",
        )
    )
    out.append(common.Step("Concrete margin m = 2 (as evaluated by the oracle)", REF_M2, ""))
    out += common.logit_steps(logit_spec(2), REF_M2, softmax_ce.REF_LOGIT)
    return out


def expansion_slope_closed_form(m) -> sp.Expr:
    """``d cos(m theta) / d cos(theta) = m sin(m theta) / sin(theta)`` (chain rule in theta)."""
    return m * sp.sin(m * theta) / sp.sin(theta)


# ---------------------------------------------------------------------------------------
# Proofs.
# ---------------------------------------------------------------------------------------
def _exactly_zero(value: sp.Expr) -> bool:
    """Exact zero test for algebraic numbers such as polynomials in cos(pi/7)."""
    value = sp.sympify(value)
    return value == 0 or sp.minimal_polynomial(value, _Z) == _Z


def expansion_proof(m: int) -> Proof:
    poly = multiple_angle_cos(m)
    trig = sp.expand_trig(sp.cos(m * theta))
    # cos(m theta) contains only even powers of sin(theta) so sin -> sqrt(1 - c^2) is exact.
    in_c = trig.subs(sp.sin(theta), sp.sqrt(1 - c**2)).subs(sp.cos(theta), c)
    return Proof(
        f"lsoftmax-eq7-multiple-angle-m{m}",
        REF_EXPANSION,
        common.eq_tex(sp.cos(m * theta), poly.subs(c, sp.cos(theta)), "y"),
        sp.expand(in_c - poly) == 0,
        "expand_trig(cos(mθ)) rewritten in c = cos θ minus the eq. 7 sum, expanded, is 0",
    )


def expansion_slope_proof(m: int) -> Proof:
    """The c-slope of the eq. 7 polynomial, at c = cos(theta), is m sin(m theta)/sin(theta)."""
    slope = multiple_angle_cos_gradient(m).subs(c, sp.cos(theta))
    difference = sp.expand_trig(slope * sp.sin(theta) - m * sp.sin(m * theta))
    return Proof(
        f"lsoftmax-eq7-expansion-slope-m{m}",
        REF_EXPANSION,
        common.eq_tex(sp.Derivative(multiple_angle_cos(m), c), expansion_slope_closed_form(m), "y"),
        sp.simplify(difference) == 0,
        "sin θ · d/dc[eq. 7 polynomial](cos θ) - m sin(mθ), expand_trig + simplify, is 0 "
        "(θ in (0, π), where sin θ ≠ 0)",
    )


@functools.cache
def _boundary_checks(m: int) -> dict[int, tuple[bool, bool, bool, bool]]:
    """Per interior boundary k: (t-form value, t-form slope, c-form value, c-form slope) match."""
    poly = multiple_angle_cos(m)
    checks = {}
    for k in range(1, m):
        at = k * sp.pi / m
        left, right = psi_piece_t(m, k - 1), psi_piece_t(m, k)
        checks[k] = (
            sp.simplify((left - right).subs(theta, at)) == 0,
            sp.simplify(sp.diff(left - right, theta).subs(theta, at)) == 0,
            _exactly_zero((psi_piece(m, k - 1) - psi_piece(m, k)).subs(c, boundary(m, k))),
            # Slopes in c of pieces k-1 and k differ by the factor -1, so they agree iff
            # the slope of cos(m theta) in c vanishes there.
            _exactly_zero(sp.diff(poly, c).subs(c, boundary(m, k))),
        )
    return checks


def continuity_proof(m: int) -> Proof:
    checks = _boundary_checks(m)
    statement = ", \\quad ".join(
        common.tex(
            sp.Eq(
                sp.Subs(psi_piece_t(m, k - 1), theta, k * sp.pi / m),
                sp.Subs(psi_piece_t(m, k), theta, k * sp.pi / m),
            ),
            "y",
        )
        for k in checks
    )
    return Proof(
        f"lsoftmax-eq6-psi-continuous-m{m}",
        REF_PSI,
        statement,
        all(all(v) for v in checks.values()),
        "at every θ = kπ/m, k = 1..m-1: value and dψ/dθ of adjacent pieces agree (exact), and "
        "value and dψ/dc of the c-polynomials agree at c = cos(kπ/m) (minimal polynomial of "
        "the difference is z)",
    )


def definition_join_proof() -> Proof:
    """Eq. 5 joins cos(mθ) on [0, π/m] to D on (π/m, π]. For ψ to be continuous, D(π/m) must
    be cos(m π/m) = -1, which eq. 6's piece k = 1 gives; the text's D(π/m) = cos(π/m) is not
    -1 for any m >= 2 (cos(π/m) >= 0 there), so it cannot be the condition meant."""
    m_any = sp.Symbol("m", integer=True, positive=True)
    at = sp.pi / m_any
    first_piece_end = sp.cos(m_any * at)
    eq6_piece_1 = (-1) * sp.cos(m_any * theta) - 2  # eq. 6, k = 1
    needed = sp.simplify(first_piece_end + 1) == 0 and (
        sp.simplify(eq6_piece_1.subs(theta, at) - first_piece_end) == 0
    )
    # m = 2 + r, r >= 0: π/m is in (0, π/2], where cos takes values in [0, 1), never -1
    r = sp.Symbol("r", integer=True, nonnegative=True)
    in_first_quadrant = bool(sp.together(sp.pi / 2 - sp.pi / (2 + r)).is_nonnegative) and bool(
        (sp.pi / (2 + r)).is_positive
    )
    cos_values = function_range(sp.cos(theta), theta, sp.Interval.Lopen(0, sp.pi / 2))
    printed_cannot_join = in_first_quadrant and not cos_values.contains(-1)
    return Proof(
        "lsoftmax-eq5-join-needs-D-of-pi-over-m-equal-minus-1",
        LS_DEFINITION.label,
        r"\mathcal{D}(\pi/m) = \cos(m \cdot \pi/m) = -1, \quad "
        r"\cos(\pi/m) \ge 0 > -1 \ (m \ge 2)",
        needed and printed_cannot_join,
        "any integer m >= 1: cos(mθ) at θ = π/m is -1 and eq. 6's piece k = 1 starts there at "
        "-1 too; for m >= 2, π/m is in (0, π/2], where cos takes values in [0, 1) "
        "(function_range), so the printed D(π/m) = cos(π/m) cannot join the pieces and is "
        "read as D(π/m) = cos(m π/m)",
    )


def decreasing_proof(m: int) -> Proof:
    """dψ/dθ on piece k, with θ = (u + kπ)/m and u in [0, π], equals -m sin(u) <= 0."""
    slope_ok = True
    for k in range(m):
        slope = sp.diff(psi_piece_t(m, k), theta).subs(theta, (_U + k * sp.pi) / m)
        slope_ok = slope_ok and sp.simplify(slope + m * sp.sin(_U)) == 0
    sin_never_negative = sp.solveset(sp.sin(_U) < 0, _U, sp.Interval(0, sp.pi)) == sp.S.EmptySet
    continuous = all(all(v) for v in _boundary_checks(m).values())
    return Proof(
        f"lsoftmax-eq6-psi-decreasing-m{m}",
        REF_PSI,
        common.eq_tex(
            sp.Derivative(psi_piece_t(m, K), theta).subs(theta, (_U + K * sp.pi) / m),
            -m * sp.sin(_U),
            "y",
        ),
        slope_ok and sin_never_negative and continuous,
        "on each piece k the slope, written with u = mθ - kπ in [0, π], simplifies to -m sin u; "
        "solveset(sin u < 0, [0, π]) is empty; pieces join continuously (eq. 6 continuity)",
    )


def _m1_proofs() -> list[Proof]:
    f1 = target_logit(1)
    return [
        common.prove_equal(
            "lsoftmax-eq4-m1-equals-softmax",
            REF_LOSS,
            f1.subs(lam, 0),
            softmax_ce.logit(),
            "eq. 4 target logit (λ = 0) at m = 1 minus |W||x|c simplifies to 0",
            "y",
        ),
        common.prove_equal(
            "lsoftmax-lambda-m1-equals-softmax",
            REF_LAMBDA,
            f1,
            softmax_ce.logit(),
            "λ-blended target logit at m = 1 minus |W||x|c simplifies to 0 for every λ",
            "y",
        ),
        common.prove_equal(
            "lsoftmax-lambda-m1-lambda-independent",
            REF_LAMBDA,
            sp.diff(f1, lam),
            sp.Integer(0),
            "d f_y / dλ at m = 1 simplifies to 0",
            "y",
            statement=common.eq_tex(sp.Derivative(f1, lam), sp.Integer(0), "y"),
        ),
    ]


def _dcos_proofs() -> list[Proof]:
    grad_x, grad_w = common.vector_gradient_free_norms(c)
    detail = "chain-rule gradient of cos θ (explicit 3-vectors, |x|, |W| free) minus printed form"
    return [
        Proof(
            "lsoftmax-eq8-10-dcos-dx",
            REF_GRAD_X,
            common.eq_tex(
                sp.Derivative(c, common.X_VEC),
                common.W_VEC_Y / (w_norm * x_norm)
                - common.w_dot_x * common.X_VEC / (w_norm * x_norm**3),
                "y",
            ),
            common.is_zero(grad_x - paper_dcos_dx()),
            detail,
        ),
        Proof(
            "lsoftmax-eq8-10-dcos-dW",
            REF_GRAD_W,
            common.eq_tex(
                sp.Derivative(c, common.W_VEC_Y),
                common.X_VEC / (w_norm * x_norm)
                - common.w_dot_x * common.W_VEC_Y / (x_norm * w_norm**3),
                "y",
            ),
            common.is_zero(grad_w - paper_dcos_dw()),
            detail,
        ),
    ]


def _piece_logit(m: int) -> sp.Expr:
    """Target logit on piece k (symbolic k), lambda = 0: the printed forms' setting."""
    return mixed_logit(psi_piece(m, K)).subs(lam, 0)


def general_gradient_proofs(m: int) -> list[Proof]:
    grad_x, grad_w = common.vector_gradient_free_norms(_piece_logit(m))
    detail = (
        f"m = {m}, symbolic piece k, λ = 0; explicit 3-vectors with |x|, |W_y| as free "
        "symbols; cancel(derived - printed pattern) == 0 component-wise"
    )
    f_y = sp.Symbol("f_y")
    return [
        Proof(
            f"lsoftmax-eq8-10-grad-x-m{m}",
            REF_GRAD_X,
            common.eq_tex(sp.Derivative(f_y, common.X_VEC), _pattern_display(m, "x"), "y"),
            common.is_zero(grad_x - paper_grad_x(m)),
            detail,
        ),
        Proof(
            f"lsoftmax-eq8-10-grad-W-m{m}",
            REF_GRAD_W,
            common.eq_tex(sp.Derivative(f_y, common.W_VEC_Y), _pattern_display(m, "W"), "y"),
            common.is_zero(grad_w - paper_grad_w(m)),
            detail,
        ),
    ]


def _pattern_display(m: int, wrt: str) -> sp.Expr:
    """The printed pattern of :func:`paper_grad_x` / :func:`paper_grad_w` on matrix symbols."""
    dot = common.w_dot_x
    xv, wv = common.X_VEC, common.W_VEC_Y
    own, other = (x_norm, w_norm) if wrt == "x" else (w_norm, x_norm)
    along, across = (wv, xv) if wrt == "x" else (xv, wv)
    total = sp.ZeroMatrix(common.DIM, 1)
    for coef, p in _paper_monomials(m):
        total += coef * (
            p * dot ** (p - 1) / (other ** (p - 1) * own ** (p - 1)) * along
            - (p - 1) * dot**p / (other ** (p - 1) * own ** (p + 1)) * across
        )
    return (-1) ** K * total - 2 * K * other / own * across


def m2_example_proofs() -> list[Proof]:
    logit_vec = _piece_logit(2).subs({x_norm: NX, w_norm: NW, c: W.dot(X) / (NX * NW)})
    grad_x, grad_w = common.vector_gradient_free_norms(_piece_logit(2))
    detail = (
        "symbolic piece k (k = 1 iff cos θ_y <= cos(π/2) = 0), λ = 0; explicit 3-vectors with "
        "|x|, |W_y| free; cancel(derived - printed) == 0"
    )
    dot = common.w_dot_x
    xv, wv = common.X_VEC, common.W_VEC_Y
    f_y = sp.Symbol("f_y")
    sign = (-1) ** K
    return [
        Proof(
            "lsoftmax-m2-example-logit",
            REF_M2,
            common.eq_tex(
                f_y, sign * 2 * dot**2 / (w_norm * x_norm) - (sign + 2 * K) * w_norm * x_norm, "y"
            ),
            common.is_zero(logit_vec - paper_m2_logit()),
            detail,
        ),
        Proof(
            "lsoftmax-m2-example-grad-x",
            REF_M2,
            common.eq_tex(
                sp.Derivative(f_y, xv),
                sign * (4 * dot / (w_norm * x_norm) * wv - 2 * dot**2 / (w_norm * x_norm**3) * xv)
                - (sign + 2 * K) * w_norm / x_norm * xv,
                "y",
            ),
            common.is_zero(grad_x - paper_m2_grad_x()),
            detail,
        ),
        Proof(
            "lsoftmax-m2-example-grad-W",
            REF_M2,
            common.eq_tex(
                sp.Derivative(f_y, wv),
                sign * (4 * dot / (w_norm * x_norm) * xv - 2 * dot**2 / (x_norm * w_norm**3) * wv)
                - (sign + 2 * K) * x_norm / w_norm * wv,
                "y",
            ),
            common.is_zero(grad_w - paper_m2_grad_w()),
            detail,
        ),
    ]


def forward_proof(m: int) -> Proof:
    """The piece-k target logit with cos θ = W.x/(|W||x|) is the printed forward form."""
    at = {x_norm: NX, w_norm: NW, c: W.dot(X) / (NX * NW)}
    return Proof(
        f"lsoftmax-eq8-10-forward-m{m}",
        REF_FORWARD,
        common.eq_tex(sp.Symbol("f_y"), _pattern_forward_display(m), "y"),
        common.is_zero(_piece_logit(m).subs(at) - paper_forward(m)),
        f"m = {m}, symbolic piece k, λ = 0; explicit 3-vectors with |x|, |W_y| free; "
        "cancel(derived - printed pattern) == 0",
    )


def _pattern_forward_display(m: int) -> sp.Expr:
    dot = common.w_dot_x
    total = sum(coef * dot**p / (w_norm * x_norm) ** (p - 1) for coef, p in _paper_monomials(m))
    return (-1) ** K * total - 2 * K * w_norm * x_norm


def lambda_gradient_general_proofs() -> list[Proof]:
    """λ-blended gradients for every m at once: cos(mθ) as an undefined function T_m(c)."""
    t_m = sp.Function("T_m")

    def closed(xv, wv, nx, nw, cc):
        t0, t1 = t_m(cc), sp.diff(t_m(c), c).subs(c, cc)
        psi_k, slope = (-1) ** K * t0 - 2 * K, (-1) ** K * t1
        grad_x = lam * wv + nw * nx * slope * (wv / nw - cc * xv / nx) / nx + psi_k * nw * xv / nx
        grad_w = lam * xv + nw * nx * slope * (xv / nx - cc * wv / nw) / nw + psi_k * nx * wv / nw
        return grad_x / (1 + lam), grad_w / (1 + lam)

    return common.closed_form_gradient_proofs(
        ("lsoftmax-lambda-general-m-grad-x", "lsoftmax-lambda-general-m-grad-W"),
        REF_LAMBDA,
        mixed_logit((-1) ** K * t_m(c) - 2 * K),
        closed,
        "y",
        "T_m undefined (any m; its slope is eq. 7's, proved per m), symbolic piece k and λ; "
        "explicit 3-vectors with |x|, |W_y| free; derived minus written-out form is 0",
    )


def lambda_gradient_proofs(m: int) -> list[Proof]:
    """λ-blended gradients are (λ W_y + eq. 8-10 form)/(1 + λ), and (λ x + ...)/(1 + λ)."""
    grad_x, grad_w = common.vector_gradient_free_norms(mixed_logit(psi_piece(m, K)))
    detail = (
        f"m = {m}, symbolic piece k and λ; explicit 3-vectors with |x|, |W_y| free; "
        "cancel(derived - (λ · plain + printed pattern)/(1 + λ)) == 0"
    )
    f_y = sp.Symbol("f_y")
    xv, wv = common.X_VEC, common.W_VEC_Y
    return [
        Proof(
            f"lsoftmax-lambda-grad-x-m{m}",
            REF_LAMBDA,
            common.eq_tex(
                sp.Derivative(f_y, xv), (lam * wv + _pattern_display(m, "x")) / (1 + lam), "y"
            ),
            common.is_zero(grad_x - (lam * W + paper_grad_x(m)) / (1 + lam)),
            detail,
        ),
        Proof(
            f"lsoftmax-lambda-grad-W-m{m}",
            REF_LAMBDA,
            common.eq_tex(
                sp.Derivative(f_y, wv), (lam * xv + _pattern_display(m, "W")) / (1 + lam), "y"
            ),
            common.is_zero(grad_w - (lam * X + paper_grad_w(m)) / (1 + lam)),
            detail,
        ),
    ]


@functools.cache
def proofs() -> list[Proof]:
    out = [expansion_proof(m) for m in MARGINS]
    out += [expansion_slope_proof(m) for m in MARGINS]
    out += [definition_join_proof()]
    out += [continuity_proof(m) for m in MARGINS if m >= 2]
    out += [decreasing_proof(m) for m in MARGINS]
    out += _m1_proofs()
    out += _dcos_proofs()
    out += [forward_proof(m) for m in MARGINS]
    for m in MARGINS:
        out += general_gradient_proofs(m)
    out += m2_example_proofs()
    out += lambda_gradient_general_proofs()
    for m in LAMBDA_MARGINS:
        out += lambda_gradient_proofs(m)
    return out
