"""Face verification on LFW with every loss head: the face rows of the L-Softmax paper
(Liu et al., ICML 2016, Table 5) and of CosFace (Wang et al., CVPR 2018, Table 2).

Both papers train on CASIA-WebFace (0.49M images of 10,575 people, aligned by five
landmarks) and test on LFW's 6000 pairs with the evaluation of
:mod:`paper_repro.verification`. What runs here depends on the profile and the data:

- ``paper`` (GPU): SphereFace's released solver (SGD, lr 0.1 divided by 10 at 16k and 24k
  iterations, 28k iterations of batch 256, momentum 0.9, weight decay 5e-4), 112x96 RGB
  faces, the full-width network. Training data: CASIA-WebFace when ``<root>/casia-webface/``
  holds it, as insightface's RecordIO (``train.rec`` + ``train.idx``, tested on the
  ``lfw.bin`` beside them when present) or as a folder per identity
  (``CASIA-WebFace/<id>/*.jpg``), tested on all 6000 LFW pairs with 10-fold threshold
  selection: the papers' protocol. Without CASIA: LFW's image-unrestricted protocol, one
  network per fold trained on the people of the nine other folds.
- ``quick`` (CPU, at most about an hour for the table on 2 cores: training ran at ~600
  images/s on one core shared with another job): 56x48 luma faces, a quarter-width
  network, 1200 iterations of batch 128 (about 35 epochs), and two networks instead of ten:
  one trained on the people of folds 1-5 and tested on the pairs of folds 6-10, one the
  other way round. Identities with a single image are left out of training (no second
  image of the person to learn from; they are 71 % of LFW's people).
- ``smoke`` (CI, seconds): generated faces in the official LFW formats, 4 iterations.

LMCL and ArcFace use the papers' s = 64 on the paper profile and s = 30 on quick and smoke.
That is a precaution, not a measurement: a large s sharpens the softmax, and short schedules
on small networks are where large-s training is reported to stall; s = 64 was not compared
on the quick profile. The margins stay the papers'.

Every run writes ``reports/results/<profile>/lfw/<run_id>.json`` (schema of
:mod:`paper_repro.results`) and :func:`write_lfw_table` turns them into
``reports/tables/<profile>-lfw.md``. Training runs the loop of :mod:`paper_repro.train`
(:class:`~paper_repro.train.TrainingRun`: device-resident data, batch order, flip
augmentation, checkpoints), so a run resumes exactly like a classification run.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from paper_repro.data import files, lfw
from paper_repro.data.face_folders import load_face_folders
from paper_repro.data.lfw import FaceSplit, PairSet
from paper_repro.data.recordio import (
    ALIGNED_112_BOX,
    load_recordio_faces,
    load_verification_bin,
)
from paper_repro.data.split import Split
from paper_repro.experiments import Schedule, check_profile, lambda_for
from paper_repro.fileio import atomic_write
from paper_repro.losses import LambdaSchedule, make_head
from paper_repro.models.face import FACE_NETWORKS, make_face_network
from paper_repro.report.tables import TABLES_DIR, mean_std, provenance_lines
from paper_repro.results import RESULTS_DIR, SCHEMA, load_results, result_path
from paper_repro.train import (
    RUNS_DIR,
    DeviceData,
    TrainingRun,
    forward_features,
    hyper_json,
    run_provenance,
)
from paper_repro.verification import (
    flip_concat,
    roc,
    tar_at_far,
    ten_fold_accuracy,
    verification_scores,
)

EXPERIMENT = "lfw"
FAR = 1e-3
CASIA_FOLDER = "casia-webface"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class FaceProfile:
    name: str
    schedule: Schedule
    network: str  # key of paper_repro.models.face.FACE_NETWORKS
    protocol: str  # "folds": a network per LFW fold; "halves": two networks (see module doc)
    min_images: int  # training identities need at least this many images
    cosine_scale: float  # s of LMCL and ArcFace
    seeds: tuple[int, ...] = (0,)
    synthetic: bool = False  # generated faces in the LFW formats instead of the data root

    @property
    def shape(self) -> tuple[int, int, int]:
        spec = FACE_NETWORKS[self.network]
        return (spec.in_channels, *spec.image_size)


# SphereFace's A-Softmax annealing (sphereface_model.prototxt: base 1000, gamma 0.12, power 1,
# lambda_min 5) over its 28k iterations; shorter schedules compress it in time.
SPHEREFACE_LAMBDA = LambdaSchedule(base=1000.0, gamma=0.12, power=1.0, lam_min=5.0)
SPHEREFACE_ITERATIONS = 28_000

PROFILE_NOTES = {
    "paper": "the papers' schedule (SphereFace's solver: 28k iterations of batch 256)",
    "quick": "QUICK profile: 56x48 luma faces, a quarter-width network and 1200 iterations of "
    "batch 128 on 2 CPU cores; not a fully trained network: compare the heads with each "
    "other, not with the papers",
    "smoke": "SMOKE profile: generated faces, 4 iterations; numbers are meaningless",
}

FACE_PROFILES = {
    "paper": FaceProfile(
        "paper",
        Schedule(
            iterations=SPHEREFACE_ITERATIONS,
            lr_drops=(16_000, 24_000),
            log_every=100,
            eval_every=28_000,  # no curve of test accuracy: the test pairs are not for tuning
            checkpoint_every=1000,
        ),
        network="face-paper",
        protocol="folds",
        min_images=1,
        cosine_scale=64.0,
    ),
    "quick": FaceProfile(
        "quick",
        Schedule(
            iterations=1200,
            lr_drops=(800, 1000),  # at 2/3 and 5/6, as the classification quick profile
            batch_size=128,
            log_every=25,
            eval_every=1200,
            checkpoint_every=100,
        ),
        network="face-quick",
        protocol="halves",
        min_images=2,
        cosine_scale=30.0,
    ),
    "smoke": FaceProfile(
        "smoke",
        Schedule(
            iterations=4, lr_drops=(2,), batch_size=8, log_every=1, eval_every=4, checkpoint_every=2
        ),
        network="face-smoke",
        protocol="halves",
        min_images=1,
        cosine_scale=30.0,
        synthetic=True,
    ),
}


@dataclass(frozen=True)
class FaceHead:
    name: str  # key of paper_repro.losses.HEADS
    margin: int | float | None = None

    @property
    def label(self) -> str:
        return self.name if self.margin is None else f"{self.name} m={self.margin}"

    @property
    def run_name(self) -> str:
        return self.name if self.margin is None else f"{self.name}-m{self.margin}"

    def hyper(self, profile: FaceProfile) -> dict:
        schedule = profile.schedule
        if self.name == "lsoftmax":
            return {"m": self.margin, "lam": lambda_for(schedule)}
        if self.name == "asoftmax":
            gamma = SPHEREFACE_LAMBDA.gamma * SPHEREFACE_ITERATIONS / schedule.iterations
            return {"m": self.margin, "lam": replace(SPHEREFACE_LAMBDA, gamma=gamma)}
        if self.name in ("lmcl", "arcface"):
            return {"s": profile.cosine_scale, "m": self.margin}
        return {}


FACE_HEADS = (
    FaceHead("softmax"),
    *(FaceHead("lsoftmax", m) for m in (2, 3, 4)),
    FaceHead("asoftmax", 4),
    FaceHead("lmcl", 0.35),  # CosFace's m
    FaceHead("arcface", 0.5),  # ArcFace's m
)

# LFW accuracy (%) printed by the papers, all trained on CASIA-WebFace
PAPER_SOURCES = {
    "lsoftmax": "L-Softmax paper, Table 5 (Liu et al. 2016)",
    "cosface": "CosFace paper, Table 2 (Wang et al. 2018)",
}
PAPER_ACCURACY = {
    "softmax": {"lsoftmax": 96.53, "cosface": 97.88},
    "lsoftmax m=2": {"lsoftmax": 97.81, "cosface": 99.10},
    "lsoftmax m=3": {"lsoftmax": 98.27, "cosface": 99.10},
    "lsoftmax m=4": {"lsoftmax": 98.71, "cosface": 99.10},
    "asoftmax m=4": {"cosface": 99.42},
    "lmcl m=0.35": {"cosface": 99.33},
}
# CosFace's Table 2 gives one L-Softmax number without its margin; it is shown on every row
COSFACE_LSOFTMAX_NOTE = "CosFace's Table 2 lists L-Softmax once (99.10) without its margin."


def select_heads(heads=None) -> tuple[FaceHead, ...]:
    """FACE_HEADS filtered by labels ("lsoftmax m=2") or names ("lsoftmax": every margin)."""
    if heads is None:
        return FACE_HEADS
    chosen = []
    for want in heads:
        match = [h for h in FACE_HEADS if want in (h.label, h.name)]
        if not match:
            valid = ", ".join(h.label for h in FACE_HEADS)
            raise ValueError(f"unknown face head {want!r}; valid heads: {valid}")
        chosen += [h for h in match if h not in chosen]
    return tuple(h for h in FACE_HEADS if h in chosen)


@dataclass(frozen=True)
class _Experiment:
    name: str


@dataclass(frozen=True)
class FaceCell:
    """One training run: head x seed x split of a profile. Has what paper_repro.train's
    TrainingRun and checkpoint helpers read of a classification Cell (experiment.name,
    profile, run_id, schedule, seed)."""

    settings: FaceProfile
    head: FaceHead
    seed: int
    split: str  # "half1", "fold03", "casia"
    experiment: _Experiment = _Experiment(EXPERIMENT)

    @property
    def profile(self) -> str:
        return self.settings.name

    @property
    def schedule(self) -> Schedule:
        return self.settings.schedule

    @property
    def run_id(self) -> str:
        return f"{self.head.run_name}-{self.split}-seed{self.seed}"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TrainingData:
    """Which training data a profile uses here, decided from the files alone."""

    kind: str  # "lfw", "synthetic", "casia-recordio", "casia-folders"
    label: str  # dataset_label of the results
    note: str
    crop: str = f"fixed box {lfw.LFW_BOX} of the 250x250 image (paper_repro.data.lfw)"

    @property
    def splits(self) -> tuple[str, ...]:
        return ("casia",) if self.kind.startswith("casia") else ()


_LFW_NOTE = (
    "Trained only on LFW people of folds other than the test fold (image-unrestricted "
    "protocol, no outside data), faces cut by one fixed box instead of 5-point alignment. "
    "NOT comparable to the papers' numbers, which train on CASIA-WebFace."
)


def training_data(settings: FaceProfile, data_root=None) -> TrainingData:
    """CASIA-WebFace for the paper profile when present, else LFW (or generated faces)."""
    if settings.synthetic:
        return TrainingData(
            "synthetic",
            "generated faces in the LFW formats (smoke test)",
            "Generated faces; the numbers mean nothing.",
        )
    casia = files.data_root(data_root) / CASIA_FOLDER
    if settings.name == "paper" and (casia / "train.rec").is_file():
        return TrainingData(
            "casia-recordio",
            "CASIA-WebFace (insightface RecordIO) -> LFW 6000 pairs",
            "The papers' protocol: trained on CASIA-WebFace, tested on all LFW pairs.",
            crop=f"box {ALIGNED_112_BOX} of insightface's 112x112 alignment: the papers' 112x96",
        )
    if settings.name == "paper" and (casia / "CASIA-WebFace").is_dir():
        return TrainingData(
            "casia-folders",
            "CASIA-WebFace (folder per identity) -> LFW 6000 pairs",
            "The papers' protocol: trained on CASIA-WebFace, tested on all LFW pairs; faces "
            "cut by LFW's fixed box, not by 5-point alignment.",
        )
    return TrainingData(
        "lfw", "LFW image-unrestricted (people of the other folds; no outside data)", _LFW_NOTE
    )


def split_names(settings: FaceProfile, data: TrainingData) -> tuple[str, ...]:
    if data.splits:
        return data.splits
    if settings.protocol == "halves":
        return ("half1", "half2")
    return tuple(f"fold{k:02d}" for k in range(1, 11))


def face_cells(settings: FaceProfile, heads, data: TrainingData) -> list[FaceCell]:
    """Seed-major, then split, then head: one split's data serves consecutive runs."""
    return [
        FaceCell(settings, head, seed, split)
        for seed in settings.seeds
        for split in split_names(settings, data)
        for head in heads
    ]


