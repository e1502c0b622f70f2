"""A-Softmax / SphereFace (Liu et al., CVPR 2017): L-Softmax with normalised class weights.

Logits: ``f_j = |x| cos(theta_j)`` for ``j != y`` and
``f_y = (lam |x| cos(theta_y) + |x| psi(theta_y)) / (1 + lam)`` with the same ``psi`` as
L-Softmax (eq. 6 there).  The weights enter only through ``cos(theta_j)``, which is computed
from the *raw* ``W_j``: the logits have no ``|W_j|`` dependence, yet the gradient with respect
to ``W_j`` is non-zero and flows entirely through ``dcos/dW_j``.

SphereFace equation numbers (eq. 5 modified softmax, eq. 7 A-Softmax) are this project's,
not confirmed by any source text (see :mod:`derivations.equations`).
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import common, lsoftmax
from derivations.common import Proof, c, lam, w_norm, x_norm
from derivations.equations import OVERVIEW, T_CLOSED, T_JOINTS, T_POLES, T_RANDOM, F, equation

# its entries of the equation index (derivations.SECTIONS)
AS_MODIFIED = equation(
    "asoftmax-eq5",
    "SphereFace eq. 5 (modified softmax; numbering not confirmed)",
    "f_j = |x| cos θ_j: class weights normalised",
    f"no source text prints SphereFace's equations ({OVERVIEW} only names it)",
    [f"{F}:asoftmax_logits", f"{F}:plain_logits"],
    [T_RANDOM, T_POLES],
)
AS_LOSS = equation(
    "asoftmax-eq7",
    "SphereFace eq. 7 (A-Softmax; numbering not confirmed)",
    "f_y = |x| ψ(θ_y) (λ-blended as L-Softmax) and its gradients in x and W_j",
    AS_MODIFIED.checked,
    [
        f"{F}:asoftmax_target",
        f"{F}:asoftmax_partials",
        f"{F}:asoftmax_logits",
        "paper_repro.losses.asoftmax:ASoftmaxHead",
    ],
    [T_RANDOM, T_JOINTS, T_POLES, T_CLOSED],
)

# the head's declaration: registry key, oracle parameters (logit_spec takes STRUCTURAL),
# index section
KEY = "asoftmax"
PARAMS = (common.INT_MARGIN, common.LAMBDA)
STRUCTURAL = "m"  # the integer margin fixes the number of psi pieces
EQUATIONS = (AS_MODIFIED, AS_LOSS)


TITLE = "A-Softmax (SphereFace)"
DESCRIPTION = (
    "Same angular margin ψ as L-Softmax, but the class weights are normalised, so every "
    "logit is the feature norm times a cosine. The raw weights still receive a gradient "
    "through the cosine, and that gradient is orthogonal to the weight vector."
)
REF_MODIFIED = AS_MODIFIED.label
REF_LOSS = AS_LOSS.label

MARGINS = (1, 2, 3, 4)


def other_logit() -> sp.Expr:
    """``f_j = |x| cos(theta_j)`` (modified softmax, SphereFace eq. 5)."""
    return x_norm * c


def other_logit_gradient() -> common.Partials:
    return common.partials(other_logit())


def target_logit(m: int) -> sp.Expr:
    """``f_y = (lam |x| c + |x| psi(c)) / (1 + lam)`` (SphereFace eq. 7 with lambda mixing)."""
    return lsoftmax.mixed_logit(lsoftmax.psi(m), wn=1)


def target_logit_gradient(m: int) -> common.Partials:
    return common.partials(target_logit(m))


@functools.cache
def logit_spec(m: int) -> common.LogitSpec:
    return common.LogitSpec(target=target_logit(m), other=other_logit(), params=(lam,))


def steps() -> list[common.Step]:
    f_y = sp.Symbol("f_y")
    general = lsoftmax.mixed_logit(
        (-1) ** lsoftmax.K * lsoftmax.multiple_angle_cos_general() - 2 * lsoftmax.K, wn=1
    )
    out = [
        common.step(
            "Target logit on piece k (ψ as in L-Softmax eq. 6-7)", REF_LOSS, f_y, general, "y"
        ),
        common.Step("Concrete margin m = 4 (SphereFace default)", REF_LOSS, ""),
    ]
    return out + common.logit_steps(logit_spec(4), REF_LOSS, REF_MODIFIED)


# ---------------------------------------------------------------------------------------
# Proofs.
# ---------------------------------------------------------------------------------------
def _m1_proofs() -> list[Proof]:
    f1 = target_logit(1)
    return [
        common.prove_equal(
            "asoftmax-eq7-m1-equals-modified-softmax",
            REF_LOSS,
            f1,
            other_logit(),
            "target logit at m = 1 minus |x| c simplifies to 0 for every λ",
            "y",
        ),
        common.prove_equal(
            "asoftmax-eq7-m1-lambda-independent",
            REF_LOSS,
            sp.diff(f1, lam),
            sp.Integer(0),
            "d f_y / dλ at m = 1 simplifies to 0",
            "y",
            statement=common.eq_tex(sp.Derivative(f1, lam), sp.Integer(0), "y"),
        ),
    ]


def _pieces(expr: sp.Expr) -> tuple[tuple[sp.Expr, sp.Basic], ...]:
    """(expression, condition) pairs; a plain expression is one piece valid everywhere."""
    return tuple(expr.args) if expr.is_Piecewise else ((expr, sp.true),)


def unit_weight_proof(m: int) -> Proof:
    """The A-Softmax target logit is the L-Softmax one evaluated at ``|W_y| = 1``."""
    derived = sp.piecewise_fold(target_logit(m))
    reference = sp.piecewise_fold(lsoftmax.target_logit(m).subs(w_norm, 1))
    derived_pieces, reference_pieces = _pieces(derived), _pieces(reference)
    holds = len(derived_pieces) == len(reference_pieces) and all(
        d_cond == r_cond and common.is_zero(d_expr - r_expr)
        for (d_expr, d_cond), (r_expr, r_cond) in zip(derived_pieces, reference_pieces, strict=True)
    )
    return Proof(
        f"asoftmax-eq7-lsoftmax-unit-weight-m{m}",
        REF_LOSS,
        common.eq_tex(target_logit(m), sp.Subs(lsoftmax.target_logit(m), w_norm, 1), "y"),
        holds,
        "A-Softmax target logit equals the L-Softmax target logit with |W_y| = 1, piece by piece",
    )


def orthogonal_weight_gradient_proof(m: int) -> Proof:
    """``W_j . df/dW_j = 0``: no |W_j| dependence and ``W . dcos/dW = 0``."""
    holds = all(
        common.gradient_is_orthogonal(f, "W")
        for f in (lsoftmax.mixed_logit(lsoftmax.psi_piece(m, lsoftmax.K), wn=1), other_logit())
    )
    f_y = sp.Symbol("f_y")
    return Proof(
        f"asoftmax-eq7-grad-W-orthogonal-m{m}",
        REF_LOSS,
        common.eq_tex(
            sp.MatMul(common.W_VEC_Y.T, sp.Derivative(f_y, common.W_VEC_Y)), sp.Integer(0), "y"
        ),
        holds,
        f"m = {m}, symbolic piece k and the non-target logit; explicit 3-vectors with "
        "|x| = sqrt(x.x), |W| = sqrt(W.W); simplify(W . df/dW) == 0",
    )


def target_gradient_proofs() -> list[Proof]:
    """Target gradients for every m (cos(mθ) as an undefined T_m(c)), λ symbolic:
    ``(λ Ŵ + (-1)^k T_m' (Ŵ - c x̂) + ((-1)^k T_m - 2k) x̂)/(1 + λ)`` and
    ``|x| (λ + (-1)^k T_m') (x̂ - c Ŵ) / (|W| (1 + λ))``."""
    t_m, k = sp.Function("T_m"), lsoftmax.K

    def closed(xv, wv, nx, nw, cc):
        t0, t1 = t_m(cc), sp.diff(t_m(c), c).subs(c, cc)
        x_hat, w_hat = xv / nx, wv / nw
        psi_k, slope = (-1) ** k * t0 - 2 * k, (-1) ** k * t1
        grad_x = lam * w_hat + slope * (w_hat - cc * x_hat) + psi_k * x_hat
        grad_w = nx * (lam + slope) * (x_hat - cc * w_hat) / nw
        return grad_x / (1 + lam), grad_w / (1 + lam)

    return common.closed_form_gradient_proofs(
        ("asoftmax-eq7-target-grad-x", "asoftmax-eq7-target-grad-W"),
        REF_LOSS,
        lsoftmax.mixed_logit((-1) ** k * t_m(c) - 2 * k, wn=1),
        closed,
        "y",
        "T_m undefined (any m; its slope is L-Softmax eq. 7's, proved per m), symbolic piece k "
        "and λ; explicit 3-vectors with |x|, |W_y| free; derived minus written-out form is 0",
    )


def other_gradient_proofs() -> list[Proof]:
    """``f_j = |x| cos θ_j``: ``df_j/dx = Ŵ_j`` and ``df_j/dW_j = |x| (x̂ - c Ŵ_j)/|W_j|``."""

    def closed(xv, wv, nx, nw, cc):
        return wv / nw, nx * (xv / nx - cc * wv / nw) / nw

    return common.closed_form_gradient_proofs(
        ("asoftmax-eq5-other-grad-x", "asoftmax-eq5-other-grad-W"),
        REF_MODIFIED,
        other_logit(),
        closed,
        "j",
        "explicit 3-vectors with |x|, |W_j| free; derived minus written-out form is 0",
    )


@functools.cache
def proofs() -> list[Proof]:
    out = _m1_proofs()
    out += [unit_weight_proof(m) for m in MARGINS]
    out += [orthogonal_weight_gradient_proof(m) for m in MARGINS]
    return out + target_gradient_proofs() + other_gradient_proofs()
