"""2-D deep features for Figures 1 and 4: train the visualisation network on MNIST with one
head and save its train/test features and class weights, with provenance.

- Figure 1 (L-Softmax, Liu et al. ICML 2016, Fig. 2): all 10 digits, heads softmax, L-Softmax
  m = 2, 3, 4 and LMCL; the margin heads should pull each class into a narrower angular wedge.
- Figure 4 (CosFace, Wang et al. CVPR 2018, Fig. 3, the toy experiment on 8 identities):
  MNIST digits 0-7 stand in for the 8 face identities; heads softmax, normalised softmax
  (LMCL with m = 0) and LMCL m = 0.1 and 0.2, below the bound m <= 1 - cos(2 pi / C) =
  1 - cos(pi / 4) ~ 0.29 (CosFace eq. 8) for C = 8 classes in 2-D. The normalised heads use
  s = 16 and every head of this study trains at a tenth of the learning rate for twice the
  steps (Study.scale, lr_factor, steps_factor: why, at the study's definition).

Saved format (one finished run = one pair of files; the JSON is written last and marks it done):
    <features_dir>/<profile>/<study>/<run_id>.npz   (np.savez, no pickled objects)
        features  float32 (N, 2)  train features first, then test features
        labels    int64 (N,)      class index into `classes`
        split     <U5 (N,)        "train" or "test"
        weights   float32 (C, 2)  the head's class weights W_j
        classes   <U (C,)         class names (the MNIST digits used)
    <features_dir>/<profile>/<study>/<run_id>.json  (schema FEATURES_SCHEMA)
        study, figure, note, profile, head, head_label, margin, seed, order (position of the
        head in the figure), classes, npz (the file name above), n_train, n_test, test_error
        (% on the saved test features, by the head's test-time rule), head_hyper, schedule,
        max_grad_norm, iterations, curves {iteration, train_loss, lam, lr}, wall_time_s,
        train_time_s, command, provenance (paper_repro.provenance.describe).

Profiles: `quick` (Figure 1: about a minute per head on 2 CPU cores, 360 SGD steps of 64
images, under half an epoch, so the clusters are looser than the papers'; Figure 4: 720 steps,
under one epoch of digits 0-7, about 80 s per head) and `smoke` (seconds; the features mean
nothing). Both use SGD with lr 0.01 (Figure 4: 0.001; momentum 0.9, weight decay 5e-4) and
gradient-norm clipping at MAX_GRAD_NORM for every head."""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from paper_repro import provenance
from paper_repro.data import Split, load_dataset
from paper_repro.experiments import HeadSpec, Schedule, check_profile
from paper_repro.fileio import atomic_write_bytes
from paper_repro.losses import HEADS, make_head
from paper_repro.losses.base import CosineHead
from paper_repro.models.visual import VisualNet
from paper_repro.train import BatchOrder, DeviceData, DivergenceError, hyper_json

FEATURES_DIR = provenance.REPO_ROOT / "reports" / "features"
FEATURES_SCHEMA = "paper_repro.features/1"
VISUAL_PROFILES = ("quick", "smoke")


@dataclass(frozen=True)
class Study:
    """One feature figure: which digits, which heads, and what the figure stands for."""

    name: str  # folder under <features_dir>/<profile>/
    figure: str
    classes: tuple[int, ...]  # MNIST digits used, in label order
    heads: tuple[HeadSpec, ...]
    note: str
    # Defaults: the profile's schedule and each head's own hyperparameters. Otherwise the
    # profile's schedule with lr x lr_factor and iterations and lr drops x steps_factor, and
    # s = scale for the normalised (cosine) heads; the same for every head of the study.
    lr_factor: float = 1.0
    steps_factor: int = 1
    scale: float | None = None


