"""One training loop for every classification cell (dataset x head x seed x profile).

The whole dataset sits on the training device as uint8 and is normalised and augmented
there, so no DataLoader worker limits a GPU run. All randomness of a step (batch order,
crops, flips) derives from (seed, epoch) or (seed, iteration) rather than from a running
generator, so a run resumed from a checkpoint takes exactly the steps an uninterrupted run
takes: on CPU the final weights are bit for bit the same."""

from __future__ import annotations

import io
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from paper_repro import provenance
from paper_repro.data import Split, load_dataset
from paper_repro.data.files import atomic_write_bytes
from paper_repro.experiments import Cell
from paper_repro.losses import make_head
from paper_repro.models import make_network
from paper_repro.results import RESULTS_DIR, SCHEMA, read_result, result_path, write_result

RUNS_DIR = provenance.REPO_ROOT / "runs"
ANGLE_BINS = 90  # histogram of the target angle over 0..180 degrees, 2-degree bins


class DivergenceError(RuntimeError):
    """The loss became NaN/inf or exploded; the message says when and what to try."""


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or belongs to another run."""


def step_generator(*key: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(hash(key) & 0x7FFF_FFFF_FFFF_FFFF)  # hash of ints is stable across runs
    return g


class DeviceData:
    """A dataset split held on the device as uint8 (N, C, H, W) with its labels."""

    def __init__(self, split: Split, mean: torch.Tensor, device: torch.device):
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.mean = mean.to(device).view(1, -1, 1, 1)  # (1, C, 1, 1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def normalised(self, index) -> torch.Tensor:
        # mean subtraction as in the paper; /255 only sets the scale batch norm then absorbs
        return (self.images[index].float() - self.mean) / 255.0


def pad_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """CIFAR-10+ augmentation (Liu et al. 2016 sec. 5): zero-pad `pad` pixels per side (zero is
    the mean pixel after mean subtraction), take a random crop of the original size, and flip
    horizontally with probability 1/2. x: (B, C, H, W) float on any device."""
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (b, 2), generator=generator).to(x.device)
    flips = torch.rand(b, generator=generator).to(x.device) < 0.5
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2 pad, W + 2 pad)
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    crops = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return crops.permute(0, 3, 1, 2)  # (B, C, H, W)


class BatchOrder:
    """Epoch-wise random permutations of the training set, each a function of (seed, epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        if batch_size > n:
            raise ValueError(f"batch size {batch_size} exceeds the {n} training images")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.steps_per_epoch = n // batch_size  # the remainder of each epoch is dropped
        self._epoch, self._perm = -1, None

    def indices(self, iteration: int) -> torch.Tensor:
        epoch, step = divmod(iteration - 1, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._perm = (
                epoch,
                torch.randperm(self.n, generator=step_generator(self.seed, epoch)),
            )
        return self._perm[step * self.batch_size : (step + 1) * self.batch_size]


def learning_rate(cell: Cell, iteration: int) -> float:
    drops = sum(iteration > d for d in cell.schedule.lr_drops)
    return cell.schedule.lr * 0.1**drops


@torch.no_grad()
def evaluate(net, head, data: DeviceData, limit: int | None = None, batch_size: int = 1000):
    """Test error (%) by the heads' test-time rule, and the target angles in degrees."""
    was_training = net.training
    net.eval()
    head.eval()
    n = len(data) if limit is None else min(limit, len(data))
    wrong, angles = 0, []
    for start in range(0, n, batch_size):
        index = torch.arange(start, min(start + batch_size, n), device=data.images.device)
        features = forward_features(net, data.normalised(index)).float()
        labels = data.labels[index]
        wrong += (head.scores(features).argmax(dim=1) != labels).sum().item()
        cos = F.cosine_similarity(features, head.weight[labels].float(), dim=1)
        angles.append(torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0))))  # analysis only
    net.train(was_training)
    head.train(was_training)
    return 100.0 * wrong / n, torch.cat(angles)


