from paper_repro.losses import functional
from paper_repro.losses.base import Hyper
from paper_repro.losses.checks import integer_margin
from paper_repro.losses.lmcl import LMCLHead


class BDLMCLHead(LMCLHead):
    """BD-LMCL (Li et al., ICASSP 2019): LMCL counted only for samples near the boundary.
    The selection rule is `functional.boundary_selection` (k: top-k window of plain cosines)."""

    key, title, colours = "bdlmcl", "BD-LMCL", "RdPu"
    hypers = (*LMCLHead.hypers, Hyper("k", int, 5, low=1, doc="top-k window of plain cosines"))
    zero_margin_title = None

    def __init__(self, in_features, num_classes, s: float = 64.0, m: float = 0.35, k: int = 5):
        super().__init__(in_features, num_classes, s, m)
        self.k = integer_margin("k", k)

    def select(self, plain_logits, labels):
        # plain logits are s cos t_ij: the rule in these units has margin s m
        return functional.boundary_selection(plain_logits, labels, self.s * self.m, self.k)

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}, k={self.k}"
