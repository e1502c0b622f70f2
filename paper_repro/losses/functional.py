"""Functional API: the margin-adjusted logits that go into cross-entropy.

Every head is one recipe for logits (B, C):
    z_ij = a_i b_j (x_i . W_j)          for j != y_i,
    z_iy = target(x_i . W_y, |x_i|, |W_y|)
with a_i = s / |x_i| when the features are normalised and scaled (cosine heads), else 1,
b_j = 1 / |W_j| when the class weights are normalised, else 1, and a row-wise `target`: the
one place the margin variants differ (`*_target` below).

`margin_logits` builds these logits from autograd operations (the reference, for analysis);
`margin_cross_entropy` computes the same cross-entropy with a hand-written backward pass,
which the heads train with. Both are checked against the SymPy derivations.

Shapes everywhere: features x (B, D), weight (C, D) like nn.Linear, labels (B,) int64.
Each function validates its arguments, then computes in at least float32 with autocast
off: cos(t) near +-1 needs more than bf16's 8 mantissa bits for psi(t) and cos(t + m)
to mean anything, and |W||x| overflows float16 for large norms."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from paper_repro.losses.angular import arcface_target, psi
from paper_repro.losses.checks import check_batch, integer_margin, real_in

# target(dot, x_norm, w_norm) -> target logit, each (B,); row i may only use row i
Target = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# select(plain logits (B, C), labels) -> per-sample weights (B,) of the cross-entropy
Select = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _full_precision(fn):
    @functools.wraps(fn)
    def wrapper(x, weight, labels, *args, **kwargs):
        check_batch(x, weight, labels)
        dtype = torch.promote_types(torch.promote_types(x.dtype, weight.dtype), torch.float32)
        with torch.autocast(x.device.type, enabled=False):
            return fn(x.to(dtype), weight.to(dtype), labels, *args, **kwargs)

    return wrapper


def _safe(norm: torch.Tensor) -> torch.Tensor:
    """A norm usable as a divisor: an all-zero row gives 0 / tiny = 0, not NaN."""
    return norm.clamp_min(torch.finfo(norm.dtype).tiny)


# F.normalize's floor: v / max(|v|, NORM_FLOOR). The heads that normalise use it for every
# cosine, target or not, so a feature row of zeros (a dead ReLU) keeps finite gradients.
NORM_FLOOR = 1e-12


def _floored(norm: torch.Tensor) -> torch.Tensor:
    return norm.clamp_min(NORM_FLOOR)


# --- the margin variants: target logits from x_i . W_y, |x_i| and |W_y| -------------------


def softmax_target(dot, x_norm, w_norm):
    """f_y = W_y . x: no margin."""
    return dot


def _annealed_psi(dot, norms, m: int, lam: float):
    # no clamp of cos to [-1, 1]: rounding can give |cos| = 1 + eps, where a clamp would zero
    # the gradient, while psi's polynomial and segment k are well defined there
    cos = dot / _safe(norms)
    return (lam * dot + norms * psi(cos, m)) / (1.0 + lam)


def lsoftmax_target(dot, x_norm, w_norm, m: int, lam: float = 0.0):
    """L-Softmax eqs. 4-7: (lam |W_y||x| cos t + |W_y||x| psi(t)) / (1 + lam)."""
    return _annealed_psi(dot, x_norm * w_norm, m, lam)


def asoftmax_target(dot, x_norm, w_norm, m: int, lam: float = 0.0):
    """SphereFace: L-Softmax's target with |W_y| = 1."""
    return _annealed_psi(dot / _floored(w_norm), x_norm, m, lam)


def lmcl_target(dot, x_norm, w_norm, s: float, m: float):
    """CosFace eq. 4: s (cos t_y - m)."""
    return s * (dot / (_floored(x_norm) * _floored(w_norm)) - m)


def arcface_logit(dot, x_norm, w_norm, s: float, m: float):
    """ArcFace: s cos(t_y + m), with insightface's fallback past t_y + m = pi."""
    cos = dot / (_floored(x_norm) * _floored(w_norm))
    return s * arcface_target(cos.clamp(-1.0, 1.0), m)


