"""Functional API: the margin-adjusted logits that go into cross-entropy.

Shapes everywhere: features x (B, D), weight (C, D) like nn.Linear, labels (B,) int64.
Each function validates its arguments, then computes in at least float32 with autocast
off: cos(t) near +-1 needs more than bf16's 8 mantissa bits for psi(t) and cos(t + m)
to mean anything, and |W||x| overflows float16 for large norms."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from paper_repro.losses.angular import arcface_target, psi
from paper_repro.losses.checks import check_batch, integer_margin, real_in


def _full_precision(fn):
    @functools.wraps(fn)
    def wrapper(x, weight, labels, *args, **kwargs):
        check_batch(x, weight, labels)
        dtype = torch.promote_types(torch.promote_types(x.dtype, weight.dtype), torch.float32)
        with torch.autocast(x.device.type, enabled=False):
            return fn(x.to(dtype), weight.to(dtype), labels, *args, **kwargs)

    return wrapper


def _replace_target(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor):
    return logits.scatter(1, labels[:, None], target[:, None])  # (B, C), column y_i replaced


def _target(matrix: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return matrix.gather(1, labels[:, None]).squeeze(1)  # (B, C) -> (B,)


def cosines(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """cos t_ij between feature i and class weight j, shape (B, C)."""
    return F.normalize(x, dim=1) @ F.normalize(weight, dim=1).T


def _lsoftmax(x, weight, labels, m: int, lam: float):
    logits = x @ weight.T  # (B, C)
    dot = _target(logits, labels)
    norms = x.norm(dim=1) * weight.norm(dim=1)[labels]  # (B,) |W_y||x|
    # no clamp to [-1, 1]: rounding can give |cos| = 1 + eps, where clamp would zero the
    # gradient, while psi's polynomial and segment k are well defined there
    cos = dot / norms.clamp_min(torch.finfo(x.dtype).tiny)
    target = (lam * dot + norms * psi(cos, m)) / (1.0 + lam)
    return _replace_target(logits, labels, target)


@_full_precision
def softmax_logits(x, weight, labels):
    """f_j = W_j . x: the plain softmax baseline (the loss head has no bias in the papers)."""
    return x @ weight.T  # (B, C)


@_full_precision
def lsoftmax_logits(x, weight, labels, m, lam=0.0):
    """L-Softmax, Liu et al. 2016 eqs. 4-7: the target logit is
    (lam |W_y||x| cos t + |W_y||x| psi(t)) / (1 + lam); every other logit is W_j . x.
    lam is the annealing weight of the original implementation (lam = 0 is the paper's loss)."""
    return _lsoftmax(x, weight, labels, integer_margin("m", m), real_in("lam", lam, 0.0))


@_full_precision
def asoftmax_logits(x, weight, labels, m, lam=0.0):
    """A-Softmax (SphereFace, Liu et al. 2017): L-Softmax with |W_j| = 1, so the target logit is
    (lam |x| cos t + |x| psi(t)) / (1 + lam) and the others |x| cos t_j."""
    m, lam = integer_margin("m", m), real_in("lam", lam, 0.0)
    return _lsoftmax(x, F.normalize(weight, dim=1), labels, m, lam)


@_full_precision
def lmcl_logits(x, weight, labels, s, m):
    """LMCL (CosFace, Wang et al. 2018, eq. 4): s (cos t_j - m 1[j = y]) on normalised x and W."""
    s, m = real_in("s", s, 0.0, low_open=True), real_in("m", m, 0.0)
    cos = cosines(x, weight)
    return s * _replace_target(cos, labels, _target(cos, labels) - m)


@_full_precision
def arcface_logits(x, weight, labels, s, m):
    """ArcFace (Deng et al. 2019): s cos(t_y + m) for the target, s cos t_j otherwise.
    Where t_y + m > pi (cos t_y <= cos(pi - m)) it uses insightface's standard fallback
    (easy_margin=False): s (cos t_y - m sin m), so the target logit keeps decreasing in t_y."""
    s = real_in("s", s, 0.0, low_open=True)
    m = real_in("m", m, 0.0, math.pi / 2)
    cos = cosines(x, weight)
    target = arcface_target(_target(cos, labels).clamp(-1.0, 1.0), m)
    return s * _replace_target(cos, labels, target)


def boundary_selection(cos: torch.Tensor, labels: torch.Tensor, m: float, k: int) -> torch.Tensor:
    """BD-LMCL's samples near the decision boundary, (B,) bool. A sample is selected when
    (1) the margin classifier gets it wrong: cos t_y - m < max_{j != y} cos t_j (its zero-one
    loss under the margin is 1), and (2) its target is still among the k largest plain
    cosines (its top-k zero-one loss is 0), which drops hopeless outliers far from the boundary.
    """
    cos = cos.detach()
    cos_y = cos.gather(1, labels[:, None])  # (B, 1)
    others = cos.scatter(1, labels[:, None], -math.inf)  # (B, C), target masked out
    wrong_under_margin = (cos_y.squeeze(1) - m) < others.max(dim=1).values
    within_top_k = (others > cos_y).sum(dim=1) < k
    return wrong_under_margin & within_top_k


@_full_precision
def bdlmcl_loss(x, weight, labels, s, m, k=5):
    """BD-LMCL (Li et al., ICASSP 2019): LMCL cross-entropy counted only for the samples that
    `boundary_selection` picks; the others contribute 0. Mean over the whole batch, so the
    loss shrinks as fewer samples sit near the boundary."""
    s, m = real_in("s", s, 0.0, low_open=True), real_in("m", m, 0.0)
    k = integer_margin("k", k)
    cos = cosines(x, weight)
    logits = s * _replace_target(cos, labels, _target(cos, labels) - m)
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    return (per_sample * boundary_selection(cos, labels, m, k)).mean()
