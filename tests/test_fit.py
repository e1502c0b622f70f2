"""The fit rule: a run far above softmax's training error did not fit; one near chance or
with a non-finite loss diverged."""

from __future__ import annotations

import math

from paper_repro import fit


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


def test_every_run_ends_with_its_fit_against_the_softmax_runs_beside_it(tmp_path, capsys):
    from paper_repro.results import write_result
    from paper_repro.runner import fit_check
    from tests.report.figure_fakes import fake_result

    softmax = fake_result("softmax", None, 0, 1.0)
    softmax.update(dataset="mnist", curves={"train_error": [1.0]},
                   config={"train_classes": 10})  # fmt: skip
    write_result(tmp_path / "quick" / "mnist" / "softmax-seed0.json", softmax)
    lam = {"base": 1000.0, "gamma": 0.1, "power": 1.0, "lam_min": 5.0}
    margin = {**softmax, "head": "lsoftmax", "head_label": "lsoftmax m=4",
              "hyper": {"m": 4, "lam": lam},
              "curves": {"train_error": [25.0], "train_loss": [0.9]}}  # fmt: skip
    out = fit_check(margin, tmp_path)
    assert out["status"] == "unfit" and out["softmax"] == 1.0 and out["train_error"] == 25.0
    line = capsys.readouterr().err.strip()
    assert line.count("\n") == 0 and "lsoftmax m=4 did not fit: 25.0% training error" in line
    assert "softmax's 1.0%" in line and "LAMBDA_MIN=10; this run had 5" in line
    fine = {**margin, "curves": {"train_error": [3.0]}}
    assert fit_check(fine, tmp_path) == {"status": "fit", "train_error": 3.0, "softmax": 1.0}
    assert capsys.readouterr().err == ""
    other = {**margin, "dataset": "folder:/elsewhere"}  # another dataset: no softmax to compare
    assert fit_check(other, tmp_path)["softmax"] is None
    alone = {**softmax, "curves": {"train_error": [30.0]}}  # softmax is held to itself
    assert fit_check({**alone, "dataset": "x"}, tmp_path)["status"] == "fit"


def test_a_smoke_run_is_too_short_to_judge_and_a_diverged_run_is_told_so():
    assert fit.status({**run("lsoftmax", 85.0), "profile": "smoke"}, 0.0) == "unknown"
    gone = {**run("lmcl", 95.0, 801), "head_label": "lmcl m=0.35"}
    text = fit.advice({**gone, "hyper": {"s": 64.0, "m": 0.35}}, "diverged", 0.0)
    assert text.startswith("lmcl m=0.35 diverged: 95.0% training error at the end, near chance")
    assert "PROFILE=cpu" in text and "LAMBDA_MIN" not in text  # no lambda on LMCL


def test_the_softmax_bar_is_the_paper_recipes_runs_that_did_not_diverge():
    def run(error, **extra):
        return {"head": "softmax", "curves": {"iteration": [1], "train_error": [error]},
                **extra}  # fmt: skip

    he = {"name": "paper", "init": "he", "decay": "all", "variant": "init-he"}
    own = {"name": "paper", "init": "pytorch", "decay": "all", "variant": "data-0123abcd"}
    results = [run(1.0), run(3.0, recipe=own), run(80.0, recipe=he),
               run(85.0, diverged={"iteration": 17})]  # fmt: skip
    assert fit.softmax_reference(results) == 2.0
