"""Watching a run while it trains: NaN/inf features or loss (`FiniteWatch`, which stops it with
`DivergenceError`), the loss jump known from the original L-Softmax code (`loss_jump`), and the
training curves with their checkpointed running sums (`TrainingLog`)."""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from tqdm import tqdm

from paper_repro.spec import RunSpec


class DivergenceError(RuntimeError):
    """The loss became NaN/inf or exploded; the message says when and what to try."""

    def __init__(self, message: str, iteration: int):
        super().__init__(message)
        self.iteration = iteration


class FiniteWatch:
    """The first iteration whose features or loss held a NaN/inf, kept on the device so a
    step adds no host synchronisation; `check` reads it (one sync) and raises. The loop
    checks before every curve point, evaluation and checkpoint, so nothing computed after a
    NaN is logged or saved; under DDP the ranks agree first, so all raise together."""

    NEVER = 2**62  # no iteration yet

    def __init__(self, device):
        self.first = torch.full((2,), self.NEVER, dtype=torch.int64, device=device)

    def observe(self, features: torch.Tensor, loss: torch.Tensor, iteration: int) -> None:
        bad = torch.stack((~torch.isfinite(features).all(), ~torch.isfinite(loss)))  # (2,)
        self.first = torch.minimum(self.first, torch.where(bad, iteration, self.NEVER))

    def check(self, spec: RunSpec, head, world: int) -> None:
        if world > 1:
            dist.all_reduce(self.first, op=dist.ReduceOp.MIN)
        features_at, loss_at = self.first.tolist()
        if min(features_at, loss_at) == self.NEVER:
            return
        what, iteration = ("features", features_at) if features_at <= loss_at else ("loss", loss_at)
        schedule = getattr(head, "schedule", None)
        lam = "" if schedule is None else f" with lambda = {schedule(iteration):.4g}"
        rank = " on some rank" if world > 1 else ""
        advice = ("Margin heads can diverge when the margin is enforced too early: raise lam_min "
                  "or slow the lambda decay (smaller gamma), or lower the learning rate."
                  if schedule is not None else "Lower the learning rate, or check the "
                  "initialisation (a larger one makes the first steps larger).")  # fmt: skip
        raise DivergenceError(
            f"{spec.name}: the {what} became NaN/inf at iteration {iteration}{rank}{lam}. "
            + advice,
            iteration,
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

    def test_point(self, iteration: int, values: dict[str, float]) -> None:
        """One point of the evaluator's curves (`evaluators.*.curves`), at `iteration`."""
        self.curves["test_iteration"].append(iteration)
        for name, value in values.items():
            self.curves[name].append(value)

    def state(self) -> dict:
        return {
            "curves": self.curves,
            "warnings": self.warnings,
            "interval_sums": [self.loss_sum.item(), self.wrong_sum.item()],
        }
