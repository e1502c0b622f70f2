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

from paper_repro.losses import angular, combined, functional
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

    def mutant(grad_loss, x, weight, labels, *rest):
        grad_x, grad_w = original(grad_loss, x, weight, labels, *rest)
        w_y = weight[labels]
        cos = (x * w_y).sum(dim=1) / (x.norm(dim=1) * w_y.norm(dim=1))
        near = (1.0 - cos.abs()) < 1e-8  # target angle below about 1.4e-4
        return torch.where(near[:, None], 2.0 * grad_x, grad_x), grad_w

    monkeypatch.setattr(functional, "_margin_backward", mutant)


def _psi_drops_minus_2k(monkeypatch):
    def mutant(cos, m, slope=True):
        value, psi_slope = angular.psi_and_slope(cos, m, slope)
        return value + 2.0 * angular.angle_segment(cos, m), psi_slope

    monkeypatch.setattr(functional, "psi_and_slope", mutant)


def _psi_slope_ignores_segment_sign(monkeypatch):
    """The closed-form slope of psi without its (-1)^k: right on the first piece only."""

    def mutant(cos, m, slope=True):
        value, _ = angular.psi_and_slope(cos, m, slope=False)
        return value, (angular.multiple_angle_slope(cos, m) if slope else None)

    monkeypatch.setattr(functional, "psi_and_slope", mutant)


def _lmcl_margin_sign(monkeypatch):
    for name in ("lmcl_target", "lmcl_partials"):
        original = getattr(functional, name)
        monkeypatch.setattr(
            functional,
            name,
            lambda dot, xn, wn, s, m, original=original: original(dot, xn, wn, s, -m),
        )


def _arcface_fallback_off_by_a_term(monkeypatch):
    def mutant(cos, m, slope=True):  # the fallback without its - m sin m
        value, arc_slope = angular.arcface_target_and_slope(cos, m, slope)
        return torch.where(cos > math.cos(math.pi - m), value, cos), arc_slope

    monkeypatch.setattr(functional, "arcface_target_and_slope", mutant)


def _arcface_slope_sign_of_sine_term(monkeypatch):
    """d cos(t + m)/d cos t with the sine term's sign flipped: cos m - sin m cos t / sin t."""

    def mutant(cos, m, slope=True):
        value, arc_slope = angular.arcface_target_and_slope(cos, m, slope)
        if slope:
            sin = torch.sqrt(torch.clamp(1.0 - cos * cos, min=torch.finfo(cos.dtype).eps))
            flipped = math.cos(m) - math.sin(m) * cos / sin
            arc_slope = torch.where(cos > math.cos(math.pi - m), flipped, arc_slope)
        return value, arc_slope

    monkeypatch.setattr(functional, "arcface_target_and_slope", mutant)


def _lambda_weights_swapped(monkeypatch):
    original = functional._annealed_psi

    def mutant(dot, norms, m, lam, partials=False):
        # (dot + lam |.| psi) / (1 + lam): the same as lam' = 1 / lam in the right formula
        return original(dot, norms, m, 1.0 / lam, partials)

    monkeypatch.setattr(functional, "_annealed_psi", mutant)


def _transposed_normalisation_jacobian(monkeypatch):
    original = functional._add_radial

    def mutant(grad, v, v_norm, radial, project):
        # the batched Jacobian transposed: every row projected by U^T U = sum_n u_n u_n^T
        # instead of its own u_i u_i^T
        if project:
            u = v / functional._floored(v_norm)[:, None]
            grad.sub_((grad @ u.T) @ u)
        original(grad, v, v_norm, radial, project=False)

    monkeypatch.setattr(functional, "_add_radial", mutant)


def _combined_piece(cos, m1, m2):
    """k of u = m1 t + m2 in [k pi, (k + 1) pi], as the head computes it."""
    return torch.floor((m1 * torch.acos(cos.clamp(-1.0, 1.0)) + m2) / math.pi).clamp(0.0, 4.0)


def _combined_drops_minus_2k(monkeypatch):
    """The combined margin continued past m1 t + m2 = pi without its - 2k."""
    original = combined.target_and_slope

    def mutant(cos, m1, m2, m3, slope=True):
        value, c_slope = original(cos, m1, m2, m3, slope)
        return value + 2.0 * _combined_piece(cos, m1, m2), c_slope

    monkeypatch.setattr(combined, "target_and_slope", mutant)


def _combined_slope_ignores_segment_sign(monkeypatch):
    """The closed-form slope without its (-1)^k: right on the even pieces only."""
    original = combined.target_and_slope

    def mutant(cos, m1, m2, m3, slope=True):
        value, c_slope = original(cos, m1, m2, m3, slope)
        if slope:
            c_slope = c_slope * (1.0 - 2.0 * torch.remainder(_combined_piece(cos, m1, m2), 2.0))
        return value, c_slope

    monkeypatch.setattr(combined, "target_and_slope", mutant)


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
    "psi-slope-ignores-segment-sign": (
        _psi_slope_ignores_segment_sign,
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
    "arcface-slope-sign-of-sine-term": (
        _arcface_slope_sign_of_sine_term,
        "arcface",
        {"s": 16.0, "m": 0.5},
        _problem([0.4, 1.1, 1.9, 0.9]),
    ),
    "lambda-weights-swapped": (
        _lambda_weights_swapped,
        "lsoftmax",
        {"m": 2, "lam": 3.0},
        _problem([0.4, 1.1, 1.9, 0.9]),
    ),
    "combined-drops-minus-2k": (
        _combined_drops_minus_2k,
        "combined",
        {"s": 16.0, "m1": 2.0, "m2": 0.3, "m3": 0.2},
        _problem([2.0, 2.5, 1.2, 0.5]),
    ),
    "combined-slope-ignores-segment-sign": (
        _combined_slope_ignores_segment_sign,
        "combined",
        {"s": 16.0, "m1": 2.0, "m2": 0.3, "m3": 0.2},
        _problem([2.0, 2.5, 1.2, 0.5]),
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