STUDIES = {
    s.name: s
    for s in (
        Study(
            "lsoftmax-2d",
            "Figure 1 (L-Softmax, Liu et al. 2016, Fig. 2)",
            tuple(range(10)),
            (
                HeadSpec("softmax"),
                *(HeadSpec("lsoftmax", m) for m in (2, 3, 4)),
                # 0.1 < 1 - cos(2 pi / 10) ~ 0.19, the largest margin 10 classes in 2-D allow
                HeadSpec("lmcl", 0.1),
            ),
            "MNIST, all 10 digits, 2-D features of the visualisation network.",
        ),
        Study(
            "cosface-toy",
            "Figure 4 (CosFace, Wang et al. 2018, Fig. 3)",
            tuple(range(8)),
            (HeadSpec("softmax"), *(HeadSpec("lmcl", m) for m in (0.0, 0.1, 0.2))),
            "MNIST digits 0-7 stand in for the paper's 8 face identities (no face data offline);"
            " LMCL m=0 is the normalised softmax.",
            # With the Figure 1 settings (s = 64, lr 0.01) every normalised head collapsed (74%
            # test error, mean angle to W_y 155 deg): the first step, clipped to
            # MAX_GRAD_NORM = 10 from a gradient norm of 3196 (s / |x| with |x| ~ 0.5), moves
            # the 2-D features by ~4 units, so the whole cloud lands on one side of the origin
            # (circular std of the feature angles 35 deg -> 3 deg) and |x| grows to ~100 within
            # 15 steps; the normalised loss, whose gradient in x is orthogonal to x, cannot
            # pull it back, and the class weights flee the cloud to its antipode. At lr 0.01,
            # s = 8 (75% error) and 60-100-step linear warm-ups collapse the same way; the fix
            # is the step size relative to |x|: lr 0.001 keeps a clipped step
            # (lr x MAX_GRAD_NORM = 0.01 in parameter norm) near softmax's unclipped 0.01 x 2-5,
            # with twice the steps to make up for it (about 80 s per head on 2 CPU cores).
            # s = 16: CosFace sec. 3.3 asks s large enough that a feature on its class weight
            # reaches posterior P_W; in 2-D the 8 weights are at best 45 deg apart, so
            # P_W = 1 / (1 + 2 e^{-s (1 - cos 45)} + 2 e^{-s} + 2 e^{-s (1 + cos 45)} + e^{-2s})
            # = 0.98 at s = 16 (0.90 at s = 10). The paper's s = 64 (for ~10^4 identities in
            # 512-D) at lr 0.001 keeps every step clipped (s m = 12.8 at m = 0.2) and leaves
            # m = 0.2 classes overlapping: 8.4% error, class weights >= 10.6 deg apart, against
            # 5.6% and >= 37.5 deg at s = 16 (seed 0, 720 steps).
            lr_factor=0.1,
            steps_factor=2,
            scale=16.0,
        ),
    )
}

# lr 0.01 (not the tables' 0.1): without batch norm, 0.05 already diverges on this network
SCHEDULES = {
    "quick": Schedule(iterations=360, lr_drops=(240, 300), batch_size=64, lr=0.01, log_every=20),
    "smoke": Schedule(
        iterations=4, lr_drops=(2,), batch_size=8, lr=0.01, log_every=1, train_subset=256
    ),
}
SAVED_PER_SPLIT = {"quick": 3000, "smoke": 16}  # features saved per split (plots, test error)
# Gradient-norm clipping, the same for every head. The normalised heads' gradient in x scales
# as s / |x|, and 2-D features start at |x| ~ 0.5: one unclipped LMCL step (s = 64, gradient
# norm ~1e3) throws them to |x| ~ 1e5, where the gradient vanishes and training stalls.
# Softmax's gradient norm stays at 2-5 with rare spikes to ~30, so 10 barely touches it.
MAX_GRAD_NORM = 10.0


def head_label(head: HeadSpec) -> str:
    if head.name == "lmcl" and head.margin == 0:
        return "normalised softmax (LMCL m=0)"
    return head.label


def run_id(head: HeadSpec, seed: int) -> str:
    margin = "" if head.margin is None else f"-m{head.margin}"
    return f"{head.name}{margin}-seed{seed}"


def feature_paths(
    study: Study, head: HeadSpec, profile: str, seed: int = 0, root: Path = FEATURES_DIR
) -> tuple[Path, Path]:
    """(npz, json sidecar) of one run."""
    stem = Path(root) / profile / study.name / run_id(head, seed)
    return stem.parent / f"{stem.name}.npz", stem.parent / f"{stem.name}.json"


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; valid studies: {', '.join(STUDIES)}")
    return STUDIES[name]


