"""Plain softmax + cross-entropy (the baseline every margin head modifies).

Logits ``f_j = W_j . x = |W_j| |x| cos(theta_j)`` (the polar form of L-Softmax section 1),
loss ``CE = -log softmax(f)_y = logsumexp(f) - f_y`` (L-Softmax eq. 1), and the worked
numbers of the specification texts, proved exactly.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import common, equations
from derivations.common import Proof, c, w_norm, x_norm

TITLE = "Softmax cross-entropy"
DESCRIPTION = (
    "Baseline head: a bias-free linear layer followed by softmax and cross-entropy. Every "
    "logit is the inner product of the feature with a class weight, written in polar form."
)
REF_LOGIT = equations.POLAR.label
REF_LOSS = equations.SOFTMAX_LOSS.label
REF_WORKED_1234 = equations.WORKED_1234.label
REF_WORKED_SPEC = equations.WORKED_SPEC.label

# Number of classes used in the symbolic cross-entropy identities; four keeps the sums
# readable while exercising every j == y / j != y combination.
N_CLASSES = 4
# Worked numbers as printed: overview text (logits 1..4, target class 4) and the
# worked-numbers text (logits 1..3; a 5-class prediction p with label 4).
WORKED_LOGITS = (1, 2, 3, 4)
WORKED_SOFTMAX = ("0.0321", "0.0871", "0.2369", "0.6439")
WORKED_LOG_SOFTMAX = ("-3.4402", "-2.4402", "-1.4402", "-0.4402")
WORKED_CE = "0.4402"
WORKED_LOGITS_3 = (1, 2, 3)
WORKED_SOFTMAX_3 = ("0.09", "0.24", "0.67")
WORKED_P = ("0.1", "0.15", "0.05", "0.6", "0.1")
WORKED_LABEL = 3  # "label 4" of the text, counted from 1


def logit(xn=x_norm, wn=w_norm, cos=c) -> sp.Expr:
    """``f_j = |W_j| |x| cos(theta_j)`` (L-Softmax eq. 2)."""
    return wn * xn * cos


def logit_gradient() -> common.Partials:
    return common.partials(logit())


@functools.cache
def logit_spec() -> common.LogitSpec:
    return common.LogitSpec(target=logit(), other=logit(), params=())


def _logit_symbols(n: int = N_CLASSES) -> list[sp.Symbol]:
    return list(sp.symbols(f"f_1:{n + 1}", real=True))


def steps() -> list[common.Step]:
    fs = _logit_symbols()
    y = 0
    ce = sp.Symbol("CE")
    p = sp.Symbol("p_j")
    f_j = sp.Symbol("f_j")
    lse = sp.Function("logsumexp")(*fs)
    return [
        common.step(
            "Cross-entropy of the logits (class y = 1 shown)",
            REF_LOSS,
            ce,
            common.cross_entropy(fs, y),
        ),
        common.step(
            "Softmax probability",
            REF_LOSS,
            p,
            sp.exp(f_j) / sp.Sum(sp.exp(sp.Symbol("f_k")), (sp.Symbol("k"), 1, sp.Symbol("C"))),
        ),
        common.Step(
            "Gradient w.r.t. the logits (sympy.diff, class y = 1 shown)",
            REF_LOSS,
            ", \\quad ".join(
                common.eq_tex(sp.Derivative(ce, f), sp.simplify(g))
                for f, g in zip(fs, common.cross_entropy_gradient(fs, y), strict=True)
            ),
        ),
        common.step("Log-sum-exp form", REF_LOSS, ce, lse - fs[y]),
        *common.logit_steps(logit_spec(), REF_LOGIT, REF_LOGIT),
    ]


# ---------------------------------------------------------------------------------------
# Proofs.
# ---------------------------------------------------------------------------------------
def _polar_form_proof() -> Proof:
    nx, nw = common.vector_norm(common.X), common.vector_norm(common.W)
    polar = logit(nx, nw, common.W.dot(common.X) / (nx * nw))
    inner = common.W.dot(common.X)
    return Proof(
        "softmax-polar-logit",
        REF_LOGIT,
        common.eq_tex(sp.MatMul(common.W_VEC.T, common.X_VEC), logit()),
        common.is_zero(polar - inner),
        "explicit x, W in R^3 with |x| = sqrt(x.x), |W| = sqrt(W.W), cos = W.x/(|W||x|)",
    )


def _log_softmax_proof() -> Proof:
    fs = _logit_symbols()
    lse = common.logsumexp(fs)
    lhs = sp.Matrix(common.log_softmax(fs))
    rhs = sp.Matrix([f - lse for f in fs])
    holds = all(sp.simplify(sp.expand_log(e)) == 0 for e in lhs - rhs)
    return Proof(
        "softmax-eq1-log-softmax",
        REF_LOSS,
        common.eq_tex(lhs.T, rhs.T),
        holds,
        f"C = {N_CLASSES} real logits; simplify(expand_log(lhs - rhs)) == 0 per class",
    )


def _ce_logsumexp_proof() -> Proof:
    fs = _logit_symbols()
    lse = common.logsumexp(fs)
    holds = all(
        sp.simplify(sp.expand_log(common.cross_entropy(fs, y) - (lse - fs[y]))) == 0
        for y in range(N_CLASSES)
    )
    return Proof(
        "softmax-eq1-ce-logsumexp",
        REF_LOSS,
        common.eq_tex(common.cross_entropy(fs, 0), lse - fs[0]),
        holds,
        f"C = {N_CLASSES}, every label y; simplify(expand_log(lhs - rhs)) == 0",
    )


def _ce_gradient_proof() -> Proof:
    fs = _logit_symbols()
    probs = common.softmax(fs)
    holds = all(
        common.is_zero(g - (probs[j] - (1 if j == y else 0)))
        for y in range(N_CLASSES)
        for j, g in enumerate(common.cross_entropy_gradient(fs, y))
    )
    onehot = sp.Matrix([1 if j == 0 else 0 for j in range(N_CLASSES)])
    return Proof(
        "softmax-eq1-ce-gradient",
        REF_LOSS,
        common.eq_tex(
            sp.Matrix([sp.simplify(g) for g in common.cross_entropy_gradient(fs, 0)]).T,
            (sp.Matrix(probs) - onehot).T,
        ),
        holds,
        f"C = {N_CLASSES}, every label y and class j: dCE/df_j - (p_j - 1[j=y]) == 0",
    )


def _rounded(value, decimals: int):
    """Exact round-half-up: floor(10^d v + 1/2) is decided by SymPy on the exact expression
    (it refines the numerical evaluation as needed), then compared as a rational."""
    return sp.floor(10**decimals * value + sp.Rational(1, 2)) / 10**decimals


def _printed_proof(name: str, ref: str, exact: list, printed: tuple, decimals: int, what: str):
    expected = [sp.Rational(v) for v in printed]
    return Proof(
        name,
        ref,
        common.eq_tex(
            sp.Matrix([sp.Function(f"round_{decimals}")(e) for e in exact]).T,
            sp.Matrix(expected).T,
        ),
        [_rounded(e, decimals) for e in exact] == expected,
        f"exact {what} rounded half-up to {decimals} decimals, compared as rationals",
    )


def worked_number_proofs() -> list[Proof]:
    logits = [sp.Integer(v) for v in WORKED_LOGITS]
    log_p = [f - common.logsumexp(logits) for f in logits]
    p = [sp.Rational(v) for v in WORKED_P]
    ce_p = -sum((1 if j == WORKED_LABEL else 0) * sp.log(pj) for j, pj in enumerate(p))
    # the text's other two predictions for the same label: -log 0.6 < -log 0.3 < -log 0.1
    losses = [-sp.log(sp.Rational(v)) for v in ("0.6", "0.3", "0.1")]
    return [
        _printed_proof(
            "softmax-worked-softmax-1234",
            REF_WORKED_1234,
            common.softmax(logits),
            WORKED_SOFTMAX,
            4,
            "softmax([1, 2, 3, 4])",
        ),
        _printed_proof(
            "softmax-worked-log-softmax-1234",
            REF_WORKED_1234,
            log_p,
            WORKED_LOG_SOFTMAX,
            4,
            "log-softmax([1, 2, 3, 4]) = f - logsumexp(f) (the text's ln(0.0321) of the rounded "
            "probability would give -3.4389: the printed numbers are the exact log-softmax)",
        ),
        _printed_proof(
            "softmax-worked-ce-1234",
            REF_WORKED_1234,
            [common.cross_entropy(logits, 3)],
            (WORKED_CE,),
            4,
            "cross-entropy of logits (1, 2, 3, 4) with target class 4",
        ),
        _printed_proof(
            "softmax-worked-softmax-123",
            REF_WORKED_SPEC,
            common.softmax([sp.Integer(v) for v in WORKED_LOGITS_3]),
            WORKED_SOFTMAX_3,
            2,
            "softmax([1, 2, 3])",
        ),
        Proof(
            "softmax-worked-ce-p5",
            REF_WORKED_SPEC,
            common.tex_list(
                sp.Eq(sp.Symbol("L"), -sp.log(sp.Rational("0.6")), evaluate=False),
                sp.StrictLessThan(losses[0], losses[1], evaluate=False),
                sp.StrictLessThan(losses[1], losses[2], evaluate=False),
            ),
            common.is_zero(ce_p + sp.log(sp.Rational("0.6")))
            and bool(losses[0] < losses[1] < losses[2]),
            "-Σ_j y_j log p_j with one-hot y at label 4 and p = [0.1, 0.15, 0.05, 0.6, 0.1] "
            "minus (-log 0.6) is exactly 0; the ordering is decided by SymPy on exact logs",
        ),
    ]


def dce_dcos_proof(name: str, paper_ref: str, target, other, scale, n: int = 3) -> Proof:
    """``dCE/dcos(theta_j) = scale_j (p_j - 1[j = y])`` for ``n`` classes and every label.

    ``target``/``other`` are logit builders ``(xn, wn, cos) -> expr`` and ``scale`` builds the
    expected factor from ``(xn, wn)``; class j has its own norm symbol and cosine symbol.
    """
    cs = sp.symbols(f"c_1:{n + 1}", real=True)
    ws = sp.symbols(f"w_1:{n + 1}", positive=True)
    holds = True
    for y in range(n):
        fs = [(target if j == y else other)(x_norm, ws[j], cs[j]) for j in range(n)]
        ce = common.cross_entropy(fs, y)
        probs = common.softmax(fs)
        for j in range(n):
            expected = scale(x_norm, ws[j]) * (probs[j] - (1 if j == y else 0))
            holds = holds and common.is_zero(sp.diff(ce, cs[j]) - expected)
    p_j = sp.Symbol("p_j")
    delta = sp.Symbol(r"\mathbb{1}[j = y]")
    return Proof(
        name,
        paper_ref,
        common.eq_tex(sp.Derivative(sp.Symbol("CE"), c), scale(x_norm, w_norm) * (p_j - delta)),
        holds,
        f"C = {n} classes with independent norms and cosines, every label y and class j",
    )


@functools.cache
def proofs() -> list[Proof]:
    return [
        _polar_form_proof(),
        _log_softmax_proof(),
        _ce_logsumexp_proof(),
        _ce_gradient_proof(),
        *worked_number_proofs(),
        dce_dcos_proof("softmax-polar-dce-dcos", REF_LOGIT, logit, logit, lambda xn, wn: wn * xn),
    ]
