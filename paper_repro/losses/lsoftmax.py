from paper_repro.losses import functional
from paper_repro.losses.schedule import AnnealedHead


class LSoftmaxHead(AnnealedHead):
    """L-Softmax (Liu et al., ICML 2016, eqs. 4-7) with the original lambda annealing."""

    def logits(self, features, labels):
        return functional.lsoftmax_logits(features, self.weight, labels, self.m, self.lam)
