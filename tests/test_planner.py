"""The budget plan: the most seeds that fit, in the candidates' order; what does not fit is
left out at its smallest size."""

from __future__ import annotations

import math

import pytest

from paper_repro import planner
from paper_repro.experiments import get_experiment
from paper_repro.report.statistics import detectable_factor

MNIST, LFW, CIFAR = (planner.Candidate(e, "cpu", "?", lo, hi) for e, lo, hi in (
    ("mnist", 2, 8), ("lfw", 1, 3), ("cifar10-jpeg", 2, 4)))  # fmt: skip


def test_with_seeds_repeats_the_first_seed_for_every_seed_seed_major():
    base = get_experiment("lfw").runs("cpu")  # 2 splits x 6 heads, seeds 0 and 1
    runs = planner.with_seeds(base, 3)
    assert [r.seed for r in runs] == [s for s in range(3) for _ in range(12)]
    assert {r.run_id for r in runs} >= {r.run_id for r in base}  # the profile's seeds included
    assert len({r.run_id for r in runs}) == len(runs) == 36


def test_each_candidate_takes_the_most_seeds_the_budget_leaves():
    minutes = {"mnist": 10.0, "lfw": 5.0, "cifar10-jpeg": 60.0}
    seconds = {k: 60 * v for k, v in minutes.items()}
    chosen, left = planner.choose((MNIST, LFW, CIFAR), seconds, 120 * 60)
    # MNIST: 3 seeds a head (12 runs x 10 min) fill the budget exactly; LFW's smallest size
    # (12 runs x 5 min) is then left out
    assert [(c.candidate.experiment, c.seeds, len(c.runs)) for c in chosen] == [("mnist", 3, 12)]
    assert chosen[0].seconds == 120 * 60
    assert [(c.candidate.experiment, c.seeds) for c in left] == [("lfw", 1), ("cifar10-jpeg", 2)]
    assert left[1].seconds == 8 * 60 * 60  # its smallest size: 4 heads x 2 seeds, an hour each


def test_a_candidate_too_dear_for_the_budget_is_skipped_for_the_next():
    seconds = {"mnist": 3000.0, "lfw": 300.0, "cifar10-jpeg": 6000.0}  # this AVX2-only EPYC
    chosen, left = planner.choose((MNIST, LFW, CIFAR), seconds, 120 * 60)
    assert [(c.candidate.experiment, c.seeds) for c in chosen] == [("lfw", 2)]  # 24 x 5 min
    assert [c.candidate.experiment for c in left] == ["mnist", "cifar10-jpeg"]


def test_a_later_candidate_shares_the_runs_an_earlier_one_planned():
    subset = planner.Candidate("lfw", "cpu", "?", 2, 4, claim="cosface-beats-softmax")
    chosen, _ = planner.choose((LFW, subset), {"lfw": 60.0}, 60 * (12 + 4))
    assert [(c.seeds, len(c.runs), c.seconds) for c in chosen] == [(1, 12, 720.0), (2, 8, 240.0)]
    assert {r.head.label for r in chosen[1].runs} == {"softmax", "lmcl m=0.35"}


def test_a_candidate_whose_runs_are_all_planned_already_adds_nothing():
    subset = planner.Candidate("lfw", "cpu", "?", 1, 4, claim="cosface-beats-softmax")
    chosen, left = planner.choose((LFW, subset), {"lfw": 60.0}, 60 * (12 + 3))
    # its first seed is the LFW table's: nothing new; its second (4 runs) does not fit
    assert [c.candidate for c in chosen] == [LFW]
    assert [(c.seeds, c.seconds) for c in left] == [(2, 240.0)]


def test_runs_already_done_cost_nothing():
    seconds = {"mnist": 600.0}
    done = {planner.key(r) for r in planner.with_seeds(get_experiment("mnist").runs("cpu"), 2)}
    (choice,), _ = planner.choose((MNIST,), seconds, 600 * 4, done)
    assert choice.seeds == 3 and choice.seconds == 600 * 4  # only the third seed is new


@pytest.mark.parametrize("networks", [2, 3, 6])
def test_detectable_is_the_two_sample_formula(networks):
    expected = detectable_factor(2 * networks - 2) * 0.04 * math.sqrt(2 / networks)
    assert planner.detectable(0.04, networks) == pytest.approx(expected)
    assert planner.detectable(0.04, 1) == math.inf
