"""Where the runs differ from the papers, in one list. Every number is read from the run
lists (`paper_repro.experiments`), the networks and the data readers, so the list cannot
drift from what was trained."""

from __future__ import annotations

from paper_repro.data.lfw import LFW_BOX
from paper_repro.experiments import (
    CIFAR_SCHEDULES,
    EXPERIMENTS,
    FACE_SCHEDULES,
    FACE_SETUP,
    MAX_GRAD_NORM,
    SCHEDULES,
    STUDY_SCHEDULES,
)
from paper_repro.losses import HEADS
from paper_repro.models.face import FACE_NETWORKS
from paper_repro.recipes import DIFFERENCES, REPOSITORY
from paper_repro.report.statistics import Comparison
from paper_repro.report.tables import summarise

SHOWN = ("cpu", "quick")  # the profiles that ran or are meant to run on these CPUs


def _fraction(iterations: int, reference: int) -> str:
    return f"{iterations:,} iterations (1/{reference / iterations:.3g} of {reference:,})"


def deviation_lines() -> list[str]:
    paper, face_paper = SCHEDULES["paper"], FACE_SCHEDULES["paper"]
    annealed = [h for h in HEADS.values() if getattr(h, "annealing", None) is not None]
    lines = []
    for p in SHOWN:
        mnist, cifar, faces, setup = (
            SCHEDULES[p],
            CIFAR_SCHEDULES[p],
            FACE_SCHEDULES[p],
            FACE_SETUP[p],
        )
        net = FACE_NETWORKS[setup["network"]]
        extra = [f"lambda_min {setup['lam_min']:g} for L-Softmax (the original decays to 0)"
                 ] if "lam_min" in setup else []  # fmt: skip
        if setup.get("without"):
            extra.append(f"without {', '.join(setup['without'])}")
        lines += [
            f"- **`{p}` schedules**: MNIST {_fraction(mnist.iterations, paper.iterations)}, "
            f"CIFAR {_fraction(cifar.iterations, paper.iterations)}, batch {mnist.batch_size}, "
            f"lr {mnist.lr:g} divided by 10 at the same fractions as the paper's; faces "
            f"{_fraction(faces.iterations, face_paper.iterations)} of batch {faces.batch_size} "
            f"(SphereFace's solver: batch {face_paper.batch_size}).",
            f"- **`{p}` lambda annealing** compressed to the run: "
            + "; ".join(_compression(h, p) for h in annealed)
            + ". Each ends where the original ends"
            + (f", except that the face runs stop at lambda_min {setup['lam_min']:g}"
               if "lam_min" in setup else "") + ".",
            f"- **`{p}` faces**: {setup['dataset'].upper()} people only (no CASIA-WebFace "
            f"offline), {len(setup['splits'])}-fold: a network trained on the people of one "
            "half is tested on the View 2 pairs of the other; "
            f"{net.image_size[0]}x{net.image_size[1]} "
            f"{'luma' if net.in_channels == 1 else 'RGB'} faces, network widths x{net.width:g}; "
            f"s = {setup['s']:g} for the normalised heads (papers: "
            f"{FACE_SETUP['paper']['s']:g}) at the papers' margins"
            + (f"; {'; '.join(extra)}" if extra else "") + ".",
        ]  # fmt: skip
    study = STUDY_SCHEDULES["quick"]
    studies = [e for e in EXPERIMENTS.values() if e.figure]
    lines += [
        f"- **Face crop**: one fixed box {LFW_BOX} of the 250x250 deep-funneled image instead "
        "of the papers' five-landmark alignment (no landmark detector offline).",
        f"- **Evaluation subsets**: test-error curves during training use the first "
        f"{SCHEDULES['quick'].eval_subset:,} test images; every final number uses the whole "
        f"test set, except the 2-D studies (first {study.test_subset:,} MNIST test images).",
        *(f"- {text}" for text in _declared_deviations()),
        "- **Precision**: the network runs under bf16 autocast where the hardware computes bf16 "
        "(AMX or AVX512-BF16 CPUs, CUDA), float32 elsewhere; each result records which. The "
        "heads compute in float32 in both.",
        "- **Profiles name schedules, not machines**: a `cpu`-profile run trains the same "
        "schedule on a CPU or a GPU; the Compute section names each table's machine. GPU and "
        "CPU kernels round differently, so the same seed does not give bit-identical runs "
        "across them.",
        f"- **2-D studies**: MNIST digits stand in for the papers' face identities; lr "
        f"{study.lr:g} (0.1 diverges without batch norm), gradient-norm clipping at "
        f"{MAX_GRAD_NORM:g} for every head; "
        + "; ".join(_study_settings(e) for e in studies)
        + " (see experiments.py).",
    ]
    return [*lines, ""]


