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

# the head's declaration: registry key, oracle parameters (logit_spec takes STRUCTURAL),
# index section
KEY = "softmax"
PARAMS: tuple[common.Param, ...] = ()
STRUCTURAL = None  # no parameter changes the form of the expressions
EQUATIONS = (
    equations.SOFTMAX_LOSS,
    equations.SOFTMAX_GRAD,
    equations.POLAR,
    equations.WORKED_1234,
    equations.WORKED_SPEC,
)


TITLE = "Softmax cross-entropy"
DESCRIPTION = (
    "Baseline head: a bias-free linear layer followed by softmax and cross-entropy. Every "
    "logit is the inner product of the feature with a class weight, written in polar form."
)
REF_LOGIT = equations.POLAR.label
REF_LOSS = equations.SOFTMAX_LOSS.label
REF_GRAD = equations.SOFTMAX_GRAD.label
REF_WORKED_1234 = equations.WORKED_1234.label
REF_WORKED_SPEC = equations.WORKED_SPEC.label

# Number of classes shown in the displayed steps (the proofs take any number of classes).
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
    """``f_j = |W_j| |x| cos(theta_j)`` (L-Softmax section 1, printed without a number)."""
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
            REF_GRAD,
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
    nx, nw = common.indexed_norm(common.X_ANY), common.indexed_norm(common.W_ANY)
    inner = common.indexed_dot(common.W_ANY, common.X_ANY)
    polar = logit(nx, nw, inner / (nx * nw))
    return Proof(
        "softmax-polar-logit",
        REF_LOGIT,
        common.eq_tex(sp.MatMul(common.W_VEC.T, common.X_VEC), logit()),
        common.is_zero(polar - inner),
        "any dimension D: x, W vectors of D real symbols, |x| = sqrt(x.x), |W| = sqrt(W.W), "
        "cos = W.x/(|W||x|), the products as sums over 1..D",
    )


# Any number of classes C: logits f_1..f_C as an indexed symbol, the sum over 1..C kept
# symbolic; S > 0 (a sum of exponentials) is the positive symbol that stands for it.
_F = sp.IndexedBase("f", real=True)
_SUM_EXP = sp.Symbol("S", positive=True)
_LABEL = sp.Symbol("y", integer=True, positive=True)


def _lse_any() -> sp.Expr:
    return sp.log(common.indexed_sum(lambda k: sp.exp(_F[k]), common.N_CLASSES_ANY))


def _positive_sum(expr: sp.Expr) -> sp.Expr:
    """`expr` with the sum of exponentials replaced by a positive symbol, which it is."""
    total = common.indexed_sum(lambda k: sp.exp(_F[k]), common.N_CLASSES_ANY)
    return expr.subs(total, _SUM_EXP)


def _log_softmax_proof() -> Proof:
    j = common.J_ANY
    lhs = sp.log(sp.exp(_F[j]) / sp.exp(_lse_any()))
    rhs = _F[j] - _lse_any()
    return Proof(
        "softmax-eq1-log-softmax",
        REF_LOSS,
        common.eq_tex(
            sp.log(sp.Symbol("p_j")), sp.Symbol("f_j") - sp.Function("logsumexp")(sp.Symbol("f"))
        ),
        common.is_zero(sp.expand_log(_positive_sum(lhs - rhs))),
        "any number of classes C: log(exp(f_j) / S) - (f_j - log S) with S = sum_(k=1..C) "
        "exp(f_k) > 0, expanded and simplified, is 0",
    )


def _ce_logsumexp_proof() -> Proof:
    lhs = -sp.log(sp.exp(_F[_LABEL]) / sp.exp(_lse_any()))
    rhs = _lse_any() - _F[_LABEL]
    return Proof(
        "softmax-eq1-ce-logsumexp",
        REF_LOSS,
        common.eq_tex(sp.Symbol("CE"), sp.Function("logsumexp")(sp.Symbol("f")) - sp.Symbol("f_y")),
        common.is_zero(sp.expand_log(_positive_sum(lhs - rhs))),
        "any number of classes C and label y: -log softmax(f)_y - (log S - f_y), S as above, "
        "expanded and simplified, is 0",
    )


