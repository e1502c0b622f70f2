"""Per-sample round-off budgets for the comparison of the PyTorch heads with the SymPy oracle.

First-order error model in eps = 2.2e-16, per sample i and class j, with f the logits (B, C),
delta = p - onehot the cross-entropy's gradient in the logits (|delta| <= 1) and
J = df_ij/dx_i, df_ij/dW_j the logits' Jacobian (reference logits, autograd):

- a logit carries eps times its componentwise condition scale_ij = |f_ij| +
  sum_d |J x_id| + sum_d |J W_jd|, times a_f: ArcFace's target divides by sin t_y through
  sqrt(1 - cos^2), a_f = 1/sin t_y; every other logit a_f = 1;
- so delta_ij is known to eps F_i absolutely, F_i = max(1, max_j a_f scale_ij) (exp turns
  a logit's round-off into a relative error of p), and the derivative df_ij/dtheta to
  eps a_g relative: a_g = 1/sin t_ij where a normalised vector is projected out (A-Softmax,
  LMCL, BD-LMCL, ArcFace: the result is sin t times shorter than its parts), 1/sin^2 t_y for
  ArcFace's target (its slope s sin(t + m)/sin t has relative error eps/sin^2 t when cos t
  is off by eps), 1 otherwise;
- a gradient row is a sum of terms delta_ij J_ij / B, so its error is at most
  (1/B) sum_ij (TOL (F_i + |delta_ij|) max(|J_ij|, scale_ij/|v|) + POLE a_g |delta_ij| |J_ij|),
  taken per row (v = x_i or W_j) and its largest component, never over the batch; scale/|v|
  is the size of the derivative's parts (by homogeneity), which a projection can cancel to
  zero exactly (x along W_j) while their round-off remains.

TOL = 2^12 eps covers the few dozen operations per value with a wide margin (the same
constant as before per-sample budgets). The pole term is first-order tight: both sides
compute cos t to a few ulps, which moves the slope by a few eps a_g, and a projection over
D <= 8 components loses D eps / sin t; POLE = 2^8 eps leaves a margin of 30 or more over
that and keeps a factor-2 error visible down to t ~ 2e-7. The loss gets
TOL (1/B) sum_i max(CE_i, F_i).
"""

from __future__ import annotations

import numpy as np
import torch

from derivations.common import cross_entropy_np
from paper_repro.losses import HEADS
from tests.losses.reference import LOGITS

EPS = np.finfo(np.float64).eps
TOL = 2**12 * EPS
POLE = 2**8 * EPS
# the heads that normalise W (and x): their gradients project a unit vector out
PROJECTING = tuple(name for name, cls in HEADS.items() if cls.normalise_weight)


def amplifications(head: str, cos: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a_f, a_g), each (B, C), as in the module docstring."""
    rows = np.arange(len(y))
    sin = np.sqrt(np.maximum(1.0 - cos**2, EPS**2))
    a_f, a_g = np.ones_like(cos), np.ones_like(cos)
    if head in PROJECTING:
        a_g = 1.0 / sin
    if HEADS[head].target_divides_by_sine:
        a_f[rows, y] = 1.0 / sin[rows, y]
        a_g[rows, y] = 1.0 / sin[rows, y] ** 2
    return a_f, a_g


def own_jacobians(head, x, w, y, params) -> tuple[np.ndarray, np.ndarray]:
    """df_ij/dx_i and df_ij/dW_j, each (B, C, D): f_ij depends on no other row."""
    xt, wt = torch.tensor(x), torch.tensor(w)
    yt = torch.tensor(y, dtype=torch.int64)
    jx, jw = torch.autograd.functional.jacobian(
        lambda a, b: LOGITS[head](a, b, yt, **params), (xt, wt)
    )  # (B, C, B, D) and (B, C, C, D)
    i, j = np.arange(len(y))[:, None], np.arange(w.shape[0])[None, :]
    return jx.numpy()[i, j, i], jw.numpy()[i, j, j]


def budgets(head, x, w, y, params, want) -> dict[str, np.ndarray]:
    """Absolute budgets: logits and grad_x per sample (B,), grad_W per class (C,), loss ()."""
    logits, cos = want["logits"], want["cos"]
    jx, jw = own_jacobians(head, x, w, y, params)
    a_f, a_g = amplifications(head, cos, y)
    scale = (
        np.abs(logits)
        + np.abs(jx * x[:, None, :]).sum(axis=2)
        + np.abs(jw * w[None, :, :]).sum(axis=2)
    )  # (B, C)
    ce, p = cross_entropy_np(logits, y)
    delta = np.abs(p - np.eye(w.shape[0])[y])
    big_f = np.maximum(1.0, (a_f * scale).max(axis=1))  # (B,)
    base = TOL * (big_f[:, None] + delta)  # (B, C)
    pole = POLE * a_g * delta
    # a projected derivative can vanish (x exactly along W_j) while its parts do not: the
    # base term takes at least the parts' size, scale/|v| by homogeneity
    parts_x = scale / np.linalg.norm(x, axis=1)[:, None]
    parts_w = scale / np.linalg.norm(w, axis=1)[None, :]
    terms_x = base[:, :, None] * np.maximum(np.abs(jx), parts_x[:, :, None])
    terms_w = base[:, :, None] * np.maximum(np.abs(jw), parts_w[:, :, None])
    batch = len(y)
    return {
        "logits": TOL * a_f.max(axis=1) * scale.max(axis=1),
        "loss": np.array(TOL * np.maximum(ce, big_f).mean()),
        "grad_x": (terms_x + pole[:, :, None] * np.abs(jx)).sum(axis=1).max(axis=1) / batch,
        "grad_W": (terms_w + pole[:, :, None] * np.abs(jw)).sum(axis=0).max(axis=1) / batch,
    }
