"""What the papers claim, what this repository could not try, and what other people measured
when they reproduced them: declared once, rendered by the report.

Sources of the other reproductions were read in the linked issue threads and repository files
(December 2026); each entry quotes where its number comes from. Numbers copied from a paper
by a third party are not listed as reproductions."""

from __future__ import annotations

from dataclasses import dataclass

from paper_repro.losses import BASELINE, head_class

LSOFTMAX, COSFACE = "Liu et al. 2016", "Wang et al. 2018"


@dataclass(frozen=True)
class Claim:
    """A statement of a paper a table tests (`Experiment.claims`): `better` is the head label
    that should beat `than` (another head label; the baseline head by default)."""

    key: str
    text: str
    source: str
    better: str
    than: str = head_class(BASELINE).label({})


@dataclass(frozen=True)
class NotReproduced:
    """A paper cell or claim this repository did not reproduce: why, and what it would take.
    `experiment` and `profiles` name runs whose cost the report computes from the benchmarks
    (`runs` of them, or all of the profile's runs where 0)."""

    what: str
    source: str
    reason: str
    takes: str
    experiment: str = ""
    profiles: tuple[str, ...] = ()
    runs: int = 0


NOT_REPRODUCED = (
    NotReproduced("CIFAR-10 and CIFAR-10+ on the original images", f"{LSOFTMAX}, Table 3",
                  "the offline machines hold only a JPEG q75 copy (measured instead, labelled)",
                  "the 163 MB archive from the University of Toronto", "cifar10", ("cpu", "paper")),
    NotReproduced("CIFAR-100", f"{LSOFTMAX}, Table 4", "no CIFAR-100 offline",
                  "the CIFAR-100 archive", "cifar100", ("cpu", "paper")),
    NotReproduced("LFW trained on CASIA-WebFace", f"{LSOFTMAX}, Table 5; {COSFACE}, Table 2",
                  "no CASIA-WebFace (10,575 identities, about 494k images) offline; LFW is "
                  "measured training on LFW's own people instead",
                  "CASIA-WebFace and 5-point alignment; 28,000 iterations of batch 256 on the "
                  "112x96 network (7.2 M images; that network is not benchmarked here)"),
    NotReproduced("YouTube Faces (YTF)", f"{COSFACE}, Table 2", "no YTF offline",
                  "the YTF videos and a CASIA-WebFace-trained network"),
    NotReproduced("MegaFace Challenge 1", COSFACE, "no MegaFace offline (1 M distractors)",
                  "MegaFace, FaceScrub and a large-scale training set"),
    NotReproduced("MNIST with the seeds its 0.08-point gains need", f"{LSOFTMAX}, Table 2",
                  "3 seeds a head detect 0.11-0.13 points (Power); the CPU of the session that "
                  "wrote this (an AVX2-only EPYC, about an hour a run) could not train more",
                  "3 more seeds a head: `make reproduce-mnist PROFILE=cpu SEEDS=6 REFERENCE=1`",
                  "mnist", ("cpu",), 12),
    NotReproduced("CosFace's exploration of the margin m (0 to 0.45)", COSFACE,
                  "its setting needs CASIA-WebFace; the LFW-only stand-in (10 margins x 2 "
                  "halves x 2 seeds) did not fit the CPU of the session that wrote this (about "
                  "6 min a run there)",
                  "40 runs of the `cpu` LFW setting", "lfw", ("cpu",), 40),
    NotReproduced("CosFace's feature-normalisation ablation", COSFACE,
                  "needs CASIA-WebFace-scale training and the MegaFace protocol",
                  "as above, plus an un-normalised LMCL variant"),
    NotReproduced("every table at the papers' schedule (18,000 iterations)", LSOFTMAX,
                  "the schedules here are 1/12 (MNIST) and 1/3 (CIFAR) of it, to fit 2 CPU "
                  "cores; no GPU run of the paper's schedule yet",
                  "one GPU", "mnist", ("paper",)),
)  # fmt: skip


@dataclass(frozen=True)
class Reproduction:
    """Someone else's number for a paper cell: who, where, on what, and the number as reported
    (test error % or LFW accuracy %, as the table it belongs to)."""

    who: str
    url: str
    setup: str
    reported: str
    caveat: str = ""


_LSM = "https://github.com/wy1iu/LargeMargin_Softmax_Loss/issues"
_SPH = "https://github.com/wy1iu/sphereface"
# experiment -> the other reproductions of its table
REPRODUCTIONS = {
    "mnist": (
        Reproduction("amirhfarzaneh/lsoftmax-pytorch",
                     "https://github.com/amirhfarzaneh/lsoftmax-pytorch",
                     "PyTorch, the paper's network, 100 epochs, one run a margin",
                     "softmax 0.63, m=2 0.40, m=3 0.44, m=4 0.39",
                     "best epoch on the test set"),
        Reproduction("lyl120117/EasyFeature (early README)",
                     "https://github.com/lyl120117/EasyFeature",
                     "PyTorch, MNIST re-split with chosen seeds, 70 epochs",
                     "softmax 0.32, m=2 0.31, m=3 0.31, m=4 0.31", "no margin gain"),
    ),
    "cifar10": (
        Reproduction("issue #3 (authors' Caffe example, m=2)", f"{_LSM}/3",
                     "the authors' CIFAR-10 prototxt", "m=2 8.8",
                     "loss exploded at 23k iterations; the author: use m=4"),
        Reproduction("issue #33 (PyTorch)", f"{_LSM}/33", "a PyTorch reimplementation",
                     "m=2 10.5 at best", "unanswered"),
        Reproduction("issue #10 (authors' Caffe example)", f"{_LSM}/10", "m=2, 3, 4",
                     "diverged (loss 87.3) near 12k iterations", "no error reported"),
    ),
    "lfw": (
        Reproduction("wy1iu/sphereface (authors)", _SPH,
                     "SphereFace-20 on CASIA-WebFace, 5 runs of the pipeline",
                     "A-Softmax 99.13-99.30", "paper: 99.42"),
        Reproduction("wy1iu/sphereface #118, #97", f"{_SPH}/issues/118",
                     "the authors' pipeline rerun by users",
                     "A-Softmax 98.98, 99.03 (#118), 99.17 (#97)"),
        Reproduction("clcarwin/sphereface_pytorch #6, #8",
                     "https://github.com/clcarwin/sphereface_pytorch/issues/8",
                     "PyTorch sphere20a retrained on CASIA-WebFace",
                     "A-Softmax 99.07 (#6), 99.13 (#8)"),
        Reproduction("MuggleWang/CosFace_pytorch", "https://github.com/MuggleWang/CosFace_pytorch",
                     "Sphere20, CASIA-WebFace, s=30, m=0.35 / 0.40",
                     "LMCL 98.93 / 99.13 at the last epoch",
                     "its README quotes the best epochs, 99.08 / 99.23"),
        Reproduction("yule-li/CosFace", "https://github.com/yule-li/CosFace",
                     "TensorFlow, CASIA-WebFace, 112x96",
                     "LMCL 98.6 (softmax 95.6); 99.2 after re-alignment and cleaning"),
    ),
}  # fmt: skip


def reproductions_of(experiment: str) -> tuple[Reproduction, ...]:
    """The other reproductions of an experiment's table; the JPEG copies share the original's."""
    base = experiment.removesuffix("-jpeg+").removesuffix("-jpeg").removesuffix("+")
    return REPRODUCTIONS.get(base, ())