def _lfw_split(data: lfw.Lfw, name: str, min_images: int) -> FaceSplit:
    if name.startswith("half"):
        return lfw.halves_split(data, int(name[4:]), min_images)
    return lfw.image_unrestricted_split(data, int(name[4:]), min_images)


@contextlib.contextmanager
def face_splits(
    settings: FaceProfile, data: TrainingData, data_root=None, cache=None
) -> Iterator[Callable[[str], FaceSplit]]:
    """Yields ``split(name) -> FaceSplit``; files are read on the first call, and the last
    split is kept so consecutive runs on one split do not rebuild it."""
    with contextlib.ExitStack() as stack:
        loaded: dict[str, object] = {}

        def lfw_data(**kw) -> lfw.Lfw:
            if "lfw" not in loaded:
                loaded["lfw"] = lfw.load_lfw(shape=settings.shape, **kw)
            return loaded["lfw"]

        def build(name: str) -> FaceSplit:
            if data.kind == "synthetic":
                if "lfw" not in loaded:  # generated once, into a folder removed at the end
                    root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                    source = lfw.write_synthetic_lfw(root)
                    lfw_data(root=root, download=False, cache=root / "cache", source=source)
                return _lfw_split(lfw_data(), name, settings.min_images)
            if data.kind == "lfw":
                return _lfw_split(lfw_data(root=data_root, cache=cache), name, settings.min_images)
            return _casia_split(settings, data, data_root, cache, lfw_data)

        def get(name: str) -> FaceSplit:
            if loaded.get("name") != name:
                loaded["split"], loaded["name"] = build(name), name
            return loaded["split"]

        yield get


