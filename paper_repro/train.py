"""One training loop for every classification cell (dataset x head x seed x profile).

The whole dataset sits on the training device as uint8 and is normalised and augmented
there, so no DataLoader worker limits a GPU run. All randomness of a step (batch order,
crops, flips) derives from (seed, epoch) or (seed, iteration) rather than from a running
generator, so a run resumed from a checkpoint takes exactly the steps an uninterrupted run
takes: on CPU the final weights are bit for bit the same."""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable, Iterator
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
from paper_repro.experiments import Cell
from paper_repro.fileio import atomic_write_bytes
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


class TrainingRun:
    """One training run as both loops take it (train_cell here, paper_repro.face's verification
    loop): network and head with their SGD optimizer, resumed from the cell's checkpoint when
    there is one, the TrainingLog and the training time. `train` runs the loop; a result then
    takes `timing` and `save_result`.

    pad: augment each batch by pad_crop_flip with this padding (0: flips only), None: no
    augmentation. rank_world: `distributed()` to train under DDP, where every rank draws the
    same global batch and steps on its 1/world shard, and rank 0 writes."""

    def __init__(
        self,
        cell: Cell,
        net: nn.Module,
        head: nn.Module,
        data: DeviceData,
        device: torch.device,
        runs_dir: Path,
        *,
        pad: int | None,
        extra_curves: tuple[str, ...] = (),
        rank_world: tuple[int, int] = (0, 1),
    ):
        schedule = cell.schedule
        self.cell, self.data, self.device, self.pad = cell, data, device, pad
        self.rank, self.world = rank_world
        self.name = f"{cell.experiment.name} {cell.run_id}"
        if self.world > 1 and device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net.to(device)
        head.to(device)
        if device.type == "cuda":
            net.to(memory_format=torch.channels_last)
        self.net, self.head = net, head
        model = Classifier(net, head)
        self.step_model = DistributedDataParallel(model) if self.world > 1 else model
        self.optimizer = torch.optim.SGD(
            [*net.parameters(), *head.parameters()],
            lr=schedule.lr,
            momentum=schedule.momentum,
            weight_decay=schedule.weight_decay,
        )
        self.path = checkpoint_path(cell, Path(runs_dir))
        state = load_checkpoint(self.path, cell, device)
        self.start, self.train_time = 0, 0.0
        if state is not None:
            net.load_state_dict(state["net"])
            head.load_state_dict(state["head"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.start, self.train_time = state["iteration"], state["train_time"]
        self.log = TrainingLog(device, extra_curves, state)
        self.order = BatchOrder(len(data), schedule.batch_size, cell.seed)
        model.train()

    def train(
        self,
        stop_after: int | None = None,
        progress: bool = True,
        test_point: Callable[[int], None] | None = None,
    ) -> bool:
        """Train from the checkpoint's iteration on; True once the schedule is complete, False
        when `stop_after` iterations of this call end it first (as if killed: only the
        checkpoint is left). test_point(iteration) runs every eval_every iterations but the
        last, before that iteration's checkpoint, so a resumed run does not skip it."""
        schedule = self.cell.schedule
        end = schedule.iterations
        if stop_after is not None:
            end = min(end, self.start + stop_after)
        bar = tqdm(
            total=schedule.iterations,
            initial=self.start,
            disable=not progress or self.rank != 0,
            desc=self.name,
            unit="it",
            dynamic_ncols=True,
        )
        self.tick = time.perf_counter()  # train_time + (now - tick): this run's training time
        for it in range(self.start + 1, end + 1):
            self._step(it)
            if it % schedule.log_every == 0 or it == schedule.iterations:
                self._curve_point(it, bar)
            if test_point and it % schedule.eval_every == 0 and it != schedule.iterations:
                with self._paused():
                    test_point(it)
            if (it % schedule.checkpoint_every == 0 or it == end) and self.rank == 0:
                with self._paused():
                    save_checkpoint(self.path, self.cell, {
                        "net": self.net.state_dict(), "head": self.head.state_dict(),
                        "optimizer": self.optimizer.state_dict(), "iteration": it,
                        "train_time": self.train_time, **self.log.state(),
                    })  # fmt: skip
            bar.update(1)
        bar.close()
        if self.world > 1:
            dist.barrier()  # rank 0's checkpoint is complete before anyone returns or resumes
        return end == schedule.iterations

    def _step(self, it: int) -> None:
        cell, head = self.cell, self.head
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cell, it)
        index = self.order.indices(it).to(self.device)
        x, y = self.data.normalised(index), self.data.labels[index]
        if self.pad is not None:
            x = pad_crop_flip(x, step_generator(cell.seed, it, 1), self.pad)
        if self.world > 1:
            x, y = x.chunk(self.world)[self.rank], y.chunk(self.world)[self.rank]  # rank's shard
        loss, features = self.step_model(x, y)
        check_finite(features, "features", cell, it, head)
        check_finite(loss, "loss", cell, it, head)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.log.add(loss, (head.scores(features).argmax(dim=1) != y).sum())

    def _curve_point(self, it: int, bar: tqdm) -> None:
        schedule = self.cell.schedule
        if self.world > 1:
            self.log.all_reduce(self.world)
        self.log.point(it, self.head, learning_rate(self.cell, it), schedule.batch_size, self.name)
        curves = self.log.curves
        elapsed = self.train_time + time.perf_counter() - self.tick
        bar.set_postfix(
            loss=f"{curves['train_loss'][-1]:.3f}",
            err=f"{curves['train_error'][-1]:.1f}%",
            lam="-" if curves["lam"][-1] is None else f"{curves['lam'][-1]:.3g}",
            img_s=f"{it * schedule.batch_size / elapsed:.0f}",
        )

    @contextlib.contextmanager
    def _paused(self) -> Iterator[None]:
        """Evaluations and checkpoint writes do not count as training time."""
        self.train_time += time.perf_counter() - self.tick
        yield
        self.tick = time.perf_counter()

    def timing(self, eval_time: float) -> dict:
        """The result's time fields, given the final evaluation's time."""
        images = self.cell.schedule.iterations * self.cell.schedule.batch_size
        return {
            "wall_time_s": self.train_time + eval_time,
            "train_time_s": self.train_time,
            "images_per_s": images / self.train_time if self.train_time > 0 else math.nan,
        }

    def save_result(self, path: Path, result: dict) -> dict:
        if self.rank == 0:
            write_result(path, result)
        if self.world > 1:
            dist.barrier()  # the file is complete before any rank reads it
        return read_result(path)  # exactly what reports will see (JSON turns tuples into lists)


def hyper_json(hyper: dict) -> dict:
    """A head's hyperparameters for a result file: dataclasses (lambda schedules) as dicts."""
    return {k: (asdict(v) if hasattr(v, "__dataclass_fields__") else v) for k, v in hyper.items()}


def run_provenance(device) -> dict:
    return {
        **provenance.describe(device),
        # CPU kernels are deterministic for a fixed thread count; on GPU these say which
        # nondeterministic paths were allowed
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


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
    hyper = cell.head.hyper(schedule)
    head = make_head(cell.head.name, net.feature_dim, len(train_split.classes), **hyper)
    pad = 4 if exp.augment else None  # CIFAR-10+: 4-pixel padding, random crop and flip
    run = TrainingRun(cell, net, head, train, device, runs_dir, pad=pad,
                      extra_curves=("test_iteration", "test_error"),
                      rank_world=(rank, world))  # fmt: skip

    def test_point(it: int) -> None:
        error, _ = evaluate(run.net, run.head, test, schedule.eval_subset)
        run.log.curves["test_iteration"].append(it)
        run.log.curves["test_error"].append(error)

    if not run.train(stop_after, progress, test_point):
        return None

    eval_tick = time.perf_counter()
    error, angles = evaluate(run.net, run.head, test, schedule.test_subset)
    eval_time = time.perf_counter() - eval_tick
    curves = run.log.curves
    curves["test_iteration"].append(schedule.iterations)
    curves["test_error"].append(error)
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
            "head_hyper": hyper_json(hyper),
            "train_images": len(train),
        },
        "metrics": {"test_error": error, "test_images": len(angles)},
        "paper": {"test_error": exp.paper_error.get(cell.head.label), "source": exp.paper_source},
        "curves": curves,
        "warnings": run.log.warnings,
        "target_angle_hist": {
            "bins_deg": ANGLE_BINS,
            "counts": torch.histc(angles.float().cpu(), ANGLE_BINS, 0.0, 180.0).int().tolist(),
        },
        **run.timing(eval_time),
        "command": command,
        "provenance": {**run_provenance(device), "world_size": world},
    }
    return run.save_result(result_path(cell.profile, exp.name, cell.run_id, results_dir), result)
