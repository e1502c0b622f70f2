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


def caller_checks_values() -> bool:
    """Whether a caller has taken over the value checks (`values_checked_by_caller`)."""
    return _CALLER_CHECKS_VALUES.get()


def check_batch(
    features: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, values: bool = True
) -> None:
    """features (B, D) float, weight (C, D) float, labels (B,) integer; with `values` (and no
    caller checking them) also labels in [0, C) and every feature and weight finite.
    `values=False` is for a caller that checks them itself with `check_values`, on the
    reductions of its own computation."""
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
    if values and not caller_checks_values():
        # a sum is finite only if every element is, and one reduction is far cheaper than
        # isfinite over a (10572, 512) weight
        totals = (features.sum(dtype=torch.float64), weight.sum(dtype=torch.float64))
        check_values(value_summary(labels, *totals), features, weight)


def value_summary(labels, feature_total, weight_total) -> torch.Tensor:
    """(min label, max label, feature total, weight total) as one float64 vector (4,), read by
    `check_values` in one host synchronisation. The totals are any sums that are finite when
    every feature (weight) is: of the elements, or of the row norms (no cancellation)."""
    lo, hi = labels.aminmax()
    return torch.stack((lo.double(), hi.double(), feature_total.double(), weight_total.double()))


def check_values(summary: torch.Tensor, features: torch.Tensor, weight: torch.Tensor) -> None:
    """ValueError for labels outside [0, C) or NaN/inf in features or weight, from a
    `value_summary`. A total that is not finite is confirmed element-wise first: a finite
    tensor whose total overflowed passes."""
    lo, hi, feature_total, weight_total = summary.tolist()
    if lo < 0 or hi >= weight.shape[0]:
        raise ValueError(
            f"labels must lie in [0, {weight.shape[0] - 1}] (num_classes={weight.shape[0]}), "
            f"got values in [{int(lo)}, {int(hi)}]"
        )
    if not math.isfinite(feature_total) and not torch.isfinite(features).all():
        raise ValueError("features contain NaN or inf; the loss would be NaN")
    if not math.isfinite(weight_total) and not torch.isfinite(weight).all():
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
