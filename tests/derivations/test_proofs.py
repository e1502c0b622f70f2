"""Every SymPy proof in ``derivations`` holds, and the checker can tell a false claim."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import sympy as sp

import derivations
import derivations.arcface
import derivations.asoftmax
import derivations.lmcl
import derivations.softmax_ce
from derivations import common, jacobian, lsoftmax

PROOFS = derivations.all_proofs()
PACKAGE_DIR = Path(derivations.__file__).parent


@pytest.mark.parametrize("proof", PROOFS, ids=[p.name for p in PROOFS])
def test_proof_holds(proof):
    assert proof.holds, f"{proof.name} ({proof.paper_ref}) does not hold: {proof.detail}"


def test_proof_names_are_unique_ids_with_a_paper_reference():
    names = [p.name for p in PROOFS]
    assert len(names) == len(set(names))
    prefixes = ("common", *derivations.HEADS)
    for p in PROOFS:
        assert p.name.split("-")[0] in prefixes, p.name
        assert p.paper_ref and p.statement and p.detail, p.name


def test_proof_ids_are_written_whole_where_they_are_made():
    """A reviewer finds a proof by grepping its id: each id appears in derivations/ as one
    string, whole, or for a family proved per integer margin as its stem with "-m{m}"."""
    source = "".join(path.read_text() for path in PACKAGE_DIR.glob("*.py"))

    def written(name: str) -> bool:
        stem = re.sub(r"-m\d+$", "-m{m}", name)
        return f'"{name}"' in source or (stem != name and f'"{stem}"' in source)

    assert [p.name for p in PROOFS if not written(p.name)] == []


def test_every_head_has_proofs():
    for head in derivations.HEADS:
        assert any(p.name.startswith(f"{head}-") for p in PROOFS), head


def test_requested_multiple_angle_margins_are_covered():
    names = {p.name for p in PROOFS}
    for m in range(1, 9):
        assert f"lsoftmax-eq7-multiple-angle-m{m}" in names
        assert f"lsoftmax-eq6-psi-decreasing-m{m}" in names


def test_checker_rejects_false_identities():
    theta = common.theta
    assert common.prove_equal("t", "", sp.cos(2 * theta), 2 * sp.cos(theta) ** 2 - 1, "").holds
    assert not common.prove_equal("f", "", sp.cos(2 * theta), 2 * sp.cos(theta) ** 2, "").holds
    # A wrong coefficient in the printed m = 2 gradient must be caught.
    grad_x, _ = common.vector_gradient_free_norms(lsoftmax._piece_logit(2))
    assert common.is_zero(grad_x - lsoftmax.paper_m2_grad_x())
    assert not common.is_zero(grad_x - 1.01 * lsoftmax.paper_m2_grad_x())


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_derivations_never_import_the_implementation_or_torch():
    allowed = {
        "numpy",
        "sympy",
        "derivations",
        "__future__",
        "argparse",
        "collections",
        "dataclasses",
        "functools",
        "math",
        "numbers",
        "pathlib",
        "sys",
    }
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        assert _imported_roots(path) <= allowed, (path.name, _imported_roots(path) - allowed)


STEP = sp.Rational(1, 10**6)


def _numeric_slope(expr, at: dict, var, h=STEP):
    """Central difference of a forward twin, evaluated exactly then rounded."""
    upper = expr.subs({**at, var: at[var] + h})
    lower = expr.subs({**at, var: at[var] - h})
    return float(sp.N((upper - lower) / (2 * h), 30))


@pytest.mark.parametrize(
    "forward,gradient",
    [
        (derivations.softmax_ce.logit, derivations.softmax_ce.logit_gradient),
        (lambda: lsoftmax.target_logit(3), lambda: lsoftmax.target_logit_gradient(3)),
        (
            lambda: derivations.asoftmax.target_logit(4),
            lambda: derivations.asoftmax.target_logit_gradient(4),
        ),
        (derivations.asoftmax.other_logit, derivations.asoftmax.other_logit_gradient),
        (derivations.lmcl.target_logit, derivations.lmcl.target_logit_gradient),
        (derivations.lmcl.other_logit, derivations.lmcl.other_logit_gradient),
        (derivations.arcface.target_logit, derivations.arcface.target_logit_gradient),
    ],
    ids=[
        "softmax",
        "lsoftmax-m3",
        "asoftmax-m4",
        "asoftmax-other",
        "lmcl-target",
        "lmcl-other",
        "arcface-target",
    ],
)
def test_gradient_twins_match_differences_of_forward_twins(forward, gradient):
    """Each ``*_gradient`` twin against a central difference of its forward twin."""
    f, partials = forward(), gradient()
    at = {
        common.x_norm: sp.Rational(3, 2),
        common.w_norm: sp.Rational(7, 5),
        common.lam: sp.Rational(1, 3),
        common.s: 8,
        common.m: sp.Rational(2, 5),
    }
    for cos in (sp.Rational(-7, 10), sp.Rational(-1, 5), sp.Rational(3, 10), sp.Rational(4, 5)):
        point = {**at, common.c: cos}
        for var, slope in zip(
            (common.x_norm, common.w_norm, common.c),
            (partials.d_xnorm, partials.d_wnorm, partials.d_cos),
            strict=True,
        ):
            expected = _numeric_slope(f, point, var)
            assert float(sp.N(slope.subs(point), 30)) == pytest.approx(expected, rel=1e-8, abs=1e-8)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_psi_gradient_twin(m):
    for cos in (sp.Rational(-9, 10), sp.Rational(-1, 3), sp.Rational(1, 7), sp.Rational(9, 10)):
        point = {common.c: cos}
        expected = _numeric_slope(lsoftmax.psi(m), point, common.c)
        assert float(lsoftmax.psi_gradient(m).subs(point)) == pytest.approx(expected, rel=1e-8)


def test_checker_rejects_wrong_worked_numbers_and_jacobians():
    logits = [sp.Integer(v) for v in derivations.softmax_ce.WORKED_LOGITS]
    printed = (*derivations.softmax_ce.WORKED_SOFTMAX[:3], "0.6440")  # last digit changed
    wrong = derivations.softmax_ce._printed_proof("w", "", common.softmax(logits), printed, 4, "")
    assert not wrong.holds
    j, k, x = common.J_ANY, common.K_ANY, common.X_ANY
    exact = sp.diff(x[j] / common.indexed_norm(x), x[k])
    without_norm = jacobian.normalise_jacobian(x, j, k) * common.indexed_norm(x)
    assert not common.is_zero_within(exact - without_norm, common.DIM, j, k)
    transposed_sign = -jacobian.normalise_jacobian(x, j, k)
    assert not common.is_zero_within(exact - transposed_sign, common.DIM, j, k)
