"""One description of a training run: what every table, the LFW table, the 2-D feature studies
and a user's own dataset are lists of. `paper_repro.runner` trains any of them.

A run's identity (`RunSpec.identity`) is everything that changes what it computes; it decides
whether a saved result or checkpoint belongs to the run. Presentation (labels, notes, the
papers' numbers) travels with the spec but is not part of it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from paper_repro.losses import head_class
from paper_repro.results import IDENTITY_DEFAULTS

PROFILES = ("paper", "cpu", "quick", "smoke")
EVALUATORS = ("classification", "verification", "features-2d")
AUGMENTATIONS = {
    "none": None,  # the unaugmented tables
    "flip": 0,  # random horizontal flip (the face papers)
    "pad-crop-flip": 4,  # CIFAR-10+: 4-pixel zero padding, random crop, flip
}  # name -> padding of paper_repro.steps.pad_crop_flip
PRECISIONS = ("fp32", "bf16")  # bf16: autocast of the network; heads stay in float32
# How a run is set up where the paper's text and the authors' released Caffe files differ
# (paper_repro.recipes): the recipe names the whole set-up, and the two switches below can
# change one difference alone.
RECIPES = ("paper", "release")
INITS = {
    "pytorch": "PyTorch's default initialisation (kaiming-uniform, a = sqrt(5))",
    "he": "He/msra: normal, std sqrt(2 / fan_in), biases 0 (the release's filler)",
}
DECAYS = {
    "all": "weight decay on every parameter (batch norm, PReLU slopes and biases too)",
    "weights": "weight decay on convolution, fully connected and classifier weights only",
}


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
    eval_every: int = 1000  # iterations between test curve points (classification only)
    eval_subset: int | None = None  # curve points on the first N test images (final: all)
    train_subset: int | None = None  # train on the first N training images
    test_subset: int | None = None  # final evaluation on the first N test images
    checkpoint_every: int = 500  # iterations between checkpoints

    def learning_rate(self, iteration: int) -> float:
        return self.lr * 0.1 ** sum(iteration > d for d in self.lr_drops)


@dataclass(frozen=True)
class HeadConfig:
    """A loss head by registry name with every hyper-parameter (`Head.configure`)."""

    name: str
    hyper: tuple[tuple[str, object], ...]  # sorted (name, value) pairs: hashable

    @classmethod
    def of(cls, name: str, iterations: int, **given) -> HeadConfig:
        """The head `name` configured for a run of `iterations` steps."""
        return cls(name, tuple(sorted(head_class(name).configure(iterations, **given).items())))

    @property
    def kwargs(self) -> dict:
        return dict(self.hyper)

    @property
    def margin(self):
        return head_class(self.name).margin_of(self.kwargs)

    @property
    def label(self) -> str:
        return head_class(self.name).label(self.kwargs)

    @property
    def run_name(self) -> str:
        return head_class(self.name).run_name(self.kwargs)


def jsonable(value):
    """Hyper-parameter values for JSON: dataclasses (lambda schedules) as dicts."""
    return asdict(value) if hasattr(value, "__dataclass_fields__") else value


@dataclass(frozen=True)
class RunSpec:
    """One training run: dataset, network, head, schedule, augmentation, seed, precision and
    evaluator, plus how to present the result."""

    experiment: str  # the folder of its results: reports/results/<profile>/<experiment>/
    profile: str
    dataset: str  # key of the dataset registry (or a user dataset, see paper_repro.data)
    network: str  # key of paper_repro.models.NETWORKS
    head: HeadConfig
    schedule: Schedule
    seed: int
    evaluator: str = "classification"
    augment: str = "none"
    precision: str = "fp32"
    split: str | None = None  # face data: which people train and which pairs test
    min_images: int = 1  # face data: identities with fewer training images are left out
    classes: tuple[int, ...] | None = None  # train and test on these classes only, relabelled
    max_grad_norm: float | None = None  # gradient-norm clipping (2-D studies)
    recipe: str = "paper"  # the set-up network, schedule and data follow (RECIPES)
    init: str = "pytorch"  # weight initialisation (INITS)
    decay: str = "all"  # which parameters weight decay reaches (DECAYS)
    # a name for what sets this run apart from its experiment's plain run of the same head
    # ("init-he", "release", ...): part of the run id, so variants of one head sit side by side
    variant: str = ""
    # presentation, not identity
    label: str = field(default="", compare=False)  # the dataset as tables name it
    note: str = field(default="", compare=False)
    paper: dict = field(default_factory=dict, compare=False, hash=False)  # published numbers
    order: int = field(default=0, compare=False)  # position of the head in its table/figure

    def __post_init__(self):
        for what, value, valid in (
            ("profile", self.profile, PROFILES),
            ("evaluator", self.evaluator, EVALUATORS),
            ("augment", self.augment, tuple(AUGMENTATIONS)),
            ("precision", self.precision, PRECISIONS),
            ("recipe", self.recipe, RECIPES),
            ("init", self.init, tuple(INITS)),
            ("decay", self.decay, tuple(DECAYS)),
        ):
            if value not in valid:
                raise ValueError(f"unknown {what} {value!r}; valid: {', '.join(valid)}")

    @property
    def run_id(self) -> str:
        split = f"-{self.split}" if self.split else ""
        variant = f"-{self.variant}" if self.variant else ""
        return f"{self.head.run_name}{variant}{split}-seed{self.seed}"

    @property
    def name(self) -> str:
        return f"{self.experiment} {self.run_id}"

    def identity(self) -> dict:
        """What the run computes, as JSON: a saved result or checkpoint is this run's exactly
        when its identity is equal."""
        return {
            "experiment": self.experiment,
            "profile": self.profile,
            "dataset": self.dataset,
            "network": self.network,
            "head": self.head.name,
            "hyper": {k: jsonable(v) for k, v in self.head.hyper},
            "schedule": asdict(self.schedule),
            "seed": self.seed,
            "evaluator": self.evaluator,
            "augment": self.augment,
            "precision": self.precision,
            "split": self.split,
            "min_images": self.min_images,
            "classes": None if self.classes is None else list(self.classes),
            "max_grad_norm": self.max_grad_norm,
            "recipe": self.recipe,
            "init": self.init,
            "decay": self.decay,
        }


def same_identity(saved: dict | None, spec: RunSpec) -> bool:
    """Is `saved` (an identity read back from JSON) the identity of `spec`? An identity saved
    before the recipe settings existed was made with today's paper recipe."""
    if not isinstance(saved, dict):
        return False
    current = json.loads(json.dumps(spec.identity()))  # tuples become lists, as when saved
    return {**IDENTITY_DEFAULTS, **saved} == current
