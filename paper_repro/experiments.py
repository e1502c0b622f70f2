"""Every experiment of the reproduction in one place: what is trained, for how long, and the
number the paper printed for it.

Reproduces: Liu et al., "Large-Margin Softmax Loss for Convolutional Neural Networks",
ICML 2016, Tables 2-4 (test error %, MNIST, CIFAR-10, CIFAR-10+, CIFAR-100).
Profiles change only the schedule length and the seeds, never the network or the head:
- paper: the paper's schedule (18k iterations of batch 256); hours per model on 2 CPU cores,
  about a minute on one H100.
- quick: the same networks and heads on a schedule 90x shorter, sized so the MNIST table
  (4 heads x 3 seeds) takes about 90 minutes on 2 CPU cores. Its errors are far above the
  paper's and are labelled "quick" everywhere.
- smoke: a few iterations on a few hundred images, for CI; its numbers mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from paper_repro.losses import LambdaSchedule

PROFILES = ("paper", "quick", "smoke")


@dataclass(frozen=True)
class Schedule:
    """SGD schedule of one training run."""

    iterations: int  # SGD steps in total
    lr_drops: tuple[int, ...]  # iterations at which the learning rate is divided by 10
    batch_size: int = 256  # images per step
    lr: float = 0.1  # initial learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-4  # L2 on all weights (Caffe's weight_decay)
    log_every: int = 50  # iterations between training-curve points
    eval_every: int = 1000  # iterations between test-error curve points
    eval_subset: int | None = None  # curve points on the first N test images (final: all)
    train_subset: int | None = None  # train on the first N training images (smoke only)
    test_subset: int | None = None  # final error on the first N test images (smoke only)
    checkpoint_every: int = 500  # iterations between checkpoints


SCHEDULES = {
    # the paper: lr 0.1, /10 at 12k and 15k, stop at 18k (Liu et al. 2016, section 5)
    "paper": Schedule(iterations=18_000, lr_drops=(12_000, 15_000)),
    # 1/90 of the paper's iterations (~7 min per MNIST model on 2 cores), drops at 2/3 and 5/6
    "quick": Schedule(
        iterations=200,
        lr_drops=(134, 167),
        log_every=10,
        eval_every=50,
        eval_subset=2000,
        checkpoint_every=20,
    ),
    "smoke": Schedule(
        iterations=4,
        lr_drops=(2,),
        batch_size=32,
        log_every=1,
        eval_every=2,
        eval_subset=64,
        train_subset=256,
        test_subset=256,
        checkpoint_every=2,
    ),
}

# The original Caffe layer's README setting (Liu et al.): base 1000, gamma 2.5e-5, power 35,
# lambda_min 0, over the paper's 18k iterations. Shorter profiles compress it in time (gamma
# scaled by 18000 / iterations) so lambda decays over the same fraction of training.
PAPER_LAMBDA = LambdaSchedule(base=1000.0, gamma=2.5e-5, power=35.0, lam_min=0.0)


def lambda_for(schedule: Schedule) -> LambdaSchedule:
    stretch = SCHEDULES["paper"].iterations / schedule.iterations
    return replace(PAPER_LAMBDA, gamma=PAPER_LAMBDA.gamma * stretch)


@dataclass(frozen=True)
class HeadSpec:
    name: str  # key of paper_repro.losses.HEADS
    margin: int | float | None = None  # m (None for softmax)

    @property
    def label(self) -> str:
        return self.name if self.margin is None else f"{self.name} m={self.margin}"

    def hyper(self, schedule: Schedule) -> dict:
        if self.name in ("lsoftmax", "asoftmax"):
            return {"m": self.margin, "lam": lambda_for(schedule)}
        return {} if self.margin is None else {"m": self.margin}


TABLE_HEADS = (HeadSpec("softmax"), *(HeadSpec("lsoftmax", m) for m in (2, 3, 4)))


@dataclass(frozen=True)
class Experiment:
    """One table of the paper: a dataset, a network, the heads, and the published errors."""

    name: str
    dataset: str  # key of paper_repro.data.DATASETS
    network: str  # key of paper_repro.models.NETWORKS
    augment: bool  # the "+" of CIFAR-10+: 4-pixel padding, random 32x32 crop, horizontal flip
    paper_error: dict[str, float]  # head label -> test error % in the paper
    paper_source: str
    heads: tuple[HeadSpec, ...] = TABLE_HEADS
    seeds: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"paper": (0, 1, 2), "quick": (0, 1, 2), "smoke": (0,)}
    )
    note: str = ""

    @property
    def label(self) -> str:
        from paper_repro.data import get_dataset

        return get_dataset(self.dataset).label + ("+" if self.augment else "")


def _errors(*values: float) -> dict[str, float]:
    return dict(zip((h.label for h in TABLE_HEADS), values, strict=True))


_JPEG_NOTE = (
    "Trained and tested on the CIFAR-10 JPEG q75 copy (lossy re-encoding of every image), "
    "not the original benchmark: compare trends, not absolute numbers, with the paper."
)

EXPERIMENTS = {
    e.name: e
    for e in (
        Experiment(
            "mnist",
            "mnist",
            "table1-mnist",
            False,
            _errors(0.40, 0.32, 0.31, 0.31),
            "Liu et al. 2016, Table 2",
        ),
        Experiment(
            "cifar10",
            "cifar10",
            "table1-cifar10",
            False,
            _errors(9.05, 7.73, 7.66, 7.58),
            "Liu et al. 2016, Table 3 (CIFAR10)",
        ),
        Experiment(
            "cifar10+",
            "cifar10",
            "table1-cifar10",
            True,
            _errors(6.50, 6.01, 5.94, 5.92),
            "Liu et al. 2016, Table 3 (CIFAR10+)",
        ),
        Experiment(
            "cifar100",
            "cifar100",
            "table1-cifar100",
            False,
            _errors(32.74, 29.95, 29.87, 29.53),
            "Liu et al. 2016, Table 4",
        ),
        Experiment(
            "cifar10-jpeg",
            "cifar10-jpeg",
            "table1-cifar10",
            False,
            _errors(9.05, 7.73, 7.66, 7.58),
            "Liu et al. 2016, Table 3 (CIFAR10)",
            note=_JPEG_NOTE,
        ),
        Experiment(
            "cifar10-jpeg+",
            "cifar10-jpeg",
            "table1-cifar10",
            True,
            _errors(6.50, 6.01, 5.94, 5.92),
            "Liu et al. 2016, Table 3 (CIFAR10+)",
            note=_JPEG_NOTE,
        ),
    )
}


@dataclass(frozen=True)
class Cell:
    """One training run: experiment x head x seed x profile."""

    experiment: Experiment
    head: HeadSpec
    seed: int
    profile: str

    @property
    def schedule(self) -> Schedule:
        return SCHEDULES[self.profile]

    @property
    def run_id(self) -> str:
        margin = "" if self.head.margin is None else f"-m{self.head.margin}"
        return f"{self.head.name}{margin}-seed{self.seed}"


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ValueError(
            f"unknown experiment {name!r}; valid experiments: {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[name]


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


def cells(experiment: Experiment, profile: str) -> list[Cell]:
    check_profile(profile)
    # seed-major, so an interrupted table already has every head for the first seeds
    return [
        Cell(experiment, head, seed, profile)
        for seed in experiment.seeds[profile]
        for head in experiment.heads
    ]
