"""Planted bugs, each caught by the comparison `make verify-gradients` runs.

Every mutant is planted by monkeypatching one function of `paper_repro.losses.functional`,
on a problem built where that bug shows (the pole, the later pieces of psi, the ArcFace
fallback...). The same problem first passes unmutated, so a catch is the mutant's doing and
not a false failure; the verdicts make the mutation score of reports/verification/gradients.md.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paper_repro.losses import angular, functional
from tests import verification_log
from tests.losses.strategies import with_target_angles
from tests.losses.test_against_sympy import check_against_sympy


def _problem(angles, labels=(0, 1, 2, 0), close_class: float | None = None, seed=7):
    """x (B, 5) at the given target angles to W (3, 5); ``close_class`` puts W_1 at that
    angle from W_0, so a sample near W_0 is not classified with certainty."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((3, 5)) * np.array([[1.5], [0.8], [1.2]])
    if close_class is not None:
        w[1] = np.linalg.norm(w[1]) * with_target_angles(w[:1], w, [0], [close_class], rng)[0]
        w[1] /= np.linalg.norm(w[0])
    x = rng.standard_normal((len(labels), 5)) * 2.0
    y = np.array(labels)
    return with_target_angles(x, w, y, angles, rng), w, y


def _factor_2_near_pole(monkeypatch):
    original = functional._margin_backward

    def mutant(ctx, grad_loss, x, weight, labels):
        grad_x, grad_w = original(ctx, grad_loss, x, weight, labels)
        w_y = weight[labels]
        cos = (x * w_y).sum(dim=1) / (x.norm(dim=1) * w_y.norm(dim=1))
        near = (1.0 - cos.abs()) < 1e-8  # target angle below about 1.4e-4
        return torch.where(near[:, None], 2.0 * grad_x, grad_x), grad_w

    monkeypatch.setattr(functional, "_margin_backward", mutant)


def _psi_drops_minus_2k(monkeypatch):
    def mutant(cos, m):
        return angular.psi(cos, m) + 2.0 * angular.angle_segment(cos, m)

    monkeypatch.setattr(functional, "psi", mutant)


def _lmcl_margin_sign(monkeypatch):
    original = functional.lmcl_target
    monkeypatch.setattr(
        functional, "lmcl_target", lambda dot, xn, wn, s, m: original(dot, xn, wn, s, -m)
    )


def _arcface_fallback_off_by_a_term(monkeypatch):
    def mutant(cos, m):  # the fallback without its - m sin m
        sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=torch.finfo(cos.dtype).eps))
        shifted = cos * math.cos(m) - sin * math.sin(m)
        return torch.where(cos > math.cos(math.pi - m), shifted, cos)

    monkeypatch.setattr(functional, "arcface_target", mutant)


def _lambda_weights_swapped(monkeypatch):
    def mutant(dot, norms, m, lam):
        cos = dot / functional._safe(norms)
        return (dot + lam * norms * functional.psi(cos, m)) / (1.0 + lam)

    monkeypatch.setattr(functional, "_annealed_psi", mutant)


def _transposed_normalisation_jacobian(monkeypatch):
    def mutant(grad, v, v_norm):
        # the batched Jacobian transposed: every row projected by U^T U = sum_n u_n u_n^T
        # instead of its own u_i u_i^T
        u = v / functional._floored(v_norm)[:, None]
        return grad.sub_((grad @ u.T) @ u)

    monkeypatch.setattr(functional, "_tangential", mutant)


MUTANTS = {
    "factor-2-near-pole": (
        _factor_2_near_pole,
        "arcface",
        {"s": 16.0, "m": 0.5},
        _problem([1.5e-6, 1.0, 2.0, 0.7], close_class=0.35),
    ),
    "psi-drops-minus-2k": (
        _psi_drops_minus_2k,
        "lsoftmax",
        {"m": 3, "lam": 0.0},
        _problem([2.0, 2.5, 1.2, 0.5]),
    ),
    "lmcl-margin-sign": (
        _lmcl_margin_sign,
        "lmcl",
        {"s": 30.0, "m": 0.35},
        _problem([0.4, 1.1, 1.9, 0.9]),
    ),
    "arcface-fallback-off-by-a-term": (
        _arcface_fallback_off_by_a_term,
        "arcface",
        {"s": 16.0, "m": 0.5},
        _problem([2.9, 3.0, 1.0, 2.8]),
    ),
    "lambda-weights-swapped": (
        _lambda_weights_swapped,
        "lsoftmax",
        {"m": 2, "lam": 3.0},
        _problem([0.4, 1.1, 1.9, 0.9]),
    ),
    "transposed-normalisation-jacobian": (
        _transposed_normalisation_jacobian,
        "lmcl",
        {"s": 30.0, "m": 0.35},
        _problem([0.4, 1.1, 1.9, 0.9]),
    ),
}


@pytest.mark.parametrize("name", list(MUTANTS), ids=list(MUTANTS))
def test_planted_bug_is_caught(name, device, monkeypatch):
    plant, head, params, (x, w, y) = MUTANTS[name]
    check_against_sympy(head, x, w, y, params, device, "unmutated", record=False)
    plant(monkeypatch)
    try:
        check_against_sympy(head, x, w, y, params, device, f"mutant {name}", record=False)
    except AssertionError as caught:
        verification_log.record_mutant(name, head, device, str(caught).splitlines()[0])
        return
    verification_log.record_mutant(name, head, device, None)
    pytest.fail(f"planted bug {name} passed the comparison")