def _casia_split(settings, data: TrainingData, data_root, cache, lfw_data) -> FaceSplit:
    folder = files.data_root(data_root) / CASIA_FOLDER
    if data.kind == "casia-recordio":
        train, digest = load_recordio_faces(folder, settings.shape, min_images=settings.min_images)
        if (folder / "lfw.bin").is_file():
            pairs = load_verification_bin(folder / "lfw.bin", settings.shape)
            test = "lfw.bin (insightface alignment)"
        else:
            pairs, test = _all_lfw_pairs(lfw_data(root=data_root, cache=cache))
    else:
        train, digest = load_face_folders(
            folder / "CASIA-WebFace",
            settings.shape,
            box=lfw.LFW_BOX,
            side=lfw.IMAGE_SIDE,
            min_images=settings.min_images,
        )
        pairs, test = _all_lfw_pairs(lfw_data(root=data_root, cache=cache))
    folds = tuple(int(k) for k in np.unique(pairs.folds))
    return FaceSplit(
        "casia", train, pairs, folds, f"{data.label} (sha256 {digest[:16]}); test: {test}"
    )


def _all_lfw_pairs(data: lfw.Lfw) -> tuple[PairSet, str]:
    pairs = PairSet(
        images=data.images,
        index=torch.from_numpy(data.pair_index),
        issame=data.pairs.issame,
        folds=data.pairs.fold,
        what=f"{data.where} pairs",
    )
    return pairs, f"{data.where} with LFW's fixed crop"


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def embed(net, images: torch.Tensor, mean: torch.Tensor, device, batch_size: int = 512):
    """Flip-concatenated features (M, 2 D) float64 numpy of uint8 images (M, C, H, W)."""
    was_training = net.training
    net.eval()
    data = DeviceData(
        Split(images, torch.zeros(len(images), dtype=torch.int64), ("pair image",)), mean, device
    )
    out = []
    for start in range(0, len(data), batch_size):
        index = torch.arange(start, min(start + batch_size, len(data)), device=data.images.device)
        x = data.normalised(index)
        out.append(flip_concat(lambda v: forward_features(net, v).float(), x).double().cpu())
    net.train(was_training)
    return torch.cat(out).numpy()


