"""Every head's forward, loss and gradients against the lambdified SymPy derivations (float64).

Tolerance: float64 round-off, eps = 2.2e-16, grows with the few dozen operations per value
(norms, dot products over D <= 8, the degree-m polynomial, log-sum-exp over C <= 8) and with
the conditioning of cos t: both sides compute cos t from x and W in their own order, so they
may differ by a few ulps there, and the gradient of cos(t + m) amplifies that by
1/sin^2 t near the poles. Hence TOL = 2^12 eps (~1e-12) times that amplification; a wrong
formula, sign or missing factor gives errors of order 1e-3 to 1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests import verification_log
from tests.losses.reference import relative_error, sympy_evaluate, torch_evaluate
from tests.losses.strategies import (
    HEADS,
    batches,
    boundary_angles,
    head_params,
    pole_angles,
    with_target_angles,
)

EPS = np.finfo(np.float64).eps
TOL = 2**12 * EPS
QUANTITIES = ("logits", "loss", "functional_loss", "grad_x", "grad_W")


def amplification(head: str, cos_target: np.ndarray) -> float:
    """How much a few-ulp difference in cos t_y is magnified in the compared quantities."""
    if head != "arcface":
        return 1.0
    return float(np.max(1.0 / np.maximum(1.0 - cos_target**2, EPS)))


def check_against_sympy(head, x, w, y, params, device, case):
    want = sympy_evaluate(head, x, w, y, params)
    cos_y = want["cos"][np.arange(len(y)), y]
    if head == "arcface":
        # cos(t + m) has an infinite derivative at t = 0, pi: only its finiteness is testable there
        assume(np.all(np.abs(cos_y) < 1.0 - 1e-12))
    got = torch_evaluate(head, x, w, y, params, device)
    tol = TOL * amplification(head, cos_y)
    for quantity in QUANTITIES:
        err = relative_error(got[quantity], want[quantity])
        verification_log.record(head, quantity, device, err)
        assert err <= tol, f"{head} {case} {quantity}: relative error {err:.3e} > {tol:.3e}"


@pytest.mark.parametrize("head", HEADS)
@given(data=st.data())
def test_random_batches_match_sympy(head, device, data):
    """L-Softmax eqs. 4-10, SphereFace eq. 7, CosFace eqs. 4-5, ArcFace eq. 3 on random batches."""
    x, w, y = data.draw(batches(min_classes=2 if head == "bdlmcl" else 1))
    check_against_sympy(head, x, w, y, data.draw(head_params(head)), device, "random")


@pytest.mark.parametrize("head", ["lsoftmax", "asoftmax"])
@given(data=st.data())
def test_psi_joints_k_pi_over_m_match_sympy(head, device, data):
    """L-Softmax eq. 6: at and next to t = k pi/m, where psi switches branch."""
    x, w, y = data.draw(batches())
    params = data.draw(head_params(head))
    angles = data.draw(boundary_angles(params["m"], len(y)))
    x = with_target_angles(x, w, y, angles, np.random.default_rng(len(y)))
    check_against_sympy(head, x, w, y, params, device, "k*pi/m")


@pytest.mark.parametrize("head", HEADS)
@given(data=st.data())
def test_cos_near_plus_minus_one_match_sympy(head, device, data):
    """Target angle within 1e-7..1e-2 of 0 or pi (cos t_y near +-1)."""
    x, w, y = data.draw(batches(min_classes=2 if head == "bdlmcl" else 1))
    angles = data.draw(pole_angles(len(y), min_distance=1e-7))
    x = with_target_angles(x, w, y, angles, np.random.default_rng(len(y)))
    check_against_sympy(head, x, w, y, data.draw(head_params(head)), device, "cos near +-1")
