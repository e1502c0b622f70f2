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
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from paper_repro.losses import compiled as compiled_loss
from paper_repro.losses.angular import arcface_target, arcface_target_and_slope, psi_and_slope
from paper_repro.losses.checks import (
    caller_checks_values,
    check_batch,
    check_values,
    integer_margin,
    real_in,
    value_summary,
)

# target(dot, x_norm, w_norm) -> target logit, each (B,); row i may only use row i
Target = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
# partials(z_y, x_norm, w_norm) -> (target, d/dz_y, d/d x_norm, d/d w_norm), each (B,) or
# None where zero: the target in terms of the plain logit z_y it replaces (see below)
Partials = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor],
    tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None],
]
# select(plain logits (B, C), labels) -> per-sample weights (B,) of the cross-entropy
Select = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _full_precision(fn=None, *, values: bool = True):
    """fn(x, weight, labels, ...) with its arguments checked (`check_batch`; `values=False`: fn
    checks the values itself) and x and weight in at least float32, autocast off."""
    if fn is None:
        return functools.partial(_full_precision, values=values)

    @functools.wraps(fn)
    def wrapper(x, weight, labels, *args, **kwargs):
        check_batch(x, weight, labels, values=values)
        dtype = torch.promote_types(torch.promote_types(x.dtype, weight.dtype), torch.float32)
        x, weight = x.to(dtype), weight.to(dtype)
        if not torch.is_autocast_enabled(x.device.type):
            return fn(x, weight, labels, *args, **kwargs)
        with torch.autocast(x.device.type, enabled=False):
            return fn(x, weight, labels, *args, **kwargs)

    return wrapper


def _safe(norm: torch.Tensor) -> torch.Tensor:
    """A norm usable as a divisor: an all-zero row gives 0 / tiny = 0, not NaN."""
    return norm.clamp_min(torch.finfo(norm.dtype).tiny)


# F.normalize's floor: v / max(|v|, NORM_FLOOR). The heads that normalise use it for every
# cosine, target or not, so a feature row of zeros (a dead ReLU) keeps finite gradients.
NORM_FLOOR = 1e-12


def _floored(norm: torch.Tensor) -> torch.Tensor:
    return norm.clamp_min(NORM_FLOOR)


def target_cosine(dot, x_norm, w_norm):
    """cos t_y from x_i . W_y and the two norms (floored): what the cosine heads' targets take."""
    return dot / (_floored(x_norm) * _floored(w_norm))


# --- the margin variants: target logits from x_i . W_y, |x_i| and |W_y| -------------------


def softmax_target(dot, x_norm, w_norm):
    """f_y = W_y . x: no margin."""
    return dot


def _annealed_psi(dot, norms, m: int, lam: float, partials: bool = False):
    # no clamp of cos to [-1, 1]: rounding can give |cos| = 1 + eps, where a clamp would zero
    # the gradient, while psi's polynomial and segment k are well defined there
    safe = _safe(norms)
    cos = dot / safe
    value, slope = psi_and_slope(cos, m, slope=partials)
    t = (lam * dot + norms * value) / (1.0 + lam)
    if not partials:
        return t
    # d/d dot: lam + |.| psi' / safe; d/d|.|: psi - (dot / safe^2) |.| psi' where the floor
    # of `_safe` is not reached (below it the divisor is constant)
    ratio_slope = norms / safe * slope
    d_dot = (lam + ratio_slope) / (1.0 + lam)
    floor_reached = norms < torch.finfo(norms.dtype).tiny
    d_norms = (value - torch.where(floor_reached, 0.0, cos * ratio_slope)) / (1.0 + lam)
    return t, d_dot, d_norms


def lsoftmax_target(dot, x_norm, w_norm, m: int, lam: float = 0.0):
    """L-Softmax eqs. 4-7: (lam |W_y||x| cos t + |W_y||x| psi(t)) / (1 + lam)."""
    return _annealed_psi(dot, x_norm * w_norm, m, lam)


def asoftmax_target(dot, x_norm, w_norm, m: int, lam: float = 0.0):
    """SphereFace: L-Softmax's target with |W_y| = 1."""
    return _annealed_psi(dot / _floored(w_norm), x_norm, m, lam)


def lmcl_target(dot, x_norm, w_norm, s: float, m: float):
    """CosFace eq. 4: s (cos t_y - m)."""
    return s * (target_cosine(dot, x_norm, w_norm) - m)


def arcface_logit(dot, x_norm, w_norm, s: float, m: float):
    """ArcFace: s cos(t_y + m), with insightface's fallback past t_y + m = pi."""
    return s * arcface_target(target_cosine(dot, x_norm, w_norm).clamp(-1.0, 1.0), m)