def verification_metrics(scores, issame, folds, test_folds) -> dict:
    """Per-fold accuracy (%) of ``test_folds`` with thresholds from the other folds, ROC and
    TAR at FAR = 1e-3 over the test folds' pairs."""
    accs, thresholds = ten_fold_accuracy(scores, issame, folds)
    labels = np.unique(folds)
    reported = [i for i, k in enumerate(labels) if int(k) in test_folds]
    test = np.isin(folds, list(test_folds))
    fpr, tpr, _ = roc(scores[test], issame[test])
    per_fold = {str(int(labels[i])): 100.0 * float(accs[i]) for i in reported}
    return {
        "accuracy": float(np.mean(list(per_fold.values()))),
        "fold_accuracy": per_fold,
        "thresholds": {str(int(labels[i])): float(thresholds[i]) for i in reported},
        "tar_at_far": 100.0 * tar_at_far(scores[test], issame[test], FAR),
        "far": FAR,
        "far_resolution": 1.0 / int((~issame[test]).sum()),  # one false accept
        "test_pairs": int(test.sum()),
        "roc": {"fpr": np.round(fpr, 6).tolist(), "tpr": np.round(tpr, 6).tolist()},
    }


# --------------------------------------------------------------------------- training


def train_face_cell(
    cell: FaceCell,
    split: FaceSplit,
    *,
    data: TrainingData,
    device: str | torch.device = "cpu",
    runs_dir: Path = RUNS_DIR,
    results_dir: Path = RESULTS_DIR,
    command: str = "",
    progress: bool = True,
    stop_after: int | None = None,
) -> dict | None:
    """Train one face network, resuming from its checkpoint, and write its result JSON.

    The loop is paper_repro.train's TrainingRun, with the face augmentation (random horizontal
    flip, as SphereFace and CosFace train) and a verification evaluation at the end.
    ``stop_after`` ends the call after that many iterations, as if killed (returns None)."""
    device = torch.device(device)
    settings, schedule = cell.settings, cell.schedule
    mean = split.train.channel_mean()
    train = DeviceData(split.train, mean, device)

    torch.manual_seed(cell.seed)  # weight initialisation
    net = make_face_network(settings.network)
    hyper = cell.head.hyper(settings)
    head = make_head(cell.head.name, net.feature_dim, len(split.train.classes), **hyper)
    run = TrainingRun(cell, net, head, train, device, runs_dir, pad=0)  # pad 0: flips only
    if not run.train(stop_after, progress):
        return None

    eval_tick = time.perf_counter()
    pairs = split.pairs
    features = embed(run.net, pairs.images, mean, device)
    index = pairs.index.numpy()
    scores = verification_scores(features[index[:, 0]], features[index[:, 1]])
    metrics = verification_metrics(scores, pairs.issame, pairs.folds, split.test_folds)
    eval_time = time.perf_counter() - eval_tick
    result = {
        "schema": SCHEMA,
        "experiment": EXPERIMENT,
        "dataset": data.kind,
        "dataset_label": data.label,
        "note": data.note,
        "profile": cell.profile,
        "head": cell.head.name,
        "head_label": cell.head.label,
        "margin": cell.head.margin,
        "seed": cell.seed,
        "split": cell.split,
        "config": {
            "network": settings.network,
            "network_spec": asdict(FACE_NETWORKS[settings.network]),
            "face_shape": list(settings.shape),
            "crop": data.crop,
            "split": split.description,
            "test_folds": list(split.test_folds),
            "min_images": settings.min_images,
            "schedule": asdict(schedule),
            "head_hyper": hyper_json(hyper),
            "train_images": len(train),
            "train_identities": len(split.train.classes),
            "augment": "random horizontal flip",
        },
        "metrics": metrics,
        "paper": {
            "accuracy": PAPER_ACCURACY.get(cell.head.label, {}),
            "sources": PAPER_SOURCES,
        },
        "curves": run.log.curves,
        "warnings": run.log.warnings,
        **run.timing(eval_time),
        "command": command,
        "provenance": run_provenance(device),
    }
    return run.save_result(result_path(cell.profile, EXPERIMENT, cell.run_id, results_dir), result)


