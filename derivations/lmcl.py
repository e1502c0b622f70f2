"""LMCL / CosFace (Wang et al., CVPR 2018): large-margin cosine loss.

Logits ``f_j = s (cos(theta_j) - m 1[j = y])`` with both features and weights normalised
(CosFace eq. 4); ``m = 0`` is the normalised softmax loss NSL (CosFace eq. 3).  The cosine
is computed from the raw vectors, so neither norm appears in a logit and every gradient
flows through ``dcos/dx`` and ``dcos/dW_j``.
"""

from __future__ import annotations

import functools

import sympy as sp

from derivations import common, softmax_ce
from derivations.common import Proof, c, m, s
from derivations.equations import LMCL_TEXT, T_CLOSED, T_MUTANT, T_POLES, T_RANDOM, F, equation

# its entries of the equation index (derivations.SECTIONS)
CF_NSL = equation(
    "lmcl-eq3",
    "CosFace eq. 3 (NSL; numbering not confirmed)",
    "normalised softmax loss: f_j = s cos θ_j",
    f"{LMCL_TEXT} gives the definition as an image without a number; no other text has it",
    [f"{F}:lmcl_logits", f"{F}:plain_logits"],
    [T_RANDOM],
)
CF_LOSS = equation(
    "lmcl-eq4",
    "CosFace eq. 4 (LMCL; numbering not confirmed)",
    "f_y = s (cos θ_y - m), f_j = s cos θ_j, and its gradients in x and W_j",
    CF_NSL.checked,
    [
        f"{F}:lmcl_target",
        f"{F}:lmcl_partials",
        f"{F}:lmcl_logits",
        "paper_repro.losses.lmcl:LMCLHead",
    ],
    [T_RANDOM, T_POLES, f"{T_MUTANT}[lmcl-margin-sign]", T_CLOSED],
)

# the head's declaration: registry key, oracle parameters (logit_spec takes STRUCTURAL),
# index section
KEY = "lmcl"
PARAMS = (common.SCALE, common.COS_MARGIN)
STRUCTURAL = None
EQUATIONS = (CF_NSL, CF_LOSS)


TITLE = "LMCL (CosFace)"
DESCRIPTION = (
    "Features and class weights are normalised and the logits are scaled cosines; the target "
    "cosine is reduced by an additive margin m before scaling by s."
)
REF_NSL = CF_NSL.label
REF_LOSS = CF_LOSS.label


def other_logit(cos=c) -> sp.Expr:
    """``f_j = s cos(theta_j)`` (CosFace eq. 3 and 4, j != y)."""
    return s * cos


def target_logit(cos=c) -> sp.Expr:
    """``f_y = s (cos(theta_y) - m)`` (CosFace eq. 4)."""
    return s * (cos - m)


def target_logit_gradient() -> common.Partials:
    return common.partials(target_logit())


def other_logit_gradient() -> common.Partials:
    return common.partials(other_logit())


@functools.cache
def logit_spec() -> common.LogitSpec:
    return common.LogitSpec(target=target_logit(), other=other_logit(), params=(s, m))


def steps() -> list[common.Step]:
    return common.logit_steps(logit_spec(), REF_LOSS, REF_LOSS)


def _of_cos(builder):
    """Adapt a ``cos -> logit`` builder to the ``(xn, wn, cos)`` form used by dce_dcos_proof."""
    return lambda xn, wn, cos: builder(cos)


def orthogonality_proofs(names: tuple[str, str], paper_ref: str, spec: common.LogitSpec):
    """Scale invariance of the logits in x and in W_j (also used for ArcFace); ``names``: the
    ids of the x and the W proof."""
    f = sp.Symbol("f_j")
    # A Piecewise target is checked branch by branch: each branch is smooth on its side.
    target = sp.piecewise_fold(spec.target)
    exprs = [e for e, _ in target.args] if target.is_Piecewise else [target]
    exprs.append(spec.other)
    out = []
    for name, wrt, vec in zip(names, ("x", "W"), (common.X_VEC, common.W_VEC), strict=True):
        out.append(
            Proof(
                name,
                paper_ref,
                common.eq_tex(sp.MatMul(vec.T, sp.Derivative(f, vec)), sp.Integer(0)),
                all(common.gradient_is_orthogonal(e, wrt) for e in exprs),
                f"target (every branch) and non-target logits; explicit 3-vectors with true norms; "
                f"simplify({wrt} . df/d{wrt}) == 0",
            )
        )
    return out


def gradient_proofs(names: tuple[str, str, str, str], paper_ref: str, target, other,
                    target_slope=None):  # fmt: skip
    """``df/dx = g (Ŵ - c x̂)/|x|`` and ``df/dW = g (x̂ - c Ŵ)/|W|`` for the target (slope
    ``g = target_slope(c)``, default ``s``) and the other logits (``g = s``): the closed forms
    of every logit that sees x and W only through the cosine (also used for ArcFace).
    ``names``: the ids of the target's x and W proofs, then the other logit's."""
    detail = "explicit 3-vectors with |x|, |W_j| free; derived minus written-out form is 0"
    slope = target_slope or (lambda cc: s)
    return [
        *common.closed_form_gradient_proofs(
            names[:2], paper_ref, target, common.cosine_closed_form(slope), "y", detail
        ),
        *common.closed_form_gradient_proofs(
            names[2:],
            paper_ref,
            other,
            common.cosine_closed_form(lambda cc: s),
            "j",
            detail,
        ),
    ]


@functools.cache
def proofs() -> list[Proof]:
    return [
        common.prove_equal(
            "lmcl-eq3-nsl-is-m0",
            REF_NSL,
            target_logit().subs(m, 0),
            other_logit(),
            "target logit at m = 0 minus s cos θ_y simplifies to 0",
            "y",
            statement=common.eq_tex(sp.Subs(target_logit(), m, 0), other_logit(), "y"),
        ),
        softmax_ce.dce_dcos_proof(
            "lmcl-eq4-dce-dcos",
            REF_LOSS,
            _of_cos(target_logit),
            _of_cos(other_logit),
            lambda xn, wn: s,
        ),
        *orthogonality_proofs(
            ("lmcl-eq4-grad-x-orthogonal", "lmcl-eq4-grad-W-orthogonal"), REF_LOSS, logit_spec()
        ),
        *gradient_proofs(
            (
                "lmcl-eq4-target-grad-x",
                "lmcl-eq4-target-grad-W",
                "lmcl-eq4-other-grad-x",
                "lmcl-eq4-other-grad-W",
            ),
            REF_LOSS,
            target_logit(),
            other_logit(),
        ),
    ]