def _ce_gradient_proof() -> Proof:
    j = common.J_ANY
    ce = _lse_any() - _F[_LABEL]
    softmax_j = sp.exp(_F[j]) / common.indexed_sum(lambda k: sp.exp(_F[k]), common.N_CLASSES_ANY)
    gap = sp.diff(ce, _F[j]) - (softmax_j - sp.KroneckerDelta(j, _LABEL))
    return Proof(
        "softmax-ce-gradient-p-minus-onehot",
        REF_GRAD,
        common.eq_tex(
            sp.Derivative(sp.Symbol("CE"), sp.Symbol("f_j")),
            sp.Symbol("p_j") - sp.Symbol(r"\mathbb{1}[j = y]"),
        ),
        common.is_zero_within(gap, common.N_CLASSES_ANY, j),
        "any number of classes C, label y and class j (1 <= j <= C): sympy.diff of "
        "log(sum_(k=1..C) exp f_k) - f_y by f_j minus (p_j - 1[j=y]) is 0",
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


@functools.cache
def _dce_dcos_any_logits() -> bool:
    """For logits f_k = F(k, c_k), each a function of its own cosine, and any number of
    classes C: dCE/dc_j = (p_j - 1[j = y]) dF(j, c_j)/dc_j, for every class j and label y.

    sympy leaves 1[j = y] (dF(j)/dc_j - dF(y)/dc_y); it is 0 in both cases, j = y and j != y."""
    cos = sp.IndexedBase("c", real=True)
    F = sp.Function("F")
    j = common.J_ANY
    total = common.indexed_sum(lambda k: sp.exp(F(k, cos[k])), common.N_CLASSES_ANY)
    ce = sp.log(total) - F(_LABEL, cos[_LABEL])
    want = (sp.exp(F(j, cos[j])) / total - sp.KroneckerDelta(j, _LABEL)) * sp.diff(
        F(j, cos[j]), cos[j]
    )
    gap = sp.diff(ce, cos[j]) - want
    same = gap.subs(_LABEL, j)
    other = gap.subs(sp.KroneckerDelta(j, _LABEL), 0)
    return common.is_zero_within(same, common.N_CLASSES_ANY, j) and common.is_zero_within(
        other, common.N_CLASSES_ANY, j
    )


def dce_dcos_proof(name: str, paper_ref: str, target, other, scale) -> Proof:
    """``dCE/dcos(theta_j) = scale_j (p_j - 1[j = y])`` for any number of classes and label.

    ``target``/``other`` are logit builders ``(xn, wn, cos) -> expr`` and ``scale`` builds the
    expected factor from ``(xn, wn)``. Two facts make it: the cross-entropy of per-class
    logits f_k(c_k) has dCE/dc_j = (p_j - 1[j = y]) df_j/dc_j for any C
    (`_dce_dcos_any_logits`), and both builders have slope `scale` in their cosine.
    """
    slopes = all(
        common.is_zero(sp.diff(build(x_norm, w_norm, c), c) - scale(x_norm, w_norm))
        for build in (target, other)
    )
    p_j = sp.Symbol("p_j")
    delta = sp.Symbol(r"\mathbb{1}[j = y]")
    return Proof(
        name,
        paper_ref,
        common.eq_tex(sp.Derivative(sp.Symbol("CE"), c), scale(x_norm, w_norm) * (p_j - delta)),
        slopes and _dce_dcos_any_logits(),
        "any number of classes C, label y and class j: dCE/dc_j = (p_j - 1[j=y]) df_j/dc_j "
        "for logits that each depend on their own cosine (sums over 1..C, cases j = y and "
        "j != y), and d f/d cos = the scale for the target and the other logits",
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
