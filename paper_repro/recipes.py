"""The authors' released set-up beside the paper's text: the `release` recipe.

Source: wy1iu/LargeMargin_Softmax_Loss, myexamples/<mnist|cifar10|cifar10+>/ (the solver
`*_solver.prototxt` and the network `model/*_train_test.prototxt` of each). DIFFERENCES
lists where the release and the paper's text differ, with the experiment and variant that
measure each one alone.

The release is written for 30,000 iterations; a shorter profile takes the same fraction of it
as it takes of the paper's 18,000 (cpu: 1/12 for MNIST, 1/3 for CIFAR), with lambda compressed
to that length like the paper recipe's. CIFAR-100 has no released files: no release recipe."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from paper_repro.losses.schedule import LambdaSchedule
from paper_repro.spec import Schedule

REPOSITORY = "wy1iu/LargeMargin_Softmax_Loss"


@dataclass(frozen=True)
class Difference:
    """One way the release differs from the paper's text, and how the paper recipe settles it."""

    aspect: str
    paper: str  # what the paper's text says
    release: str  # what the released files do
    ours: str  # what the `paper` recipe does
    measured_by: tuple[tuple[str, str], ...] = ()  # (experiment, variant) that changes it alone


DIFFERENCES = (
    Difference("network", "Table 1: 64/64/64 (MNIST), 64/96/128 (CIFAR); FC 256; PReLU",
               "64/128/256; FC 512 + batch norm; ReLU (4.1 M / 4.8 M parameters)",
               "the paper's (0.6 M / 1.5 M)", (("cifar10-jpeg-recipe", "net-release"),)),
    Difference("CIFAR-10 flips", "none", "random flips (`mirror: true`)", "none",
               (("cifar10-jpeg-recipe", "flip"),)),
    Difference("initialisation", "not stated", "msra (He), biases 0",
               "PyTorch's default (std 2.45x smaller)", (("mnist-recipe", "init-he"),)),
    Difference("weight decay on", "not stated", "conv, FC and classifier weights",
               "every parameter", (("mnist-recipe", "decay-weights"),)),
    Difference("batch, schedule", "256; / 10 at 12k, 15k; 18k iterations",
               "128; / 10 at 5k, 7.5k, 10k (MNIST), 5k, 7.5k (CIFAR-10), 8k, 12k (CIFAR-10+); "
               "30k iterations", "the paper's"),
    Difference("lambda", "not stated",
               "base 1000; gamma, power 2.5e-5, 35 (MNIST), 2e-5, 45 (CIFAR-10), 1e-5, 45 "
               "(CIFAR-10+)", "MNIST's for every table, over 18k"),
    Difference("input", "mean pixel", "MNIST x - 127.5, CIFAR mean image; unscaled",
               "mean pixel, / 255"),
    Difference("all of the above", "-", "`RECIPE=release`", "-", (("mnist-recipe", "release"),)),
)  # fmt: skip


@dataclass(frozen=True)
class Release:
    """One dataset's released set-up, read from its two files."""

    files: str  # under REPOSITORY
    network: str  # key of paper_repro.models.NETWORKS
    solver: Schedule  # the released solver at its full length
    lam: LambdaSchedule  # the LargeMarginInnerProduct layer's base, gamma, power, lambda_min
    augment: str  # key of paper_repro.spec.AUGMENTATIONS
    mean: float | None  # transform_param mean_value, or None: the training set's mean image


_SOLVER = Schedule(iterations=30_000, lr_drops=(), batch_size=128, lr=0.1, momentum=0.9,
                   weight_decay=5e-4, eval_every=1000)  # fmt: skip
RELEASES = {
    "mnist": Release(
        "myexamples/mnist/{mnist_solver.prototxt, model/mnist_train_test.prototxt}",
        "release-mnist", replace(_SOLVER, lr_drops=(5000, 7500, 10_000)),
        LambdaSchedule(base=1000.0, gamma=2.5e-5, power=35.0), "none", 127.5,
    ),
    "cifar10": Release(
        "myexamples/cifar10/{cifar_solver.prototxt, model/cifar_train_test.prototxt}",
        "release-cifar10", replace(_SOLVER, lr_drops=(5000, 7500)),
        LambdaSchedule(base=1000.0, gamma=2e-5, power=45.0), "flip", None,
    ),
    "cifar10+": Release(
        "myexamples/cifar10+/{cifar_solver.prototxt, model/cifar_train_test.prototxt}",
        "release-cifar10", replace(_SOLVER, lr_drops=(8000, 12_000)),
        LambdaSchedule(base=1000.0, gamma=1e-5, power=45.0), "pad-crop-flip", None,
    ),
}  # fmt: skip


def release_for(dataset: str, augment: str) -> Release:
    """The release of a table's dataset (the JPEG copy takes CIFAR-10's) and augmentation."""
    family = {"mnist": "mnist", "cifar10": "cifar10", "cifar10-jpeg": "cifar10"}.get(dataset)
    if not family:
        raise ValueError(f"the authors released no set-up for {dataset!r} (only MNIST, "
                         "CIFAR-10 and CIFAR-10+): no release recipe")  # fmt: skip
    return RELEASES["cifar10+" if augment == "pad-crop-flip" else family]


def release_schedule(release: Release, profile: Schedule, paper: Schedule) -> Schedule:
    """The released solver cut to the fraction of its length that `profile` is of the paper's
    schedule `paper`; curve and checkpoint intervals scale with the iterations. A profile on
    a training subset (smoke) keeps its own schedule: its numbers mean nothing anyway."""
    if profile.train_subset:
        return profile
    solver, fraction = release.solver, profile.iterations / paper.iterations
    stretch = solver.iterations / paper.iterations  # release steps per paper step

    def scaled(n: int, by: float) -> int:
        return max(1, round(n * by))

    return replace(
        profile,
        iterations=scaled(solver.iterations, fraction),
        lr_drops=tuple(scaled(d, fraction) for d in solver.lr_drops),
        batch_size=solver.batch_size, lr=solver.lr, momentum=solver.momentum,
        weight_decay=solver.weight_decay,
        log_every=scaled(profile.log_every, stretch),
        eval_every=scaled(profile.eval_every, stretch),
        checkpoint_every=scaled(profile.checkpoint_every, stretch),
    )  # fmt: skip


def release_lambda(release: Release, iterations: int) -> LambdaSchedule:
    return release.lam.compressed(release.solver.iterations, iterations)


def input_mean(recipe: str, dataset: str, augment: str, train) -> tuple[torch.Tensor, float]:
    """(mean, scale) of a run's inputs, (pixel - mean) / scale: the paper recipe subtracts the
    training set's mean pixel per channel and divides by 255 (a scale batch norm absorbs);
    the release subtracts its mean_value or the training set's mean image, and does not
    scale. CIFAR-10+: the release pads its stored images before taking their mean (the
    padding is not in the files); here padding follows the subtraction, so a padded pixel
    is the mean, as in the paper recipe."""
    if recipe == "paper":
        return train.channel_mean(), 255.0
    release = release_for(dataset, augment)
    if release.mean is not None:
        return torch.full((train.images.shape[1],), release.mean), 1.0
    return train.pixel_mean(), 1.0
