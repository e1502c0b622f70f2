"""Bad arguments raise clear errors that name the argument and the expected form."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from paper_repro.losses import HEADS, LambdaSchedule, functional, make_head

X = torch.randn(4, 3)
W = torch.randn(5, 3)
Y = torch.tensor([0, 1, 4, 2])
ALL = [
    (functional.softmax_logits, {}),
    (functional.lsoftmax_logits, {"m": 2}),
    (functional.asoftmax_logits, {"m": 2}),
    (functional.lmcl_logits, {"s": 30.0, "m": 0.35}),
    (functional.arcface_logits, {"s": 30.0, "m": 0.5}),
    (functional.bdlmcl_loss, {"s": 30.0, "m": 0.35}),
]
IDS = [fn.__name__ for fn, _ in ALL]


@pytest.mark.parametrize(("fn", "params"), ALL, ids=IDS)
@pytest.mark.parametrize(
    ("x", "w", "y", "error", "match"),
    [
        (X[0], W, Y[:1], ValueError, r"features must have shape \(B, D\)"),
        (X, W[0], Y, ValueError, r"weight must have shape \(C, D\)"),
        (X, torch.randn(5, 4), Y, ValueError, r"weight must be \(num_classes, D\)"),
        (X, W.T, Y, ValueError, r"features have D=3"),
        (X, W, Y[:3], ValueError, r"labels must have shape \(B,\) = \(4,\)"),
        (X, W, Y.float(), TypeError, r"labels must be torch.int64"),
        (X, W, torch.tensor([0, 1, 5, 2]), ValueError, r"labels must lie in \[0, 4\]"),
        (X, W, torch.tensor([0, -1, 3, 2]), ValueError, r"got values in \[-1, 3\]"),
        (X.int(), W, Y, TypeError, r"must be floating point"),
        (X[:0], W, Y[:0], ValueError, r"empty batch"),
        (torch.full((4, 3), math.nan), W, Y, ValueError, r"features contain NaN or inf"),
        (X, W * math.inf, Y, ValueError, r"weight contains NaN or inf"),
        (X.numpy(), W, Y, TypeError, r"features must be a torch.Tensor"),
    ],
    ids=[
        "1d-features", "1d-weight", "D-mismatch", "transposed-weight", "short-labels",
        "float-labels", "label-too-large", "negative-label", "int-features", "empty-batch",
        "nan-features", "inf-weight", "numpy-features",
    ],
)  # fmt: skip
def test_bad_batch_is_rejected(fn, params, x, w, y, error, match):
    with pytest.raises(error, match=match):
        fn(x, w, y, **params)


@pytest.mark.parametrize("fn", [functional.lsoftmax_logits, functional.asoftmax_logits])
@pytest.mark.parametrize(
    ("m", "error"),
    [(0, ValueError), (-2, ValueError), (2.5, TypeError), (2.0, TypeError), (True, TypeError),
     ("4", TypeError), (None, TypeError)],
)  # fmt: skip
def test_angular_margin_must_be_integer_at_least_one(fn, m, error):
    with pytest.raises(error, match=r"m must be an integer >= 1"):
        fn(X, W, Y, m=m)


def test_numpy_integer_margin_is_accepted():
    torch.testing.assert_close(
        functional.lsoftmax_logits(X, W, Y, m=np.int64(3)), functional.lsoftmax_logits(X, W, Y, 3)
    )


@pytest.mark.parametrize("lam", [-1.0, math.inf, math.nan])
def test_lambda_must_be_finite_and_nonnegative(lam):
    with pytest.raises((ValueError, TypeError), match=r"lam must"):
        functional.lsoftmax_logits(X, W, Y, m=2, lam=lam)


@pytest.mark.parametrize(
    "fn", [functional.lmcl_logits, functional.arcface_logits, functional.bdlmcl_loss]
)
@pytest.mark.parametrize("s", [0.0, -1.0, math.inf])
def test_scale_must_be_positive(fn, s):
    with pytest.raises((ValueError, TypeError), match=r"s must"):
        fn(X, W, Y, s=s, m=0.3)


@pytest.mark.parametrize(("fn", "m"), [(functional.lmcl_logits, -0.1),
                                       (functional.arcface_logits, -0.1),
                                       (functional.arcface_logits, math.pi / 2)])  # fmt: skip
def test_additive_margin_range(fn, m):
    with pytest.raises(ValueError, match=r"m must lie in \[0.0"):
        fn(X, W, Y, s=30.0, m=m)


def test_bdlmcl_window_must_be_positive_integer():
    with pytest.raises(ValueError, match=r"k must be an integer >= 1"):
        functional.bdlmcl_loss(X, W, Y, s=30.0, m=0.3, k=0)


def test_unknown_head_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown head 'cosface'; valid heads: softmax, lsoftmax"):
        make_head("cosface", 3, 5)


def test_unknown_hyper_parameter_names_the_accepted_ones():
    with pytest.raises(TypeError, match=r"head 'lmcl' takes s, m; got unknown margin"):
        make_head("lmcl", 3, 5, margin=0.35)


@pytest.mark.parametrize(("name", "params"), [("lsoftmax", {"m": 1.5}), ("arcface", {"s": 0}),
                                              ("softmax", {})])  # fmt: skip
def test_head_constructor_validates(name, params):
    with pytest.raises((ValueError, TypeError)):
        make_head(name, 0 if name == "softmax" else 3, 5, **params)


def test_schedule_rejects_negative_values():
    with pytest.raises(ValueError, match=r"gamma must lie in \[0.0, inf\)"):
        LambdaSchedule(base=1000, gamma=-1)


HEAD_HYPER = {"lsoftmax": {"m": 3}, "asoftmax": {"m": 3}}
COMPILE = [False] + ([True] if any(map(shutil.which, ("cc", "gcc", "clang"))) else [])


@pytest.mark.parametrize("compiled", COMPILE, ids=lambda c: "compiled" if c else "eager")
@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize(
    ("x", "w", "y", "match"),
    [
        (X, W, torch.tensor([0, 1, 5, 2]), r"labels must lie in \[0, 4\]"),
        (X, W, torch.tensor([0, -1, 3, 2]), r"got values in \[-1, 3\]"),
        (X.clone().index_fill_(0, torch.tensor([2]), math.nan), W, Y, r"features contain NaN"),
        (X, W.clone().index_fill_(0, torch.tensor([4]), -math.inf), Y, r"weight contains NaN"),
    ],
    ids=["label-too-large", "negative-label", "nan-row", "inf-class"],
)
def test_training_loss_rejects_bad_values_after_computing(name, compiled, x, w, y, match):
    """The heads' training loss checks the values on the reductions of its own computation
    (labels' range, the row norms): the same errors as the reference path, also compiled,
    where the out-of-range label must not reach an index."""
    head = make_head(name, 3, 5, **HEAD_HYPER.get(name, {}))
    head.weight.data.copy_(w)
    head.compile_math = compiled
    with pytest.raises(ValueError, match=match):
        head(x.clone().requires_grad_(), y)


@pytest.mark.parametrize("name", HEADS)
def test_finite_features_whose_norm_overflows_are_not_called_nan(name):
    """1e30 squared overflows float32, so the row norm is inf while every feature is finite:
    the element-wise confirmation lets the batch through."""
    head = make_head(name, 3, 5, **HEAD_HYPER.get(name, {}))
    head(torch.full((4, 3), 1e30), Y)
