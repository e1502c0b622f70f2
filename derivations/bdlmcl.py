"""BD-LMCL (Li et al., ICASSP 2019): boundary-discriminative large margin cosine loss.

Logits are LMCL's (CosFace eq. 4).  A sample is *near the boundary*, ``sel_i = 1``, when

* the margin classifier gets it wrong: ``s (c_y - m) < max_{j != y} s c_j``, and
* the plain cosine still ranks it in the top k: ``#{j != y : c_j > c_y} < k``.

The sources read the rule two ways, and both are derived here (``UNSELECTED``):

* ``"drop"`` (the ICASSP abstract, "only the samples around the speaker boundaries are
  considered"): ``(1/B) sum_i sel_i CE_i(m)``, the unselected samples count zero;
* ``"no_margin"`` (the specification text: samples close to their class centre need no
  margin, the boundary samples get it): ``(1/B) sum_i CE_i(m sel_i)``, every sample counts.

``sel_i`` is piecewise constant in the inputs, so away from its switching points it is a
constant in every derivative.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import common, lmcl
from derivations.common import Proof, c, c_max_other, m, n_above, s
from derivations.equations import LMCL_TEXT, T_POLES, T_RANDOM, F, equation

# its entries of the equation index (derivations.SECTIONS)
BD_SELECTION = equation(
    "bdlmcl-selection",
    "BD-LMCL boundary selection (numbering not confirmed)",
    "a sample is near the boundary when the margin classifier is wrong and its target "
    "cosine is still in the top k",
    f"{LMCL_TEXT}, last section (the formula is an image); the rule is this project's reading",
    [f"{F}:boundary_selection"],
    [T_RANDOM, "tests/losses/test_heads.py::test_boundary_selection_rule_on_constructed_cosines"],
)
BD_DROP = equation(
    "bdlmcl-drop",
    "BD-LMCL reading 'drop' (ICASSP 2019 abstract)",
    "unselected samples contribute nothing: L = (1/B) Σ_i sel_i CE_i(m)",
    "the ICASSP 2019 abstract, as quoted in the project's issue (the abstract is not among the "
    "source texts): 'only the samples around the speaker boundaries are considered'",
    [f"{F}:bdlmcl_loss", f"{F}:bdlmcl_logits", "paper_repro.losses.bdlmcl:BDLMCLHead"],
    [T_RANDOM, T_POLES],
)
BD_NO_MARGIN = equation(
    "bdlmcl-no-margin",
    "BD-LMCL reading 'no_margin' (specification text)",
    "every sample contributes; only the selected ones get the margin: L = (1/B) Σ_i CE_i(m sel_i)",
    f"{LMCL_TEXT}: '作者认为如果某个样本已经离类中心很近了,最后在loss里的贡献就不是很大,就不用加"
    "margin了,而是要对那些位于边界上的样本加margin' (a sample already close to its class "
    "centre contributes little and needs no margin; the margin goes to the samples on the "
    "boundary)",
    [f"{F}:bdlmcl_loss", f"{F}:bdlmcl_logits", "paper_repro.losses.bdlmcl:BDLMCLHead"],
    [T_RANDOM, T_POLES],
)

# the head's declaration: registry key, oracle parameters (logit_spec takes STRUCTURAL),
# index section
KEY = "bdlmcl"
STRUCTURAL = "unselected"  # the reading changes the form of the target
EQUATIONS = (BD_SELECTION, BD_DROP, BD_NO_MARGIN)


def _reading(name: str, value) -> str:
    if value not in UNSELECTED:
        raise ValueError(f"{name} must be one of {UNSELECTED}, got {value!r}")
    return value


PARAMS = (
    common.SCALE,
    common.COS_MARGIN,
    common.Param("k", common.integer_at_least_one, 5),
    common.Param("unselected", _reading, "no_margin"),
)


TITLE = "BD-LMCL (boundary-discriminative LMCL)"
DESCRIPTION = (
    "LMCL logits; the samples near the decision boundary are those the margin classifier "
    "misclassifies while their target cosine is still among the k largest. Under the reading "
    "'no_margin' (the default, after the specification text) every sample counts and only the "
    "selected ones get the margin; under 'drop' (the ICASSP 2019 abstract) unselected samples "
    "contribute zero loss and zero gradient, and the batch mean still divides by the full "
    "batch size. 'drop' is not the default because with many classes almost no sample's "
    "target is in the top k at initialisation: almost every sample would have zero gradient."
)
REF_LOGITS = lmcl.CF_LOSS.label
REF_SELECTION = BD_SELECTION.label
REF_DROP = BD_DROP.label
REF_NO_MARGIN = BD_NO_MARGIN.label
UNSELECTED = ("drop", "no_margin")

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


def no_margin_target() -> sp.Expr:
    """Reading ``"no_margin"``: ``s (c - m sel)``, the margin only on selected samples."""
    return s * (c - m * _SEL)


@functools.cache
def logit_spec(unselected: str = "no_margin") -> common.LogitSpec:
    if unselected == "drop":
        return common.LogitSpec(
            target=lmcl.target_logit(),
            other=lmcl.other_logit(),
            params=(s, m, K_TOP),
            selection=selection(),
        )
    return common.LogitSpec(
        target=no_margin_target(),
        other=lmcl.other_logit(),
        params=(s, m, K_TOP, _SEL),
        selection=selection(),
        switch=_SEL,
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
            "Reading 'drop': loss of one sample (class y = 1 shown)",
            REF_DROP,
            sp.Symbol("L_i"),
            selected_loss(fs, 0),
        ),
        common.step(
            "Reading 'no_margin': target logit of one sample",
            REF_NO_MARGIN,
            sp.Symbol("f_y"),
            no_margin_target(),
            "y",
        ),
        common.Step(
            "Reading 'drop': gradient w.r.t. the logits (sel held constant)",
            REF_DROP,
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
        "bdlmcl-drop-loss-at-most-lmcl",
        REF_DROP,
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
        "bdlmcl-drop-grad-is-selected-lmcl",
        REF_DROP,
        common.eq_tex(
            sp.Derivative(sp.Symbol("L_i"), sp.Symbol("f_j")),
            _SEL * (sp.Symbol("p_j") - sp.Symbol(r"\mathbb{1}[j = y]")),
        ),
        holds,
        f"C = {N_CLASSES}, every label y and class j, sel a constant: "
        "d(sel CE)/df_j - sel (p_j - 1[j=y]) == 0",
    )


def _no_margin_switch_proof() -> Proof:
    target = no_margin_target()
    return Proof(
        "bdlmcl-nomargin-selected-lmcl-unselected-nsl",
        REF_NO_MARGIN,
        common.tex_list(
            sp.Eq(sp.Subs(target, _SEL, 1), lmcl.target_logit()),
            sp.Eq(sp.Subs(target, _SEL, 0), lmcl.other_logit()),
            role="y",
        ),
        common.is_zero(target.subs(_SEL, 1) - lmcl.target_logit())
        and common.is_zero(target.subs(_SEL, 0) - lmcl.other_logit()),
        "sel = 1 gives the LMCL target s (cos θ_y - m), sel = 0 the NSL target s cos θ_y",
    )


def _no_margin_bounds_proof() -> Proof:
    """``dCE/dmu = s sum_{j != y} p_j >= 0`` for the target ``s (c - mu)``: the loss grows with
    the margin, so ``CE(0) <= CE(m sel) <= CE(m)`` and the batch losses are ordered
    ``drop <= no_margin <= LMCL``."""
    mu = sp.Symbol("mu", nonnegative=True)
    fs = [s * (c - mu), *sp.symbols(f"f_2:{N_CLASSES + 1}", real=True)]
    probs = common.softmax(fs)
    slope = s * sum(probs[1:])
    derivative_ok = common.is_zero(sp.diff(common.cross_entropy(fs, 0), mu) - slope)
    # per sample: sel CE(m) <= CE(m sel) (equality at sel = 1, CE(0) >= 0 at sel = 0)
    ce = [common.cross_entropy([s * (c - m * v), *fs[1:]], 0) for v in (0, 1)]
    mix_ok = all(
        common.is_zero(ce[v] - (v * ce[1] + (1 - v) * ce[0])) for v in (0, 1)
    )  # CE(m sel) = sel CE(m) + (1 - sel) CE(0) for sel in {0, 1}
    return Proof(
        "bdlmcl-nomargin-between-drop-and-lmcl",
        REF_NO_MARGIN,
        common.tex_list(
            sp.Eq(sp.Derivative(sp.Symbol("CE"), mu), s * sp.Symbol(r"\sum_{j \ne y} p_j")),
            sp.Symbol(r"L_{drop} \le L_{no\_margin} \le L_{LMCL}"),
        ),
        derivative_ok and bool(slope.is_nonnegative) and mix_ok,
        f"C = {N_CLASSES}: dCE/dμ minus s Σ_(j≠y) p_j is 0 and SymPy's assumptions decide it is "
        ">= 0 (CE grows with the margin); CE(m sel) = sel CE(m) + (1 - sel) CE(0) for sel in "
        "{0, 1}; with CE >= 0 (bdlmcl-drop-loss-at-most-lmcl) the batch losses are ordered",
    )


def _no_margin_m0_proof() -> Proof:
    target = no_margin_target()
    return Proof(
        "bdlmcl-nomargin-m0-is-nsl",
        REF_NO_MARGIN,
        common.eq_tex(sp.Subs(target, m, 0), lmcl.other_logit(), "y"),
        common.is_zero(target.subs(m, 0) - lmcl.other_logit()),
        "with m = 0 every sample keeps the NSL loss whatever the selection, while 'drop' with "
        "k = 1, m = 0 selects nothing (bdlmcl-sel-k1-m0-selects-nothing) and its loss is 0: "
        "the two readings differ",
    )


def no_margin_proofs() -> list[Proof]:
    return [
        _no_margin_switch_proof(),
        lmcl.softmax_ce.dce_dcos_proof(
            "bdlmcl-nomargin-dce-dcos",
            REF_NO_MARGIN,
            lambda xn, wn, cos: s * (cos - m * _SEL),
            lambda xn, wn, cos: s * cos,
            lambda xn, wn: s,
        ),
        _no_margin_bounds_proof(),
        _no_margin_m0_proof(),
    ]


@functools.cache
def proofs() -> list[Proof]:
    return [*_band_proofs(), _ce_nonnegative_proof(), _gradient_proof(), *no_margin_proofs()]
