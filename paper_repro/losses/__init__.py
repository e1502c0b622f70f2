"""Loss heads: one margin variant per module, built by name with `make_head`."""

from __future__ import annotations

import inspect

from paper_repro.losses.arcface import ArcFaceHead
from paper_repro.losses.asoftmax import ASoftmaxHead
from paper_repro.losses.base import MarginHead
from paper_repro.losses.bdlmcl import BDLMCLHead
from paper_repro.losses.lmcl import LMCLHead
from paper_repro.losses.lsoftmax import LSoftmaxHead
from paper_repro.losses.schedule import LambdaSchedule
from paper_repro.losses.softmax import SoftmaxHead

HEADS: dict[str, type[MarginHead]] = {
    "softmax": SoftmaxHead,
    "lsoftmax": LSoftmaxHead,
    "asoftmax": ASoftmaxHead,
    "lmcl": LMCLHead,
    "arcface": ArcFaceHead,
    "bdlmcl": BDLMCLHead,
}


def head_parameters(name: str) -> tuple[str, ...]:
    """The hyper-parameters a head takes besides in_features and num_classes."""
    params = inspect.signature(_head_class(name).__init__).parameters
    return tuple(p for p in params if p not in ("self", "in_features", "num_classes"))


def _head_class(name: str) -> type[MarginHead]:
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; valid heads: {', '.join(HEADS)}")
    return HEADS[name]


def make_head(name: str, in_features: int, num_classes: int, **hyper) -> MarginHead:
    """make_head("lsoftmax", 256, 10, m=4, lam=LambdaSchedule(base=1000, gamma=0.12))."""
    accepted = head_parameters(name)
    unknown = sorted(set(hyper) - set(accepted))
    if unknown:
        raise TypeError(
            f"head {name!r} takes {', '.join(accepted) or 'no hyper-parameters'}; "
            f"got unknown {', '.join(unknown)}"
        )
    return _head_class(name)(in_features, num_classes, **hyper)


__all__ = [
    "HEADS",
    "ASoftmaxHead",
    "ArcFaceHead",
    "BDLMCLHead",
    "LMCLHead",
    "LSoftmaxHead",
    "LambdaSchedule",
    "MarginHead",
    "SoftmaxHead",
    "head_parameters",
    "make_head",
]
