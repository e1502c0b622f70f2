"""Invariants of the heads as properties (no oracle needed: each is a mathematical identity
or inequality that a wrong implementation breaks)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from paper_repro.losses import HEADS as HEADS_BY_NAME
from paper_repro.losses import functional, make_head
from tests.losses.reference import LOGITS
from tests.losses.strategies import HEADS, batches, head_params, with_target_angles

EPS = torch.finfo(torch.float64).eps


def tensors(x, w, y, device, grad=False):
    as_t = lambda a: torch.tensor(a, dtype=torch.float64, device=device, requires_grad=grad)  # noqa: E731
    return as_t(x), as_t(w), torch.tensor(y, dtype=torch.int64, device=device)


@given(batch=batches(), lam=st.floats(0.0, 1e3))
def test_lsoftmax_m1_equals_softmax(batch, lam, device):
    """L-Softmax eq. 5 with m = 1: psi(t) = cos t, so the loss is softmax for every lam."""
    x, w, y = tensors(*batch, device)
    got = functional.lsoftmax_logits(x, w, y, m=1, lam=lam)
    want = functional.softmax_logits(x, w, y)
    assert torch.allclose(got, want, rtol=64 * EPS, atol=64 * EPS * want.abs().max())


@given(batch=batches(), m=st.integers(2, 6))
def test_lsoftmax_large_lambda_tends_to_softmax(batch, m, device):
    """(lam W.x + |W||x| psi) / (1 + lam) -> W.x as lam -> inf, at rate (|W||x| (psi - cos))/lam:
    |psi - cos| <= 2m, so the gap is at most 2m |W||x| / lam."""
    x, w, y = tensors(*batch, device)
    lam = 1e10
    gap = functional.lsoftmax_logits(x, w, y, m, lam) - functional.softmax_logits(x, w, y)
    bound = 2 * m * x.norm(dim=1) * w.norm(dim=1)[y] / lam
    target_gap = gap.gather(1, y[:, None]).squeeze(1)
    assert torch.all(target_gap.abs() <= bound * (1 + 1e-6))
    assert torch.all(gap.scatter(1, y[:, None], 0.0) == 0)  # non-target logits untouched


@pytest.mark.parametrize("head", HEADS[1:])
@given(data=st.data())
def test_margin_never_raises_target_logit(head, device, data):
    """Margins make the task harder: the target logit is at most its no-margin value
    (psi(t) <= cos t; cos t - m <= cos t; cos(t + m) <= cos t before the fallback)."""
    x, w, y = tensors(*data.draw(batches()), device)
    params = data.draw(head_params(head))
    no_margin = {**params, **dict(HEADS_BY_NAME[head].without_margin)}
    got = LOGITS[head](x, w, y, **params).gather(1, y[:, None])
    ref = LOGITS[head](x, w, y, **no_margin).gather(1, y[:, None])
    assert torch.all(got <= ref + 64 * EPS * ref.abs().clamp_min(1.0))


@pytest.mark.parametrize("head", HEADS)
@given(data=st.data())
def test_loss_invariant_to_consistent_class_permutation(head, device, data):
    """Relabelling classes (rows of W and labels together) changes neither the loss nor the
    gradient w.r.t. x, and permutes the gradient w.r.t. W."""
    x, w, y = data.draw(batches(min_classes=2))
    params = data.draw(head_params(head))
    perm = np.array(data.draw(st.permutations(range(w.shape[0]))))
    inverse = np.argsort(perm)

    def run(weight, labels):
        xt, wt, yt = tensors(x, weight, labels, device, grad=True)
        head_module = make_head(head, w.shape[1], w.shape[0], **params).to(device, torch.float64)
        with torch.no_grad():
            head_module.weight.copy_(wt)
        loss = head_module(xt, yt)
        loss.backward()
        return loss.item(), xt.grad, head_module.weight.grad

    loss_a, gx_a, gw_a = run(w, y)
    loss_b, gx_b, gw_b = run(w[perm], inverse[y])  # class perm[j] of the new order is old j
    # the permutation reorders the sums over classes, so results may differ by round-off of
    # the summed terms: |d f_j/dx| <= (m^2 + 1) |W_j| (or s/|x| for normalised heads)
    m = params.get("m", 1) if head in ("lsoftmax", "asoftmax") else 1
    scale = (m * m + 1) * max(
        np.linalg.norm(w, axis=1).max(), params.get("s", 1.0) / np.linalg.norm(x, axis=1).min()
    )
    atol = 1e3 * float(EPS) * scale
    assert loss_b == pytest.approx(loss_a, rel=1e-12, abs=1e-12)
    assert torch.allclose(gx_b, gx_a, rtol=1e-10, atol=max(atol, 1e-12 * gx_a.abs().max()))
    wscale = atol * np.linalg.norm(x, axis=1).max() / max(np.linalg.norm(w, axis=1).min(), 1e-300)
    assert torch.allclose(gw_b, gw_a[perm], rtol=1e-10, atol=max(wscale, 1e-12 * gw_a.abs().max()))


def _problem_at_poles(device, dtype, norm):
    """Targets exactly parallel (cos = 1) and antiparallel (cos = -1), plus a random sample."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 5))
    x = rng.standard_normal((3, 5))
    y = np.array([0, 1, 2])
    x = with_target_angles(x, w, y, [0.0, math.pi, 1.0], rng)
    x = x / np.linalg.norm(x, axis=1, keepdims=True) * norm
    xt = torch.tensor(x, dtype=dtype, device=device, requires_grad=True)
    wt = torch.tensor(w, dtype=dtype, device=device)
    return xt, wt, torch.tensor(y, device=device)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("norm", [1e-20, 1e-4, 1.0, 1e4, 1e15])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_loss_and_gradients_at_poles_and_extreme_norms(head, norm, dtype, device):
    """cos t = +-1 exactly, norms from 1e-20 to 1e15 (logits up to 1e30): no NaN or inf."""
    x, w, y = _problem_at_poles(device, dtype, norm)
    params = {"lsoftmax": {"m": 4}, "asoftmax": {"m": 4}, "bdlmcl": {"k": 4}}.get(head, {})
    module = make_head(head, 5, 4, **params).to(device, dtype)
    with torch.no_grad():
        module.weight.copy_(w)
    loss = module(x, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(x.grad).all() and torch.isfinite(module.weight.grad).all()


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("amp_dtype", [torch.bfloat16, torch.float16])
def test_autocast_keeps_loss_finite_and_close(head, amp_dtype, device):
    """Under bf16/fp16 autocast the heads compute in float32 (autocast off inside), so large
    norms cannot overflow float16 and the loss matches float32 up to the input rounding."""
    x, w, y = _problem_at_poles(device, torch.float32, 300.0)
    params = {"lsoftmax": {"m": 4}, "asoftmax": {"m": 4}, "bdlmcl": {"k": 4}}.get(head, {})
    module = make_head(head, 5, 4, **params).to(device)
    with torch.no_grad():
        module.weight.copy_(w * 300.0)  # |W||x| = 9e4 > float16 max 65504
    reference = module(x, y)
    with torch.autocast(device, dtype=amp_dtype):
        loss = module(x.to(amp_dtype), y)
        loss.backward()
    assert loss.dtype == torch.float32
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    assert torch.isfinite(module.weight.grad).all()
    assert loss.item() == pytest.approx(reference.item(), rel=2e-2, abs=1e-2)


@given(batch=batches(min_classes=2), s=st.floats(1.0, 64.0), m=st.floats(0.0, 0.5))
def test_lmcl_m0_equals_normalised_softmax(batch, s, m, device):
    """CosFace eq. 4 with m = 0 is softmax on s cos t_j (the normalised softmax of eq. 3)."""
    x, w, y = tensors(*batch, device)
    got = functional.lmcl_logits(x, w, y, s=s, m=0.0)
    want = s * F.normalize(x, dim=1) @ F.normalize(w, dim=1).T
    assert torch.allclose(got, want, rtol=0, atol=64 * EPS * s)


def test_pole_angle_strategy_reaches_exact_poles():
    """Guard: angle 0 really gives cos = 1 (otherwise the pole tests would test nothing)."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 3))
    x = with_target_angles(rng.standard_normal((2, 3)), w, np.array([0, 1]), [0.0, math.pi], rng)
    cos = (x * w).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(w, axis=1)
    assert np.allclose(cos, [1.0, -1.0], atol=1e-15)
