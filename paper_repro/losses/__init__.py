"""Loss heads: one margin variant per module, built by name with `make_head`."""

from __future__ import annotations

from paper_repro.losses.arcface import ArcFaceHead
from paper_repro.losses.asoftmax import ASoftmaxHead
from paper_repro.losses.base import Hyper, MarginHead
from paper_repro.losses.bdlmcl import BDLMCLHead
from paper_repro.losses.combined import CombinedMarginHead
from paper_repro.losses.lmcl import LMCLHead
from paper_repro.losses.lsoftmax import LSoftmaxHead
from paper_repro.losses.schedule import LambdaSchedule
from paper_repro.losses.softmax import SoftmaxHead

# the registry: a new head is one module and one entry here
HEADS: dict[str, type[MarginHead]] = {
    head.key: head
    for head in (
        SoftmaxHead,
        LSoftmaxHead,
        ASoftmaxHead,
        LMCLHead,
        ArcFaceHead,
        BDLMCLHead,
        CombinedMarginHead,
    )
}
# the head every margin head is held against: the fit rule's bar, the claims' default rival and
# the plain row of each table
BASELINE = SoftmaxHead.key


def head_class(name: str) -> type[MarginHead]:
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; valid heads: {', '.join(HEADS)}")
    return HEADS[name]


def make_head(name: str, in_features: int, num_classes: int, **hyper) -> MarginHead:
    """make_head("lsoftmax", 256, 10, m=4, lam=LambdaSchedule(base=1000, gamma=0.12))."""
    cls = head_class(name)
    cls.check_names(hyper)
    return cls(in_features, num_classes, **hyper)


__all__ = [
    "BASELINE",
    "HEADS",
    "ASoftmaxHead",
    "ArcFaceHead",
    "BDLMCLHead",
    "CombinedMarginHead",
    "Hyper",
    "LMCLHead",
    "LSoftmaxHead",
    "LambdaSchedule",
    "MarginHead",
    "SoftmaxHead",
    "head_class",
    "make_head",
]
