"""The fit rule: a run far above softmax's training error did not fit; one near chance or
with a non-finite loss diverged."""

from __future__ import annotations

import math

from paper_repro.report import fit


def run(head, error, classes=10, loss=0.1, label=None, seed=0, split=None):
    return {"head": head, "head_label": label or head, "seed": seed, "split": split,
            "config": {"train_classes": classes},
            "curves": {"train_error": [50.0, error], "train_loss": [2.0, loss]}}  # fmt: skip


def test_statuses_against_softmax_and_chance():
    runs = [run("softmax", 1.0), run("softmax", 3.0),  # reference: 2.0
            run("lsoftmax", 12.0), run("lsoftmax", 12.5), run("lsoftmax", 81.0),
            run("lsoftmax", 5.0, loss=math.nan)]  # fmt: skip
    assert fit.softmax_reference(runs) == 2.0
    # 12.0 is 10 points above 2.0 (fit), 12.5 above that (unfit); 81 = 0.9 x 90 (chance)
    assert fit.statuses(runs) == ["fit", "fit", "fit", "unfit", "diverged", "diverged"]


def test_chance_follows_the_class_count():
    # 801 identities: chance 99.88 %, so 85 % is poor but not 'learned nothing'
    many = [run("softmax", 0.0, 801), run("arcface", 85.0, 801), run("arcface", 94.0, 801)]
    assert fit.statuses(many) == ["fit", "unfit", "diverged"]


def test_without_a_softmax_run_the_margin_is_absolute_and_no_curve_is_unknown():
    alone = [run("lmcl", 9.0), run("lmcl", 11.0), {**run("lmcl", 0.0), "curves": {}}]
    assert fit.statuses(alone) == ["fit", "unfit", "unknown"]


def test_the_sentence_names_each_unfit_and_diverged_run():
    runs = [run("softmax", 0.0), run("asoftmax", 98.6, 801, label="asoftmax m=4", seed=1,
                                     split="half1"),
            run("lsoftmax", 13.1, label="lsoftmax m=4", split="half2")]  # fmt: skip
    text = fit.unfit_sentence(runs)
    assert "asoftmax m=4 (half1, seed 1: 98.6% training error, diverged)" in text
    assert "lsoftmax m=4 (half2, seed 0: 13.1% training error, unfit)" in text
    assert "softmax (" not in text and fit.unfit_sentence(runs[:1]) == ""
