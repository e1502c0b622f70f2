"""Shared symbols, proof records, cross-entropy identities and the chain rule.

Every head in this package writes its per-sample logits as scalar SymPy expressions of
three quantities only: the feature norm ``|x|`` (:data:`x_norm`), the class-weight norm
``|W_j|`` (:data:`w_norm`) and the cosine ``cos(theta_j)`` (:data:`c`).  The loss gradient
with respect to the vectors ``x`` and ``W_j`` then follows from

* the scalar partials ``dL/df_j = p_j - 1[j = y]`` (:func:`cross_entropy_gradient`),
* the scalar partials ``df_j/d|x|``, ``df_j/d|W_j|``, ``df_j/dcos(theta_j)`` (:func:`partials`),
* three vector identities (:func:`vector_identity_proofs`)::

      d|x|/dx       = x/|x|
      dcos/dx       = (W_j/|W_j| - cos(theta_j) x/|x|) / |x|
      dcos/dW_j     = (x/|x| - cos(theta_j) W_j/|W_j|) / |W_j|

This module must never import ``paper_repro`` or torch: it is the independent side of the
comparison that the tests make against the PyTorch implementation.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derivations import equations

# ---------------------------------------------------------------------------------------
# Symbols.  One set of scalar symbols serves every logit: whether w_norm / c refer to the
# target class y or to another class j is recorded by the *role* used when printing.
# ---------------------------------------------------------------------------------------
x_norm = sp.Symbol("x_norm", positive=True)
w_norm = sp.Symbol("w_norm", positive=True)
c = sp.Symbol("c", real=True)
theta = sp.Symbol("theta", real=True)
s = sp.Symbol("s", positive=True)
m = sp.Symbol("m", nonnegative=True)
lam = sp.Symbol("lam", nonnegative=True)

# Per-sample quantities the BD-LMCL selection rule is written in.
c_max_other = sp.Symbol("c_max", real=True)
n_above = sp.Symbol("n_above", integer=True, nonnegative=True)

# The inner product W_j . x as a single symbol, for printing closed forms compactly.
w_dot_x = sp.Symbol("w_dot_x", real=True)

# Explicit 3-component vectors: the vector identities are proved on these, component-wise.
X = sp.Matrix(sp.symbols("x1:4", real=True))
W = sp.Matrix(sp.symbols("w1:4", real=True))
# Norms kept as free positive symbols once a derivative has been taken: closed forms
# printed in the papers are rational in (x, W, |x|, |W|), so comparing them with |x| and
# |W| left free is a stronger (and much faster) statement than comparing after
# substituting the square roots.
NX = sp.Symbol("N_x", positive=True)
NW = sp.Symbol("N_w", positive=True)
# Matrix symbols used only to print the vector formulas compactly (D = feature dimension).
DIM = sp.Symbol("D", integer=True, positive=True)
X_VEC = sp.MatrixSymbol("x", DIM, 1)
W_VEC = sp.MatrixSymbol("W_j", DIM, 1)
W_VEC_Y = sp.MatrixSymbol("W_y", DIM, 1)


def vector_norm(v: sp.Matrix) -> sp.Expr:
    """Euclidean norm of an explicit column vector."""
    return sp.sqrt(v.dot(v))


# What a head's oracle takes (derivations.oracle): each module declares its PARAMS with these.
REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One parameter of a head's oracle: name, check (name, value) -> value, default."""

    name: str
    check: Callable[[str, object], object]
    default: object = REQUIRED


