from paper_repro.losses import functional
from paper_repro.losses.schedule import AnnealedHead


class ASoftmaxHead(AnnealedHead):
    """A-Softmax (SphereFace, Liu et al., CVPR 2017): L-Softmax with normalised class weights,
    so the other classes' logits are |x| cos t_j."""

    normalise_weight = True

    def target(self, dot, x_norm, w_norm):
        return functional.asoftmax_target(dot, x_norm, w_norm, self.m, self.lam)