def _declared_deviations() -> list[str]:
    """What the experiments declare of their data, each text once (several share one)."""
    return list(dict.fromkeys(e.deviation for e in EXPERIMENTS.values() if e.deviation))


def _compression(head, profile: str) -> str:
    """How much faster an annealed head's lambda decays in `profile`'s runs than in the
    schedule it was written for, per factor with the datasets it applies to."""
    reference = head.annealing[1]
    by_factor: dict[float, set[str]] = {}
    for exp in EXPERIMENTS.values():
        if exp.checks or exp.recipe_study or exp.figure:
            continue  # the checks and studies have their own lines
        for run in exp.runs(profile):
            if run.head.name == head.key:
                by_factor.setdefault(reference / run.schedule.iterations, set()).add(run.dataset)
    factors = ", ".join(f"{f:.3g}x ({', '.join(f'`{x}`' for x in sorted(d))})"
                        for f, d in sorted(by_factor.items()))  # fmt: skip
    return f"{head.title}'s decay, written for {reference:,} iterations, {factors} faster"


def _study_settings(exp) -> str:
    """A 2-D study's learning rate and the scale of its normalised heads, from its run list."""
    runs = exp.runs("quick")
    scales = sorted({r.head.kwargs["s"] for r in runs if "s" in r.head.kwargs})
    return (f"{exp.title}: lr {runs[0].schedule.lr:g}"
            + (f", s = {', '.join(f'{s:g}' for s in scales)}" if scales else ""))  # fmt: skip


def _effect(runs, experiment: str, variant: str) -> list[str]:
    """The measured effect of one variant against its experiment's plain runs, per profile and
    head: the difference of mean test errors, its 95% interval and the smallest difference the
    seeds could detect."""
    out = []
    for (profile, name), results in runs.items():
        if name != experiment:
            continue
        rows = summarise(results, ("", variant))
        plain = {(r["head"], r["margin"]): r for r in rows if not r["variant"]}
        for row in (r for r in rows if r["variant"] == variant):
            base = plain.get((row["head"], row["margin"]))
            if base is None:
                continue
            test = Comparison(row["errors"], base["errors"])
            head = row["head"] + ("" if row["margin"] is None else f" m={row['margin']}")
            if row["n"] == 0 or base["n"] == 0:
                which = "the release's choice" if row["n"] == 0 else "the paper recipe"
                out.append(f"`{profile}` {head}: {which} diverged in every run "
                           f"({row['diverged'] or base['diverged']} seeds)")  # fmt: skip
                continue
            where = f"`{profile}` {head} ({row['n']}+{base['n']} seeds)"
            if not test.enough:
                out.append(f"{where}: {test.difference:+.2f} (too few seeds for a test)")
                continue
            low, high = test.interval
            out.append(f"{where}: {test.difference:+.2f} [{low:+.2f}, {high:+.2f}], "
                       f"detects {test.detectable:.2f}")  # fmt: skip
    return out


def recipe_lines(runs) -> list[str]:
    """The paper's text, the authors' release and this project side by side, with each
    difference's measured effect on test error (points; + means the release's choice raises
    the error) where a recipe study has measured it."""
    lines = [
        f"The authors' released Caffe files ({REPOSITORY}, `myexamples/`, cited in "
        "`paper_repro/recipes.py`) against the paper's text. `RECIPE=paper` (default) follows "
        "the text, `RECIPE=release` the files. Effect: the change alone against the same "
        "experiment's plain runs, test-error difference [95% interval], and the smallest "
        "difference its seeds detect.",
        "",
        "| | paper's text | authors' release | ours (paper recipe) | effect of the release's "
        "choice |",
        "|---|---|---|---|---|",
    ]
    for d in DIFFERENCES:
        effects = [e for experiment, variant in d.measured_by
                   for e in _effect(runs, experiment, variant)]  # fmt: skip
        if d.measured_by and not effects:
            names = ", ".join(f"`make reproduce-{e} PROFILE=cpu`" for e, _ in d.measured_by)
            effects = [f"not yet: {names}"]
        cell = "; ".join(effects) or "not measured alone"
        lines.append(f"| {d.aspect} | {d.paper} | {d.release} | {d.ours} | {cell} |")
    return [*lines, ""]
