"""The specification texts' worked numbers, computed by the package's softmax head.

With W = I the logits are the features themselves, so the cross-entropy for label j is
-log softmax(x)_j: every printed softmax, log-softmax and loss value can be read off it.
"""

from __future__ import annotations

import math

import pytest
import torch

from paper_repro.losses import functional


def _cross_entropies(logits) -> torch.Tensor:
    """-log softmax(logits)_j for every j, from the package's softmax cross-entropy."""
    x = torch.tensor([logits], dtype=torch.float64)
    eye = torch.eye(len(logits), dtype=torch.float64)
    losses = [functional.softmax_cross_entropy(x, eye, torch.tensor([j])) for j in range(len(x[0]))]
    return torch.stack(losses)


def _rounded(values: torch.Tensor, decimals: int) -> list[float]:
    return [round(v, decimals) for v in values.tolist()]


def test_worked_numbers_of_the_overview_text():
    ce = _cross_entropies([1.0, 2.0, 3.0, 4.0])
    assert _rounded(torch.exp(-ce), 4) == [0.0321, 0.0871, 0.2369, 0.6439]
    assert _rounded(-ce, 4) == [-3.4402, -2.4402, -1.4402, -0.4402]
    assert round(ce[3].item(), 4) == 0.4402  # target class 4


def test_worked_numbers_of_the_specification_text():
    ce = _cross_entropies([1.0, 2.0, 3.0])
    assert _rounded(torch.exp(-ce), 2) == [0.09, 0.24, 0.67]
    # logits log p reproduce the prediction p exactly; label 4 of 5
    p = [0.1, 0.15, 0.05, 0.6, 0.1]
    loss = _cross_entropies([math.log(v) for v in p])[3].item()
    assert math.isclose(loss, -math.log(0.6), rel_tol=1e-14)


def test_lsoftmax_m2_example_matches_its_closed_form():
    """The walkthrough's m = 2 example (reconstructed, derivations.lsoftmax.paper_m2_*): the
    package's target logit and its autograd gradients in x and W_y, on both pieces (k = 0
    for θ <= π/2, k = 1 beyond), against the closed forms lambdified from SymPy."""
    import numpy as np
    import sympy as sp

    from derivations import common, lsoftmax

    symbols = (*common.X, *common.W, common.NX, common.NW, lsoftmax.K)
    forms = (lsoftmax.paper_m2_logit(), lsoftmax.paper_m2_grad_x(), lsoftmax.paper_m2_grad_w())
    closed = [sp.lambdify(symbols, e, "numpy") for e in forms]
    rng = np.random.default_rng(2)
    for _ in range(8):
        x_np, w_np = rng.normal(size=3) * 2, rng.normal(size=3)
        x = torch.tensor(x_np, requires_grad=True)
        w = torch.tensor(w_np, requires_grad=True)
        f = functional.lsoftmax_target(x @ w, x.norm(), w.norm(), m=2)
        f.backward()
        nx, nw = np.linalg.norm(x_np), np.linalg.norm(w_np)
        k = int(x_np @ w_np < 0)  # θ > π/2: piece 1
        args = (*x_np, *w_np, nx, nw, k)
        assert f.item() == pytest.approx(float(closed[0](*args)), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(x.grad, np.ravel(closed[1](*args)), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(w.grad, np.ravel(closed[2](*args)), rtol=1e-10, atol=1e-12)
