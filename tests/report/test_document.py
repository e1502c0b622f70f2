"""REPORT.md is assembled from saved files alone; verdicts come from a t-test over seeds and
say "not enough results" rather than guess."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paper_repro.report import compute, document
from paper_repro.report.document import Comparison
from paper_repro.results import read_result, write_result
from tests.report.fakes import result_path
from tests.report.test_figures import fake_result, run_name, verification_results


def pooled_t(a, b):
    a, b = np.array(a), np.array(b)
    sp = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1))
                   / (len(a) + len(b) - 2))  # fmt: skip
    return (a.mean() - b.mean()) / (sp * math.sqrt(1 / len(a) + 1 / len(b)))


def test_pooled_t_and_verdicts():
    c = Comparison((1.0, 1.2, 1.7), (0.8, 0.9, 1.0))
    assert c.t == pytest.approx(pooled_t(c.a, c.b)) and c.df == 4
    assert c.verdict() == "inconclusive"  # t = 1.91 < 2.776 for 4 df
    clear = Comparison((1.0, 1.1, 1.2), (0.5, 0.6, 0.7))
    assert clear.t == pytest.approx(pooled_t(clear.a, clear.b)) and clear.t > 2.776
    assert clear.verdict() == "supported (95%)"
    assert Comparison(clear.b, clear.a).verdict() == "contradicted (95%)"
    assert Comparison((1.0,), (0.5, 0.6)).verdict() == "not enough results"
    assert document.t_critical(4) == 2.776 and document.t_critical(11) == 2.228  # conservative
    assert document.t_critical(100) == 1.96


def write_results(root):
    for head, margin, errors in (
        ("softmax", None, [1.0, 1.1, 1.2]),
        ("lsoftmax", 2, [0.5, 0.6, 0.7]),
        ("lsoftmax", 4, [0.6]),
    ):
        for seed, err in enumerate(errors):
            path = result_path("quick", "mnist", run_name(head, margin, seed), root)
            write_result(path, fake_result(head, margin, seed, err))


def test_report_from_saved_files(tmp_path):
    results = tmp_path / "results"
    write_results(results)
    figures_dir = tmp_path / "reports" / "figures"
    figures_dir.mkdir(parents=True)
    for stem in ("fig2-psi", "fig8-errors-quick-mnist"):
        (figures_dir / f"{stem}.png").write_bytes(b"png")
        (figures_dir / f"{stem}.txt").write_text(f"Caption of {stem}.\n")
    out = document.write_report(results, figures_dir,
                                tmp_path / "reports" / "REPORT.md")  # fmt: skip
    text = out.read_text()
    t = pooled_t([1.0, 1.1, 1.2], [0.5, 0.6, 0.7])
    row = next(line for line in text.splitlines() if "softmax - L-Softmax m=2" in line)
    assert "**supported (95%)**" in row and f"t = {t:.2f}" in row and "n = 3 + 3" in row
    for m in (3, 4):  # m=3 has no run, m=4 one seed
        row = next(line for line in text.splitlines() if f"softmax - L-Softmax m={m}" in line)
        assert "**not enough results**" in row
    assert "| 3. LMCL beats softmax" in text and "no results |" in text  # no LFW results
    assert "![fig2-psi](figures/fig2-psi.png)" in text and "Caption of fig2-psi." in text
    assert text.index("fig2-psi.png") < text.index("fig8-errors-quick-mnist.png")
    assert "figure 1, 3, 4, 5, 6, 7" in text  # not drawn: said, never invented
    assert "| softmax | - | 1.10 ± 0.10 (n=3) | 0.40 |" in text  # the table itself
    assert "QUICK profile" in text and "commit: abc123" in text


def test_report_without_results_says_so(tmp_path):
    text = document.render_report(tmp_path / "r", tmp_path / "g", tmp_path)
    for number in (1, 2, 3):
        assert f"| {number}. " in text
    assert text.count("not enough results") == 3
    assert "No training run has finished yet" in text and "every table is empty" in text
    assert "figure 1, 2, 3, 4, 5, 6, 7, 8" in text


def test_verification_claim_uses_each_network_as_a_sample(tmp_path):
    verification_results(tmp_path)  # 2 networks per head; LMCL 98.9 %, softmax 96.9 %
    rows = document.claim_rows(document.saved_runs(tmp_path, profiles=("quick",)))
    (row,) = [r for r in rows if r["claim"] == 3]
    assert (
        row["where"].startswith("lfw (`quick`; L-Softmax Table 5")
        and "n = 2 + 2 runs" in row["evidence"]
    )
    assert "difference +2.000 % accuracy" in row["evidence"]
    assert row["verdict"] == "supported (95%)"
    assert not [r for r in rows if r["claim"] in (1, 2)]  # no classification result here


def test_report_states_training_fit_and_includes_the_lfw_table(tmp_path):
    write_results(tmp_path)  # every fake run's training error is 50 % throughout
    path = result_path("quick", "mnist", run_name("softmax", None, 0), tmp_path)
    result = read_result(path)
    n = len(result["curves"]["train_error"])
    result["curves"]["train_error"] = np.linspace(80.0, 20.0, n).tolist()  # ends at 20 %
    write_result(path, result)
    verification_results(tmp_path)
    for path in (tmp_path / "quick" / "lfw").glob("softmax*.json"):
        result = read_result(path)
        del result["curves"]["train_error"]  # a run that saved no training error
        write_result(path, result)
    text = document.render_report(tmp_path, tmp_path / "g", tmp_path,
                                  profiles=("quick",))  # fmt: skip
    fit = text[text.index("## Training fit") : text.index("## Tables")]
    assert "| softmax | 3 | 40.0 (20.0 - 50.0) |" in fit and "| lsoftmax m=4 | 1 |" in fit
    faces = fit[fit.index("`quick` / lfw") :]
    assert "| lmcl m=0.35 | 2 | 50.0 (50.0 - 50.0) |" in faces
    assert "softmax" not in faces  # no training error saved: nothing is invented
    tables = text[text.index("## Tables") : text.index("## Figures")]
    assert "### LFW face verification" in tables and "### MNIST" in tables


def test_minimum_detectable_effect_is_the_t_sum_times_the_standard_error():
    c = Comparison((1.0, 2.0, 3.0), (2.0, 3.0, 4.0))  # pooled std 1, n = 3 + 3, df 4
    assert c.mde == pytest.approx((2.776 + 0.941) * math.sqrt(2 / 3))
    assert "smallest detectable difference (80% power) 3.035" in c.evidence()


def test_the_interval_is_the_difference_plus_minus_the_critical_t_standard_errors():
    c = Comparison((1.0, 2.0, 3.0), (2.0, 3.0, 4.0))  # difference -1, se sqrt(2/3), df 4
    half = 2.776 * math.sqrt(2 / 3)
    assert c.interval == pytest.approx((-1.0 - half, -1.0 + half), abs=1e-3)
    assert "95% interval [-3.267, +1.267]" in c.evidence()
    # the paper's gain against that interval, in the master table's words (lower error wins)
    outside = document._effect((2.0, 3.0, 4.0), (1.0, 2.0, 3.0), True, paper_gap=1.5)
    assert "the paper's gain of 1.50 lies outside our 95% interval [-3.27, +1.27]" in outside
    assert "lies inside" in document._effect((2.0, 3.0, 4.0), (1.0, 2.0, 3.0), True, 1.0)


def test_master_table_lists_every_paper_cell_with_status_and_direction(tmp_path):
    write_results(tmp_path)
    text = "\n".join(document.master_lines(document.saved_runs(tmp_path)))
    assert "| cifar100 | lsoftmax m=4 | 29.53 | - | data not available offline |" in text
    assert "| cifar10-jpeg | softmax | 9.05 | - | not run yet |" in text
    row = next(line for line in text.splitlines() if line.startswith("| mnist | lsoftmax m=2"))
    assert "measured (quick: convergence not checked)" in row and "smallest detectable" in row
    # softmax 1.1, m=2 0.6: better by 0.50 (the paper: by 0.40 - 0.32 = 0.08)
    assert "better than softmax by 0.50 (paper: better by 0.08, same direction)" in row


def test_a_cell_past_the_cpu_plan_says_so():
    benchmark = {"command": "make bench-train", "bf16_native": True,
                 "rows": [{"network": "table1-cifar10", "images_per_s": {"compiled-bf16": 4000.0}}],
                 "provenance": {"commit": "0123456", "hardware": {"device": "cpu"}}}  # fmt: skip

    def spent(hours):
        return {("cpu", "mnist"): [{"wall_time_s": hours * 3600,
                                    "provenance": {"hardware": {"device": "cpu"}}}]}  # fmt: skip

    needed = compute.hours_needed("cifar10-jpeg+", "cpu", 0, benchmark)
    assert 1.0 < needed < 2.0
    past = document._cost_text("cifar10-jpeg+", spent(7.5), benchmark)
    assert f"needs {needed:.1f} h" in past
    assert "(past the 8 h the profile was planned to fit on a CPU, 7.5 h of which are" in past
    assert "past the" not in document._cost_text("cifar10-jpeg+", spent(6.0), benchmark)
