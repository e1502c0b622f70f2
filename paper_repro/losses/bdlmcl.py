import functools

from paper_repro.losses import functional
from paper_repro.losses.base import Hyper
from paper_repro.losses.checks import integer_margin
from paper_repro.losses.lmcl import LMCLHead


class BDLMCLHead(LMCLHead):
    """BD-LMCL (Li et al., ICASSP 2019): LMCL's margin only for samples near the boundary.
    The selection rule is `functional.boundary_selection` (k: top-k window of plain cosines).
    `unselected` says what the other samples do: "drop" (default) leaves them out of the loss,
    as the ICASSP abstract reads ("only the samples around the speaker boundaries are
    considered"); "no_margin" keeps their loss without the margin, as the specification text
    reads. The default keeps the paper's reading and every result computed before the option
    existed; `derivations.bdlmcl` derives both."""

    key, title, colours = "bdlmcl", "BD-LMCL", "RdPu"
    hypers = (
        *LMCLHead.hypers,
        Hyper("k", int, 5, low=1, doc="top-k window of plain cosines"),
        Hyper("unselected", str, "drop", choices=functional.UNSELECTED,
              doc="what the samples away from the boundary do: drop, or no_margin"),
    )  # fmt: skip
    zero_margin_title = None

    def __init__(
        self,
        in_features,
        num_classes,
        s: float = 64.0,
        m: float = 0.35,
        k: int = 5,
        unselected: str = "drop",
    ):
        super().__init__(in_features, num_classes, s, m)
        self.k = integer_margin("k", k)
        self.unselected = functional.unselected_reading(unselected)

    @property
    def select(self):
        # plain logits are s cos t_ij: the rule in these units has margin s m
        return functools.partial(functional.boundary_selection, m=self.s * self.m, k=self.k)

    def _target_without_margin(self, dot, x_norm, w_norm):
        return functional.lmcl_target(dot, x_norm, w_norm, self.s, 0.0)

    def logits(self, features, labels):
        return functional.bdlmcl_logits(
            features, self.weight, labels, self.s, self.m, self.k, self.unselected
        )

    def forward(self, features, labels):
        loss = super().forward(features, labels)
        if self.unselected == "drop":
            return loss
        # each sample's cross-entropy once: the selected ones with the margin (above), the
        # others without it; two fused passes, each weighting the other's samples by zero
        return loss + functional.margin_cross_entropy(
            features, self.weight, labels, self._target_without_margin, self.normalise_weight,
            self.scale, functools.partial(self.select, complement=True),
            functools.partial(functional.lmcl_partials, s=self.s, m=0.0), self.compile_math,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}, k={self.k}, unselected={self.unselected!r}"
