"""Every head's forward, loss and gradients against the lambdified SymPy derivations (float64).

Tolerance: float64 round-off, eps = 2.2e-16, grows with the few dozen operations per value
(norms, dot products over D <= 8, the degree-m polynomial, log-sum-exp over C <= 8), hence
TOL = 2^12 eps (~1e-12), relative to the scale at which each quantity is computed:
- logits and loss: CE = logsumexp(f) - f_y cancels when p_y is near 1, so the loss is
  compared on the scale max(|CE|, max|f|);
- gradients: each g_ij = dCE/df_ij = p_ij - 1[j = y_i] is known to about eps absolutely (and
  exp turns a logit's round-off eps |f| into a relative error of p: factor max(1, max|f|)),
  so dCE/dtheta = (1/B) sum_ij g_ij df_ij/dtheta carries an absolute error of order
  eps (1/B) sum_ij |df_ij/dtheta|. Gradients are compared on that scale, computed from the
  Jacobian of the logits (it only sets the scale: the values compared are the oracle's);
- both sides compute cos t from x and W in their own order, so they may differ by a few ulps,
  which the curvature of cos(t + m) amplifies by 1/sin^2 t near the poles (ArcFace) and the
  projections through normalised vectors by 1/sin t (A-Softmax, LMCL, BD-LMCL).
A wrong formula, sign or missing factor gives errors of order 1e-3 to 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from tests import verification_log
from tests.losses.reference import LOGITS, relative_error, sympy_evaluate, torch_evaluate
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
# loss, grad_*: the nn.Module (hand-written backward); functional_*: autograd on the logits
QUANTITIES = ("logits", "loss", "grad_x", "grad_W",
              "functional_loss", "functional_grad_x", "functional_grad_W")  # fmt: skip


def pole_amplification(head: str, cos_target: np.ndarray) -> float:
    """How much round-off near cos t_y = +-1 is magnified in the compared quantities."""
    sin_sq = np.maximum(1.0 - cos_target**2, EPS)
    if head == "arcface":
        return float(np.max(1.0 / sin_sq))
    if head in ("asoftmax", "lmcl", "bdlmcl"):
        return float(np.max(1.0 / np.sqrt(sin_sq)))
    return 1.0


def gradient_scales(head, x, w, y, params) -> tuple[float, float]:
    """max entries of (1/B) sum_ij |df_ij/dx| and (1/B) sum_ij |df_ij/dW|."""
    xt, wt = torch.tensor(x), torch.tensor(w)
    yt = torch.tensor(y, dtype=torch.int64)
    jx, jw = torch.autograd.functional.jacobian(
        lambda a, b: LOGITS[head](a, b, yt, **params), (xt, wt)
    )  # (B, C, B, D) and (B, C, C, D)
    b = len(y)
    return jx.abs().sum(dim=(0, 1)).max().item() / b, jw.abs().sum(dim=(0, 1)).max().item() / b


def check_against_sympy(head, x, w, y, params, device, case):
    want = sympy_evaluate(head, x, w, y, params)
    cos_y = want["cos"][np.arange(len(y)), y]
    if head == "arcface":
        # cos(t + m) has an infinite derivative at t = 0, pi: only its finiteness is testable there
        assume(np.all(np.abs(cos_y) < 1.0 - 1e-12))
    got = torch_evaluate(head, x, w, y, params, device)
    tol = TOL * pole_amplification(head, cos_y)
    logit_scale = np.max(np.abs(want["logits"]))
    gradient_tol = tol * max(1.0, logit_scale)
    scale_x, scale_w = gradient_scales(head, x, w, y, params)
    floors = {"loss": logit_scale, "grad_x": scale_x, "grad_W": scale_w}
    floors.update({f"functional_{name}": floor for name, floor in floors.items()})
    for quantity in QUANTITIES:
        err = relative_error(got[quantity], want[quantity], floor=floors.get(quantity, 0.0))
        quantity_tol = gradient_tol if "grad" in quantity else tol
        # recorded as error / condition number, comparable across examples with the bound TOL
        verification_log.record(head, quantity, device, err * TOL / quantity_tol)
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
