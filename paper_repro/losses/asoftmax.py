import functools

from paper_repro.losses import functional
from paper_repro.losses.schedule import LAMBDA, MARGIN_M, AnnealedHead, LambdaSchedule


class ASoftmaxHead(AnnealedHead):
    """A-Softmax (SphereFace, Liu et al., CVPR 2017): L-Softmax with normalised class weights,
    so the other classes' logits are |x| cos t_j."""

    key, title, colours = "asoftmax", "A-Softmax", "Greens"
    reference_logits = staticmethod(functional.asoftmax_logits)
    hypers = (MARGIN_M, LAMBDA)
    # sphereface_model.prototxt over its 28k iterations
    annealing = (LambdaSchedule(base=1000.0, gamma=0.12, power=1.0, lam_min=5.0), 28_000)
    normalise_weight = True
    benchmarked = ({"m": 4},)
    metric_learning_twin = "SphereFaceLoss"

    @classmethod
    def twin_kwargs(cls, hyper):
        return {"margin": hyper["m"], "scale": 1.0}

    def target(self, dot, x_norm, w_norm):
        return functional.asoftmax_target(dot, x_norm, w_norm, self.m, self.lam)

    @property
    def partials(self):
        return functools.partial(functional.asoftmax_partials, m=self.m, lam=self.lam_input)
