"""Loss-head benchmarks, what is measured: `tests/bench/test_loss_heads.py` runs it under
pytest-benchmark, and `bench_report` turns pytest-benchmark's JSON into
`reports/benchmarks/loss_heads.md` and its JSON twin.

Each benchmark is one training step of the loss alone: forward of the head and
cross-entropy, then the gradients of the features and of the class weights. Every head is
compared with plain `nn.Linear(bias=False)` + `F.cross_entropy` on the same inputs in the
same run ("vs softmax"), and with the pytorch-metric-learning loss of the same method where
one exists ("vs pytorch-metric-learning").

Inputs: float32 features and weights in two regimes (`REGIMES`). Where the target logit
exceeds the others by more than about 82 (ln B + 87, float32's smallest normal number is
exp(-87.3)), the softmax probabilities in the gradient are subnormal, and a CPU matmul over
subnormal numbers runs up to two orders of magnitude slower unless denormals are flushed
(`torch.set_flush_denormal(True)`); `make bench` measures both ways.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from paper_repro.losses import HEADS, head_class

FLUSH_ENV = "PAPER_REPRO_BENCH_FLUSH_DENORMAL"  # "1": flush denormals for the whole run


@dataclass(frozen=True)
class Shape:
    name: str
    batch: int  # B
    features: int  # D
    classes: int  # C
    target: float  # the largest ratio to plain softmax that meets the target

    @property
    def label(self) -> str:
        return f"{self.name} ({self.batch}, {self.features}, {self.classes})"


SHAPES = {
    # CASIA-WebFace classes with SphereFace/CosFace's 512-d embedding
    "face": Shape("face", 256, 512, 10572, 1.3),
    # CIFAR-10 with the paper's 256-d feature
    "cifar": Shape("cifar", 256, 256, 10, 2.0),
}


@dataclass(frozen=True)
class Regime:
    name: str
    feature_norm: float
    weight_norm: float | None  # None: nn.Linear's initialisation (row norm about 1/sqrt(3))
    description: str


# Target angles are drawn uniformly from 5 to 50 degrees in both regimes: the quick-profile
# MNIST runs ended with L-Softmax m=4 target angles mostly at 4-10 degrees and softmax at 40-50.
ANGLE_RANGE_DEG = (5.0, 50.0)
REGIMES = {
    "typical": Regime(
        "typical",
        20.0,
        None,
        "|x| = 20, class weights from nn.Linear's initialisation (|W_j| about 0.58); the "
        "quick-profile MNIST runs ended with |x| 9-15 and |W_j| 1.0-1.4, the same range of "
        "|W_j||x|; no subnormal probabilities",
    ),
    "large-norm": Regime(
        "large-norm",
        30.0,
        3.5,
        "|x| = 30, |W_j| = 3.5 (|W_j||x| = 105): a late-training stress case where the "
        "target logit can exceed the others by more than 82, so part of the softmax "
        "gradient is subnormal",
    ),
}


@dataclass(frozen=True)
class Case:
    """One row: `head` is a name for `make_head` ('plain' is the nn.Linear baseline)."""

    head: str
    hyper: dict = field(default_factory=dict)
    pml: str | None = None  # pytorch_metric_learning.losses class
    pml_kwargs: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if self.head == "plain":
            return "Linear + cross_entropy"
        # the integer-margin heads are told apart by m; the others run one setting each
        cls = head_class(self.head)
        integer_margin = any(h.name == cls.margin and h.kind is int for h in cls.hypers)
        return self.head + (f" m={self.hyper['m']}" if integer_margin else "")

    @property
    def key(self) -> str:
        return self.label.replace(" + ", "+").replace(" ", "-").replace("=", "")


PLAIN = Case("plain")  # the nn.Linear + cross_entropy row every head is timed against
# the dtype label of the rows whose heads run their loss as one compiled graph (compile_math)
COMPILED_DTYPE = "float32 compiled"


def _case(head: type, hyper: dict) -> Case:
    twin = head.metric_learning_twin
    return Case(head.key, hyper, twin or None, head.twin_kwargs(hyper) if twin else {})


# every registered head at each setting it declares (`MarginHead.benchmarked`)
CASES = [PLAIN, *(_case(head, hyper) for head in HEADS.values() for hyper in head.benchmarked)]
HEAD_ORDER = [c.label for c in CASES]


def make_inputs(shape: Shape, regime: Regime, device="cpu", seed: int = 0):
    """features (B, D), weight (C, D), labels (B,) on `device`, float32, reproducible.

    The weight has nn.Linear's distribution U(-1/sqrt(D), 1/sqrt(D)), rescaled to
    `regime.weight_norm` per row when given; each feature sits at a target angle drawn from
    ANGLE_RANGE_DEG to its class weight, in a random direction, with norm regime.feature_norm."""
    g = torch.Generator().manual_seed(seed)
    B, D, C = shape.batch, shape.features, shape.classes
    weight = (torch.rand(C, D, generator=g) * 2.0 - 1.0) / math.sqrt(D)
    if regime.weight_norm is not None:
        weight = regime.weight_norm * F.normalize(weight, dim=1)
    labels = torch.randint(0, C, (B,), generator=g)
    w = F.normalize(weight[labels], dim=1)  # (B, D)
    u = torch.randn(B, D, generator=g, dtype=torch.float64).float()
    u = F.normalize(u - (u * w).sum(1, keepdim=True) * w, dim=1)  # orthogonal to w
    lo, hi = (math.radians(a) for a in ANGLE_RANGE_DEG)
    angle = lo + (hi - lo) * torch.rand(B, 1, generator=g)
    features = regime.feature_norm * (torch.cos(angle) * w + torch.sin(angle) * u)
    return features.to(device), weight.to(device), labels.to(device)


def interleaved(steps: dict, rounds: int, min_seconds: float = 2e-3) -> dict[str, list[float]]:
    """Seconds per call of each of `steps` (name -> callable), every step timed once per
    round and the order rotated from round to round, so a drift of the machine's speed
    (frequency, a neighbour's load) reaches all alike and the per-round ratios cancel it.
    A step faster than `min_seconds` is repeated within its turn, the same count every round."""
    names = list(steps)
    repeats = {}
    for name in names:
        tick = time.perf_counter()
        steps[name]()
        repeats[name] = max(1, math.ceil(min_seconds / max(time.perf_counter() - tick, 1e-9)))
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step, n = steps[name], repeats[name]
            tick = time.perf_counter()
            for _ in range(n):
                step()
            times[name].append((time.perf_counter() - tick) / n)
    return times


def round_ratios(times: dict[str, list[float]], name: str, reference: str) -> float:
    """Median over rounds of name's time over reference's time in the same round."""
    return statistics.median(a / b for a, b in zip(times[name], times[reference], strict=True))


def subnormal_share(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of dL/dlogits = (softmax - onehot) / B that is subnormal in float32: the
    entries that make the matmuls of the backward pass slow on a CPU without flushing.
    Computed in float64 (flushing must not hide them); the target's probability is rounded
    to float32 first, as the kernel holds it, so p_y = 1 gives a zero, not a tiny number."""
    with torch.no_grad():
        B = logits.shape[0]
        p = torch.softmax(logits.double(), dim=1)
        rows = torch.arange(B, device=logits.device)
        p[rows, labels] = p[rows, labels].float().double() - 1.0
        grad = (p / B).abs()
        tiny = torch.finfo(torch.float32).tiny
        return ((grad > 2.0**-150) & (grad < tiny)).double().mean().item()


def denormals_flushed() -> bool:
    """True when float32 subnormals are flushed to zero on every intra-op thread.

    torch.set_flush_denormal(True) sets the flag of the calling thread only; OpenMP workers
    started later copy it, those already running keep theirs. So it must be called before
    the first parallel operation of the process, and this check (a parallel multiply over
    subnormal bit patterns) tells whether that worked."""
    n = 1 << 20  # far above ATen's grain size: every thread takes a part
    bits = torch.arange(1, n + 1, dtype=torch.int32) % (1 << 23)  # exponent 0: subnormal
    return bool(((bits.view(torch.float32) * 1.0) == 0).all())
