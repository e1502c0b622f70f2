"""One runner for every training run (`paper_repro.spec.RunSpec`): tables, LFW, 2-D studies
and a user's own data.

The whole training set sits on the device as uint8 and is normalised and augmented there,
so no DataLoader worker limits a GPU run. All randomness of a step (batch order, crops,
flips) derives from (seed, epoch) or (seed, iteration) rather than from a running generator,
so a run resumed from a checkpoint takes exactly the steps an uninterrupted run takes: on
CPU the final weights are bit for bit the same. The trained model goes to the run's
evaluator (`paper_repro.evaluators`); its fields and the run's common ones make the result.

A run is done when its result file holds this run's identity; a result of another identity
at the same path (a changed schedule or hyper-parameter) is retrained and replaced."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from paper_repro import fit, provenance
from paper_repro.checkpoints import (
    RUNS_DIR,
    checkpoint_path,
    identity,
    load_checkpoint,
    result_path,
)
from paper_repro.data import Catalog, Split, head
from paper_repro.device_data import DeviceData, InputNorm, forward_features
from paper_repro.evaluators import EVALUATORS
from paper_repro.fileio import atomic_write_bytes
from paper_repro.losses import BASELINE, make_head
from paper_repro.losses import compiled as compiled_loss
from paper_repro.losses.checks import values_checked_by_caller
from paper_repro.losses.compiled import COMPILE_ERRORS
from paper_repro.models import make_network
from paper_repro.models.compiled import compile_network
from paper_repro.models.init import he_init
from paper_repro.monitoring import DivergenceError, FiniteWatch, TrainingLog
from paper_repro.recipes import input_mean
from paper_repro.results import RESULTS_DIR, SCHEMA, ResultError, read_result, write_result
from paper_repro.spec import AUGMENTATIONS, RunSpec, jsonable
from paper_repro.steps import BatchOrder, pad_crop_flip, step_generator

# torch.compile's kernels, kept across runs and sessions (ignored by git)
COMPILE_CACHE = provenance.REPO_ROOT / ".cache" / "torchinductor"


class Classifier(nn.Module):
    """Network and head as one module, the unit DistributedDataParallel wraps."""

    def __init__(self, net: nn.Module, head: nn.Module, precision: str):
        super().__init__()
        self.net, self.head, self.precision = net, head, precision

    def forward(self, x, y):
        features = forward_features(self.net, x, self.precision).float()
        return self.head(features, y), features


def distributed() -> tuple[int, int]:
    """(rank, world size) of the process group torchrun set up, (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def decay_groups(params: list[nn.Parameter], decay: str, weight_decay: float) -> list[dict]:
    """SGD parameter groups for a weight-decay policy (spec.DECAYS). 'weights': only tensors
    of two or more dimensions, which in these networks are exactly the convolution, fully
    connected and classifier weights (batch norm, PReLU slopes and biases are 1-D)."""
    if decay == "all":
        return [{"params": params, "weight_decay": weight_decay}]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


class TrainingRun:
    """Network and head with their SGD optimizer, resumed from the run's checkpoint when there
    is one, the TrainingLog and the training time. `train` runs the loop.

    rank_world: under DDP every rank draws the same global batch and steps on its 1/world
    shard, and rank 0 writes."""

    def __init__(self, spec, net, head, data: DeviceData, device, runs_dir, *,
                 extra_curves=(), rank_world=(0, 1), compile_net=False):  # fmt: skip
        schedule = spec.schedule
        self.spec, self.data, self.device = spec, data, device
        self.pad = AUGMENTATIONS[spec.augment]
        self.rank, self.world = rank_world
        if self.world > 1 and device.type == "cuda":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        net.to(device)
        head.to(device)
        if device.type == "cuda":
            net.to(memory_format=torch.channels_last)
        self.net, self.head = net, head
        model = Classifier(net, head, spec.precision)
        # torch.compile of the network, and the head's loss arithmetic as one inductor graph
        # (the heads' checks stay in Python); lazy: the first step compiles, and each falls
        # back to eager if that fails (see _forward and losses.compiled)
        self.compiled = {"requested": compile_net, "used": False, "error": None}
        if compile_net:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(COMPILE_CACHE))
            model.net = compile_network(net)
            head.compile_math = True
        self.step_model = DistributedDataParallel(model) if self.world > 1 else model
        self.params = [*net.parameters(), *head.parameters()]
        self.optimizer = torch.optim.SGD(
            decay_groups(self.params, spec.decay, schedule.weight_decay),
            lr=schedule.lr, momentum=schedule.momentum,
        )  # fmt: skip
        self.path = checkpoint_path(spec, runs_dir)
        state = load_checkpoint(self.path, spec, device)
        self.start, self.train_time = 0, 0.0
        if state is not None:
            net.load_state_dict(state["net"])
            head.load_state_dict(state["head"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.start, self.train_time = state["iteration"], state["train_time"]
        self.log = TrainingLog(device, extra_curves, state)
        # one entry per session of this run: a resumed run may compile in one, not another
        self.compile_history = [] if state is None else state.get("compile_history", [])
        self.compile_history.append({"from_iteration": self.start, **self.compiled})
        self.compiled = self.compile_history[-1]
        self.order = BatchOrder(len(data), schedule.batch_size, spec.seed, device)
        self.watch = FiniteWatch(device)
        model.train()

    def train(self, stop_after=None, progress=True, test_point=None) -> bool:
        """Train from the checkpoint's iteration on; True once the schedule is complete, False
        when `stop_after` iterations of this call end it first (as if killed: only the
        checkpoint is left). test_point(iteration) runs every eval_every iterations but the
        last, before that iteration's checkpoint, so a resumed run does not skip it."""
        schedule = self.spec.schedule
        end = schedule.iterations
        if stop_after is not None:
            end = min(end, self.start + stop_after)
        bar = tqdm(total=schedule.iterations, initial=self.start, unit="it", desc=self.spec.name,
                   disable=not progress or self.rank != 0, dynamic_ncols=True)  # fmt: skip
        self.tick = time.perf_counter()  # train_time + (now - tick): this run's training time
        for it in range(self.start + 1, end + 1):
            self._step(it)
            log = it % schedule.log_every == 0 or it == schedule.iterations
            test = test_point and it % schedule.eval_every == 0 and it != schedule.iterations
            save = it % schedule.checkpoint_every == 0 or it == end
            if log or test or save:
                self.watch.check(self.spec, self.head, self.world)
            if log:
                self._curve_point(it, bar)
            if test:
                with self._paused():
                    test_point(it)
            if save and self.rank == 0:
                with self._paused():
                    self._save(it)
            bar.update(1)
        bar.close()
        if self.world > 1:
            dist.barrier()  # rank 0's checkpoint is complete before anyone returns or resumes
        return end == schedule.iterations

    def _save(self, it: int) -> None:
        if self.compiled["requested"]:
            # the loss arithmetic compiles (or fails to) apart from the network
            self.compiled["loss_error"] = "; ".join(compiled_loss.failures.values()) or None
        buffer = io.BytesIO()
        torch.save({
            "run": json.dumps(identity(self.spec), sort_keys=True),
            "net": self.net.state_dict(), "head": self.head.state_dict(),
            "optimizer": self.optimizer.state_dict(), "iteration": it,
            "train_time": self.train_time, "compile_history": self.compile_history,
            **self.log.state(),
        }, buffer)  # fmt: skip
        atomic_write_bytes(self.path, buffer.getvalue())

    def _step(self, it: int) -> None:
        spec, head = self.spec, self.head
        for group in self.optimizer.param_groups:
            group["lr"] = spec.schedule.learning_rate(it)
        index = self.order.indices(it)
        x, y = self.data.normalised(index), self.data.labels[index]
        if self.pad is not None:
            x = pad_crop_flip(x, step_generator(spec.seed, it, 1), self.pad)
        if self.world > 1:
            x, y = x.chunk(self.world)[self.rank], y.chunk(self.world)[self.rank]  # rank's shard
        with values_checked_by_caller():  # the watch below, and labels validated at loading
            loss, features = self._forward(x, y)
        self.watch.observe(features, loss, it)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if spec.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, spec.max_grad_norm)
        self.optimizer.step()
        with torch.no_grad():
            self.log.add(loss, (head.scores(features).argmax(dim=1) != y).sum())

    def _forward(self, x, y):
        """The step's forward; the first compiled call compiles, and where that fails (no C
        compiler, an unsupported op) the network runs eagerly from then on, reason recorded.
        The network's state is restored first, so statistics a partly run graph updated
        (batch norm) are not updated twice; the head runs after the network, once."""
        if not self.compiled["requested"] or self.compiled["used"] or self.compiled["error"]:
            return self.step_model(x, y)
        model = self.step_model.module if self.world > 1 else self.step_model
        before = {k: v.clone() for k, v in self.net.state_dict().items()}
        try:
            out = self.step_model(x, y)
        except COMPILE_ERRORS as exc:
            self.compiled["error"] = f"{type(exc).__name__}: {exc}"[:300]
            tqdm.write(f"torch.compile failed, training eagerly: {self.compiled['error']}")
            self.net.load_state_dict(before)
            model.net = self.net
            return self.step_model(x, y)
        self.compiled["used"] = True
        return out

    def _curve_point(self, it: int, bar: tqdm) -> None:
        schedule = self.spec.schedule
        if self.world > 1:
            self.log.all_reduce(self.world)
        self.log.point(it, self.head, schedule.learning_rate(it), schedule.batch_size,
                       self.spec.name)  # fmt: skip
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


def run_provenance(device) -> dict:
    return {
        **provenance.describe(device),
        # CPU kernels are deterministic for a fixed thread count; on GPU these say which
        # nondeterministic paths were allowed
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
    }


def training_split(spec: RunSpec, catalog: Catalog, shape) -> tuple[Split, object]:
    """(training Split, what the evaluator tests on) of a run, from the registry."""
    dataset = catalog.get(spec.dataset)
    if dataset.kind == "faces":
        faces = catalog.load(spec.dataset, spec.split, shape=shape, min_images=spec.min_images)
        return faces.train, faces
    train, test = (catalog.load(spec.dataset, part) for part in ("train", "test"))
    if spec.classes is not None:
        train, test = (select_classes(s, spec.classes) for s in (train, test))
    if spec.schedule.train_subset:
        train = head(train, spec.schedule.train_subset)
    return train, test


def select_classes(split: Split, classes: tuple[int, ...]) -> Split:
    """The examples of `classes`, relabelled 0..len(classes)-1 in that order."""
    lookup = torch.full((len(split.classes),), -1, dtype=torch.int64)
    lookup[list(classes)] = torch.arange(len(classes))
    keep = torch.nonzero(lookup[split.labels] >= 0).squeeze(1)
    return Split(
        split.images[keep].contiguous(),
        lookup[split.labels[keep]],
        tuple(split.classes[c] for c in classes),
    )


def train_run(
    spec: RunSpec,
    *,
    catalog: Catalog | None = None,
    device: str | torch.device = "cpu",
    runs_dir: Path = RUNS_DIR,
    results_dir: Path = RESULTS_DIR,
    command: str = "",
    progress: bool = True,
    stop_after: int | None = None,
    compile_net: bool = False,
) -> dict | None:
    """Train one run, resuming from its checkpoint, evaluate it and write its result JSON.

    stop_after: end (as if killed) after that many iterations of this call, leaving only the
    checkpoint; returns None then. Returns the result dict when the run is finished.

    Under torchrun every rank draws the same global batch and trains on its 1/world shard;
    the averaged gradients equal the single-process ones except for batch norm, whose
    statistics are per rank on CPU (SyncBatchNorm on GPU). Rank 0 writes."""
    device, catalog = torch.device(device), catalog or Catalog()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick (recorded)
    rank, world = distributed()
    if spec.schedule.batch_size % world:
        raise ValueError(f"batch size {spec.schedule.batch_size} is not divisible by {world}")
    torch.manual_seed(spec.seed)  # weight initialisation
    net = make_network(spec.network)
    train_split, evaluation = training_split(spec, catalog, net.input_shape)
    norm = InputNorm(*input_mean(spec.recipe, spec.dataset, spec.augment, train_split))
    head = make_head(spec.head.name, net.feature_dim, len(train_split.classes), **spec.head.kwargs)
    if spec.init == "he":
        he_init(net, head)
    evaluator = EVALUATORS[spec.evaluator](spec, evaluation, norm, device)
    run = TrainingRun(spec, net, head, DeviceData(train_split, norm, device), device, runs_dir,
                      extra_curves=evaluator.curves, rank_world=(rank, world),
                      compile_net=compile_net)  # fmt: skip

    def test_point(iteration: int) -> None:
        run.log.test_point(iteration, evaluator.curve_values(run.net, run.head))

    path = result_path(spec, results_dir)
    tick = time.perf_counter()
    try:
        if not run.train(stop_after, progress, test_point if evaluator.curves else None):
            return None
        tick = time.perf_counter()
        fields, last_point = evaluator.final(run.net, run.head, run.data, path, write=rank == 0)
        if last_point:
            run.log.test_point(spec.schedule.iterations, last_point)
    except DivergenceError as exc:
        diverged = evaluator.diverged_fields()
        if diverged is None:
            raise
        # a fact about this configuration (the same seed diverges again): recorded as the
        # run's result, with the curves up to the last finite point and no metrics, so a table
        # shows it as diverged and goes on; nothing computed after the NaN is in it
        print(f"{exc} Recorded as diverged.", file=sys.stderr)
        fields = {**diverged, "diverged": {"iteration": exc.iteration, "message": str(exc)}}
    eval_time = time.perf_counter() - tick
    images = spec.schedule.iterations * spec.schedule.batch_size
    dataset = catalog.get(spec.dataset)
    result = {
        "schema": SCHEMA,
        "run": identity(spec),
        "experiment": spec.experiment,
        "dataset": spec.dataset,
        "dataset_label": spec.label or dataset.label,
        "note": " ".join(n for n in (dataset.note, spec.note) if n),
        "profile": spec.profile,
        "head": spec.head.name,
        "head_label": spec.head.label,
        "margin": spec.head.margin,
        "hyper": {k: jsonable(v) for k, v in spec.head.hyper},
        "seed": spec.seed,
        "precision": spec.precision,
        "recipe": {
            "name": spec.recipe,
            "init": spec.init,
            "decay": spec.decay,
            "variant": spec.variant,
        },
        "evaluator": spec.evaluator,
        "order": spec.order,
        "split": spec.split,
        "config": {
            "network": spec.network,
            "augment": spec.augment,
            "schedule": identity(spec)["schedule"],
            "train_images": len(train_split),
            "train_classes": len(train_split.classes),
            "max_grad_norm": spec.max_grad_norm,
        },
        "paper": spec.paper,
        "curves": run.log.curves,
        "warnings": run.log.warnings,
        "wall_time_s": run.train_time + eval_time,
        "train_time_s": run.train_time,
        # a diverged run stopped early: no speed of the whole schedule
        "images_per_s": (
            images / run.train_time if run.train_time > 0 and "diverged" not in fields else math.nan
        ),
        "command": command,
        "provenance": {
            **run_provenance(device),
            "world_size": world,
            "torch_compile": run.compile_history,
        },
        **fields,
    }
    result["fit"] = fit_check(result, results_dir)
    if rank == 0:
        write_result(path, result)
    if world > 1:
        dist.barrier()  # the file is complete before any rank reads it
    return read_result(path)  # exactly what reports will see


def fit_check(result: dict, results_dir: Path) -> dict:
    """Did the run fit its training data (`fit`'s rule), against the softmax runs saved beside
    it on the same data and split? Said on the terminal when it did not."""
    folder = Path(results_dir) / result["profile"] / result["experiment"]
    softmax = []
    for other in sorted(folder.glob(f"{BASELINE}*.json")):
        try:
            saved = read_result(other)
        except ResultError:
            continue  # named when the plan meets it
        if (saved.get("dataset"), saved.get("split")) == (result["dataset"], result["split"]):
            softmax.append(saved)
    reference = fit.softmax_reference(softmax)
    if reference is None and result["head"] == BASELINE:
        reference = fit.train_error(result)  # softmax is the bar: it is held to itself
    state = fit.status(result, reference)
    out = {"status": state, "train_error": fit.train_error(result), BASELINE: reference}
    if state in ("unfit", "diverged"):
        out["advice"] = fit.advice(result, state, reference)
        if not result.get("diverged"):  # a NaN/inf was said when it happened
            print(out["advice"], file=sys.stderr)
    return out


def measure_throughput(spec: RunSpec, device, steps: int = 1, compiled: bool = False,
                       seconds: float = 0.0) -> float:  # fmt: skip
    """Training images/s of a run's network and precision on random data (for the plan only):
    warm-up steps, then at least `steps` timed forward + backward passes and as many more as
    fill `seconds` (a few steps of a small network are too short to time). compiled: the
    network as a compiled run trains it (the warm-up compiles it; inductor caches the kernels
    in .cache/torchinductor, so the runs that follow reuse them)."""
    device = torch.device(device)
    net = make_network(spec.network).to(device)
    shape = net.input_shape
    if compiled:
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(COMPILE_CACHE))
        net = compile_network(net)
    x = torch.randn(spec.schedule.batch_size, *shape, device=device)

    def step():
        forward_features(net, x, spec.precision).float().sum().backward()

    for _ in range(2 if compiled else 1):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    tick, done = time.perf_counter(), 0
    while done < steps or time.perf_counter() - tick < seconds:
        step()
        done += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return done * spec.schedule.batch_size / (time.perf_counter() - tick)
