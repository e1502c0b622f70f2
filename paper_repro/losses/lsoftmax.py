import functools

from paper_repro.losses import functional
from paper_repro.losses.schedule import LAMBDA, MARGIN_M, AnnealedHead, LambdaSchedule


class LSoftmaxHead(AnnealedHead):
    """L-Softmax (Liu et al., ICML 2016, eqs. 4-7) with the original lambda annealing."""

    key, title, colours = "lsoftmax", "L-Softmax", "Blues"
    reference_logits = staticmethod(functional.lsoftmax_logits)
    hypers = (MARGIN_M, LAMBDA)
    # the original Caffe layer's README setting over the paper's 18k iterations
    annealing = (LambdaSchedule(base=1000.0, gamma=2.5e-5, power=35.0, lam_min=0.0), 18_000)
    benchmarked = tuple({"m": m} for m in (2, 3, 4))
    metric_learning_twin = "LargeMarginSoftmaxLoss"

    @classmethod
    def twin_kwargs(cls, hyper):
        return {"margin": hyper["m"], "scale": 1.0}

    def target(self, dot, x_norm, w_norm):
        return functional.lsoftmax_target(dot, x_norm, w_norm, self.m, self.lam)

    @property
    def partials(self):
        return functools.partial(functional.lsoftmax_partials, m=self.m, lam=self.lam_input)