# --- logits (reference) and cross-entropy (fast) ------------------------------------------


def plain_logits(x, weight, normalise_weight: bool = False, scale: float | None = None):
    """a_i b_j (x_i . W_j) for every class, (B, C): the logits before any margin."""
    if scale is not None:
        x = scale * F.normalize(x, dim=1)
    if normalise_weight:
        weight = F.normalize(weight, dim=1)
    return x @ weight.T  # (B, C)


@_full_precision
def margin_logits(x, weight, labels, target: Target, normalise_weight=False, scale=None):
    """The logits of the recipe in the module docstring, from autograd operations."""
    w_y = weight[labels]  # (B, D)
    t = target((x * w_y).sum(dim=1), x.norm(dim=1), w_y.norm(dim=1))
    return plain_logits(x, weight, normalise_weight, scale).scatter(
        1, labels[:, None], t[:, None]
    )  # (B, C), column y_i replaced


@_full_precision
def margin_cross_entropy(
    x, weight, labels, target: Target, normalise_weight=False, scale=None, select=None
):
    """Mean cross-entropy of `margin_logits`, each sample weighted by select(plain logits,
    labels) when given; the same value and gradients, without autograd's (B, C) and (C, D)
    intermediates. Not twice differentiable."""
    return _MarginCrossEntropy.apply(x, weight, labels, target, normalise_weight, scale, select)


class _MarginCrossEntropy(torch.autograd.Function):
    """Autograd would keep the normalised weight (C, D), the scaled logits and their
    target-replaced copy and walk back through each. Here the backward pass is the softmax,
    one (B, C) scaling and two matmuls; the normalisations' Jacobians, (I - u u^T) / |v| for
    u = v / |v|, are applied to the (B, D) and (C, D) products instead of the (B, C) matrix.
    The target logit takes no part in the matmuls: its derivatives in x_i . W_y, |x_i| and
    |W_y| are per sample (B,), taken by autograd on three detached vectors."""

    @staticmethod
    def forward(ctx, x, weight, labels, target, normalise_weight, scale, select):
        x_norm = torch.linalg.vector_norm(x, dim=1)  # (B,)
        w_y = weight[labels]  # (B, D)
        w_norm = torch.linalg.vector_norm(w_y, dim=1)  # (B,) |W_y|
        row = None if scale is None else scale / _floored(x_norm)  # (B,) a_i
        weight_norm = torch.linalg.vector_norm(weight, dim=1) if normalise_weight else None
        col = None if weight_norm is None else 1.0 / _floored(weight_norm)  # (C,) b_j
        z = (x if row is None else x * row[:, None]) @ weight.T  # (B, C)
        if col is not None:
            z.mul_(col)
        sample_weight = None if select is None else select(z, labels).to(z.dtype)  # (B,)

        with torch.enable_grad():
            leaves = [v.detach().requires_grad_() for v in ((x * w_y).sum(dim=1), x_norm, w_norm)]
            t = target(*leaves)
            # row i of t depends on row i of the leaves only, so the gradient of the sum holds
            # the per-sample partial derivatives (not needed for an evaluation-only loss)
            if any(ctx.needs_input_grad[:2]):
                ctx.partials = torch.autograd.grad(t.sum(), leaves, materialize_grads=True)
        t = t.detach()
        z.scatter_(1, labels[:, None], t[:, None])
        log_p = torch.log_softmax(z, dim=1)  # (B, C)
        per_sample = -log_p.gather(1, labels[:, None]).squeeze(1)  # (B,) cross-entropy
        ctx.save_for_backward(x, weight, labels)
        ctx.log_p = log_p
        ctx.norms, ctx.w_y, ctx.row, ctx.col = (x_norm, w_norm, weight_norm), w_y, row, col
        ctx.sample_weight = sample_weight
        if sample_weight is not None:
            per_sample = per_sample * sample_weight
        return per_sample.mean()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        x, weight, labels = ctx.saved_tensors
        # the forward pass ran in float32 or wider with autocast off; so does this one, even
        # when backward() is called inside an autocast region
        with torch.autocast(x.device.type, enabled=False):
            return (*_margin_backward(ctx, grad_loss, x, weight, labels), *[None] * 5)


