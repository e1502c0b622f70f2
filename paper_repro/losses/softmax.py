from paper_repro.losses import functional
from paper_repro.losses.base import MarginHead


class SoftmaxHead(MarginHead):
    """Plain softmax cross-entropy on W x (no bias): the baseline of every table."""

    def logits(self, features, labels):
        return functional.softmax_logits(features, self.weight, labels)
