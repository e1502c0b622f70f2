"""The doubling check says 'converged' only when doubling moved seed 0's number by less than
the seeds' own spread on the same split."""

from __future__ import annotations

import statistics

import pytest

from paper_repro.report.convergence import check_rows, convergence_lines


def _run(head, seed, error, iterations, split=None):
    return {"head_label": head, "seed": seed, "split": split, "evaluator": "classification",
            "metrics": {"test_error": error},
            "config": {"schedule": {"iterations": iterations}}}  # fmt: skip


def test_change_is_judged_against_the_between_seed_std():
    single = [_run("softmax", s, e, 1500) for s, e in enumerate((0.50, 0.60, 0.70))]
    single += [_run("lsoftmax m=4", s, e, 1500) for s, e in enumerate((0.50, 0.52, 0.54))]
    doubled = [_run("softmax", 0, 0.55, 3000), _run("lsoftmax m=4", 0, 0.47, 3000)]
    rows = {r["head"]: r for r in check_rows({("cpu", "mnist"): single,
                                              ("cpu", "mnist-x2"): doubled})}  # fmt: skip
    soft, margin = rows["softmax"], rows["lsoftmax m=4"]
    assert soft["change"] == pytest.approx(0.05)
    assert soft["seed_std"] == pytest.approx(statistics.stdev((0.50, 0.60, 0.70)))  # 0.10
    assert soft["converged"] is True
    assert margin["change"] == pytest.approx(-0.03) and margin["seed_std"] == pytest.approx(0.02)
    assert margin["converged"] is False
    text = "\n".join(convergence_lines({("cpu", "mnist"): single, ("cpu", "mnist-x2"): doubled}))
    assert "| +0.05 | 0.100 (3) | yes (std of 3 seeds) |" in text
    assert "| -0.03 | 0.020 (3) | **no** (std of 3 seeds) |" in text


def test_other_splits_and_missing_runs_are_not_used():
    single = [_run("softmax", 0, 1.0, 10, "half1"), _run("softmax", 1, 1.2, 10, "half1"),
              _run("softmax", 0, 9.0, 10, "half2")]  # fmt: skip
    doubled = [_run("softmax", 0, 1.1, 20, "half1")]
    (row,) = check_rows({("cpu", "mnist"): single, ("cpu", "mnist-x2"): doubled})
    assert row["seeds"] == 2 and row["seed_std"] == pytest.approx(statistics.stdev((1.0, 1.2)))
    (alone,) = check_rows({("cpu", "mnist-x2"): doubled})
    assert "converged" not in alone and "single" not in alone
    assert "not decidable" in "\n".join(convergence_lines({("cpu", "mnist-x2"): doubled}))


def test_master_table_status_carries_the_doubling_verdict():
    from paper_repro.report.document import master_lines

    single = [_run("softmax", s, e, 1500) for s, e in enumerate((0.50, 0.60, 0.70))]
    single += [_run("lsoftmax m=4", s, e, 1500) for s, e in enumerate((0.50, 0.52, 0.54))]
    doubled = [_run("softmax", 0, 0.55, 3000), _run("lsoftmax m=4", 0, 0.47, 3000)]
    lines = master_lines({("cpu", "mnist"): single, ("cpu", "mnist-x2"): doubled}, ("cpu",))
    rows = {line.split(" | ")[1]: line for line in lines if line.startswith("| mnist |")}
    # each head's own check: softmax moved +0.05 against a seed std of 0.10, m=4 -0.03 against
    # 0.02; m=2 has results and no doubled run
    assert "measured (cpu: converged (doubling check: +0.05 at 2x))" in rows["softmax"]
    assert "cpu: **not converged** (doubling check: -0.03 at 2x)" in rows["lsoftmax m=4"]
    assert "| - | not run yet" in rows["lsoftmax m=2"]
    assert not any(line.startswith("| mnist-x2 |") for line in lines)  # not a paper cell


def test_verdicts_on_heads_whose_schedule_did_not_converge_are_withdrawn():
    """lsoftmax m=4 moved by more than its seeds' spread when doubled: every test that
    compares it is withdrawn (its reading kept), the m=2 test stands."""
    from paper_repro.report.document import claim_rows, master_lines

    def run(head, margin, seed, error, iterations):
        label = head if margin is None else f"{head} m={margin}"
        return {**_run(label, seed, error, iterations), "head": head, "margin": margin}

    single = [run("softmax", None, s, e, 1500) for s, e in enumerate((0.50, 0.60, 0.70))]
    single += [run("lsoftmax", 2, s, e, 1500) for s, e in enumerate((0.40, 0.45, 0.50))]
    single += [run("lsoftmax", 4, s, e, 1500) for s, e in enumerate((0.50, 0.52, 0.54))]
    doubled = [run("softmax", None, 0, 0.55, 3000), run("lsoftmax", 4, 0, 0.47, 3000)]
    runs = {("cpu", "mnist"): single, ("cpu", "mnist-x2"): doubled}
    verdicts = {r["measure"]: r for r in claim_rows(runs)}
    m4 = verdicts["softmax - L-Softmax m=4 test error"]
    m2 = verdicts["softmax - L-Softmax m=2 test error"]
    assert m4["verdict"] == "withdrawn"
    assert "not converged for lsoftmax m=4" in m4["evidence"] and "as measured: " in m4["evidence"]
    assert verdicts["L-Softmax m=2 - m=4 test error"]["verdict"] == "withdrawn"
    assert m2["verdict"] == "inconclusive" and "not converged" not in m2["evidence"]
    lines = master_lines(runs, ("cpu",))
    (row4,) = [line for line in lines if line.startswith("| mnist | lsoftmax m=4 |")]
    (row2,) = [line for line in lines if line.startswith("| mnist | lsoftmax m=2 |")]
    assert "cpu: verdict withdrawn (the doubling check found" in row4
    assert "withdrawn" not in row2