# --- the same targets in the plain logit, with their derivatives (the fast path) -----------
# Each `*_partials(z, x_norm, w_norm)` is its `*_target` written in the plain logit
# z_iy = a_i b_y (x_i . W_y) that the target replaces (a_i = s / |x_i| and b_y = 1 / |W_y|
# where the head normalises, else 1), and returns (target, d/dz, d/d|x| at fixed z,
# d/d|W_y| at fixed z), None for a derivative that is zero.


def softmax_partials(z, x_norm, w_norm):
    """`softmax_target`: the plain logit itself."""
    return z, torch.ones_like(z), None, None


def lsoftmax_partials(z, x_norm, w_norm, m: int, lam: float = 0.0):
    """`lsoftmax_target`, z = x . W_y."""
    t, d_dot, d_norms = _annealed_psi(z, x_norm * w_norm, m, lam, partials=True)
    return t, d_dot, d_norms * w_norm, d_norms * x_norm


def asoftmax_partials(z, x_norm, w_norm, m: int, lam: float = 0.0):
    """`asoftmax_target`, z = |x| cos t: no dependence on |W_y| left."""
    return *_annealed_psi(z, x_norm, m, lam, partials=True), None


def lmcl_partials(z, x_norm, w_norm, s: float, m: float):
    """`lmcl_target`, z = s cos t: the margin is a shift."""
    return z - s * m, torch.ones_like(z), None, None


def arcface_partials(z, x_norm, w_norm, s: float, m: float):
    """`arcface_logit`, z = s cos t."""
    cos = z / s
    value, slope = arcface_target_and_slope(cos.clamp(-1.0, 1.0), m)
    return s * value, torch.where(cos.abs() <= 1.0, slope, 0.0), None, None  # clamp: flat


def autograd_partials(target: Target, normalise_weight=False, scale=None) -> Partials:
    """The partials of any `target` by autograd on three detached (B,) vectors: the generic
    route for a head without a closed form (slower: it builds and walks a graph per step)."""

    def partials(z, x_norm, w_norm):
        with torch.enable_grad():
            leaves = [v.detach().requires_grad_() for v in (z, x_norm, w_norm)]
            dot = leaves[0]  # x . W_y = z / (a b)
            if scale is not None:
                dot = dot * _floored(leaves[1]) / scale
            if normalise_weight:
                dot = dot * _floored(leaves[2])
            t = target(dot, leaves[1], leaves[2])
            # row i of t depends on row i of the leaves only, so the gradient of the sum
            # holds the per-sample partial derivatives
            grads = torch.autograd.grad(t.sum(), leaves, materialize_grads=True)
        return t.detach(), *grads

    return partials


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


@_full_precision(values=False)
def margin_cross_entropy(
    x,
    weight,
    labels,
    target: Target,
    normalise_weight=False,
    scale=None,
    select=None,
    partials: Partials | None = None,
    compiled: bool = False,
):
    """Mean cross-entropy of `margin_logits`, each sample weighted by select(plain logits,
    labels) when given; the same value and gradients, without autograd's (B, C) and (C, D)
    intermediates. `partials`: the target's closed-form partial derivatives (default: by
    autograd of `target`). `compiled`: run the arithmetic as one inductor-compiled graph
    (`losses.compiled`; `partials` and `select` then have to be module-level functions or
    functools.partial objects of them, else it runs eagerly). Not twice differentiable."""
    partials = partials or autograd_partials(target, normalise_weight, scale)
    # read here: inside autograd.Function.forward grad mode is always off
    grad_wanted = torch.is_grad_enabled()
    return _MarginCrossEntropy.apply(
        x, weight, labels, partials, normalise_weight, scale, select, compiled, grad_wanted
    )


