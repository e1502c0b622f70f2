"""Every head's forward, loss and gradients against the lambdified SymPy derivations (float64).

Tolerance: float64 round-off, eps = 2.2e-16, grows with the few dozen operations per value
(norms, dot products over D <= 8, the degree-m polynomial, log-sum-exp over C <= 8), hence
TOL = 2^12 eps (~1e-12), times the condition numbers of the compared quantity:
- both sides compute cos t from x and W in their own order, so they may differ by a few ulps,
  and the gradient of cos(t + m) amplifies that by 1/sin^2 t near the poles (ArcFace);
- heads on normalised weights get d/dW through the projection (I - W^ W^T) x / |W|, which
  cancels to O(sin t) near the poles: amplification 1/sin t;
- dCE/df_y = p_y - 1 is known to eps absolutely, so when every sample is classified with
  p_y near 1 the gradient is a small difference of O(1) terms: amplification 1/max_i(1 - p_iy);
- CE = logsumexp(f) - f_y cancels the same way, so the loss is compared on the scale of the
  logits, max(|CE|, max|f|);
- exp turns a logit's absolute round-off eps |f| into a relative error of p: amplification
  max(1, max|f|) for the gradients;
- grad_W sums per-sample contributions that can cancel (x parallel and antiparallel to W_j),
  so it is compared on the scale of the summed absolute contributions (the summation bound),
  taken from the oracle one sample at a time.
A wrong formula, sign or missing factor gives errors of order 1e-3 to 1."""

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


def pole_amplification(head: str, cos_target: np.ndarray) -> float:
    """How much round-off near cos t_y = +-1 is magnified in the compared quantities."""
    sin_sq = np.maximum(1.0 - cos_target**2, EPS)
    if head == "arcface":
        return float(np.max(1.0 / sin_sq))
    if head in ("asoftmax", "lmcl", "bdlmcl"):
        return float(np.max(1.0 / np.sqrt(sin_sq)))
    return 1.0


def confidence_amplification(logits: np.ndarray, y: np.ndarray) -> float:
    """1 / max_i (1 - p_iy), with 1 - p_iy summed over the other classes (no cancellation)."""
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    miss = p.sum(axis=1) - p[np.arange(len(y)), y]
    return float(1.0 / max(miss.max(), EPS))


def summed_contributions(head, x, w, y, params) -> float:
    """max over entries of sum_i |d CE_i / dW| / B: the scale of grad_W's summation."""
    total = np.zeros_like(w)
    for i in range(len(y)):
        total += np.abs(sympy_evaluate(head, x[i : i + 1], w, y[i : i + 1], params)["grad_W"])
    return float(total.max() / len(y))


def check_against_sympy(head, x, w, y, params, device, case):
    want = sympy_evaluate(head, x, w, y, params)
    cos_y = want["cos"][np.arange(len(y)), y]
    if head == "arcface":
        # cos(t + m) has an infinite derivative at t = 0, pi: only its finiteness is testable there
        assume(np.all(np.abs(cos_y) < 1.0 - 1e-12))
    got = torch_evaluate(head, x, w, y, params, device)
    tol = TOL * pole_amplification(head, cos_y)
    logit_scale = np.max(np.abs(want["logits"]))
    gradient_tol = tol * confidence_amplification(want["logits"], y) * max(1.0, logit_scale)
    floors = {"loss": logit_scale, "functional_loss": logit_scale,
              "grad_W": summed_contributions(head, x, w, y, params)}  # fmt: skip
    for quantity in QUANTITIES:
        err = relative_error(got[quantity], want[quantity], floor=floors.get(quantity, 0.0))
        quantity_tol = gradient_tol if quantity.startswith("grad") else tol
        verification_log.record(head, quantity, device, err)
        assert err <= quantity_tol, (
            f"{head} {case} {quantity}: relative error {err:.3e} > {quantity_tol:.3e}"
        )


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
