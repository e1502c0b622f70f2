"""The equations the proofs are about: label as printed, where it was checked, code and tests.

Every :class:`derivations.common.Proof` names one of these labels as its ``paper_ref``; the
equation index at the top of ``reports/derivations.md`` is generated from this table and the
proofs, and ``tests/derivations/test_index.py`` resolves every implementation and test name
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


def _eq(key, label, what, checked, implementation, tests) -> Equation:
    return Equation(key, label, what, checked, tuple(implementation), tuple(tests))


CHAIN = _eq(
    "chain-rule",
    "L-Softmax optimisation section: chain rule (numbering not confirmed)",
    "∂L/∂x = Σ_j ∂L/∂f_j ∂f_j/∂x for logits written in |x|, |W_j|, cos θ_j",
    f"{WALK}, section 3: '使用链式法则去计算偏导', the formula itself is an image",
    [f"{F}:margin_cross_entropy", f"{F}:_margin_backward"],
    [T_RANDOM, T_POLES],
)
VECTOR = _eq(
    "vector-identities",
    "vector identities d|x|/dx, dcos/dx, dcos/dW (no equation number)",
    "the three derivatives every vector gradient is assembled from",
    "not an equation of any paper: this project's derivation",
    [f"{F}:_margin_backward"],
    [T_RANDOM],
)
NORMALISE = _eq(
    "normalisation-jacobian",
    "normalisation Jacobian (I - u uᵀ)/|v| (no equation number)",
    "the route the hand-written backward takes, equal to the dcos route",
    "not an equation of any paper: the implementation's backward",
    [f"{F}:_add_radial", f"{F}:_margin_backward"],
    [T_RANDOM, T_POLES, f"{T_MUTANT}[transposed-normalisation-jacobian]"],
)
SOFTMAX_LOSS = _eq(
    "softmax-eq1",
    "L-Softmax eq. 1",
    "softmax loss L = (1/N) Σ_i -log(e^{f_y} / Σ_j e^{f_j})",
    f"{WALK}: printed with \\tag{{1}}",
    [f"{F}:softmax_cross_entropy", "paper_repro.losses.softmax:SoftmaxHead"],
    [T_RANDOM, T_POLES],
)
SOFTMAX_GRAD = _eq(
    "softmax-ce-gradient",
    "softmax cross-entropy gradient ∂CE/∂f_j = p_j - 1[j = y] (no equation number)",
    "the gradient of eq. 1 in the logits, for any number of classes",
    f"{LMCL_TEXT}: derived in two cases (j = t and j ≠ t), then unified; the formulas are "
    "images, the number is not printed, and eq. 1 of L-Softmax is the loss, not this gradient",
    [f"{F}:softmax_cross_entropy", f"{F}:_margin_backward"],
    [T_RANDOM, T_POLES],
)
POLAR = _eq(
    "softmax-polar",
    "L-Softmax polar logit f_j = |W_j||x| cos θ_j (numbering not confirmed)",
    "the inner product in polar form, and dCE/dcos θ_j",
    f"{WALK}, section 1: printed inline without a number",
    [f"{F}:softmax_logits", f"{F}:plain_logits"],
    [T_RANDOM],
)
WORKED_1234 = _eq(
    "worked-1234",
    "overview text, worked numbers for (1, 2, 3, 4)",
    "softmax = (0.0321, 0.0871, 0.2369, 0.6439), log-softmax = (-3.4402, -2.4402, -1.4402, "
    "-0.4402), cross-entropy with target 4 = 0.4402",
    f"{OVERVIEW}, sections 1.1, 1.2 and 2 (printed as text)",
    [f"{F}:softmax_cross_entropy"],
    [f"{T_WORKED}::test_worked_numbers_of_the_overview_text"],
)
WORKED_SPEC = _eq(
    "worked-spec",
    "worked-numbers text: softmax([1, 2, 3]) and L = -log 0.6",
    "softmax([1, 2, 3]) = [0.09, 0.24, 0.67]; label 4 of 5 with p = [0.1, 0.15, 0.05, 0.6, "
    "0.1] gives L = -log 0.6, and -log 0.6 < -log 0.3 < -log 0.1",
    f"{WORKED} (printed as text; the same softmax example in {OVERVIEW}, section 4.1)",
    [f"{F}:softmax_cross_entropy"],
    [f"{T_WORKED}::test_worked_numbers_of_the_specification_text"],
)
LS_LOSS = _eq(
    "lsoftmax-eq4",
    "L-Softmax eq. 4",
    "L-Softmax loss: the target logit |W_y||x| ψ(θ_y) (λ = 0)",
    f"{WALK}, section 2.2: '将式子1,式子4,式子6相结合,得到的L-Softmax loss' (the formula is "
    "an image)",
    [f"{F}:lsoftmax_target", f"{F}:lsoftmax_logits", "paper_repro.losses.lsoftmax:LSoftmaxHead"],
    [T_RANDOM, T_POLES],
)
LS_DEFINITION = _eq(
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
LS_PSI = _eq(
    "lsoftmax-eq6",
    "L-Softmax eq. 6",
    "ψ(θ) = (-1)^k cos(mθ) - 2k on [kπ/m, (k+1)π/m]; it must decrease (section 2.2)",
    f"{WALK}: printed with \\tag{{6}}",
    [f"{A}:psi", f"{A}:psi_and_slope", f"{A}:angle_segment"],
    [T_JOINTS, f"{T_MUTANT}[psi-drops-minus-2k]"],
)
LS_EXPANSION = _eq(
    "lsoftmax-eq7",
    "L-Softmax eq. 7",
    "cos(mθ) = Σ_n (-1)^n C(m, 2n) cos^{m-2n}θ (1 - cos²θ)^n, 2n <= m",
    f"{WALK}, section 3: '将式子6和式子7相结合,得到f_yi'; the expansion is the only formula "
    "between eq. 6 and section 3 ('这里n是整数且2n≤m' survives, the formula is an image)",
    [f"{A}:cos_multiple_angle"],
    [T_RANDOM, T_JOINTS],
)
LS_FORWARD = _eq(
    "lsoftmax-eq8-10-forward",
    "L-Softmax eqs. 8-10: f_y for general m (reconstructed; which of the three: not confirmed)",
    "f_y = (-1)^k |W||x| cos(mθ) - 2k |W||x| with eq. 7 expanded in W_yᵀx: our reconstruction, "
    "so its proof shows the expansion is eq. 7's algebra, not that it matches a printed formula",
    f"{WALK}, section 3: '当m≥3时,仍然可以通过式子8,式子9,式子10来计算前向和后向' confirms "
    "eqs. 8-10 as forward and backward for general m; the formulas are images",
    [f"{F}:lsoftmax_target", f"{A}:psi"],
    [T_RANDOM],
)
LS_GRAD_X = _eq(
    "lsoftmax-eq8-10-grad-x",
    "L-Softmax eqs. 8-10: ∂f_y/∂x (reconstructed; which of the three: not confirmed)",
    "the term-by-term derivative of the forward form, every m",
    LS_FORWARD.checked,
    [f"{F}:_margin_backward", f"{F}:lsoftmax_partials", f"{A}:multiple_angle_slope"],
    [T_RANDOM, T_JOINTS, f"{T_MUTANT}[psi-slope-ignores-segment-sign]", T_CLOSED],
)
LS_GRAD_W = _eq(
    "lsoftmax-eq8-10-grad-w",
    "L-Softmax eqs. 8-10: ∂f_y/∂W_y (reconstructed; which of the three: not confirmed)",
    "the W_y counterpart of ∂f_y/∂x",
    LS_FORWARD.checked,
    [f"{F}:_margin_backward", f"{F}:lsoftmax_partials", f"{A}:multiple_angle_slope"],
    [T_RANDOM, T_JOINTS, f"{T_MUTANT}[psi-slope-ignores-segment-sign]", T_CLOSED],
)
LS_M2 = _eq(
    "lsoftmax-m2",
    "L-Softmax m = 2 example after eqs. 8-10 (reconstructed; numbering not confirmed)",
    "f_y = (-1)^k 2(W_yᵀx)²/(|W||x|) - ((-1)^k + 2k)|W||x| and its gradients",
    f"{WALK}, section 3: '举个例子,给定一个m=2时候' after eqs. 8-10; the formulas are images",
    [f"{F}:lsoftmax_target", f"{F}:lsoftmax_partials"],
    [T_RANDOM, f"{T_WORKED}::test_lsoftmax_m2_example_matches_its_closed_form"],
)
LS_LAMBDA = _eq(
    "lsoftmax-lambda",
    "L-Softmax λ-blended target logit (numbering not confirmed)",
    "f_y = (λ|W||x| cos θ + |W||x| ψ(θ)) / (1 + λ), λ annealed towards 0, and its gradients",
    f"{WALK}, section 4: '这时候的学习策略是' (an image), then large λ decreased towards 0",
    [f"{F}:_annealed_psi", f"{F}:lsoftmax_target", "paper_repro.losses.schedule:LambdaSchedule"],
    [T_RANDOM, f"{T_MUTANT}[lambda-weights-swapped]"],
)
AS_MODIFIED = _eq(
    "asoftmax-eq5",
    "SphereFace eq. 5 (modified softmax; numbering not confirmed)",
    "f_j = |x| cos θ_j: class weights normalised",
    f"no source text prints SphereFace's equations ({OVERVIEW} only names it)",
    [f"{F}:asoftmax_logits", f"{F}:plain_logits"],
    [T_RANDOM, T_POLES],
)
AS_LOSS = _eq(
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
CF_NSL = _eq(
    "lmcl-eq3",
    "CosFace eq. 3 (NSL; numbering not confirmed)",
    "normalised softmax loss: f_j = s cos θ_j",
    f"{LMCL_TEXT} gives the definition as an image without a number; no other text has it",
    [f"{F}:lmcl_logits", f"{F}:plain_logits"],
    [T_RANDOM],
)
CF_LOSS = _eq(
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
AF_LOSS = _eq(
    "arcface-eq3",
    "ArcFace eq. 3 (additive angular margin; numbering not confirmed)",
    "f_y = s cos(θ_y + m) and its gradients in x and W_j",
    f"no source text prints ArcFace's equations ({OVERVIEW} only names it)",
    [
        f"{F}:arcface_logit",
        f"{F}:arcface_partials",
        f"{A}:arcface_target_and_slope",
        "paper_repro.losses.arcface:ArcFaceHead",
    ],
    [
        T_RANDOM,
        T_POLES,
        f"{T_MUTANT}[factor-2-near-pole]",
        f"{T_MUTANT}[arcface-slope-sign-of-sine-term]",
        T_CLOSED,
    ],
)
AF_FALLBACK = _eq(
    "arcface-fallback",
    "ArcFace fallback s (cos θ_y - m sin m), insightface easy_margin=False (not in the paper)",
    "the branch used where θ_y + m > π",
    "implementation convention of insightface, not printed in any source text",
    [f"{A}:arcface_target"],
    [T_RANDOM, T_POLES, f"{T_MUTANT}[arcface-fallback-off-by-a-term]"],
)
BD_SELECTION = _eq(
    "bdlmcl-selection",
    "BD-LMCL boundary selection (numbering not confirmed)",
    "a sample is near the boundary when the margin classifier is wrong and its target "
    "cosine is still in the top k",
    f"{LMCL_TEXT}, last section (the formula is an image); the rule is this project's reading",
    [f"{F}:boundary_selection"],
    [T_RANDOM, "tests/losses/test_heads.py::test_boundary_selection_rule_on_constructed_cosines"],
)
BD_DROP = _eq(
    "bdlmcl-drop",
    "BD-LMCL reading 'drop' (ICASSP 2019 abstract)",
    "unselected samples contribute nothing: L = (1/B) Σ_i sel_i CE_i(m)",
    "the ICASSP 2019 abstract, as quoted in the project's issue (the abstract is not among the "
    "source texts): 'only the samples around the speaker boundaries are considered'",
    [f"{F}:bdlmcl_loss", f"{F}:bdlmcl_logits", "paper_repro.losses.bdlmcl:BDLMCLHead"],
    [T_RANDOM, T_POLES],
)
BD_NO_MARGIN = _eq(
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

# the shared entries; each head's module declares its own (derivations.SECTIONS)
COMMON = (CHAIN, VECTOR, NORMALISE)
