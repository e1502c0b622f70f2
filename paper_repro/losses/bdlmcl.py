import functools

import torch

from paper_repro.losses import functional
from paper_repro.losses.base import Hyper
from paper_repro.losses.checks import integer_margin
from paper_repro.losses.lmcl import LMCLHead

# Under "drop", the least share of a first batch that must have its target in the top k: a
# stated threshold (not a measurement) below which a run is refused rather than left to stall.
DROP_MIN_SHARE = 0.05


class BDLMCLHead(LMCLHead):
    """BD-LMCL (Li et al., ICASSP 2019): LMCL's margin only for samples near the boundary.
    The selection rule is `functional.boundary_selection` (k: top-k window of plain cosines).
    `unselected` says what the other samples do: "no_margin" (default) keeps their loss without
    the margin, as the specification text reads; "drop" leaves them out of the loss, as the
    ICASSP abstract reads ("only the samples around the speaker boundaries are considered").
    "drop" is not the default because it cannot start on a large label set: at
    initialisation a target is in the top k of C classes for about k/C of the samples, and the
    rest get zero gradient (k = 5 of 1,000 classes: about 0.5%). Under "drop" with k / C below
    `DROP_MIN_SHARE`, the first training step of a head refuses to go on when under that share
    of its batch has the target in the top k (the only samples that can ever be selected; a
    trained or resumed network has almost all there, and passes). `derivations.bdlmcl` derives
    both."""

    key, title, colours = "bdlmcl", "BD-LMCL", "RdPu"
    reference_logits = staticmethod(functional.bdlmcl_logits)
    hypers = (
        *LMCLHead.hypers,
        Hyper("k", int, 5, low=1, doc="top-k window of plain cosines", drawn=(1, 6)),
        Hyper("unselected", str, "no_margin", choices=functional.UNSELECTED,
              doc="what the samples away from the boundary do: drop, or no_margin"),
    )  # fmt: skip
    zero_margin_title = None
    # 'drop', the reading the committed timings measured (no_margin adds a second fused pass)
    benchmarked = ({"s": 64.0, "m": 0.35, "k": 5, "unselected": "drop"},)
    metric_learning_twin = ""

    def __init__(
        self,
        in_features,
        num_classes,
        s: float = 64.0,
        m: float = 0.35,
        k: int = 5,
        unselected: str = "no_margin",
    ):
        super().__init__(in_features, num_classes, s, m)
        self.k = integer_margin("k", k)
        self.unselected = functional.unselected_reading(unselected)
        # at random initialisation about k / C of the targets are in the top k: only a label
        # set where that is small is checked (a tiny batch of few classes says nothing)
        self._start_checked = unselected != "drop" or self.k / num_classes >= DROP_MIN_SHARE

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
        if self.training and not self._start_checked:
            self._check_start(features, labels)
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

    def _check_start(self, features, labels) -> None:
        """Refuse "drop" where almost no sample could be selected (one host read, once)."""
        with torch.no_grad():
            cos = functional.cosines(features.float(), self.weight.float())
            share = functional.target_in_top_k(cos, labels, self.k).float().mean().item()
        if share < DROP_MIN_SHARE:
            raise ValueError(
                f"BD-LMCL unselected='drop': only {100 * share:.1f}% of the first batch has its "
                f"target among the top k = {self.k} of {self.weight.shape[0]} classes; the "
                "others get zero loss and gradient, so the network would not learn: use "
                "unselected='no_margin' (the default) or a larger k"
            )
        self._start_checked = True

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}, k={self.k}, unselected={self.unselected!r}"