def select_classes(split: Split, classes: tuple[int, ...], limit: int | None = None) -> Split:
    """The examples of `classes`, relabelled 0..len(classes)-1 in that order; first `limit`."""
    lookup = torch.full((len(split.classes),), -1, dtype=torch.int64)
    lookup[list(classes)] = torch.arange(len(classes))
    keep = torch.nonzero(lookup[split.labels] >= 0).squeeze(1)[:limit]
    return Split(
        split.images[keep].contiguous(),
        lookup[split.labels[keep]],
        tuple(split.classes[c] for c in classes),
    )


def study_schedule(study: Study, profile: str) -> Schedule:
    """The profile's feature schedule, adjusted by the study (Study.lr_factor, steps_factor)."""
    base, k = SCHEDULES[profile], study.steps_factor
    return replace(
        base,
        lr=base.lr * study.lr_factor,
        iterations=base.iterations * k,
        lr_drops=tuple(d * k for d in base.lr_drops),
    )


def head_hyper(study: Study, head: HeadSpec, schedule: Schedule) -> dict:
    """Keyword arguments of `head`'s module in `study`: its own, plus the study's s (Study.scale)
    for the heads on normalised features."""
    hyper = head.hyper(schedule)
    if study.scale is not None and issubclass(HEADS[head.name], CosineHead):
        hyper["s"] = study.scale
    return hyper


def _learning_rate(schedule: Schedule, iteration: int) -> float:
    return schedule.lr * 0.1 ** sum(iteration > d for d in schedule.lr_drops)


@torch.no_grad()
def _extract(net, data: DeviceData, n: int, batch_size: int = 500) -> torch.Tensor:
    net.eval()
    n = min(n, len(data))
    out = [
        net(data.normalised(torch.arange(s, min(s + batch_size, n), device=data.images.device)))
        for s in range(0, n, batch_size)
    ]
    net.train()
    return torch.cat(out).float()  # (n, 2)


