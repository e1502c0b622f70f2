"""Verdicts only between heads that fit, without diverged runs, never on an unconverged
schedule; LFW compared per split and seed."""

from __future__ import annotations

import pytest

from paper_repro.report import verdicts
from paper_repro.report.statistics import Comparison, Paired


def _run(label, seed, error, train_error=0.5, split=None, experiment="mnist"):
    head, _, m = label.partition(" m=")
    return {"head": head, "head_label": label, "margin": float(m) if m else None, "seed": seed,
            "split": split, "evaluator": "classification", "experiment": experiment,
            "order": 0 if head == "softmax" else float(m),
            "metrics": {"test_error": error}, "config": {"train_classes": 10},
            "curves": {"train_error": [train_error]}}  # fmt: skip


def _face(label, split, seed, accuracy, train_error=0.0):
    r = _run(label, seed, None, train_error, split, "lfw")
    r["evaluator"] = "verification"
    r["config"]["train_classes"] = 801
    r["metrics"] = {"roc": {"fpr": [0, 1], "tpr": [0, 1]},
                    "fold_accuracy": {"1": accuracy - 0.5, "2": accuracy + 0.5}}  # fmt: skip
    return r


def _by_claim(runs, checks=None):
    return {v.claim.key: v for v in verdicts.verdicts(runs, checks or {})}


def test_a_clear_gain_is_supported_and_carries_the_paper_gain():
    runs = [_run("softmax", s, e) for s, e in enumerate((1.0, 1.1, 1.2))]
    runs += [_run("lsoftmax m=2", s, e) for s, e in enumerate((0.5, 0.6, 0.7))]
    v = _by_claim({("cpu", "mnist"): runs})["m2-beats-softmax"]
    assert v.verdict == "supported" and v.gain == pytest.approx(0.5)
    assert v.paper_gain == pytest.approx(0.08)  # 0.40 - 0.32
    assert "detects ≥" in v.reason


def test_an_unfit_head_gets_no_verdict_and_a_diverged_run_is_left_out():
    runs = [_run("softmax", s, e) for s, e in enumerate((1.0, 1.1, 1.2))]
    runs += [_run("lsoftmax m=2", s, e) for s, e in enumerate((0.5, 0.6, 0.7))]
    runs += [_run("lsoftmax m=2", 3, 60.0, train_error=88.0)]  # diverged: near chance (90)
    runs += [_run("lsoftmax m=4", 0, 0.5, train_error=20.0),  # unfit: 19.5 above softmax
             _run("lsoftmax m=4", 1, 0.4)]  # fmt: skip
    found = _by_claim({("cpu", "mnist"): runs})
    m2, m4 = found["m2-beats-softmax"], found["m4-beats-softmax"]
    assert m2.better.values == (0.5, 0.6, 0.7) and m2.verdict == "supported"
    assert m2.better.named("diverged") == ["seed 3 (88.0% training error)"]
    assert m4.verdict == "no verdict" and "lsoftmax m=4 did not fit (1 of 2 runs)" in m4.reason
    assert found["m4-beats-m2"].verdict == "no verdict"


def test_an_unconverged_schedule_withdraws_the_verdict():
    runs = [_run("softmax", s, e) for s, e in enumerate((1.0, 1.1, 1.2))]
    runs += [_run("lsoftmax m=2", s, e) for s, e in enumerate((0.5, 0.6, 0.7))]
    checks = {("cpu", "mnist", "lsoftmax m=2"): "not converged",
              ("cpu", "mnist", "softmax"): "undecided"}  # fmt: skip
    v = _by_claim({("cpu", "mnist"): runs}, checks)["m2-beats-softmax"]
    assert v.verdict == "withdrawn" and "lsoftmax m=2 not converged" in v.reason
    assert v.convergence == "not converged"
    checks[("cpu", "mnist", "lsoftmax m=2")] = "undecided"
    v = _by_claim({("cpu", "mnist"): runs}, checks)["m2-beats-softmax"]
    assert v.verdict == "supported" and v.convergence == "undecided"  # stands, flagged


def test_lfw_pairs_networks_by_split_and_seed():
    runs = []
    for split, level in (("half1", 80.0), ("half2", 85.0)):  # the split moves both heads
        for seed in (0, 1):
            runs += [_face("softmax", split, seed, level + 0.1 * seed),
                     _face("lmcl m=0.35", split, seed, level + 1.0 + 0.2 * seed)]  # fmt: skip
    runs.append(_face("lmcl m=0.35", "half1", 2, 50.0, train_error=99.9))  # diverged, no pair
    v = _by_claim({("cpu", "lfw"): runs})["cosface-beats-softmax"]
    assert isinstance(v.test, Paired) and len(v.test.pairs) == 4
    assert v.test.differences == pytest.approx((1.0, 1.1, 1.0, 1.1))
    assert v.verdict == "supported"
    unpaired = Comparison(tuple(a for a, _ in v.test.pairs), tuple(b for _, b in v.test.pairs))
    assert unpaired.verdict() == "inconclusive"  # the 5-point gap between splits hides it
    assert v.paper_gain == pytest.approx(99.33 - 97.88)


def test_the_headline_is_the_longest_schedule_measured():
    runs = [_run("softmax", s, e) for s, e in enumerate((1.0, 1.1, 1.2))]
    runs += [_run("lsoftmax m=2", s, e) for s, e in enumerate((0.5, 0.6, 0.7))]
    found = verdicts.verdicts({("quick", "mnist"): runs, ("cpu", "mnist"): runs}, {})
    assert {v.profile for v in verdicts.headline(found)} == {"cpu"}
