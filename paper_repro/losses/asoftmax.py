import torch.nn.functional as F

from paper_repro.losses import functional
from paper_repro.losses.schedule import AnnealedHead


class ASoftmaxHead(AnnealedHead):
    """A-Softmax (SphereFace, Liu et al., CVPR 2017): L-Softmax with normalised class weights."""

    def logits(self, features, labels):
        return functional.asoftmax_logits(features, self.weight, labels, self.m, self.lam)

    def scores(self, features):
        return features @ F.normalize(self.weight, dim=1).T  # |x| cos t_j
