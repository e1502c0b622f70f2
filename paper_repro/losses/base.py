"""The head base class: the network's last layer (no bias) together with its loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from paper_repro.losses import functional
from paper_repro.losses.checks import integer_margin, real_in


@dataclass(frozen=True)
class Hyper:
    """One hyper-parameter a head declares: its default, its valid range (checked by the head's
    constructor), the narrower range worth testing and what it means. `kind` is int, float,
    str (with `choices`) or a schedule type (drawn as a constant number)."""

    name: str
    kind: type
    default: object
    low: float | None = None
    high: float | None = None
    doc: str = ""
    low_open: bool = False  # the value must exceed `low`
    choices: tuple[str, ...] = ()  # the valid values of a str hyper-parameter
    # the values the property tests draw (low end included on purpose): where the head is
    # used and delicate, not the whole valid range (s = 1e6 only tests exp's overflow)
    drawn: tuple[float, float] | None = None

    def parse(self, text: str) -> object:
        """The value of a command-line string (`M=4`), in this parameter's kind."""
        if self.kind is str and text in self.choices:
            return text
        if self.kind is str:
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, got {text!r}")
        if self.kind not in (int, float):
            raise ValueError(f"{self.name} cannot be given on the command line")
        try:
            return self.kind(text)
        except ValueError:
            raise ValueError(f"{self.name} must be {self.kind.__name__}, got {text!r}") from None


class MarginHead(nn.Module):
    """`head(features, labels) -> mean loss` in training, `head.logits(features, labels)` for
    analysis, `head.scores(features)` for label-free prediction, `head.weight` (C, D).

    Subclasses override `target`, the target logit from x_i . W_y, |x_i| and |W_y| (the one
    place a margin variant differs; `partials` may add its closed-form derivatives), and set
    the geometry of the other logits: normalised
    class weights, and a scale s for features normalised to |x| = s (`functional`'s recipe).
    They also declare themselves: `key` (the registry name), `title` (for people), `hypers`
    (every constructor keyword with default and range), `margin` (which hyper-parameter
    tables and figures show as the margin) and `colours` (a matplotlib colour-map family).
    """

    key: str = ""
    title: str = ""
    hypers: tuple[Hyper, ...] = ()
    margin: str | None = None
    colours: str = "Greys"

    normalise_weight: bool = False
    scale: float | None = None
    # the same logits as plain autograd operations, (x, weight, labels, **hyper) -> (B, C):
    # the second route the tests hold against the hand-written backward and the SymPy oracle
    reference_logits: staticmethod
    # the target divides by sin t_y (ArcFace's slope): its round-off grows as 1/sin t_y
    target_divides_by_sine: bool = False
    # the hyper-parameters that make the target the plain logit (no margin)
    without_margin: tuple[tuple[str, object], ...] = ()
    select: functional.Select | None = None  # per-sample weights of the cross-entropy
    # the settings `make bench` times this head at and the GPU check compiles it at: the
    # papers' own, so the benchmark rows are the ones a reader would train
    benchmarked: tuple[dict, ...] = ({},)
    # the pytorch-metric-learning loss of the same method, timed beside this head: the class
    # name in pytorch_metric_learning.losses, or "" where it has none
    metric_learning_twin: str = ""
    # the loss's arithmetic as one inductor-compiled graph (losses.compiled); the runner sets
    # it with the network's compile setting
    compile_math: bool = False

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        in_features = integer_margin("in_features", in_features)
        num_classes = integer_margin("num_classes", num_classes)
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        # nn.Linear's default initialisation, so every head starts from the same weights
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    @classmethod
    def check_names(cls, given) -> None:
        """TypeError naming the accepted hyper-parameters when `given` has any other."""
        names = [h.name for h in cls.hypers]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TypeError(
                f"head {cls.key!r} takes {', '.join(names) or 'no hyper-parameters'}; "
                f"got unknown {', '.join(unknown)}"
            )

    @classmethod
    def configure(cls, iterations: int, **given) -> dict:
        """Every hyper-parameter of this head for a run of `iterations` SGD steps: the given
        values, else the declared defaults. Unknown names raise TypeError."""
        cls.check_names(given)
        return {h.name: given.get(h.name, h.default) for h in cls.hypers}

    @classmethod
    def twin_kwargs(cls, hyper: dict) -> dict:
        """The keywords of `metric_learning_twin` that compute this head at `hyper`."""
        raise NotImplementedError(f"head {cls.key!r} has no pytorch-metric-learning twin")

    @classmethod
    def margin_of(cls, hyper: dict):
        return None if cls.margin is None else hyper.get(cls.margin)

    @classmethod
    def label(cls, hyper: dict) -> str:
        """How tables and figures name this head with these hyper-parameters."""
        m = cls.margin_of(hyper)
        return cls.key if m is None else f"{cls.key} m={m}"

    @classmethod
    def run_name(cls, hyper: dict) -> str:
        """The head's part of a run's file name."""
        m = cls.margin_of(hyper)
        return cls.key if m is None else f"{cls.key}-m{m}"

    def target(self, dot: torch.Tensor, x_norm: torch.Tensor, w_norm: torch.Tensor):
        raise NotImplementedError

    @property
    def partials(self) -> functional.Partials:
        """partials(z, |x|, |W_y|): the target in the plain logit z_iy it replaces, for the
        hand-written backward: (target, d/dz, d/d|x|, d/d|W_y|) at fixed z, each (B,) or None
        where zero (see `functional`). By autograd of `target` unless a head gives the closed
        form (faster; the tests hold each closed form to that autograd and to the SymPy
        derivation) as a functools.partial of a `functional.*_partials` with the head's
        hyper-parameters: that form is also what `compile_math` can compile."""
        return functional.autograd_partials(self.target, self.normalise_weight, self.scale)

    def logits(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return functional.margin_logits(
            features, self.weight, labels, self.target, self.normalise_weight, self.scale
        )

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores without margin (the test-time decision rule), (B, C): W_j . x, or
        |x| cos t_j with normalised weights, or cos t_j with normalised features too."""
        unit_scale = None if self.scale is None else 1.0
        return functional.plain_logits(features, self.weight, self.normalise_weight, unit_scale)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return functional.margin_cross_entropy(
            features, self.weight, labels, self.target, self.normalise_weight, self.scale,
            self.select, self.partials, self.compile_math,
        )  # fmt: skip


SCALE = Hyper("s", float, 64.0, low=0.0, low_open=True, doc="feature scale |x| = s (CosFace: 64)",
              drawn=(0.5, 64.0))  # fmt: skip


class CosineHead(MarginHead):
    """Heads on features and class weights normalised, features scaled to |x| = s."""

    normalise_weight = True
    margin = "m"
    without_margin = (("m", 0.0),)

    def __init__(self, in_features: int, num_classes: int, s: float):
        super().__init__(in_features, num_classes)
        self.s = real_in("s", s, 0.0, low_open=True)

    @property
    def scale(self) -> float:
        return self.s
