"""BD-LMCL (Li et al., ICASSP 2019): boundary-discriminative large margin cosine loss.

Logits are exactly LMCL's (CosFace eq. 4).  A sample contributes only when it is *near the
boundary*, defined here as

* the margin classifier gets it wrong: ``s (c_y - m) < max_{j != y} s c_j``, and
* the plain cosine still ranks it in the top k: ``#{j != y : c_j > c_y} < k``.

Batch loss ``(1/B) sum_i sel_i CE_i``.  ``sel_i`` is piecewise constant in the inputs, so away
from its switching points the gradient is the LMCL gradient times ``sel_i``.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import common, lmcl
from derivations.common import Proof, c, c_max_other, m, n_above, s

TITLE = "BD-LMCL (boundary-discriminative LMCL)"
DESCRIPTION = (
    "LMCL logits, but only samples near the decision boundary are kept: those the margin "
    "classifier misclassifies while their target cosine is still among the k largest. "
    "Unselected samples contribute zero loss and zero gradient; the batch mean still divides "
    "by the full batch size."
)
REF_LOGITS = "CosFace eq. 4"
REF_SELECTION = "BD-LMCL selection (zero-one margin loss, top-k)"

K_TOP = sp.Symbol("k", integer=True, positive=True)
_SEL = sp.Symbol(r"\mathrm{sel}", nonnegative=True)
N_CLASSES = 3


def margin_misclassified() -> sp.Basic:
    """Zero-one loss of the margin classifier is 1: the margin-adjusted target is not largest."""
    return s * (c - m) < s * c_max_other


def in_top_k() -> sp.Basic:
    """Top-k zero-one loss is 0: fewer than k other classes have a larger plain cosine."""
    return n_above < K_TOP


def selection() -> sp.Basic:
    """Near-boundary indicator of one sample, in its target cosine ``c`` and rank statistics."""
    return sp.And(margin_misclassified(), in_top_k())


@functools.cache
def logit_spec() -> common.LogitSpec:
    return common.LogitSpec(
        target=lmcl.target_logit(),
        other=lmcl.other_logit(),
        params=(s, m, K_TOP),
        selection=selection(),
    )


def selected_loss(fs, y: int, sel=_SEL) -> sp.Expr:
    """One sample's contribution (before the 1/B): ``sel * CE``."""
    return sel * common.cross_entropy(fs, y)


def selected_loss_gradient(fs, y: int, sel=_SEL) -> list[sp.Expr]:
    ce = selected_loss(fs, y, sel)
    return [sp.diff(ce, f) for f in fs]


def steps() -> list[common.Step]:
    fs = list(sp.symbols(f"f_1:{N_CLASSES + 1}", real=True))
    return [
        common.Step(
            "Near-boundary selection",
            REF_SELECTION,
            common.eq_tex(_SEL, selection(), "y"),
        ),
        common.step(
            "Selected loss of one sample (class y = 1 shown)",
            REF_SELECTION,
            sp.Symbol("L_i"),
            selected_loss(fs, 0),
        ),
        common.Step(
            "Gradient w.r.t. the logits (sel held constant)",
            REF_SELECTION,
            ", \\quad ".join(
                common.eq_tex(sp.Derivative(sp.Symbol("L_i"), f), sp.simplify(g))
                for f, g in zip(fs, selected_loss_gradient(fs, 0), strict=True)
            ),
        ),
        *common.logit_steps(logit_spec(), REF_LOGITS, REF_LOGITS),
    ]


