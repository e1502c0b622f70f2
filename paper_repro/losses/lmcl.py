import functools

from paper_repro.losses import functional
from paper_repro.losses.base import SCALE, CosineHead, Hyper
from paper_repro.losses.checks import real_in


class LMCLHead(CosineHead):
    """LMCL / CosFace (Wang et al., CVPR 2018): s (cos t_j - m 1[j = y]); paper s = 64, m = 0.35."""

    key, title, colours = "lmcl", "LMCL (CosFace)", "Oranges"
    reference_logits = staticmethod(functional.lmcl_logits)
    hypers = (
        SCALE,
        Hyper("m", float, 0.35, low=0.0, doc="cosine margin (CosFace: 0.35)", drawn=(0.0, 0.6)),
    )
    zero_margin_title: str | None = "normalised softmax"  # CosFace's name for m = 0
    benchmarked = ({"s": 64.0, "m": 0.35},)
    metric_learning_twin = "CosFaceLoss"

    @classmethod
    def twin_kwargs(cls, hyper):
        return {"margin": hyper["m"], "scale": hyper["s"]}

    def __init__(self, in_features, num_classes, s: float = 64.0, m: float = 0.35):
        super().__init__(in_features, num_classes, s)
        self.m = real_in("m", m, 0.0)

    @classmethod
    def label(cls, hyper: dict) -> str:
        if hyper.get("m") == 0 and cls.zero_margin_title:
            return f"{cls.zero_margin_title} ({cls.key} m=0)"
        return super().label(hyper)

    def target(self, dot, x_norm, w_norm):
        return functional.lmcl_target(dot, x_norm, w_norm, self.s, self.m)

    @property
    def partials(self):
        return functools.partial(functional.lmcl_partials, s=self.s, m=self.m)

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}"