def _margin_backward(ctx, grad_loss, x, weight, labels):
    x_norm, w_norm, weight_norm = ctx.norms
    row, col, w_y = ctx.row, ctx.col, ctx.w_y
    p = torch.exp(ctx.log_p)  # (B, C) softmax
    p_y = p.gather(1, labels[:, None]).squeeze(1)  # (B,)
    p.scatter_(1, labels[:, None], 0.0)  # the target column reaches x, W via the partials
    per_row = (grad_loss / x.shape[0]).expand(x.shape[0])  # (B,) d loss / d CE_i
    if ctx.sample_weight is not None:
        per_row = per_row * ctx.sample_weight
    g_dot, g_xnorm, g_wnorm = ((p_y - 1.0) * per_row * d for d in ctx.partials)  # (B,)
    if col is not None:
        p.mul_(col)  # (B, C): dz_ij / d(x_i . W_j) = a_i b_j, a_i applied to the products
    row_factor = per_row if row is None else per_row * row  # (B,)

    grad_x = grad_w = None
    if ctx.needs_input_grad[0]:
        grad_x = (p @ weight) * row_factor[:, None]  # (B, D)
        if row is not None:  # d(x / |x|): 1 / |x| is in a_i; project out x's own direction
            _tangential(grad_x, x, x_norm)
        # d|x|/dx = x / |x| formed first: T's partials can be large where |x| is tiny
        grad_x += g_dot[:, None] * w_y + g_xnorm[:, None] * (x / _safe(x_norm)[:, None])
    if ctx.needs_input_grad[1]:
        grad_w = p.T @ (x * row_factor[:, None])  # (C, D)
        if col is not None:  # d(W / |W|), likewise
            _tangential(grad_w, weight, weight_norm)
        target_part = g_dot[:, None] * x + g_wnorm[:, None] * (w_y / _safe(w_norm)[:, None])
        grad_w.index_add_(0, labels, target_part)  # (B, D) into rows y_i
    return grad_x, grad_w


def _tangential(grad: torch.Tensor, v: torch.Tensor, v_norm: torch.Tensor) -> torch.Tensor:
    """grad - (grad . u) u in place for u = v / |v|, rows (N, D): the Jacobian of
    F.normalize without its 1 / |v|. Where |v| < NORM_FLOOR, F.normalize divides by the
    constant floor and the radial term is absent."""
    coefficient = torch.linalg.vecdot(grad, v) / _floored(v_norm) ** 2  # (N,)
    coefficient = torch.where(v_norm > NORM_FLOOR, coefficient, 0.0)
    return grad.addcmul_(v, coefficient[:, None], value=-1.0)


@_full_precision
def softmax_cross_entropy(x, weight, labels):
    """Plain softmax cross-entropy: with no margin, PyTorch's own kernel is the exact and
    fastest path (the margin machinery would only add per-op overhead)."""
    return F.cross_entropy(x @ weight.T, labels)


# --- the heads' logits by name (reference path) --------------------------------------------


def softmax_logits(x, weight, labels):
    """f_j = W_j . x: the plain softmax baseline (the loss head has no bias in the papers)."""
    return margin_logits(x, weight, labels, softmax_target)


def lsoftmax_logits(x, weight, labels, m, lam=0.0):
    """L-Softmax, Liu et al. 2016 eqs. 4-7: the target logit is
    (lam |W_y||x| cos t + |W_y||x| psi(t)) / (1 + lam); every other logit is W_j . x.
    lam is the annealing weight of the original implementation (lam = 0 is the paper's loss)."""
    m, lam = integer_margin("m", m), real_in("lam", lam, 0.0)
    return margin_logits(x, weight, labels, functools.partial(lsoftmax_target, m=m, lam=lam))