def measure_throughput(settings: FaceProfile, device, steps: int = 1) -> float:
    """Training images/s of the profile's network on random data (for the plan only)."""
    net = make_face_network(settings.network).to(device)
    x = torch.randn(settings.schedule.batch_size, *settings.shape, device=device)
    net(x).sum().backward()  # warm-up
    tick = time.perf_counter()
    for _ in range(steps):
        net(x).sum().backward()
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return steps * settings.schedule.batch_size / (time.perf_counter() - tick)


def run_lfw(
    profile: str,
    heads=None,
    data_root=None,
    device=None,
    results_dir: Path = RESULTS_DIR,
    tables_dir: Path = TABLES_DIR,
    runs_dir: Path = RUNS_DIR,
    *,
    command: str = "",
    progress: bool = True,
    cache=None,
) -> Path:
    """Train every missing run of the LFW table of ``profile`` and write the table.

    ``heads``: labels or names (see :func:`select_heads`), default all. Finished runs are
    reused, interrupted ones resume. Returns the table's path."""
    settings = FACE_PROFILES[check_profile(profile)]
    chosen = select_heads(heads)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data = training_data(settings, data_root)
    cells = face_cells(settings, chosen, data)
    todo = [
        c for c in cells if not result_path(profile, EXPERIMENT, c.run_id, results_dir).exists()
    ]
    print(f"lfw ({profile}): {data.label}; {len(cells) - len(todo)}/{len(cells)} runs done")
    if todo:
        speed = measure_throughput(settings, device)
        seconds = len(todo) * settings.schedule.iterations * settings.schedule.batch_size / speed
        print(f"  {len(todo)} to train: ~{seconds / 60:.0f} min at ~{speed:.0f} images/s")
        with face_splits(settings, data, data_root, cache) as split:
            for cell in todo:
                train_face_cell(
                    cell,
                    split(cell.split),
                    data=data,
                    device=device,
                    runs_dir=runs_dir,
                    results_dir=results_dir,
                    command=command,
                    progress=progress,
                )
    return write_lfw_table(profile, results_dir, tables_dir)


