"""Argument checks shared by the functional API and the head modules.

Every message names the argument and the expected form, so a wrong call fails at the
call site instead of deep inside cross-entropy (or as a CUDA device-side assert)."""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import operator
from collections.abc import Iterator

import torch

# set while a caller (the training loop) watches the features and the loss for NaN/inf
# itself and trains on validated labels: the heads then skip their value checks, the one
# host synchronisation they would add to a GPU step
_CALLER_CHECKS_VALUES = contextvars.ContextVar("caller_checks_values", default=False)


@contextlib.contextmanager
def values_checked_by_caller() -> Iterator[None]:
    """Within this block `check_batch` checks types and shapes only."""
    token = _CALLER_CHECKS_VALUES.set(True)
    try:
        yield
    finally:
        _CALLER_CHECKS_VALUES.reset(token)


def check_batch(features: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> None:
    """features (B, D) float, weight (C, D) float, labels (B,) integer in [0, C), all finite."""
    for name, t in (("features", features), ("weight", weight), ("labels", labels)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if features.dim() != 2:
        raise ValueError(f"features must have shape (B, D), got {tuple(features.shape)}")
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (C, D), got {tuple(weight.shape)}")
    if not features.is_floating_point() or not weight.is_floating_point():
        raise TypeError(
            f"features and weight must be floating point, got {features.dtype} and {weight.dtype}"
        )
    if features.shape[1] != weight.shape[1]:
        raise ValueError(
            f"features have D={features.shape[1]} but weight has shape {tuple(weight.shape)}; "
            "weight must be (num_classes, D) like nn.Linear"
        )
    if features.shape[0] == 0:
        raise ValueError("empty batch: features has B=0 rows")
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"labels must have shape (B,) = ({features.shape[0]},), got {tuple(labels.shape)}"
        )
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be torch.int64 class indices, got {labels.dtype}")
    if weight.shape[0] == 0:
        raise ValueError("weight has no classes (C=0)")
    if _CALLER_CHECKS_VALUES.get():
        return
    # One host sync for all value checks. A sum is finite only if every element is, and one
    # reduction is far cheaper than isfinite over a (10572, 512) weight; a finite tensor whose
    # sum overflows falls back to the exact element-wise test below.
    lo, hi = labels.aminmax()
    total = features.sum(dtype=torch.float64) + weight.sum(dtype=torch.float64)
    lo, hi, total = torch.stack((lo.double(), hi.double(), total)).tolist()
    bad_label = lo < 0 or hi >= weight.shape[0]
    bad_feature = not math.isfinite(total) and not torch.isfinite(features).all()
    bad_weight = not math.isfinite(total) and not torch.isfinite(weight).all()
    if bad_label:
        raise ValueError(
            f"labels must lie in [0, {weight.shape[0] - 1}] (num_classes={weight.shape[0]}), "
            f"got values in [{int(lo)}, {int(hi)}]"
        )
    if bad_feature:
        raise ValueError("features contain NaN or inf; the loss would be NaN")
    if bad_weight:
        raise ValueError("weight contains NaN or inf; the loss would be NaN")


def integer_margin(name: str, value: object, minimum: int = 1) -> int:
    """An integer margin (L-Softmax / A-Softmax m): bools and floats such as 2.5 or 2.0 are
    rejected because psi(t) is only defined piecewise on pi/m segments for integer m."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def real_in(
    name: str,
    value: object,
    low: float,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = True,
) -> float:
    """A finite real number in the interval given by low/high and their openness."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must lie in {left}{low}, {high}{right}, got {value}")
    return value