def forward_features(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if x.is_cuda:
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return net(x)
    return net(x)


class Classifier(nn.Module):
    """Network and head as one module, the unit DistributedDataParallel wraps."""

    def __init__(self, net: nn.Module, head: nn.Module):
        super().__init__()
        self.net, self.head = net, head

    def forward(self, x, y):
        features = forward_features(self.net, x).float()
        if not torch.isfinite(features).all():
            return None, features  # the training loop raises DivergenceError with context
        return self.head(features, y), features


def distributed() -> tuple[int, int]:
    """(rank, world size) of the process group torchrun set up, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def check_finite(value: torch.Tensor, what: str, cell: Cell, iteration: int, head) -> None:
    if not torch.isfinite(value).all():
        lam = f" with lambda = {head.lam:.4g}" if hasattr(head, "lam") else ""
        raise DivergenceError(
            f"{cell.experiment.name} {cell.run_id}: the {what} became NaN/inf at iteration "
            f"{iteration}{lam}. Margin heads can diverge when the margin is enforced too early: "
            "raise lam_min or slow the lambda decay (smaller gamma), or lower the learning rate."
        )


def loss_jump(curves: dict, num_classes: int, ratio: float = 5.0) -> str | None:
    """The L-Softmax failure known from the original implementation: once lambda gets small
    the loss can jump and stay high (Caffe shows ~87 = -log of float32's smallest normal).
    Flags the newest training-curve point when its mean loss exceeds both `ratio` times the
    best earlier point and chance level log(C). Computed from the curves alone, so a resumed
    run flags exactly what an uninterrupted one would."""
    losses = curves["train_loss"]
    if len(losses) < 2:
        return None
    best, last = min(losses[:-1]), losses[-1]
    if last <= max(ratio * best, math.log(num_classes)):
        return None
    lam = curves["lam"][-1]
    return (
        f"loss jumped from {best:.3g} to {last:.3g} at iteration {curves['iteration'][-1]}"
        + ("" if lam is None else f" with lambda = {lam:.3g}")
        + ": the convergence failure known from the original L-Softmax code when lambda gets "
        "small. Try a larger lam_min (the original README suggests 5-10 for hard datasets), "
        "a slower lambda decay or a lower learning rate. Training continues; this warning is "
        "saved in the result."
    )


class TrainingLog:
    """Training-curve points, loss-jump warnings and the running sums of the current curve
    interval. All of it is checkpointed (`state`), so a resumed run logs exactly the points
    of an uninterrupted one: the interval's steps before the interruption are not lost."""

    def __init__(self, device, extra_curves: tuple[str, ...] = (), state: dict | None = None):
        keys = ("iteration", "train_loss", "train_error", "lam", "lr", *extra_curves)
        self.curves = {k: [] for k in keys} if state is None else state["curves"]
        self.warnings = [] if state is None else state["warnings"]
        self.loss_sum = torch.zeros((), device=device)
        self.wrong_sum = torch.zeros((), device=device)
        if state is not None:
            self.loss_sum += state["interval_sums"][0]
            self.wrong_sum += state["interval_sums"][1]

    def add(self, loss: torch.Tensor, wrong: torch.Tensor) -> None:
        self.loss_sum += loss.detach()
        self.wrong_sum += wrong

    def all_reduce(self, world: int) -> None:
        """Under DDP: make the sums describe the global batch (mean loss, total mistakes)."""
        totals = torch.stack([self.loss_sum / world, self.wrong_sum.to(self.loss_sum.dtype)])
        dist.all_reduce(totals)
        self.loss_sum.copy_(totals[0])
        self.wrong_sum.copy_(totals[1])

    def point(self, iteration: int, head, lr: float, batch_size: int, name: str) -> None:
        """Close the interval ending at `iteration` as one curve point."""
        curves = self.curves
        n_steps = iteration - (curves["iteration"][-1] if curves["iteration"] else 0)
        curves["iteration"].append(iteration)
        curves["train_loss"].append(self.loss_sum.item() / n_steps)
        curves["train_error"].append(100.0 * self.wrong_sum.item() / (n_steps * batch_size))
        curves["lam"].append(getattr(head, "lam", None))
        curves["lr"].append(lr)
        jump = loss_jump(curves, head.weight.shape[0])
        if jump:
            self.warnings.append(jump)
            tqdm.write(f"WARNING {name}: {jump}")
        self.loss_sum.zero_()
        self.wrong_sum.zero_()

    def state(self) -> dict:
        return {
            "curves": self.curves,
            "warnings": self.warnings,
            "interval_sums": [self.loss_sum.item(), self.wrong_sum.item()],
        }


def checkpoint_path(cell: Cell, runs_dir: Path) -> Path:
    return runs_dir / cell.profile / cell.experiment.name / f"{cell.run_id}.pt"


def save_checkpoint(path: Path, cell: Cell, state: dict) -> None:
    buffer = io.BytesIO()
    torch.save({"run": _identity(cell), **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _identity(cell: Cell) -> dict:
    return {
        "experiment": cell.experiment.name,
        "profile": cell.profile,
        "run_id": cell.run_id,
        "schedule": asdict(cell.schedule),
    }


def load_checkpoint(path: Path, cell: Cell, device) -> dict | None:
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged file
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({exc}); delete it to restart this run"
        ) from exc
    if state.get("run") != _identity(cell):
        raise CheckpointError(
            f"checkpoint {path} belongs to another configuration ({state.get('run')}); "
            "delete it to restart this run"
        )
    return state


def train_cell(
    cell: Cell,
    *,
    data_root=None,
    device: str | torch.device = "cpu",
    runs_dir: Path = RUNS_DIR,
    results_dir: Path = RESULTS_DIR,
    command: str = "",
    progress: bool = True,
    stop_after: int | None = None,
) -> dict | None:
    """Train one cell, resuming from its checkpoint, and write its result JSON.

    stop_after: end (as if killed) after that many iterations of this call, leaving only the
    checkpoint; returns None then. Returns the result dict when the run is finished.

    Under torchrun (DistributedDataParallel) every rank draws the same global batch and trains
    on its 1/world shard; the averaged gradients equal the single-process ones except for batch
    norm, whose statistics are per rank on CPU (SyncBatchNorm on GPU). Rank 0 writes."""
    device = torch.device(device)
    exp, schedule = cell.experiment, cell.schedule
    rank, world = distributed()
    if schedule.batch_size % world:
        raise ValueError(f"batch size {schedule.batch_size} is not divisible by {world} processes")
    train_split = load_dataset(exp.dataset, "train", data_root)
    test_split = load_dataset(exp.dataset, "test", data_root)
    if schedule.train_subset:
        n = schedule.train_subset
        train_split = Split(
            train_split.images[:n].contiguous(), train_split.labels[:n], train_split.classes
        )
    mean = train_split.channel_mean()
    train, test = DeviceData(train_split, mean, device), DeviceData(test_split, mean, device)

    torch.manual_seed(cell.seed)  # weight initialisation
    net = make_network(exp.network)
    head = make_head(
        cell.head.name, net.feature_dim, len(train_split.classes), **cell.head.hyper(schedule)
    )
    if world > 1 and device.type == "cuda":
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    net.to(device)
    head.to(device)
    if device.type == "cuda":
        net.to(memory_format=torch.channels_last)
    model = Classifier(net, head)
    step_model = DistributedDataParallel(model) if world > 1 else model
    params = [*net.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(
        params, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay
    )

    ckpt_path = checkpoint_path(cell, Path(runs_dir))
    state = load_checkpoint(ckpt_path, cell, device)
    start, train_time = 0, 0.0
    if state is not None:
        net.load_state_dict(state["net"])
        head.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        start, train_time = state["iteration"], state["train_time"]
    log = TrainingLog(device, ("test_iteration", "test_error"), state)

    order = BatchOrder(len(train), schedule.batch_size, cell.seed)
    net.train()
    head.train()
    bar = tqdm(
        total=schedule.iterations,
        initial=start,
        disable=not progress or rank != 0,
        desc=f"{exp.name} {cell.run_id}",
        unit="it",
        dynamic_ncols=True,
    )
    tick = time.perf_counter()
    end = (
        schedule.iterations if stop_after is None else min(schedule.iterations, start + stop_after)
    )
    for it in range(start + 1, end + 1):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cell, it)
        index = order.indices(it).to(device)
        x, y = train.normalised(index), train.labels[index]
        if exp.augment:
            x = pad_crop_flip(x, step_generator(cell.seed, it, 1))
        if world > 1:
            x, y = x.chunk(world)[rank], y.chunk(world)[rank]  # this rank's shard of the batch
        loss, features = step_model(x, y)
        check_finite(features, "features", cell, it, head)
        check_finite(loss, "loss", cell, it, head)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            log.add(loss, (head.scores(features).argmax(dim=1) != y).sum())
        if it % schedule.log_every == 0 or it == schedule.iterations:
            if world > 1:
                log.all_reduce(world)
            log.point(it, head, learning_rate(cell, it), schedule.batch_size,
                      f"{exp.name} {cell.run_id}")  # fmt: skip
            curves = log.curves
            elapsed = train_time + time.perf_counter() - tick
            bar.set_postfix(
                loss=f"{curves['train_loss'][-1]:.3f}",
                err=f"{curves['train_error'][-1]:.1f}%",
                lam="-" if curves["lam"][-1] is None else f"{curves['lam'][-1]:.3g}",
                img_s=f"{it * schedule.batch_size / elapsed:.0f}",
            )
        if it % schedule.eval_every == 0 and it != schedule.iterations:
            train_time += time.perf_counter() - tick
            error, _ = evaluate(net, head, test, schedule.eval_subset)
            log.curves["test_iteration"].append(it)
            log.curves["test_error"].append(error)
            tick = time.perf_counter()
        if (it % schedule.checkpoint_every == 0 or it == end) and rank == 0:
            train_time += time.perf_counter() - tick
            save_checkpoint(
                ckpt_path,
                cell,
                {
                    "net": net.state_dict(),
                    "head": head.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "iteration": it,
                    "train_time": train_time,
                    **log.state(),
                },
            )
            tick = time.perf_counter()
        bar.update(1)
    bar.close()
    if world > 1:
        dist.barrier()  # rank 0's checkpoint is complete before anyone returns or resumes
    if end < schedule.iterations:
        return None

    eval_tick = time.perf_counter()
    error, angles = evaluate(net, head, test, schedule.test_subset)
    eval_time = time.perf_counter() - eval_tick
    curves = log.curves
    curves["test_iteration"].append(schedule.iterations)
    curves["test_error"].append(error)
    images = schedule.iterations * schedule.batch_size
    result = {
        "schema": SCHEMA,
        "experiment": exp.name,
        "dataset": exp.dataset,
        "dataset_label": exp.label,
        "note": exp.note,
        "profile": cell.profile,
        "head": cell.head.name,
        "head_label": cell.head.label,
        "margin": cell.head.margin,
        "seed": cell.seed,
        "config": {
            "network": exp.network,
            "augment": exp.augment,
            "schedule": asdict(schedule),
            "head_hyper": {
                k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v)
                for k, v in cell.head.hyper(schedule).items()
            },
            "train_images": len(train),
        },
        "metrics": {"test_error": error, "test_images": len(angles)},
        "paper": {"test_error": exp.paper_error.get(cell.head.label), "source": exp.paper_source},
        "curves": curves,
        "warnings": log.warnings,
        "target_angle_hist": {
            "bins_deg": ANGLE_BINS,
            "counts": torch.histc(angles.float().cpu(), ANGLE_BINS, 0.0, 180.0).int().tolist(),
        },
        "wall_time_s": train_time + eval_time,
        "train_time_s": train_time,
        "images_per_s": images / train_time if train_time > 0 else math.nan,
        "command": command,
        "provenance": {
            **provenance.describe(device),
            # CPU kernels are deterministic for a fixed thread count; on GPU these say which
            # nondeterministic paths were allowed
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "world_size": world,
        },
    }
    path = result_path(cell.profile, exp.name, cell.run_id, results_dir)
    if rank == 0:
        write_result(path, result)
    if world > 1:
        dist.barrier()
    return read_result(path)  # exactly what reports will see (JSON turns tuples into lists)
