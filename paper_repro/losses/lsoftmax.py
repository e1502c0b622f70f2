from paper_repro.losses import functional
from paper_repro.losses.schedule import AnnealedHead


class LSoftmaxHead(AnnealedHead):
    """L-Softmax (Liu et al., ICML 2016, eqs. 4-7) with the original lambda annealing."""

    def target(self, dot, x_norm, w_norm):
        return functional.lsoftmax_target(dot, x_norm, w_norm, self.m, self.lam)
