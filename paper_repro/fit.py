"""Did a run fit its training data? A test between two losses says something about the losses
only where both networks learned their training set; a run that did not is named, never
silently averaged into a verdict.

The rule, read from the training error of the last logging interval (the test-time rule, no
margin, on the training batches as drawn):
- **diverged**: a non-finite training loss, or a training error within 10% of chance
  (>= 0.9 x (1 - 1/classes)): the network learned (almost) nothing. Left out of every mean,
  std and test, and named beside the cell.
- **unfit**: a training error more than `FIT_MARGIN` points above the mean of the softmax
  runs of the same experiment and profile (or above `FIT_MARGIN` where there is no softmax
  run). Kept in the cell's mean, but no verdict is drawn on its head.
- **fit**: the rest. Runs that saved no training error are *unknown* and count as fit."""

from __future__ import annotations

import math
import statistics

from paper_repro.losses import BASELINE

FIT_MARGIN = 10.0  # points of training error above softmax's on the same network and schedule
CHANCE_SHARE = 0.9  # of the chance-level error: 'learned almost nothing'


def train_error(result: dict) -> float | None:
    curve = result.get("curves", {}).get("train_error") or []
    return curve[-1] if curve and curve[-1] is not None else None


def _loss_finite(result: dict) -> bool:
    losses = [v for v in result.get("curves", {}).get("train_loss") or [] if v is not None]
    return all(math.isfinite(v) for v in losses)


def chance_error(result: dict) -> float | None:
    classes = result.get("config", {}).get("train_classes")
    return 100.0 * (1 - 1 / classes) if classes else None


def _paper_recipe(recipe: dict) -> bool:
    return (recipe.get("name", "paper"), recipe.get("init", "pytorch"),
            recipe.get("decay", "all")) == ("paper", "pytorch", "all")  # fmt: skip


def softmax_reference(results: list[dict]) -> float | None:
    """The mean final training error of the softmax runs among `results`."""
    # the paper recipe's softmax runs (not a recipe study's changed init, weight decay or
    # release set-up) that did not diverge
    plain = [r for r in results if r["head"] == BASELINE and not r.get("diverged")
             and _paper_recipe(r.get("recipe", {}))]  # fmt: skip
    errors = [e for r in plain if (e := train_error(r)) is not None]
    return statistics.fmean(errors) if errors else None


def status(result: dict, reference: float | None) -> str:
    """'fit', 'unfit', 'diverged' or 'unknown' (see the module's rule; a `smoke` run, a few
    steps long, is too short to judge)."""
    if result.get("diverged"):
        return "diverged"  # the features or the loss became NaN/inf: recorded, not evaluated
    if result.get("profile") == "smoke":
        return "unknown"
    error, chance = train_error(result), chance_error(result)
    if not _loss_finite(result) or (
        error is not None and chance is not None and error >= CHANCE_SHARE * chance
    ):
        return "diverged"
    if error is None:
        return "unknown"
    return "unfit" if error > (reference or 0.0) + FIT_MARGIN else "fit"


def statuses(results: list[dict]) -> list[str]:
    """`status` of each run, judged against the softmax runs among `results`."""
    reference = softmax_reference(results)
    return [status(r, reference) for r in results]


def rule_text() -> str:
    return (f"a run *fit* when its final training error is at most {FIT_MARGIN:g} points above "
            "the softmax runs' mean on the same network and schedule; it *diverged* when its "
            "loss became non-finite or its training error ended within "
            f"{100 - 100 * CHANCE_SHARE:g}% of chance. Diverged runs are named and left out of "
            "means and tests; no verdict is drawn on a head with an unfit run")  # fmt: skip


def unfit_sentence(results: list[dict]) -> str:
    """A sentence naming every run that did not fit or diverged (see the rule), or ''."""

    def what(r: dict, state: str) -> str:
        if r.get("diverged"):
            return f"NaN/inf at iteration {r['diverged']['iteration']}, diverged"
        return f"{train_error(r):.1f}% training error, {state}"

    def who(r: dict) -> str:
        variant = r.get("recipe", {}).get("variant", "")
        return r["head_label"] + (f" [{variant}]" if variant else "")

    named = [
        f"{who(r)} ({(r['split'] + ', ') if r.get('split') else ''}seed {r['seed']}: "
        f"{what(r, s)})"
        for r, s in zip(results, statuses(results), strict=True) if s in ("unfit", "diverged")
    ]  # fmt: skip
    if not named:
        return ""
    return (f"Runs that did not fit their training data (more than {FIT_MARGIN:g} points above "
            f"softmax's training error) or diverged (diverged runs are left out of the means): "
            f"{', '.join(named)}.")  # fmt: skip


def advice(result: dict, state: str, reference: float | None) -> str:
    """One line for a run that did not fit or diverged: what it reached, against what, and
    what to change."""
    error, chance = train_error(result), chance_error(result)
    if state == "diverged":
        reached = (
            f"NaN/inf at iteration {result['diverged']['iteration']}"
            if result.get("diverged")
            else "a non-finite loss"
            if error is None or not _loss_finite(result)
            else f"{error:.1f}% training error at the end, near chance ({chance:.1f}%)"
        )
    else:
        against = (
            f"softmax's {reference:.1f}% on the same data and schedule"
            if reference is not None
            else f"{FIT_MARGIN:g}%, the bar without a softmax run to compare"
        )
        reached = f"{error:.1f}% training error at the end, against {against}"
    hyper = result.get("hyper", {})
    knobs = ["a longer schedule (PROFILE=cpu)", "a lower learning rate"]
    if isinstance(hyper.get("lam"), dict):
        floor = hyper["lam"].get("lam_min", 0.0)
        knobs.append(f"a higher lambda floor (LAMBDA_MIN=10; this run had {floor:g}, the "
                     "authors advise 5-10 on hard data)")  # fmt: skip
    return (f"{result['head_label']} {'diverged' if state == 'diverged' else 'did not fit'}: "
            f"{reached}. Its test numbers say more about the schedule than the loss: try "
            f"{', '.join(knobs[:-1])} or {knobs[-1]}")  # fmt: skip
