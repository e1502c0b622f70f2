"""Every head's forward, loss and gradients against the lambdified SymPy derivations (float64).

Error budget, per sample and per class (tests/losses/budget.py derives it): float64 round-off,
eps = 2.2e-16, grows with the few dozen operations per value, hence TOL = 2^12 eps (~1e-12)
on every term; where the mathematics is ill-conditioned near cos t = +-1 the budget grows
with the conditioning of that sample and class only, never with the worst of the batch.
A wrong formula, sign or missing factor gives errors of order 1e-3 to 1; the planted bugs of
tests/losses/test_mutants.py show the comparison catches them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from paper_repro.losses import HEADS as HEADS_BY_NAME
from tests import verification_log
from tests.losses.budget import budgets
from tests.losses.reference import sympy_evaluate, torch_evaluate
from tests.losses.strategies import (
    HEADS,
    batches,
    boundary_angles,
    head_params,
    pole_angles,
    with_target_angles,
)

# loss, grad_*: the nn.Module (hand-written backward); functional_*: autograd on the logits
QUANTITIES = ("logits", "loss", "grad_x", "grad_W",
              "functional_loss", "functional_grad_x", "functional_grad_W")  # fmt: skip


def budget_used(got: np.ndarray, want: np.ndarray, budget: np.ndarray) -> float:
    """max over rows of max |got - want| / the row's budget (a scalar for the loss)."""
    budget = np.atleast_1d(budget)
    diff = np.abs(np.atleast_1d(got) - np.atleast_1d(want)).reshape(len(budget), -1).max(axis=1)
    # a row with a zero budget (no round-off can reach it) must match exactly
    used = np.where(diff == 0, 0.0, diff / np.where(budget > 0, budget, np.inf))
    return float(np.max(np.where((budget == 0) & (diff > 0), np.inf, used), initial=0.0))


def check_against_sympy(head, x, w, y, params, device, case, record=True):
    """Assert every quantity within its per-row budget; ``record`` feeds the summary table."""
    want = sympy_evaluate(head, x, w, y, params)
    cos_y = want["cos"][np.arange(len(y)), y]
    if HEADS_BY_NAME[head].target_divides_by_sine and not np.all(np.abs(cos_y) < 1.0 - 1e-12):
        reject()  # e.g. cos(t + m) has an infinite derivative at t = 0, pi: nothing to compare
    got = torch_evaluate(head, x, w, y, params, device)
    limits = budgets(head, x, w, y, params, want)
    for quantity in QUANTITIES:
        used = budget_used(
            got[quantity], want[quantity], limits[quantity.removeprefix("functional_")]
        )
        if record:
            verification_log.record(head, quantity, device, used)
        assert used <= 1.0, f"{head} {case} {quantity}: {used:.3g} x its round-off budget"


@pytest.mark.parametrize("head", HEADS)
@given(data=st.data())
def test_random_batches_match_sympy(head, device, data):
    """L-Softmax eqs. 4-10, SphereFace eq. 7, CosFace eqs. 3-4, ArcFace eq. 3 on random batches."""
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