def integer_at_least_one(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def finite(name: str, value, low: float, high: float = math.inf, low_open=False,
           high_open=True) -> float:  # fmt: skip
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        brackets = ("(" if low_open else "[") + (")" if high_open else "]")
        raise ValueError(f"{name} must lie in {brackets[0]}{low}, {high}{brackets[1]}, got "
                         f"{value!r}")  # fmt: skip
    return value


INT_MARGIN = Param("m", integer_at_least_one)
LAMBDA = Param("lam", lambda n, v: finite(n, v, 0.0), 0.0)
SCALE = Param("s", lambda n, v: finite(n, v, 0.0, low_open=True))
COS_MARGIN = Param("m", lambda n, v: finite(n, v, 0.0))


# Sizes left symbolic: statements about a vector of any dimension D or any number of classes
# C are proved on indexed symbols summed over 1..D (1..C), for a free component j (and k).
N_CLASSES_ANY = sp.Symbol("C", integer=True, positive=True)
_SUM_INDEX = sp.Symbol("i", integer=True)
J_ANY, K_ANY = sp.symbols("j k", integer=True, positive=True)
X_ANY = sp.IndexedBase("x", real=True)
W_ANY = sp.IndexedBase("W", real=True)


def indexed_sum(term, size=DIM) -> sp.Expr:
    """``sum_{i=1}^{size} term(i)``."""
    return sp.Sum(term(_SUM_INDEX), (_SUM_INDEX, 1, size))


def indexed_norm(v: sp.IndexedBase) -> sp.Expr:
    return sp.sqrt(indexed_sum(lambda i: v[i] ** 2))


def indexed_dot(a: sp.IndexedBase, b: sp.IndexedBase) -> sp.Expr:
    return indexed_sum(lambda i: a[i] * b[i])


def is_zero_within(expr, size, *indices) -> bool:
    """``expr`` is 0 for every value 1..size of each free index: the sums are evaluated
    (a derivative of a sum by one of its terms is a Piecewise on the index being in range)
    and the range conditions are taken as true, which is what the statement assumes."""
    expr = sp.sympify(expr).doit()
    within = {}
    for q in indices:
        within.update({sp.Le(q, size): True, sp.Ge(size, q): True, sp.Ge(q, 1): True,
                       sp.Le(1, q): True})  # fmt: skip
    return is_zero(expr.subs(within))


def tex(expr, role: str = "j") -> str:
    """LaTeX of ``expr``; ``role`` is ``"y"`` for the target class, ``"j"`` otherwise."""
    names = {
        x_norm: r"\lVert x \rVert",
        w_norm: rf"\lVert W_{{{role}}} \rVert",
        c: rf"\cos\theta_{{{role}}}",
        theta: rf"\theta_{{{role}}}",
        lam: r"\lambda",
        NX: r"\lVert x \rVert",
        NW: rf"\lVert W_{{{role}}} \rVert",
        w_dot_x: rf"W_{{{role}}}^{{T}} x",
        c_max_other: r"\max_{j \ne y} \cos\theta_{j}",
        n_above: r"\#\{j \ne y : \cos\theta_{j} > \cos\theta_{y}\}",
    }
    # SymPy prints a matrix sum with a negative coefficient as "a + - b"; same value, tidier.
    return sp.latex(expr, symbol_names=names).replace("+ -", "- ")


# ---------------------------------------------------------------------------------------
# Records.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proof:
    """A claim together with the verdict SymPy computed for it.

    ``name`` doubles as the pytest id (``<head>-<eq tag>-<what>``), ``statement`` is LaTeX
    printed from the SymPy objects that were compared, ``detail`` says how it was decided.
    """

    name: str
    paper_ref: str
    statement: str
    holds: bool
    detail: str


@dataclass(frozen=True)
class Step:
    """One displayed derivation step: ``latex`` is printed from SymPy objects."""

    title: str
    paper_ref: str
    latex: str


@dataclass(frozen=True)
class LogitSpec:
    """Per-sample logits of a head as scalar expressions of (|x|, |W_j|, cos theta_j).

    ``params`` are the numeric hyper-parameters in the order the lambdified functions take
    them.  ``selection`` (BD-LMCL only) is a boolean expression of ``c`` (target cosine),
    :data:`c_max_other`, :data:`n_above` and ``params`` saying whether a sample is near the
    boundary.  By default it weights the sample's cross-entropy (1 or 0); when ``switch`` is
    one of ``params``, the selection instead sets that parameter per sample (1 or 0) and
    every sample's cross-entropy counts.
    """

    target: sp.Expr
    other: sp.Expr
    params: tuple[sp.Symbol, ...]
    selection: sp.Basic | None = None
    switch: sp.Symbol | None = None


def eq_tex(lhs, rhs, role: str = "j") -> str:
    """``lhs = rhs`` in LaTeX, each side printed from its SymPy object."""
    return f"{tex(lhs, role)} = {tex(rhs, role)}"


def tex_list(*exprs, role: str = "j") -> str:
    """Several SymPy objects (equations, relations, sets) side by side."""
    return r", \quad ".join(tex(e, role) for e in exprs)


def step(title: str, paper_ref: str, lhs, rhs, role: str = "j") -> Step:
    return Step(title, paper_ref, eq_tex(lhs, rhs, role))


def is_zero(expr) -> bool:
    """Exact zero test: cheap ``cancel`` first, full ``simplify`` only if that is inconclusive.

    Works element-wise on matrices.  ``cancel`` returning 0 is a proof; a non-zero result of
    ``cancel`` can still be zero after trigonometric or radical simplification, hence the
    fallback.
    """
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e) for e in expr)
    expr = sp.sympify(expr)
    if not expr.has(sp.Piecewise) and sp.cancel(expr) == 0:
        return True
    return sp.simplify(expr) == 0


