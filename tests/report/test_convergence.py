"""The doubling check holds seed 0's doubled run against the single schedule's seeds with a
95% prediction interval; 'converged' needs the power to see the effect at stake."""

from __future__ import annotations

import math

import pytest

from paper_repro.report import convergence


def _run(head, seed, error, iterations, split=None, train_error=0.5):
    margin = None if head == "softmax" else int(head[-1])
    return {"head_label": head, "head": head.split()[0], "margin": margin, "seed": seed,
            "split": split, "evaluator": "classification", "metrics": {"test_error": error},
            "config": {"schedule": {"iterations": iterations}, "train_classes": 10},
            "curves": {"train_error": [train_error]}}  # fmt: skip


def _check(single, doubled, experiment="mnist"):
    runs = {("cpu", experiment): single, ("cpu", f"{experiment}-x2"): doubled}
    return {r["head"]: r for r in convergence.check_rows(runs)}


def test_outcomes_follow_the_prediction_interval():
    single = [_run("softmax", s, e, 1500) for s, e in enumerate((0.50, 0.60, 0.70))]
    single += [_run("lsoftmax m=4", s, e, 1500) for s, e in enumerate((0.50, 0.52, 0.54))]
    single += [_run("lsoftmax m=2", s, e, 1500) for s, e in enumerate((0.40, 0.41, 0.42))]
    doubled = [_run("softmax", 0, 0.55, 3000), _run("lsoftmax m=4", 0, 0.40, 3000),
               _run("lsoftmax m=2", 0, 0.50, 3000)]  # fmt: skip
    rows = _check(single, doubled)
    # m=4: 0.40 against 0.52 +- 4.303 x 0.02 x sqrt(1 + 1/3) = 0.52 +- 0.099: better, beyond
    m4 = rows["lsoftmax m=4"]
    assert m4["std"] == pytest.approx(0.02) and m4["change"] == pytest.approx(-0.12)
    assert m4["outcome"] == "not converged"
    # m=2: 0.50 against 0.41 +- 0.05: worse, beyond: longer over-fits, it is not under-trained
    assert rows["lsoftmax m=2"]["outcome"] == "longer is worse"
    # softmax: inside, but the check sees only shifts of (4.303 + 1.061) x 0.1 x 1.155 = 0.62
    # against the paper's 0.08: it cannot tell
    soft = rows["softmax"]
    assert soft["detectable"] == pytest.approx(5.364 * 0.1 * math.sqrt(4 / 3), rel=1e-3)
    assert soft["outcome"] == "undecided" and soft["effect"] == pytest.approx(0.08)


def test_converged_needs_the_power_to_see_the_effect():
    seeds = (0.400, 0.401, 0.399, 0.400, 0.402, 0.398)  # std 0.0014: sees shifts of 0.005
    single = [_run("softmax", s, e, 1500) for s, e in enumerate(seeds)]
    single += [_run("lsoftmax m=2", 0, 0.32, 1500)]
    rows = _check(single, [_run("softmax", 0, 0.401, 3000)])
    assert rows["softmax"]["outcome"] == "converged"
    assert rows["softmax"]["detectable"] < rows["softmax"]["effect"] == pytest.approx(0.08)


def test_the_std_pools_the_splits_the_mean_is_the_own_splits_and_diverged_runs_are_out():
    single = [_run("softmax", 0, 1.0, 10, "half1"), _run("softmax", 1, 1.2, 10, "half1"),
              _run("softmax", 0, 9.0, 10, "half2"), _run("softmax", 1, 9.4, 10, "half2"),
              _run("softmax", 2, 50.0, 10, "half1", train_error=95.0)]  # fmt: skip
    (row,) = _check(single, [_run("softmax", 0, 1.1, 20, "half1")]).values()
    assert row["mean"] == pytest.approx(1.1) and row["seeds"] == 2  # the diverged run is out
    pooled = math.sqrt((0.02 + 0.08) / 2)  # the two splits' variances, 1 df each
    assert row["std"] == pytest.approx(pooled) and row["df"] == 2


def test_without_the_single_schedule_the_check_cannot_decide():
    runs = {("cpu", "mnist-x2"): [_run("softmax", 0, 1.1, 20)]}
    (row,) = convergence.check_rows(runs)
    assert row["outcome"] == "not decidable"
    assert "not decidable" in "\n".join(convergence.convergence_lines(runs))
    assert convergence.outcomes(runs) == {("cpu", "mnist", "softmax"): "not decidable"}