def asoftmax_logits(x, weight, labels, m, lam=0.0):
    """A-Softmax (SphereFace, Liu et al. 2017): L-Softmax with |W_j| = 1, so the target logit is
    (lam |x| cos t + |x| psi(t)) / (1 + lam) and the others |x| cos t_j."""
    m, lam = integer_margin("m", m), real_in("lam", lam, 0.0)
    target = functools.partial(asoftmax_target, m=m, lam=lam)
    return margin_logits(x, weight, labels, target, normalise_weight=True)


def lmcl_logits(x, weight, labels, s, m):
    """LMCL (CosFace, Wang et al. 2018, eq. 4): s (cos t_j - m 1[j = y]) on normalised x and W."""
    s, m = real_in("s", s, 0.0, low_open=True), real_in("m", m, 0.0)
    target = functools.partial(lmcl_target, s=s, m=m)
    return margin_logits(x, weight, labels, target, normalise_weight=True, scale=s)


def arcface_logits(x, weight, labels, s, m):
    """ArcFace (Deng et al. 2019): s cos(t_y + m) for the target, s cos t_j otherwise.
    Where t_y + m > pi (cos t_y <= cos(pi - m)) it uses insightface's standard fallback
    (easy_margin=False): s (cos t_y - m sin m), so the target logit keeps decreasing in t_y."""
    s = real_in("s", s, 0.0, low_open=True)
    m = real_in("m", m, 0.0, math.pi / 2)
    target = functools.partial(arcface_logit, s=s, m=m)
    return margin_logits(x, weight, labels, target, normalise_weight=True, scale=s)


def cosines(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """cos t_ij between feature i and class weight j, shape (B, C)."""
    return plain_logits(x, weight, normalise_weight=True, scale=1.0)


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


# BD-LMCL's two readings of what happens to the samples the rule does not select: "drop"
# (the ICASSP 2019 abstract: only the samples around the boundaries are considered) and
# "no_margin" (the specification text: they keep their loss, without the margin).
UNSELECTED = ("drop", "no_margin")


def unselected_reading(value: object) -> str:
    """BD-LMCL's `unselected`: one of UNSELECTED."""
    if not isinstance(value, str):
        raise TypeError(f"unselected must be one of {UNSELECTED}, got {value!r}")
    if value not in UNSELECTED:
        raise ValueError(f"unselected must be one of {UNSELECTED}, got {value!r}")
    return value


def _bdlmcl_checked(s, m, k, unselected):
    s, m = real_in("s", s, 0.0, low_open=True), real_in("m", m, 0.0)
    return s, m, integer_margin("k", k), unselected_reading(unselected)


def bdlmcl_logits(x, weight, labels, s, m, k=5, unselected="drop"):
    """The logits BD-LMCL's cross-entropy sees: LMCL's, except that under "no_margin" the
    samples `boundary_selection` leaves out keep the plain target s cos t_y."""
    s, m, k, unselected = _bdlmcl_checked(s, m, k, unselected)
    logits = lmcl_logits(x, weight, labels, s, m)
    if unselected == "drop":
        return logits
    selected = boundary_selection(cosines(x, weight), labels, m, k)
    return torch.where(selected[:, None], logits, lmcl_logits(x, weight, labels, s, 0.0))


@_full_precision
def bdlmcl_loss(x, weight, labels, s, m, k=5, unselected="drop"):
    """BD-LMCL (Li et al., ICASSP 2019). "drop": LMCL cross-entropy counted only for the
    samples that `boundary_selection` picks, the others contribute 0, and the mean is over
    the whole batch, so the loss shrinks as fewer samples sit near the boundary. "no_margin":
    every sample counts, the unselected ones without the margin."""
    s, m, k, unselected = _bdlmcl_checked(s, m, k, unselected)
    logits = bdlmcl_logits(x, weight, labels, s, m, k, unselected)
    per_sample = F.cross_entropy(logits, labels, reduction="none")
    if unselected == "no_margin":
        return per_sample.mean()
    return (per_sample * boundary_selection(cosines(x, weight), labels, m, k)).mean()
