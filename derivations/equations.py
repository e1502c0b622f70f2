"""The equations the proofs are about: label as printed, where it was checked, code and tests.
This module holds the entry type and the entries the heads share (the chain rule, the vector
identities and the normalisation Jacobian; the softmax loss, its gradient and polar logit; the
worked numbers); each head's derivation module declares its own entries beside its proofs (its
``EQUATIONS``).

Every :class:`derivations.common.Proof` names one of the entries' labels as its ``paper_ref``;
the equation index at the top of ``reports/derivations.md`` is generated from the entries and
the proofs, and ``tests/derivations/test_index.py`` resolves every implementation and test name
listed here, so a rename elsewhere fails a test instead of leaving a stale index.

Labels were checked against the source texts in ``../shared/papers/`` (secondary sources:
blog posts, formulas that were images are missing). Where they do not print a number the
label says "numbering not confirmed"; the CosFace, SphereFace and ArcFace numbers kept in
such labels are the ones this project has used, not checked against any text.
"""

from __future__ import annotations

from dataclasses import dataclass

WALK = "lsoftmax-paper-walkthrough.zh.txt"
OVERVIEW = "overview-softmax-to-margin-losses.zh.txt"
WORKED = "softmax-loss-cross-entropy-worked-numbers.zh.txt"
LMCL_TEXT = "softmax-ce-lmcl-bdlmcl-derivation.zh.txt"

F = "paper_repro.losses.functional"
A = "paper_repro.losses.angular"
T_SYMPY = "tests/losses/test_against_sympy.py"
T_RANDOM = f"{T_SYMPY}::test_random_batches_match_sympy"
T_JOINTS = f"{T_SYMPY}::test_psi_joints_k_pi_over_m_match_sympy"
T_POLES = f"{T_SYMPY}::test_cos_near_plus_minus_one_match_sympy"
T_MUTANT = "tests/losses/test_mutants.py::test_planted_bug_is_caught"
T_CLOSED = "tests/losses/test_heads.py::test_closed_form_partials_equal_autograd_of_the_target"
T_WORKED = "tests/losses/test_worked_numbers.py"


@dataclass(frozen=True)
class Equation:
    """One row of the equation index.

    ``label`` is what proofs cite (their ``paper_ref``); ``checked`` quotes the source text
    that confirms the numbering (or the reading), or says why it is not confirmed;
    ``implementation`` are ``module:attribute`` names and ``tests`` pytest node ids
    (``file::function[param]``).
    """

    key: str
    label: str
    what: str
    checked: str
    implementation: tuple[str, ...]
    tests: tuple[str, ...]


def equation(key, label, what, checked, implementation, tests) -> Equation:
    return Equation(key, label, what, checked, tuple(implementation), tuple(tests))


CHAIN = equation(
    "chain-rule",
    "L-Softmax optimisation section: chain rule (numbering not confirmed)",
    "∂L/∂x = Σ_j ∂L/∂f_j ∂f_j/∂x for logits written in |x|, |W_j|, cos θ_j",
    f"{WALK}, section 3: '使用链式法则去计算偏导', the formula itself is an image",
    [f"{F}:margin_cross_entropy", f"{F}:_margin_backward"],
    [T_RANDOM, T_POLES],
)
VECTOR = equation(
    "vector-identities",
    "vector identities d|x|/dx, dcos/dx, dcos/dW (no equation number)",
    "the three derivatives every vector gradient is assembled from",
    "not an equation of any paper: this project's derivation",
    [f"{F}:_margin_backward"],
    [T_RANDOM],
)
NORMALISE = equation(
    "normalisation-jacobian",
    "normalisation Jacobian (I - u uᵀ)/|v| (no equation number)",
    "the route the hand-written backward takes, equal to the dcos route",
    "not an equation of any paper: the implementation's backward",
    [f"{F}:_add_radial", f"{F}:_margin_backward"],
    [T_RANDOM, T_POLES, f"{T_MUTANT}[transposed-normalisation-jacobian]"],
)
SOFTMAX_LOSS = equation(
    "softmax-eq1",
    "L-Softmax eq. 1",
    "softmax loss L = (1/N) Σ_i -log(e^{f_y} / Σ_j e^{f_j})",
    f"{WALK}: printed with \\tag{{1}}",
    [f"{F}:softmax_cross_entropy", "paper_repro.losses.softmax:SoftmaxHead"],
    [T_RANDOM, T_POLES],
)
SOFTMAX_GRAD = equation(
    "softmax-ce-gradient",
    "softmax cross-entropy gradient ∂CE/∂f_j = p_j - 1[j = y] (no equation number)",
    "the gradient of eq. 1 in the logits, for any number of classes",
    f"{LMCL_TEXT}: derived in two cases (j = t and j ≠ t), then unified; the formulas are "
    "images, the number is not printed, and eq. 1 of L-Softmax is the loss, not this gradient",
    [f"{F}:softmax_cross_entropy", f"{F}:_margin_backward"],
    [T_RANDOM, T_POLES],
)
POLAR = equation(
    "softmax-polar",
    "L-Softmax polar logit f_j = |W_j||x| cos θ_j (numbering not confirmed)",
    "the inner product in polar form, and dCE/dcos θ_j",
    f"{WALK}, section 1: printed inline without a number",
    [f"{F}:softmax_logits", f"{F}:plain_logits"],
    [T_RANDOM],
)
WORKED_1234 = equation(
    "worked-1234",
    "overview text, worked numbers for (1, 2, 3, 4)",
    "softmax = (0.0321, 0.0871, 0.2369, 0.6439), log-softmax = (-3.4402, -2.4402, -1.4402, "
    "-0.4402), cross-entropy with target 4 = 0.4402",
    f"{OVERVIEW}, sections 1.1, 1.2 and 2 (printed as text)",
    [f"{F}:softmax_cross_entropy"],
    [f"{T_WORKED}::test_worked_numbers_of_the_overview_text"],
)
WORKED_SPEC = equation(
    "worked-spec",
    "worked-numbers text: softmax([1, 2, 3]) and L = -log 0.6",
    "softmax([1, 2, 3]) = [0.09, 0.24, 0.67]; label 4 of 5 with p = [0.1, 0.15, 0.05, 0.6, "
    "0.1] gives L = -log 0.6, and -log 0.6 < -log 0.3 < -log 0.1",
    f"{WORKED} (printed as text; the same softmax example in {OVERVIEW}, section 4.1)",
    [f"{F}:softmax_cross_entropy"],
    [f"{T_WORKED}::test_worked_numbers_of_the_specification_text"],
)

# the shared entries; each head's module declares its own (derivations.SECTIONS)
COMMON = (CHAIN, VECTOR, NORMALISE)