# --------------------------------------------------------------------------- table


def _fmt(value, spec=".2f") -> str:
    return "n/a" if value is None else f"{value:{spec}}"


def summarise_lfw(results: list[dict]) -> dict[str, list[dict]]:
    """Per training data: one row per head in FACE_HEADS order, accuracies pooled over every
    fold of every run (and seed), TAR@FAR averaged over runs."""
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        groups[r["dataset_label"]][r["head_label"]].append(r)
    order = {h.label: i for i, h in enumerate(FACE_HEADS)}
    table = {}
    for label, by_head in groups.items():
        rows = []
        for head_label in sorted(by_head, key=lambda h: (order.get(h, len(order)), h)):
            runs = by_head[head_label]
            accs = [a for r in runs for a in r["metrics"]["fold_accuracy"].values()]
            mean, std = mean_std(accs)
            rows.append(
                {
                    "head": runs[0]["head"],
                    "margin": runs[0]["margin"],
                    "label": head_label,
                    "mean": mean,
                    "std": std,
                    "folds": len(accs),
                    "runs": len(runs),
                    "tar": float(np.mean([r["metrics"]["tar_at_far"] for r in runs])),
                    "paper": PAPER_ACCURACY.get(head_label, {}),
                }
            )
        table[label] = rows
    return table


def render_lfw_table(profile: str, results: list[dict]) -> str:
    lines = [f"# LFW face verification: accuracy (%), profile `{profile}`", ""]
    lines += [
        "Reproduces the face-verification rows of the L-Softmax paper (Liu et al., ICML 2016, "
        "Table 5) and of CosFace (Wang et al., CVPR 2018, Table 2), both trained on "
        "CASIA-WebFace and tested on LFW's 6000 pairs.",
        "",
        f"> {PROFILE_NOTES[profile]}",
        "",
    ]
    if not results:
        return "\n".join([*lines, "**No results.** No run of this table has finished yet.", ""])
    paper_head = " | ".join(PAPER_SOURCES.values())
    for label, rows in summarise_lfw(results).items():
        note = next(r["note"] for r in results if r["dataset_label"] == label)
        lines += [f"## Ours: {label}", "", f"> {note}", ""]
        lines += [
            "| head | margin | our accuracy (mean ± std over folds) | TAR @ FAR=1e-3 "
            f"(mean over networks) | {paper_head} |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            margin = "-" if row["margin"] is None else str(row["margin"])
            ours = f"{row['mean']:.2f} ± {row['std']:.2f} (n={row['folds']} folds)"
            papers = " | ".join(
                _fmt(row["paper"].get(k))
                + ("†" if k == "cosface" and row["head"] == "lsoftmax" else "")
                for k in PAPER_SOURCES
            )
            lines.append(
                f"| {row['head']} | {margin} | {ours} | {row['tar']:.2f} (n={row['runs']}) "
                f"| {papers} |"
            )
        lines.append("")
    resolution = max(r["metrics"]["far_resolution"] for r in results)
    lines += [
        f"† {COSFACE_LSOFTMAX_NOTE}",
        "",
        "Accuracy: each test fold's threshold is chosen on the other folds (maximum accuracy "
        "over the midpoints between scores) and applied to it; cosine similarity of the "
        "features of the image and its horizontal flip, concatenated. TAR @ FAR=1e-3 is over "
        f"each network's test pairs; with their mismatched pairs one false accept is a FAR of "
        f"up to {resolution:.2g}, so at 1e-3 it may allow none. The papers do not report "
        "TAR on LFW.",
        "",
        *provenance_lines(results),
    ]
    return "\n".join(lines) + "\n"


def table_path(profile: str, root: Path = TABLES_DIR) -> Path:
    return Path(root) / f"{profile}-{EXPERIMENT}.md"


def write_lfw_table(
    profile: str, results_dir: Path = RESULTS_DIR, tables_dir: Path = TABLES_DIR
) -> Path:
    """``reports/tables/<profile>-lfw.md`` from the result files alone."""
    results = load_results(check_profile(profile), EXPERIMENT, results_dir)
    path = table_path(profile, tables_dir)
    with atomic_write(path, "w") as f:
        f.write(render_lfw_table(profile, results))
    return path