def prove_equal(
    name: str, paper_ref: str, lhs, rhs, detail: str, role: str = "j", statement: str = ""
) -> Proof:
    """Proof that ``lhs - rhs`` simplifies to exactly zero."""
    return Proof(name, paper_ref, statement or eq_tex(lhs, rhs, role), is_zero(lhs - rhs), detail)


# ---------------------------------------------------------------------------------------
# Scalar partials of a logit.
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Partials:
    """``df/d|x|``, ``df/d|W_j|`` and ``df/dcos(theta_j)`` of one logit expression."""

    d_xnorm: sp.Expr
    d_wnorm: sp.Expr
    d_cos: sp.Expr


def partials(f: sp.Expr) -> Partials:
    """Differentiate a logit with respect to the three scalars it is written in.

    For heads with normalised weights (A-Softmax, LMCL, ArcFace) ``f`` does not contain
    ``w_norm`` so ``d_wnorm`` is 0, yet ``cos(theta_j)`` still depends on ``W_j``: the
    ``d_cos`` term carries the whole weight gradient through ``dcos/dW_j``.
    """
    return Partials(sp.diff(f, x_norm), sp.diff(f, w_norm), sp.diff(f, c))


def gradient_coefficients(p: Partials) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """Scalar coefficients of the vector gradients, from the three vector identities.

    Returns ``(ax, bx, aw, bw)`` with ``df/dx = ax x + bx W_j`` and ``df/dW_j = aw x + bw W_j``;
    they are what ``a x/|x| + g (W_j/|W_j| - c x/|x|)/|x|`` and
    ``b W_j/|W_j| + g (x/|x| - c W_j/|W_j|)/|W_j|`` collect to, with ``a, b, g`` the partials.
    """
    a, b, g = p.d_xnorm, p.d_wnorm, p.d_cos
    return (
        a / x_norm - g * c / x_norm**2,
        g / (x_norm * w_norm),
        g / (x_norm * w_norm),
        b / w_norm - g * c / w_norm**2,
    )


def vector_gradient(p: Partials, xv, wv, nx, nw, cos_expr):
    """Assemble ``(df/dx, df/dW_j)`` from scalar partials and the vector identities.

    ``xv``/``wv`` are the vectors, ``nx``/``nw`` their norms and ``cos_expr`` the cosine, in
    whatever representation the caller uses (explicit components or matrix symbols).
    """
    at = {x_norm: nx, w_norm: nw, c: cos_expr}
    ax, bx, aw, bw = (sp.sympify(e).subs(at) for e in gradient_coefficients(p))
    return ax * xv + bx * wv, aw * xv + bw * wv


def gradient_is_orthogonal(f: sp.Expr, wrt: str) -> bool:
    """Whether ``v . df/dv = 0`` for ``v`` = x (``wrt="x"``) or W_j, in any dimension D.

    True exactly when ``f`` is invariant to rescaling ``v``, i.e. depends on ``v`` only
    through its direction. With ``df/dx = ax x + bx W``, ``x . df/dx = ax |x|^2 + bx W.x``
    (and likewise for W), the norms the genuine square roots of sums over 1..D.
    """
    nx, nw = indexed_norm(X_ANY), indexed_norm(W_ANY)
    dot = indexed_dot(W_ANY, X_ANY)
    at = {x_norm: nx, w_norm: nw, c: dot / (nx * nw)}
    ax, bx, aw, bw = (sp.sympify(e).subs(at) for e in gradient_coefficients(partials(f)))
    return is_zero(ax * nx**2 + bx * dot) if wrt == "x" else is_zero(aw * dot + bw * nw**2)


def vector_gradient_free_norms(f: sp.Expr):
    """:func:`vector_gradient` on explicit 3-vectors with the norms as free symbols."""
    cos_expr = W.dot(X) / (NX * NW)
    return vector_gradient(partials(f), X, W, NX, NW, cos_expr)


def vector_gradient_display(f: sp.Expr, role: str = "j"):
    """Vector gradients on matrix symbols with simplified coefficients, for printing."""
    wv = W_VEC_Y if role == "y" else W_VEC
    ax, bx, aw, bw = (sp.simplify(e) for e in gradient_coefficients(partials(f)))
    return ax * X_VEC + bx * wv, aw * X_VEC + bw * wv


