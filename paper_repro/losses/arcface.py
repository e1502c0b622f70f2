import functools
import math

from paper_repro.losses import functional
from paper_repro.losses.base import SCALE, CosineHead, Hyper
from paper_repro.losses.checks import real_in


class ArcFaceHead(CosineHead):
    """ArcFace (Deng et al., CVPR 2019): s cos(t_y + m), insightface fallback past t_y + m = pi."""

    key, title, colours = "arcface", "ArcFace", "Purples"
    reference_logits = staticmethod(functional.arcface_logits)
    target_divides_by_sine = True
    benchmarked = ({"s": 64.0, "m": 0.5},)
    metric_learning_twin = "ArcFaceLoss"
    hypers = (
        SCALE,
        Hyper(
            "m",
            float,
            0.5,
            low=0.0,
            high=math.pi / 2,
            doc="additive angular margin (0.5)",
            drawn=(0.0, 1.2),
        ),
    )

    @classmethod
    def twin_kwargs(cls, hyper):
        # pytorch-metric-learning takes ArcFace's margin in degrees
        return {"margin": math.degrees(hyper["m"]), "scale": hyper["s"]}

    def __init__(self, in_features, num_classes, s: float = 64.0, m: float = 0.5):
        super().__init__(in_features, num_classes, s)
        self.m = real_in("m", m, 0.0, math.pi / 2)

    def target(self, dot, x_norm, w_norm):
        return functional.arcface_logit(dot, x_norm, w_norm, self.s, self.m)

    @property
    def partials(self):
        return functools.partial(functional.arcface_partials, s=self.s, m=self.m)

    def extra_repr(self) -> str:
        return f"s={self.s}, m={self.m}"
