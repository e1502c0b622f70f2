"""The head base class: the network's last layer (no bias) together with its loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from paper_repro.losses.checks import integer_margin


class MarginHead(nn.Module):
    """`head(features, labels) -> mean loss` in training, `head.logits(features, labels)` for
    analysis, `head.scores(features)` for label-free prediction, `head.weight` (C, D).

    Subclasses override `logits` (the one place a margin variant differs)."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        in_features = integer_margin("in_features", in_features)
        num_classes = integer_margin("num_classes", num_classes)
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        # nn.Linear's default initialisation, so every head starts from the same weights
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores without margin (the test-time decision rule), (B, C)."""
        return features @ self.weight.T

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(features, labels), labels)


class CosineHead(MarginHead):
    """Heads on normalised features and weights decide by cos t_j."""

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).T