class _MarginCrossEntropy(torch.autograd.Function):
    """Autograd would keep the normalised weight (C, D), the scaled logits and their
    target-replaced copy and walk back through each. Here the gradients are the softmax, one
    (B, C) scaling and two matmuls; the normalisations' Jacobians, (I - u u^T) / |v| for
    u = v / |v|, are applied to the (B, D) and (C, D) products instead of the (B, C) matrix.

    The target logit rides on the plain logit z_iy = a_i b_y (x_i . W_y) it replaces: its
    slope in z_iy goes into column y of the (B, C) gradient, so the matmuls and projections
    carry it, and what remains, its dependence on |x_i| and |W_y| at fixed z_iy, is radial:
    one coefficient per row of x and per class of W. No (B, D) copy of W_y is made.

    The loss is a scalar, so its gradients are those of d loss = 1 times the incoming
    gradient: the forward computes them with the loss (`_margin_loss_and_grads`, one pass,
    one compiled call where compiled) and the backward only scales them."""

    @staticmethod
    def forward(
        ctx, x, weight, labels, partials, normalise_weight, scale, select, compiled, grad_wanted
    ):
        need_x, need_w = (grad_wanted and need for need in ctx.needs_input_grad[:2])
        summarise = not caller_checks_values()
        args = (x, weight, labels, partials, normalise_weight, scale, select, need_x, need_w,
                summarise)  # fmt: skip
        if compiled:
            loss, grad_x, grad_w, summary = compiled_loss.call(_margin_loss_and_grads, *args)
        else:
            loss, grad_x, grad_w, summary = _margin_loss_and_grads(*args)
        if summarise:
            check_values(summary, x, weight)
        ctx.save_for_backward(grad_x, grad_w)
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        grad_x, grad_w = ctx.saved_tensors
        # loss.backward() passes exactly 1, and g * 1 == g in IEEE arithmetic: skip the two
        # (B, D) and (C, D) passes where reading the value costs no device synchronisation
        if grad_loss.device.type != "cpu" or grad_loss.item() != 1.0:
            grad_x = None if grad_x is None else grad_x * grad_loss
            grad_w = None if grad_w is None else grad_w * grad_loss
        return grad_x, grad_w, *[None] * 7


def _margin_loss_and_grads(
    x, weight, labels, partials, normalise_weight, scale, select, need_x, need_w, summarise
):
    """(mean loss, d loss / d x or None, d loss / d weight or None, `value_summary` or None)
    of `margin_cross_entropy`. With `summarise`, labels outside [0, C) are clamped into it
    so that no index leaves the (B, C) matrix; the summary reports them to the caller, which
    raises before anything computed here is used."""
    summary_labels = labels
    if summarise:
        labels = labels.clamp(0, weight.shape[0] - 1)
    loss, saved = _margin_forward(x, weight, labels, partials, normalise_weight, scale, select)
    grad_x = grad_w = None
    if need_x or need_w:
        grad_x, grad_w = _margin_backward(1.0, x, weight, labels, saved, need_x, need_w)
    summary = None
    if summarise:
        # the norms are finite exactly when the rows are (or overflowed: check_values tells)
        summary = value_summary(summary_labels, saved.x_norm.sum(), saved.weight_norm.sum())
    return loss, grad_x, grad_w, summary


class _Saved(NamedTuple):
    """What the gradients need of the forward pass, besides x, weight and labels."""

    log_p: torch.Tensor  # (B, C)
    x_norm: torch.Tensor  # (B,)
    weight_norm: torch.Tensor  # (C,)
    row: torch.Tensor | None  # (B,) a_i
    col: torch.Tensor | None  # (C,) b_j
    sample_weight: torch.Tensor | None  # (B,)
    d_z: torch.Tensor  # (B,) the target's partials (see Partials)
    d_xnorm: torch.Tensor | None
    d_wnorm: torch.Tensor | None


def _margin_forward(x, weight, labels, partials, normalise_weight, scale, select):
    """(mean loss, _Saved) of `margin_cross_entropy`."""
    x_norm = torch.linalg.vector_norm(x, dim=1)  # (B,)
    weight_norm = torch.linalg.vector_norm(weight, dim=1)  # (C,)
    row = None if scale is None else scale / _floored(x_norm)  # (B,) a_i
    col = 1.0 / _floored(weight_norm) if normalise_weight else None  # (C,) b_j
    z = (x if row is None else x * row[:, None]) @ weight.T  # (B, C)
    if col is not None:
        z.mul_(col)
    sample_weight = None if select is None else select(z, labels).to(z.dtype)  # (B,)
    z_y = z.gather(1, labels[:, None]).squeeze(1)  # (B,)
    t, d_z, d_xnorm, d_wnorm = partials(z_y, x_norm, weight_norm[labels])
    z.scatter_(1, labels[:, None], t[:, None])
    log_p = torch.log_softmax(z, dim=1)  # (B, C)
    per_sample = -log_p.gather(1, labels[:, None]).squeeze(1)  # (B,) cross-entropy
    if sample_weight is not None:
        per_sample = per_sample * sample_weight
    saved = _Saved(log_p, x_norm, weight_norm, row, col, sample_weight, d_z, d_xnorm, d_wnorm)
    return per_sample.mean(), saved