def logit_steps(spec: LogitSpec, ref_target: str, ref_other: str) -> list[Step]:
    """Display steps shared by all heads: logits, their scalar partials, vector gradients."""
    steps = []
    for role, expr, ref in (("y", spec.target, ref_target), ("j", spec.other, ref_other)):
        f = sp.Symbol(f"f_{role}")
        wv = W_VEC_Y if role == "y" else W_VEC
        steps.append(step(f"Logit of {_ROLE_WORDS[role]}", ref, f, expr, role))
        p = partials(expr)
        for var, value in zip((x_norm, w_norm, c), (p.d_xnorm, p.d_wnorm, p.d_cos), strict=True):
            steps.append(
                step("Scalar partial (sympy.diff)", ref, sp.Derivative(f, var), value, role)
            )
        grad_x, grad_w = vector_gradient_display(expr, role)
        steps.append(
            Step(
                "Gradient w.r.t. x (vector identities)",
                ref,
                f"{tex(sp.Derivative(f, X_VEC), role)} = {tex(grad_x, role)}",
            )
        )
        steps.append(
            Step(
                f"Gradient w.r.t. {wv.name} (vector identities)",
                ref,
                f"{tex(sp.Derivative(f, wv), role)} = {tex(grad_w, role)}",
            )
        )
    return steps


_ROLE_WORDS = {"y": "the target class y", "j": "a non-target class j ≠ y"}


# ---------------------------------------------------------------------------------------
# Softmax / cross-entropy, symbolic twins.
# ---------------------------------------------------------------------------------------
def logsumexp(fs) -> sp.Expr:
    return sp.log(sum(sp.exp(f) for f in fs))


def softmax(fs) -> list[sp.Expr]:
    denom = sum(sp.exp(f) for f in fs)
    return [sp.exp(f) / denom for f in fs]


def log_softmax(fs) -> list[sp.Expr]:
    return [sp.log(p) for p in softmax(fs)]


def cross_entropy(fs, y: int) -> sp.Expr:
    """``-log softmax(f)_y`` (L-Softmax eq. 1, CosFace eq. 1)."""
    return -log_softmax(fs)[y]


def cross_entropy_gradient(fs, y: int) -> list[sp.Expr]:
    """``dCE/df_j`` by SymPy differentiation of :func:`cross_entropy`."""
    ce = cross_entropy(fs, y)
    return [sp.diff(ce, f) for f in fs]


