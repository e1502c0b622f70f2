"""The head base class: the network's last layer (no bias) together with its loss."""

from __future__ import annotations

import math

import torch
from torch import nn

from paper_repro.losses import functional
from paper_repro.losses.checks import integer_margin, real_in


class MarginHead(nn.Module):
    """`head(features, labels) -> mean loss` in training, `head.logits(features, labels)` for
    analysis, `head.scores(features)` for label-free prediction, `head.weight` (C, D).

    Subclasses override `target`, the target logit from x_i . W_y, |x_i| and |W_y| (the one
    place a margin variant differs), and set the geometry of the other logits: normalised
    class weights, and a scale s for features normalised to |x| = s (`functional`'s recipe).
    """

    normalise_weight: bool = False
    scale: float | None = None
    select: functional.Select | None = None  # per-sample weights of the cross-entropy

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        in_features = integer_margin("in_features", in_features)
        num_classes = integer_margin("num_classes", num_classes)
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        # nn.Linear's default initialisation, so every head starts from the same weights
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def target(self, dot: torch.Tensor, x_norm: torch.Tensor, w_norm: torch.Tensor):
        raise NotImplementedError

    def logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return functional.margin_logits(
            features, self.weight, labels, self.target, self.normalise_weight, self.scale
        )

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores without margin (the test-time decision rule), (B, C): W_j . x, or
        |x| cos t_j with normalised weights, or cos t_j with normalised features too."""
        unit_scale = None if self.scale is None else 1.0
        return functional.plain_logits(features, self.weight, self.normalise_weight, unit_scale)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return functional.margin_cross_entropy(
            features, self.weight, labels, self.target, self.normalise_weight, self.scale,
            self.select,
        )  # fmt: skip


class CosineHead(MarginHead):
    """Heads on features and class weights normalised, features scaled to |x| = s."""

    normalise_weight = True

    def __init__(self, in_features: int, num_classes: int, s: float):
        super().__init__(in_features, num_classes)
        self.s = real_in("s", s, 0.0, low_open=True)

    @property
    def scale(self) -> float:
        return self.s
