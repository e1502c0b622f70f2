"""Fuzzing the heads: random shapes, dtypes, labels and non-finite values. Every call either
returns a finite loss or raises ValueError/TypeError with one of our messages; nothing crashes
with an unexplained error and nothing returns NaN silently."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from paper_repro.losses import make_head

PARAMS = {"lsoftmax": {"m": 3}, "asoftmax": {"m": 4}, "lmcl": {}, "arcface": {}, "bdlmcl": {},
          "softmax": {}}  # fmt: skip
OUR_MESSAGES = (
    "features must", "weight must", "labels must", "features have D=", "empty batch",
    "features contain NaN or inf", "must be floating point",
)  # fmt: skip
special = st.sampled_from([0.0, -0.0, 1e-30, 1e30, -1e30, math.nan, math.inf, -math.inf])


@st.composite
def messy_inputs(draw):
    b = draw(st.integers(0, 5))
    d = draw(st.integers(1, 5))
    shape = draw(st.sampled_from([(b, d), (b,), (b, d, 1), (b, d + 1)]))
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(draw(st.integers(0, 99))))
    x = x * 10 ** draw(st.floats(-6, 6))
    if x.numel() and draw(st.booleans()):
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(special)
    x = x.to(draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64])))
    labels = torch.tensor(draw(st.lists(st.integers(-2, 6), min_size=0, max_size=6)))
    labels = labels.to(draw(st.sampled_from([torch.int64, torch.int32, torch.float32])))
    return x, labels, d


@pytest.mark.parametrize("head_name", list(PARAMS))
@given(inputs=messy_inputs())
def test_heads_never_fail_silently(head_name, inputs):
    x, labels, d = inputs
    head = make_head(head_name, d, 5, **PARAMS[head_name])
    try:
        loss = head(x, labels)
    except (ValueError, TypeError) as exc:
        assert any(m in str(exc) for m in OUR_MESSAGES), f"unexplained error: {exc}"
        return
    assert torch.isfinite(loss), f"{head_name} returned {loss} for x={x}, labels={labels}"
    loss.backward()
    assert torch.isfinite(head.weight.grad).all()
