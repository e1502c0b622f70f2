"""Numeric oracle: float64 losses and gradients from the lambdified SymPy derivations.

``evaluate(head, x, W, y, **params)`` returns the logits, the batch loss (mean over samples of
the cross-entropy; BD-LMCL "drop": of the selected ones), and ``dLoss/dx``, ``dLoss/dW``.

Per head, the target and non-target logit expressions and the coefficients of their vector
gradients (``df/dx = ax x + bx W_j``, ``df/dW_j = aw x + bw W_j``, see
:func:`derivations.common.gradient_coefficients`) are lambdified once and cached; a call
evaluates them on whole (B, C) arrays and contracts with ``dL/df = (p - onehot) sel / B``.

Nothing is special-cased: where the mathematics is singular (ArcFace at ``|cos theta_y| = 1``,
a zero-norm vector) the result is non-finite.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derivations import HEADS, MODULES, common
from derivations.common import c, c_max_other, n_above, w_norm, x_norm


@dataclass(frozen=True)
class Evaluation:
    """Result of :func:`evaluate` for a batch of B samples, C classes, D features."""

    logits: np.ndarray  # (B, C)
    loss: float
    grad_x: np.ndarray  # (B, D)  dLoss/dx
    grad_W: np.ndarray  # noqa: N815 (C, D) dLoss/dW; name fixed by the tests written against it
    cos: np.ndarray  # (B, C)  plain cosines W_j.x / (|W_j||x|), clipped to [-1, 1]
    selected: np.ndarray  # (B,) bool; all True except for BD-LMCL


def _parse_params(head: str, params: dict) -> dict:
    schema = MODULES[head].PARAMS
    known = {p.name for p in schema}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ValueError(
            f"unexpected parameter(s) {unknown} for head {head!r}; "
            f"it takes {sorted(known) or 'none'}"
        )
    values = {}
    for p in schema:
        if p.name in params:
            values[p.name] = p.check(p.name, params[p.name])
        elif p.default is common.REQUIRED:
            raise ValueError(f"head {head!r} requires parameter {p.name!r}")
        else:
            values[p.name] = p.default
    return values


def _check_inputs(x, W, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim != 2 or W.ndim != 2 or x.shape[1] != W.shape[1]:
        raise ValueError(f"need x (B, D) and W (C, D); got {x.shape} and {W.shape}")
    if y.shape != (x.shape[0],) or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"need integer labels y of shape ({x.shape[0]},); got {y.shape} {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= W.shape[0]):
        raise ValueError(f"labels must lie in [0, {W.shape[0]}); got {y.min()}..{y.max()}")
    return x, W, y.astype(np.intp)


# ---------------------------------------------------------------------------------------
# Compilation (once per head and structural parameter).
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Compiled:
    target: Callable  # (|x|, |W_y|, c_y, *params) -> [f, ax, bx, aw, bw]
    other: Callable  # (|x|, |W_j|, c_j, *params) -> [f, ax, bx, aw, bw]
    selection: Callable | None  # (c_y, c_max_other, n_above, *params) -> bool
    param_names: tuple[str, ...]
    switch: str | None  # the parameter the selection sets per sample (LogitSpec.switch)


def _lambdify_logit(expr: sp.Expr, params) -> Callable:
    outputs = [expr, *common.gradient_coefficients(common.partials(expr))]
    return sp.lambdify((x_norm, w_norm, c, *params), outputs, modules="numpy", cse=True)


@functools.cache
def _compile(head: str, structural: tuple) -> _Compiled:
    spec = MODULES[head].logit_spec(**dict(structural))
    selection = None
    if spec.selection is not None:
        # the selection never depends on the switch it sets, which is passed as a dummy 0
        selection = sp.lambdify(
            (c, c_max_other, n_above, *spec.params), spec.selection, modules="numpy"
        )
    return _Compiled(
        target=_lambdify_logit(spec.target, spec.params),
        other=_lambdify_logit(spec.other, spec.params),
        selection=selection,
        param_names=tuple(p.name for p in spec.params),
        switch=None if spec.switch is None else spec.switch.name,
    )


def _as_arrays(values, shape) -> list[np.ndarray]:
    """Lambdified constants come back as Python scalars: broadcast them to ``shape``."""
    return [np.array(np.broadcast_to(np.asarray(v, dtype=np.float64), shape)) for v in values]


# ---------------------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------------------
def evaluate(head: str, x: np.ndarray, W: np.ndarray, y: np.ndarray, **params) -> Evaluation:
    """Logits, batch loss and its gradients for one head, in float64.

    ``x`` (B, D) features, ``W`` (C, D) class weights (rows W_j), ``y`` (B,) integer labels.
    ``params``: the head's ``PARAMS``, declared in its module (``derivations.<module>``) with
    their checks and defaults.
    """
    if head not in MODULES:
        raise ValueError(f"unknown head {head!r}; valid heads are {', '.join(HEADS)}")
    values = _parse_params(head, params)
    x, W, y = _check_inputs(x, W, y)
    name = MODULES[head].STRUCTURAL
    compiled = _compile(head, ((name, values[name]),) if name else ())
    values = {**values, **({compiled.switch: 0.0} if compiled.switch else {})}
    numeric = [values[name] for name in compiled.param_names]

    batch, n_classes = len(y), W.shape[0]
    rows = np.arange(batch)
    xn = np.linalg.norm(x, axis=1)
    wn = np.linalg.norm(W, axis=1)
    # Singular inputs (zero norms, ArcFace at |cos| = 1) are meant to surface as inf/nan in
    # the outputs; the warnings would also fire for branches np.select then discards.
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.clip((x @ W.T) / (xn[:, None] * wn[None, :]), -1.0, 1.0)
        shape = cos.shape
        logits, ax, bx, aw, bw = _as_arrays(
            compiled.other(
                np.broadcast_to(xn[:, None], shape), np.broadcast_to(wn, shape), cos, *numeric
            ),
            shape,
        )
        cos_y = cos[rows, y]
        selected = np.ones(batch, dtype=bool)
        if compiled.selection is not None:
            others = cos.copy()
            others[rows, y] = -np.inf
            selected = np.asarray(
                compiled.selection(
                    cos_y,
                    others.max(axis=1),
                    (others > cos_y[:, None]).sum(axis=1),
                    *numeric,
                ),
                dtype=bool,
            )
        if compiled.switch is not None:  # the selection sets the switch sample by sample
            numeric[compiled.param_names.index(compiled.switch)] = selected.astype(np.float64)
        target = _as_arrays(compiled.target(xn, wn[y], cos_y, *numeric), (batch,))
        for array, value in zip((logits, ax, bx, aw, bw), target, strict=True):
            array[rows, y] = value

        ce, probs = common.cross_entropy_np(logits, y)
        weight = (selected if compiled.switch is None else np.ones(batch)) / batch
        onehot = np.zeros((batch, n_classes))
        onehot[rows, y] = 1.0
        delta = (probs - onehot) * weight[:, None]
        grad_x, grad_w = common.chain_rule_np(delta, ax, bx, aw, bw, x, W)
        loss = float((weight * ce).sum())
    return Evaluation(
        logits=logits, loss=loss, grad_x=grad_x, grad_W=grad_w, cos=cos, selected=selected
    )