# ---------------------------------------------------------------------------------------
# Proofs.
# ---------------------------------------------------------------------------------------
def margin_band() -> sp.Set | None:
    """Set of ``max_{j != y} c_j`` values that select a sample when ``k = 1``.

    With ``k = 1`` the top-k condition ``n_above < 1`` says no other cosine exceeds ``c_y``,
    i.e. ``max_{j != y} c_j <= c_y``; together with :func:`margin_misclassified` this is
    solved by ``reduce_inequalities``.  None if SymPy's answer is not a two-sided bound on
    ``max_{j != y} c_j`` (the proof then fails rather than guessing).
    """
    solved = sp.reduce_inequalities([margin_misclassified(), c_max_other <= c], c_max_other)
    lower = upper = None
    left_open = right_open = False
    for rel in solved.args if isinstance(solved, sp.And) else (solved,):
        if rel.lhs != c_max_other:
            return None
        bound = sp.simplify(rel.rhs)
        if isinstance(rel, (sp.StrictGreaterThan, sp.GreaterThan)):
            lower, left_open = bound, isinstance(rel, sp.StrictGreaterThan)
        else:
            upper, right_open = bound, isinstance(rel, sp.StrictLessThan)
    if lower is None or upper is None:
        return None
    return sp.Interval(lower, upper, left_open, right_open)


def _band_proofs() -> list[Proof]:
    band = margin_band()
    expected = sp.Interval.Lopen(c - m, c)
    return [
        Proof(
            "bdlmcl-sel-k1-is-margin-band",
            REF_SELECTION,
            common.tex(sp.Contains(c_max_other, expected), "y"),
            band == expected,
            "k = 1: top-1 means max_{j≠y} cos θ_j <= cos θ_y; reduce_inequalities on "
            "s (cos θ_y - m) < s max_{j≠y} cos θ_j (s > 0) gives the band (cos θ_y - m, cos θ_y]",
        ),
        Proof(
            "bdlmcl-sel-k1-m0-selects-nothing",
            REF_SELECTION,
            common.eq_tex(sp.Subs(expected, m, 0), sp.S.EmptySet, "y"),
            band is not None and band.subs(m, 0) == sp.S.EmptySet,
            "with no margin the band (cos θ_y, cos θ_y] is empty: BD-LMCL with k = 1, m = 0 "
            "selects no sample",
        ),
    ]


def _ce_nonnegative_proof() -> Proof:
    fs = list(sp.symbols(f"f_1:{N_CLASSES + 1}", real=True))
    ce = common.cross_entropy(fs, 0)
    rewritten = sp.log(1 + sum(sp.exp(f - fs[0]) for f in fs[1:]))
    equal = sp.simplify(sp.expand_log(ce - rewritten, force=True)) == 0
    return Proof(
        "bdlmcl-sel-loss-at-most-lmcl",
        REF_SELECTION,
        common.tex_list(sp.Eq(ce, rewritten), sp.GreaterThan(rewritten, 0, evaluate=False)),
        equal and bool(rewritten.is_nonnegative),
        "CE = log(1 + sum_{j≠y} exp(f_j - f_y)) (expand_log, simplify) and SymPy's assumptions "
        "decide it is >= 0; hence sel·CE <= CE and the BD-LMCL batch loss <= the LMCL one",
    )


def _gradient_proof() -> Proof:
    fs = list(sp.symbols(f"f_1:{N_CLASSES + 1}", real=True))
    holds = True
    for y in range(N_CLASSES):
        probs = common.softmax(fs)
        for j, g in enumerate(selected_loss_gradient(fs, y)):
            holds = holds and common.is_zero(g - _SEL * (probs[j] - (1 if j == y else 0)))
    return Proof(
        "bdlmcl-sel-grad-is-selected-lmcl",
        REF_SELECTION,
        common.eq_tex(
            sp.Derivative(sp.Symbol("L_i"), sp.Symbol("f_j")),
            _SEL * (sp.Symbol("p_j") - sp.Symbol(r"\mathbb{1}[j = y]")),
        ),
        holds,
        f"C = {N_CLASSES}, every label y and class j, sel a constant: "
        "d(sel CE)/df_j - sel (p_j - 1[j=y]) == 0",
    )


@functools.cache
def proofs() -> list[Proof]:
    return [*_band_proofs(), _ce_nonnegative_proof(), _gradient_proof()]
