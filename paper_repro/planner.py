"""What `make reproduce` trains on a CPU when told nothing: the most informative plan that fits
a time budget on this machine, from the speed measured here.

The candidates are tables of the `cpu` profile in the order they answer the papers' claims
best for the hours they cost; each takes as many seeds as the budget leaves room for (at
least `min_seeds`, at most `max_seeds`: beyond it the seeds' noise is no longer what limits
the answer). What does not fit is printed with its cost here and on one GPU. Pure functions
here; the measuring and the printing are the CLI's."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from paper_repro.experiments import RELEASE_TABLES, get_experiment
from paper_repro.report.statistics import detectable_factor
from paper_repro.spec import RunSpec

BUDGET_MINUTES = 120.0  # the default budget of `make reproduce` on a CPU


@dataclass(frozen=True)
class Candidate:
    experiment: str
    profile: str
    question: str
    min_seeds: int
    max_seeds: int
    claim: str = ""  # the key of one of the table's claims: train only its two heads

    @property
    def heads(self) -> tuple[str, ...]:
        """The head labels to train; () for all of the table's."""
        if not self.claim:
            return ()
        claims = {c.key: c for c in get_experiment(self.experiment).claims}
        return (claims[self.claim].than, claims[self.claim].better)


CPU_CANDIDATES = (
    Candidate("mnist", "cpu", "does an angular margin lower MNIST's test error (L-Softmax "
              "Table 2: by 0.08-0.09 points)?", 2, 8),
    Candidate("lfw", "cpu", "do the margin heads beat softmax on LFW, trained on LFW's own "
              "people (L-Softmax Table 5, CosFace Table 2)?", 1, 3),
    Candidate("cifar10-jpeg", "cpu", "does an angular margin lower CIFAR-10's test error "
              "(L-Softmax Table 3: by 1.3-1.5 points; JPEG q75 copy)?", 2, 4),
    # what is left after the whole tables (or all a slow CPU affords): CosFace's claim alone
    Candidate("lfw", "cpu", "does LMCL beat softmax on LFW (CosFace Table 2: by 1.45 "
              "points)?", 1, 4, claim="cosface-beats-softmax"),
)  # fmt: skip


def for_recipe(candidates, recipe: str) -> tuple[Candidate, ...]:
    """The candidates with `recipe`: release trains each table's release version and leaves
    out those without one (the faces: the L-Softmax release has no face set-up)."""
    if recipe == "paper":
        return tuple(candidates)
    return tuple(replace(c, experiment=RELEASE_TABLES[c.experiment])
                 for c in candidates if c.experiment in RELEASE_TABLES)  # fmt: skip


def with_seeds(runs: list[RunSpec], seeds: int, heads: tuple[str, ...] = ()) -> list[RunSpec]:
    """The experiment's runs for seeds 0..seeds-1, seed-major (an interrupted plan has every
    head of its first seeds): the runs of its first seed are the template. heads: only these
    head labels (all where empty)."""
    first = [r for r in runs if r.seed == runs[0].seed and (not heads or r.head.label in heads)]
    return [replace(r, seed=s) for s in range(seeds) for r in first]


def key(run: RunSpec) -> tuple[str, str, str]:
    """A run's place: run ids repeat across experiments (softmax-seed0 is in every table)."""
    return run.profile, run.experiment, run.run_id


@dataclass(frozen=True)
class Choice:
    candidate: Candidate
    runs: tuple[RunSpec, ...]
    seconds: float  # here, at the measured speed
    seeds: int

    @property
    def networks_a_head(self) -> int:
        heads = len({r.head.label for r in self.runs})
        return len(self.runs) // max(heads, 1)


def choose(candidates, seconds_per_run: dict[str, float], budget_s: float,
           done: set[str] = frozenset(), precision: str = "fp32",
           ) -> tuple[list[Choice], list[Choice]]:  # fmt: skip
    """(chosen, left out): greedily, each candidate with the most seeds that fit what the
    budget has left; a candidate whose `min_seeds` do not fit is left out, at that size.
    seconds_per_run: experiment -> training seconds of one of its runs here. done: the `key`s
    of runs already trained (they cost nothing). precision: the runs' (spec.PRECISIONS)."""
    chosen, left = [], []
    remaining, planned = budget_s, set(done)
    for c in candidates:
        base = get_experiment(c.experiment).runs(c.profile, precision)
        per_run = seconds_per_run[c.experiment]
        sizes = {n: with_seeds(base, n, c.heads) for n in range(c.min_seeds, c.max_seeds + 1)}
        cost = {n: per_run * sum(key(r) not in planned for r in runs)
                for n, runs in sizes.items()}  # fmt: skip
        fits = [n for n in sizes if cost[n] <= remaining]
        if fits and cost[max(fits)] > 0:
            n = max(fits)
            chosen.append(Choice(c, tuple(sizes[n]), cost[n], n))
            remaining -= cost[n]
            planned |= {key(r) for r in sizes[n]}  # a later candidate shares them for free
        else:  # left out at its smallest size that would add a run
            n = next((n for n in sizes if cost[n] > 0), c.max_seeds)
            left.append(Choice(c, tuple(sizes[n]), cost[n], n))
    return chosen, left


def detectable(std: float, networks: int) -> float:
    """The smallest difference between two heads of `networks` runs each that a pooled t-test
    detects (95%, 80% power) at a between-run `std`."""
    if networks < 2 or not math.isfinite(std):
        return math.inf
    return detectable_factor(2 * networks - 2) * std * math.sqrt(2 / networks)