# ---------------------------------------------------------------------------------------
# Numeric twins (float64, numpy only), used by the oracle.
# ---------------------------------------------------------------------------------------
def cross_entropy_np(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample ``CE = logsumexp(f) - f_y`` and ``p = softmax(f)`` via a stable log-sum-exp."""
    top = logits.max(axis=1, keepdims=True)
    lse = top + np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
    ce = lse[:, 0] - logits[np.arange(len(y)), y]
    return ce, np.exp(logits - lse)


def chain_rule_np(delta, ax, bx, aw, bw, x, W):
    """``dL/dx`` (B, D) and ``dL/dW`` (C, D) from ``delta = dL/df`` and gradient coefficients.

    ``delta`` and the coefficients of :func:`gradient_coefficients` are (B, C) arrays, so::

        dL/dx_i = sum_j delta_ij (ax_ij x_i + bx_ij W_j)
        dL/dW_j = sum_i delta_ij (aw_ij x_i + bw_ij W_j)
    """
    grad_x = (delta * ax).sum(axis=1)[:, None] * x + (delta * bx) @ W
    grad_w = (delta * aw).T @ x + (delta * bw).sum(axis=0)[:, None] * W
    return grad_x, grad_w


# ---------------------------------------------------------------------------------------
# Proofs shared by every head.
# ---------------------------------------------------------------------------------------
def vector_identity_proofs() -> list[Proof]:
    """The three vector identities, for any dimension D: component j of each side."""
    nx, nw = indexed_norm(X_ANY), indexed_norm(W_ANY)
    cos_xw = indexed_dot(W_ANY, X_ANY) / (nx * nw)
    x_j, w_j = X_ANY[J_ANY], W_ANY[J_ANY]
    ref = equations.VECTOR.label
    detail = ("any dimension D: component j (1 <= j <= D) of lhs - rhs, with x and W vectors "
              "of D real symbols and the norms as sums over 1..D, simplifies to 0")  # fmt: skip
    return [
        Proof(
            "common-norm-gradient",
            ref,
            eq_tex(sp.Derivative(x_norm, X_VEC), X_VEC / x_norm),
            is_zero_within(sp.diff(nx, x_j) - x_j / nx, DIM, J_ANY),
            detail,
        ),
        Proof(
            "common-dcos-dx",
            ref,
            eq_tex(sp.Derivative(c, X_VEC), (W_VEC / w_norm - c * X_VEC / x_norm) / x_norm),
            is_zero_within(sp.diff(cos_xw, x_j) - (w_j / nw - cos_xw * x_j / nx) / nx, DIM, J_ANY),
            detail,
        ),
        Proof(
            "common-dcos-dW",
            ref,
            eq_tex(sp.Derivative(c, W_VEC), (X_VEC / x_norm - c * W_VEC / w_norm) / w_norm),
            is_zero_within(sp.diff(cos_xw, w_j) - (x_j / nx - cos_xw * w_j / nw) / nw, DIM, J_ANY),
            detail,
        ),
    ]


def chain_rule_proof() -> Proof:
    """:func:`vector_gradient` is the true gradient of *any* differentiable F(|x|, |W|, cos),
    in any dimension D.

    F is an undefined SymPy function, so this covers every head at once: per head only the
    scalar partials remain to be derived. vector_gradient is linear in the vectors, so its
    component j is vector_gradient of the components x_j, W_j.
    """
    F = sp.Function("F")
    f = F(x_norm, w_norm, c)
    nx, nw = indexed_norm(X_ANY), indexed_norm(W_ANY)
    cos_xw = indexed_dot(W_ANY, X_ANY) / (nx * nw)
    x_j, w_j = X_ANY[J_ANY], W_ANY[J_ANY]
    grad_x, grad_w = vector_gradient(partials(f), x_j, w_j, nx, nw, cos_xw)
    composed = f.subs({x_norm: nx, w_norm: nw, c: cos_xw})
    holds = is_zero_within(grad_x - sp.diff(composed, x_j), DIM, J_ANY) and is_zero_within(
        grad_w - sp.diff(composed, w_j), DIM, J_ANY
    )
    gx_disp, gw_disp = vector_gradient_display(f)
    statement = (
        f"{tex(sp.Derivative(f, X_VEC))} = {tex(gx_disp)}, \\quad "
        f"{tex(sp.Derivative(f, W_VEC))} = {tex(gw_disp)}"
    )
    return Proof(
        "common-chain-rule-any-F",
        equations.CHAIN.label,
        statement,
        holds,
        "F undefined, any dimension D: component j of the assembled gradient minus sympy.diff "
        "of F(|x|(x), |W|(W), cos(x, W)), norms and dot product as sums over 1..D, "
        "simplifies to 0",
    )


@functools.cache
def proofs() -> list[Proof]:
    return [*vector_identity_proofs(), chain_rule_proof()]


# ---------------------------------------------------------------------------------------
# Closed-form vector gradients written out by hand, proved against the chain rule.
# ---------------------------------------------------------------------------------------
def closed_form_gradient_proofs(names: tuple[str, str], paper_ref: str, f, closed, role: str,
                                detail: str):  # fmt: skip
    """``df/dx`` and ``df/dW_role`` of logit ``f`` equal the hand-written ``closed`` forms;
    ``names``: the ids of the two proofs, written out whole so that a reviewer can grep them.

    ``closed(x, W, |x|, |W|, cos)`` returns the pair of vectors; it is evaluated once on
    explicit 3-vectors with the norms as free symbols (the comparison) and once on matrix
    symbols (the printed statement), so what is printed is what was compared.
    """
    grad_x, grad_w = vector_gradient_free_norms(f)
    want_x, want_w = closed(X, W, NX, NW, W.dot(X) / (NX * NW))
    wv = W_VEC_Y if role == "y" else W_VEC
    show_x, show_w = closed(X_VEC, wv, x_norm, w_norm, c)
    f_sym = sp.Symbol(f"f_{role}")
    return [
        Proof(
            names[0],
            paper_ref,
            f"{tex(sp.Derivative(f_sym, X_VEC), role)} = {tex(show_x, role)}",
            is_zero(grad_x - want_x),
            detail,
        ),
        Proof(
            names[1],
            paper_ref,
            f"{tex(sp.Derivative(f_sym, wv), role)} = {tex(show_w, role)}",
            is_zero(grad_w - want_w),
            detail,
        ),
    ]


def cosine_closed_form(g):
    """``g(cos) dcos/dx`` and ``g(cos) dcos/dW`` written with unit vectors: the closed form of
    any logit that depends on x and W only through the cosine, with slope ``g``."""

    def closed(xv, wv, nx, nw, cc):
        return g(cc) * (wv / nw - cc * xv / nx) / nx, g(cc) * (xv / nx - cc * wv / nw) / nw

    return closed