def train_features(
    study: Study,
    head: HeadSpec,
    profile: str,
    *,
    seed: int = 0,
    data_root=None,
    device: str | torch.device = "cpu",
    out_dir: Path = FEATURES_DIR,
    command: str = "",
    progress: bool = False,
) -> Path:
    """Train the visualisation network with `head` on `study`'s digits; save features and
    weights (module docstring format). Returns the JSON sidecar's path."""
    if check_profile(profile) not in SCHEDULES:
        raise ValueError(f"profile {profile!r} has no feature schedule; use {VISUAL_PROFILES}")
    schedule, device = study_schedule(study, profile), torch.device(device)
    tick = time.perf_counter()
    train_split = select_classes(
        load_dataset("mnist", "train", data_root), study.classes, schedule.train_subset
    )
    test_split = select_classes(load_dataset("mnist", "test", data_root), study.classes)
    mean = train_split.channel_mean()
    train, test = DeviceData(train_split, mean, device), DeviceData(test_split, mean, device)

    torch.manual_seed(seed)  # weight initialisation
    net = VisualNet().to(device)
    hyper = head_hyper(study, head, schedule)
    head_module = make_head(head.name, net.feature_dim, len(study.classes), **hyper).to(device)
    params = [*net.parameters(), *head_module.parameters()]
    optimizer = torch.optim.SGD(
        params,
        lr=schedule.lr,
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
    )
    order = BatchOrder(len(train), schedule.batch_size, seed)
    curves = {"iteration": [], "train_loss": [], "lam": [], "lr": []}
    loss_sum = 0.0
    for it in tqdm(
        range(1, schedule.iterations + 1), disable=not progress, desc=run_id(head, seed)
    ):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(schedule, it)
        index = order.indices(it).to(device)
        features = net(train.normalised(index))
        # checked before the head, whose argument checks would report NaN features as misuse
        if not torch.isfinite(features).all():
            raise DivergenceError(
                f"{study.name} {run_id(head, seed)}: the features became NaN/inf at iteration "
                f"{it}; lower the learning rate or slow the lambda decay"
            )
        loss = head_module(features, train.labels[index])
        if not torch.isfinite(loss):
            raise DivergenceError(
                f"{study.name} {run_id(head, seed)}: the loss became NaN/inf at iteration {it}; "
                "lower the learning rate or slow the lambda decay"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, MAX_GRAD_NORM)
        optimizer.step()
        loss_sum += loss.item()
        if it % schedule.log_every == 0 or it == schedule.iterations:
            steps = it - (curves["iteration"][-1] if curves["iteration"] else 0)
            curves["iteration"].append(it)
            curves["train_loss"].append(loss_sum / steps)
            curves["lam"].append(getattr(head_module, "lam", None))
            curves["lr"].append(_learning_rate(schedule, it))
            loss_sum = 0.0
    train_time = time.perf_counter() - tick

    n = SAVED_PER_SPLIT[profile]
    train_features_, test_features = _extract(net, train, n), _extract(net, test, n)
    test_labels = test.labels[: len(test_features)]
    with torch.no_grad():
        wrong = (head_module.scores(test_features).argmax(dim=1) != test_labels).sum().item()
    features = torch.cat([train_features_, test_features]).cpu().numpy().astype(np.float32)
    labels = torch.cat([train.labels[: len(train_features_)], test_labels]).cpu().numpy()
    split = np.array(["train"] * len(train_features_) + ["test"] * len(test_features), "<U5")
    npz_path, json_path = feature_paths(study, head, profile, seed, out_dir)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        features=features,
        labels=labels.astype(np.int64),
        split=split,
        weights=head_module.weight.detach().cpu().numpy().astype(np.float32),
        classes=np.array(train_split.classes),
    )
    atomic_write_bytes(npz_path, buffer.getvalue())
    sidecar = {
        "schema": FEATURES_SCHEMA,
        "study": study.name,
        "figure": study.figure,
        "note": study.note,
        "profile": profile,
        "head": head.name,
        "head_label": head_label(head),
        "margin": head.margin,
        "seed": seed,
        "order": study.heads.index(head),
        "classes": list(train_split.classes),
        "npz": npz_path.name,
        "n_train": len(train_features_),
        "n_test": len(test_features),
        "test_error": 100.0 * wrong / len(test_features),
        "head_hyper": hyper_json(hyper),
        "schedule": asdict(schedule),
        "max_grad_norm": MAX_GRAD_NORM,
        "iterations": schedule.iterations,
        "curves": curves,
        "wall_time_s": time.perf_counter() - tick,
        "train_time_s": train_time,
        "command": command,
        "provenance": provenance.describe(device),
    }
    text = json.dumps(sidecar, indent=1, sort_keys=True, allow_nan=False) + "\n"
    atomic_write_bytes(json_path, text.encode())
    return json_path


def is_done(json_path: Path, study: Study, head: HeadSpec, profile: str, seed: int) -> bool:
    """A finished run of the current schedule and head settings (a change retrains)."""
    try:
        saved = json.loads(Path(json_path).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    schedule = study_schedule(study, profile)
    same = json.loads(
        json.dumps({"s": asdict(schedule), "h": hyper_json(head_hyper(study, head, schedule))})
    )
    return (
        saved.get("schema") == FEATURES_SCHEMA
        and saved.get("schedule") == same["s"]
        and saved.get("head_hyper") == same["h"]
        and saved.get("seed") == seed
        and saved.get("max_grad_norm") == MAX_GRAD_NORM
        and (Path(json_path).parent / saved.get("npz", "")).is_file()
    )


def train_study(
    name: str, profile: str, *, seed: int = 0, out_dir: Path = FEATURES_DIR, force=False, **kw
) -> list[Path]:
    """Every head of one study; finished runs are reused unless `force`. Returns the JSONs."""
    study = get_study(name)
    paths = []
    for head in study.heads:
        json_path = feature_paths(study, head, profile, seed, out_dir)[1]
        if force or not is_done(json_path, study, head, profile, seed):
            json_path = train_features(study, head, profile, seed=seed, out_dir=out_dir, **kw)
        paths.append(json_path)
    return paths
