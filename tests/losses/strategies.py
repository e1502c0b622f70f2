"""Hypothesis strategies for loss-head problems: random batches with norms from 1e-4 to 1e4,
and targeted ones that put the target angle at or next to the places where the heads
are delicate (k pi/m for psi, cos t = +-1)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

import paper_repro.losses

HEADS = tuple(paper_repro.losses.HEADS)  # the package's registry (test_registry: = derivations')

_norm_exponent = st.sampled_from([-4.0, -2.0, 0.0, 2.0, 4.0]) | st.floats(-4.0, 4.0)


def _values(hyper) -> st.SearchStrategy:
    """What a declared hyper-parameter's `drawn` range (or choices) gives: integers, or
    floats with the low end drawn on its own (the no-margin and no-lambda cases)."""
    if hyper.kind is str:
        return st.sampled_from(hyper.choices)
    low, high = hyper.drawn
    if hyper.kind is int:
        return st.integers(low, high)
    return st.sampled_from([float(low)]) | st.floats(low, high)


def head_params(head: str) -> st.SearchStrategy[dict]:
    """Every hyper-parameter `head` declares, from its declared ranges (a lambda schedule as
    a constant lambda)."""
    hypers = paper_repro.losses.HEADS[head].hypers
    return st.fixed_dictionaries({h.name: _values(h) for h in hypers})


def _rows_with_norms(rng, n, d, exponents):
    v = rng.standard_normal((n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True) * 10.0 ** np.asarray(exponents)[:, None]


@st.composite
def batches(draw, max_classes: int = 8, min_classes: int = 1):
    """(x (B, D), W (C, D), y (B,)) float64 with row norms 10^[-4, 4]; duplicate labels and a
    single class are in range."""
    b, c, d = (
        draw(st.integers(1, 8)),
        draw(st.integers(min_classes, max_classes)),
        draw(st.integers(2, 8)),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _rows_with_norms(rng, b, d, draw(st.lists(_norm_exponent, min_size=b, max_size=b)))
    w = _rows_with_norms(rng, c, d, draw(st.lists(_norm_exponent, min_size=c, max_size=c)))
    y = np.array(draw(st.lists(st.integers(0, c - 1), min_size=b, max_size=b)))
    return x, w, y


def with_target_angles(x, w, y, angles, rng):
    """Rotate each x_i (keeping its norm) so that the angle to W_{y_i} is exactly angles[i]."""
    x = x.copy()
    for i, (label, t) in enumerate(zip(y, angles, strict=True)):
        w_hat = w[label] / np.linalg.norm(w[label])
        u = rng.standard_normal(w.shape[1])
        u -= u @ w_hat * w_hat  # orthogonal to W_y
        u /= np.linalg.norm(u)
        x[i] = np.linalg.norm(x[i]) * (math.cos(t) * w_hat + math.sin(t) * u)
    return x


_offsets = st.sampled_from([0.0, 1e-12, -1e-12, 1e-9, -1e-9, 1e-6, -1e-6, 1e-3, -1e-3])


@st.composite
def boundary_angles(draw, m: int, b: int):
    """Angles k pi/m + delta (k = 0..m), clipped to [0, pi]: the joints of psi."""
    ks = draw(st.lists(st.integers(0, m), min_size=b, max_size=b))
    deltas = draw(st.lists(_offsets, min_size=b, max_size=b))
    return [min(max(k * math.pi / m + dl, 0.0), math.pi) for k, dl in zip(ks, deltas, strict=True)]


@st.composite
def pole_angles(draw, b: int, min_distance: float = 0.0):
    """Angles within 1e-7..1e-2 of 0 or pi (cos t near +-1), or exactly there when
    min_distance is 0."""
    dist = st.sampled_from([d for d in (0.0, 1e-7, 1e-5, 1e-3, 1e-2) if d >= min_distance])
    poles = draw(st.lists(st.sampled_from([0.0, math.pi]), min_size=b, max_size=b))
    ds = draw(st.lists(dist, min_size=b, max_size=b))
    return [abs(p - d) for p, d in zip(poles, ds, strict=True)]
