"""The numeric oracle checked on its own: finite differences, an acos/cos route, exact numbers.

These tests never touch the PyTorch implementation; they make sure the oracle the other
tests trust is itself right.  Inputs are drawn so that no sample sits near a kink (L-Softmax
piece boundaries, the ArcFace fallback switch or |cos| = 1, BD-LMCL selection flips), where
a central difference would straddle two regimes.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from derivations import HEADS
from derivations.oracle import Evaluation, evaluate

CASES = [
    ("softmax", {}),
    ("lsoftmax", {"m": 1, "lam": 0.0}),
    ("lsoftmax", {"m": 2, "lam": 0.0}),
    ("lsoftmax", {"m": 3, "lam": 0.7}),
    ("lsoftmax", {"m": 4, "lam": 5.0}),
    ("asoftmax", {"m": 2}),
    ("asoftmax", {"m": 4, "lam": 1.5}),
    ("lmcl", {"s": 8.0, "m": 0.35}),
    ("arcface", {"s": 8.0, "m": 0.5}),
    ("bdlmcl", {"s": 8.0, "m": 0.6, "k": 2, "unselected": "drop"}),
]
GAP = 1e-3  # minimum distance of every sample from a kink, in cosine units
STEP = 1e-6


def _case_id(case):
    head, params = case
    return "-".join([head, *(f"{k}{v}" for k, v in params.items())])


def _clear_of_kinks(head: str, params: dict, cos: np.ndarray, y: np.ndarray) -> bool:
    rows = np.arange(len(y))
    cos_y = cos[rows, y]
    if head in ("lsoftmax", "asoftmax"):
        edges = np.cos(np.arange(1, params["m"]) * np.pi / params["m"])
        return bool(np.all(np.abs(cos_y[:, None] - edges[None, :]) > GAP))
    if head == "arcface":
        return bool(
            np.all(np.abs(cos_y - math.cos(math.pi - params["m"])) > GAP)
            and np.all(np.abs(cos_y) < 1 - GAP)
        )
    if head == "bdlmcl":
        others = cos.copy()
        others[rows, y] = -np.inf
        margin_gap = np.abs(cos_y - params["m"] - others.max(axis=1))
        tie_gap = np.abs(np.where(np.isinf(others), np.inf, others - cos_y[:, None]))
        return bool(np.all(margin_gap > GAP) and np.all(tie_gap > GAP))
    return True


def _draw(head, params, seed, batch=4, classes=3, dim=5):
    """Random inputs clear of kinks; BD-LMCL draws must select some samples but not all."""
    rng = np.random.default_rng(seed)
    for _ in range(10_000):
        x = rng.normal(size=(batch, dim)) * rng.uniform(0.5, 2.0, size=(batch, 1))
        W = rng.normal(size=(classes, dim)) * rng.uniform(0.5, 2.0, size=(classes, 1))
        y = rng.integers(0, classes, size=batch)
        ev = evaluate(head, x, W, y, **params)
        if not _clear_of_kinks(head, params, ev.cos, y):
            continue
        if head == "bdlmcl" and (ev.selected.all() or not ev.selected.any()):
            continue
        return x, W, y
    raise AssertionError("could not draw inputs clear of kinks")


def _central_difference(head, params, x, W, y):
    def loss(xx, WW):
        return evaluate(head, xx, WW, y, **params).loss

    grads = []
    for which in (x, W):
        grad = np.zeros_like(which)
        for idx in np.ndindex(which.shape):
            bump = np.zeros_like(which)
            bump[idx] = STEP
            if which is x:
                grad[idx] = (loss(x + bump, W) - loss(x - bump, W)) / (2 * STEP)
            else:
                grad[idx] = (loss(x, W + bump) - loss(x, W - bump)) / (2 * STEP)
        grads.append(grad)
    return grads


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_gradients_match_central_differences(case, seed):
    head, params = case
    x, W, y = _draw(head, params, seed)
    ev = evaluate(head, x, W, y, **params)
    fd_x, fd_w = _central_difference(head, params, x, W, y)
    np.testing.assert_allclose(ev.grad_x, fd_x, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ev.grad_W, fd_w, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------
# Logits through an independent route: angles via arccos, then cos / piece index by floor.
# ---------------------------------------------------------------------------------------
def _direct_cos(x, W):
    cos = (x @ W.T) / (np.linalg.norm(x, axis=1)[:, None] * np.linalg.norm(W, axis=1))
    return np.clip(cos, -1.0, 1.0)


def _psi_via_angle(cos_y, m):
    angle = np.arccos(cos_y)
    k = np.minimum(np.floor(angle * m / np.pi), m - 1)
    return (-1.0) ** k * np.cos(m * angle) - 2 * k


def _direct_logits(head, params, x, W, y):
    rows = np.arange(len(y))
    cos = _direct_cos(x, W)
    xn = np.linalg.norm(x, axis=1)
    wn = np.linalg.norm(W, axis=1)
    if head == "lsoftmax":
        scale = xn[:, None] * wn[None, :]
    elif head == "asoftmax":
        scale = np.repeat(xn[:, None], W.shape[0], axis=1)
    else:
        scale = np.full(cos.shape, params["s"])
    logits = scale * cos
    cos_y = cos[rows, y]
    if head in ("lsoftmax", "asoftmax"):
        lam = params.get("lam", 0.0)
        psi = _psi_via_angle(cos_y, params["m"])
        logits[rows, y] = scale[rows, y] * (lam * cos_y + psi) / (1 + lam)
    elif head in ("lmcl", "bdlmcl"):
        logits[rows, y] = params["s"] * (cos_y - params["m"])
    elif head == "arcface":
        angle = np.arccos(cos_y)
        m, s = params["m"], params["s"]
        margin = s * np.cos(angle + m)
        fallback = s * (cos_y - m * np.sin(m))
        logits[rows, y] = np.where(angle + m < np.pi, margin, fallback)
    return logits


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "softmax"], ids=_case_id)
def test_logits_match_angle_route(case):
    head, params = case
    rng = np.random.default_rng(7)
    x = rng.normal(size=(16, 6))
    W = rng.normal(size=(5, 6)) * 1.7
    y = rng.integers(0, 5, size=16)
    ev = evaluate(head, x, W, y, **params)
    np.testing.assert_allclose(ev.cos, _direct_cos(x, W), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        ev.logits, _direct_logits(head, params, x, W, y), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("m", [2, 3, 4, 5])
def test_lsoftmax_psi_on_a_dense_angle_grid(m):
    """Exercise every psi piece, including near the boundaries, against acos/cos/floor."""
    angles = np.linspace(1e-4, np.pi - 1e-4, 997)
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1) * 2.5
    W = np.array([[1.0, 0.0], [0.0, 1.0]]) * 0.8
    y = np.zeros(len(angles), dtype=int)
    ev = evaluate("lsoftmax", x, W, y, m=m)
    expected = 2.5 * 0.8 * _psi_via_angle(ev.cos[:, 0], m)
    np.testing.assert_allclose(ev.logits[:, 0], expected, rtol=1e-9, atol=1e-9)


def test_loss_is_mean_cross_entropy_of_logits():
    rng = np.random.default_rng(3)
    x, W, y = rng.normal(size=(6, 4)), rng.normal(size=(3, 4)), rng.integers(0, 3, size=6)
    ev = evaluate("lsoftmax", x, W, y, m=3, lam=0.2)
    log_probs = ev.logits - np.log(np.exp(ev.logits).sum(axis=1, keepdims=True))
    assert ev.loss == pytest.approx(-log_probs[np.arange(6), y].mean(), rel=1e-12)


def test_softmax_gradient_closed_form():
    rng = np.random.default_rng(4)
    x, W, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.integers(0, 4, size=5)
    ev = evaluate("softmax", x, W, y)
    probs = np.exp(ev.logits) / np.exp(ev.logits).sum(axis=1, keepdims=True)
    delta = (probs - np.eye(4)[y]) / 5
    np.testing.assert_allclose(ev.logits, x @ W.T, rtol=1e-12)
    np.testing.assert_allclose(ev.grad_x, delta @ W, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ev.grad_W, delta.T @ x, rtol=1e-10, atol=1e-14)


def test_softmax_worked_numbers():
    """Logits [1, 2, 3, 4] give softmax [0.0321, 0.0871, 0.2369, 0.6439]."""
    x = np.array([[1.0, 0.0]] * 4)
    W = np.array([[1.0, 0.5], [2.0, -1.0], [3.0, 2.0], [4.0, 0.0]])
    probs = [math.exp(-evaluate("softmax", x[:1], W, np.array([j])).loss) for j in range(4)]
    assert [round(p, 4) for p in probs] == [0.0321, 0.0871, 0.2369, 0.6439]
    np.testing.assert_allclose(evaluate("softmax", x, W, np.arange(4)).logits[0], [1, 2, 3, 4])


# ---------------------------------------------------------------------------------------
# Semantics of the heads.
# ---------------------------------------------------------------------------------------
def test_bdlmcl_selection_and_loss_match_an_independent_rule():
    rng = np.random.default_rng(11)
    x, W = rng.normal(size=(16, 4)), rng.normal(size=(6, 4))
    y = rng.integers(0, 6, size=16)
    s, m, k = 5.0, 0.5, 2
    ev = evaluate("bdlmcl", x, W, y, s=s, m=m, k=k, unselected="drop")
    cos = _direct_cos(x, W)
    rows = np.arange(16)
    expected = np.empty(16, dtype=bool)
    for i in rows:
        rest = np.delete(cos[i], y[i])
        expected[i] = s * (cos[i, y[i]] - m) < s * rest.max() and (rest > cos[i, y[i]]).sum() < k
    np.testing.assert_array_equal(ev.selected, expected)
    assert 0 < expected.sum() < 16

    plain = evaluate("lmcl", x, W, y, s=s, m=m)
    per_sample = [evaluate("lmcl", x[i : i + 1], W, y[i : i + 1], s=s, m=m).loss for i in rows]
    assert ev.loss == pytest.approx(np.sum(np.array(per_sample) * expected) / 16, rel=1e-12)
    np.testing.assert_allclose(ev.logits, plain.logits)
    sub = evaluate("lmcl", x[expected], W, y[expected], s=s, m=m)
    scale = expected.sum() / 16
    np.testing.assert_allclose(ev.grad_W, sub.grad_W * scale, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ev.grad_x[expected], sub.grad_x * scale, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(ev.grad_x[~expected], 0.0)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "bdlmcl"], ids=_case_id)
def test_selected_is_all_true_outside_bdlmcl(case):
    head, params = case
    rng = np.random.default_rng(5)
    ev = evaluate(
        head, rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), np.array([0, 1, 1]), **params
    )
    assert ev.selected.dtype == bool and ev.selected.all()


def test_margin_free_settings_reduce_to_plain_heads():
    rng = np.random.default_rng(6)
    x, W, y = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), rng.integers(0, 3, size=5)
    soft = evaluate("softmax", x, W, y)
    for lam in (0.0, 2.0):
        ls = evaluate("lsoftmax", x, W, y, m=1, lam=lam)
        np.testing.assert_allclose(ls.logits, soft.logits, rtol=1e-12)
        np.testing.assert_allclose(ls.grad_W, soft.grad_W, rtol=1e-10, atol=1e-14)
    nsl = evaluate("lmcl", x, W, y, s=3.0, m=0.0)
    arc = evaluate("arcface", x, W, y, s=3.0, m=0.0)
    np.testing.assert_allclose(arc.logits, nsl.logits, rtol=1e-12)
    np.testing.assert_allclose(arc.grad_x, nsl.grad_x, rtol=1e-10, atol=1e-14)
    unit_w = W / np.linalg.norm(W, axis=1, keepdims=True)
    np.testing.assert_allclose(
        evaluate("asoftmax", x, W, y, m=3).logits,
        evaluate("lsoftmax", x, unit_w, y, m=3).logits,
        rtol=1e-12,
    )


def test_arcface_gradient_is_not_finite_at_cos_one():
    W = np.eye(3)
    x = np.array([[2.0, 0.0, 0.0]])
    ev = evaluate("arcface", x, W, np.array([0]), s=4.0, m=0.5)
    assert ev.cos[0, 0] == 1.0 and np.isfinite(ev.loss)
    assert not np.all(np.isfinite(ev.grad_x))


def test_evaluation_is_frozen_float64():
    rng = np.random.default_rng(8)
    ev = evaluate("lmcl", rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), [1, 3], s=2, m=0.1)
    assert isinstance(ev, Evaluation) and isinstance(ev.loss, float)
    assert ev.logits.shape == (2, 4) and ev.grad_x.shape == (2, 3) and ev.grad_W.shape == (4, 3)
    assert all(a.dtype == np.float64 for a in (ev.logits, ev.grad_x, ev.grad_W, ev.cos))
    with pytest.raises(AttributeError):
        ev.loss = 0.0


# ---------------------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------------------
def _ok_inputs():
    rng = np.random.default_rng(9)
    return rng.normal(size=(2, 3)), rng.normal(size=(4, 3)), np.array([0, 3])


def test_unknown_head_names_it_and_lists_valid_heads():
    with pytest.raises(ValueError) as err:
        evaluate("sphereface2", *_ok_inputs())
    message = str(err.value)
    assert "'sphereface2'" in message
    assert all(head in message for head in HEADS)


@pytest.mark.parametrize(
    "head,params,fragment",
    [
        ("lsoftmax", {}, "requires parameter 'm'"),
        ("lsoftmax", {"m": 2.5}, "integer"),
        ("lsoftmax", {"m": 0}, "integer >= 1"),
        ("lsoftmax", {"m": 2, "lam": -1.0}, "lam"),
        ("lmcl", {"s": 0.0, "m": 0.1}, "s must lie"),
        ("arcface", {"s": 1.0, "m": 2.0}, "m must lie"),
        ("bdlmcl", {"s": 1.0, "m": 0.1, "k": 0}, "k must be"),
        ("softmax", {"s": 1.0}, "unexpected parameter"),
    ],
)
def test_bad_parameters(head, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        evaluate(head, *_ok_inputs(), **params)


def test_bad_shapes_and_labels():
    x, W, y = _ok_inputs()
    with pytest.raises(ValueError, match="need x"):
        evaluate("softmax", x[:, :2], W, y)
    with pytest.raises(ValueError, match="labels must lie"):
        evaluate("softmax", x, W, np.array([0, 4]))
    with pytest.raises(ValueError, match="integer labels"):
        evaluate("softmax", x, W, np.array([0.0, 1.0]))


def test_speed_budget():
    """Thousands of calls must stay cheap; generous bound because the CPU is shared."""
    rng = np.random.default_rng(10)
    x, W, y = rng.normal(size=(16, 12)), rng.normal(size=(12, 12)), rng.integers(0, 12, 16)
    for head, params in CASES:
        evaluate(head, x, W, y, **params)  # compile outside the timing
        start = time.perf_counter()
        for _ in range(50):
            evaluate(head, x, W, y, **params)
        per_call = (time.perf_counter() - start) / 50
        assert per_call < 0.02, (head, params, per_call)