def _margin_backward(grad_loss, x, weight, labels, saved: _Saved, need_x: bool, need_w: bool):
    """(d loss / d x or None, d loss / d weight or None) of `margin_cross_entropy`, for an
    incoming gradient grad_loss (a number or a 0-d tensor)."""
    x_norm, weight_norm, row, col = saved.x_norm, saved.weight_norm, saved.row, saved.col
    per_row = grad_loss / x.shape[0]  # d loss / d CE_i
    if saved.sample_weight is not None:
        per_row = per_row * saved.sample_weight  # (B,)
    p = torch.exp(saved.log_p)  # (B, C) softmax: d CE_i / d z_ij off the target
    g_target = (p.gather(1, labels[:, None]).squeeze(1) - 1.0) * per_row  # (B,) d loss / d t_i
    p.mul_(per_row if saved.sample_weight is None else per_row[:, None])
    # d loss / d z_iy via the target
    p.scatter_(1, labels[:, None], (g_target * saved.d_z)[:, None])
    if col is not None:
        p.mul_(col)
    if row is not None:
        p.mul_(row[:, None])  # (B, C): d loss / d(x_i . W_j) along the normalised directions

    grad_x = grad_w = None
    if need_x:
        grad_x = p @ weight  # (B, D)
        d_xnorm = saved.d_xnorm
        radial = None if d_xnorm is None else g_target * d_xnorm / _safe(x_norm)  # (B,)
        _add_radial(grad_x, x, x_norm, radial, project=row is not None)
    if need_w:
        grad_w = p.T @ x  # (C, D)
        radial = None
        if saved.d_wnorm is not None:
            radial = torch.zeros_like(weight_norm).index_add_(0, labels, g_target * saved.d_wnorm)
            radial = radial / _safe(weight_norm)  # (C,)
        _add_radial(grad_w, weight, weight_norm, radial, project=col is not None)
    return grad_x, grad_w


def _add_radial(grad, v, v_norm, radial, project: bool) -> None:
    """grad (N, D) += c v in place, one pass: c = radial (the target's d/d|v| over |v|, or
    None), minus grad . v / |v|^2 when `project` (the Jacobian of F.normalize without its
    1 / |v|: the component along v removed; where |v| < NORM_FLOOR, F.normalize divides by
    the constant floor and there is no such component)."""
    coefficient = radial
    if project:
        along = torch.linalg.vecdot(grad, v) / _floored(v_norm) ** 2  # (N,)
        along = torch.where(v_norm > NORM_FLOOR, along, 0.0)
        coefficient = -along if radial is None else radial - along
    if coefficient is not None:
        grad.addcmul_(v, coefficient[:, None])


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


def target_in_top_k(cos: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """(B,) bool: fewer than k other classes have a larger cosine than the target's."""
    cos_y = cos.gather(1, labels[:, None])  # (B, 1)
    return (cos > cos_y).sum(dim=1) < k  # the target is not larger than itself


def boundary_selection(
    cos: torch.Tensor, labels: torch.Tensor, m: float, k: int, complement: bool = False
) -> torch.Tensor:
    """BD-LMCL's samples near the decision boundary, (B,) bool. A sample is selected when
    (1) the margin classifier gets it wrong: cos t_y - m < max_{j != y} cos t_j (its zero-one
    loss under the margin is 1), and (2) its target is still among the k largest plain
    cosines (its top-k zero-one loss is 0), which drops hopeless outliers far from the boundary.
    complement: the samples the rule leaves out instead."""
    cos = cos.detach()
    cos_y = cos.gather(1, labels[:, None])  # (B, 1)
    # (B, C), target masked out; a comparison, not a scatter: compiled, it fuses into the
    # row reduction below instead of writing a copy of the matrix
    is_target = torch.arange(cos.shape[1], device=cos.device) == labels[:, None]
    others = cos.masked_fill(is_target, -math.inf)
    wrong_under_margin = (cos_y.squeeze(1) - m) < others.max(dim=1).values
    selected = wrong_under_margin & target_in_top_k(cos, labels, k)
    return ~selected if complement else selected


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


def bdlmcl_logits(x, weight, labels, s, m, k=5, unselected="no_margin"):
    """The logits BD-LMCL's cross-entropy sees: LMCL's, except that under "no_margin" the
    samples `boundary_selection` leaves out keep the plain target s cos t_y."""
    s, m, k, unselected = _bdlmcl_checked(s, m, k, unselected)
    logits = lmcl_logits(x, weight, labels, s, m)
    if unselected == "drop":
        return logits
    selected = boundary_selection(cosines(x, weight), labels, m, k)
    return torch.where(selected[:, None], logits, lmcl_logits(x, weight, labels, s, 0.0))


@_full_precision
def bdlmcl_loss(x, weight, labels, s, m, k=5, unselected="no_margin"):
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
