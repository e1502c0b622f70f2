"""REPORT.md answers on its first screen, from saved files alone; its detail goes to the
experiment pages."""

from __future__ import annotations

import re

from paper_repro.papers import NOT_REPRODUCED
from paper_repro.report import compute, document
from paper_repro.results import write_result
from tests.report.fakes import result_path
from tests.report.figure_fakes import fake_result, run_name, verification_results

FIRST_SCREEN = 50  # lines


def write_results(root):
    for head, margin, errors in (
        ("softmax", None, [1.0, 1.1, 1.2]),
        ("lsoftmax", 2, [0.5, 0.6, 0.7]),
        ("lsoftmax", 4, [0.6]),
    ):
        for seed, err in enumerate(errors):
            path = result_path("quick", "mnist", run_name(head, margin, seed), root)
            write_result(path, fake_result(head, margin, seed, err))


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_the_first_screen_answers(tmp_path):
    results = tmp_path / "results"
    write_results(results)
    out = tmp_path / "reports" / "REPORT.md"
    written = document.write_report(results, tmp_path / "figures", out)
    text = out.read_text()
    first = text.splitlines()[:FIRST_SCREEN]
    screen = "\n".join(first)
    assert "**Bottom line.**" in screen and "**Reproduced:**" in screen
    assert '"L-Softmax m=2 beats softmax" on MNIST' in screen  # the one supported claim
    assert "**Not tried:**" in screen and all(n.what in screen for n in NOT_REPRODUCED)
    row = next(line for line in first if "L-Softmax m=2 beats softmax |" in line)
    assert "**supported** †" in row and "+0.50" in row and "+0.08" in row
    assert "(`quick`, 3)" in row and "experiments/quick-mnist.md" in row
    m4 = next(line for line in first if "L-Softmax m=4 beats softmax |" in line)
    assert "not enough runs" in m4
    table = [line for line in first if line.startswith("| [")]
    assert table and max(len(c) for line in table for c in _cells(line)) <= 120
    # the evidence behind it: a page per experiment, linked from the row
    page = out.parent / "experiments" / "quick-mnist.md"
    assert page in written
    evidence = page.read_text()
    assert "t = " in evidence and "smallest detectable difference" in evidence
    assert "Provenance" in evidence and "commit: abc123" in evidence


def test_report_without_results_says_so(tmp_path):
    text = document.render_report(tmp_path / "r", tmp_path / "g", tmp_path)
    assert "No results yet: no claim can be tested." in text
    assert "figure 1, 2, 3, 4, 5, 6, 7, 8" in text


def test_lfw_verdicts_pair_networks_and_the_report_says_how_many(tmp_path):
    verification_results(tmp_path)  # 2 networks a head, one per split; LMCL +2 points
    text = document.render_report(tmp_path, tmp_path / "g", tmp_path, profiles=("quick",))
    row = next(line for line in text.splitlines() if "LMCL beats softmax |" in line)
    assert "(`quick`, 2)" in row and "+2.00" in row


def test_the_committed_report_stays_short():
    text = document.render_report()
    assert len(re.findall(r"\S+", text)) < 5000
    first = text.splitlines()[:FIRST_SCREEN]
    assert any(line.startswith("**Bottom line.**") for line in first)
    cells = [c for line in first if line.startswith("| [") for c in _cells(line)]
    assert cells and max(map(len, cells)) <= 120


def test_unreproduced_cells_carry_their_cost():
    benchmark = {"command": "make bench-train", "bf16_native": True,
                 "rows": [{"network": "table1-cifar10", "images_per_s": {"compiled-bf16": 4000.0}}],
                 "provenance": {"commit": "0123456", "hardware": {"device": "cpu", "cpu": "X",
                                                                  "cpu_cores": 2}}}  # fmt: skip
    lines = document.not_reproduced_lines({}, benchmark, None)
    row = next(line for line in lines if line.startswith("| CIFAR-10 and CIFAR-10+"))
    cpu = compute.hours_needed("cifar10", "cpu", 0, benchmark)
    assert f"`cpu`: {cpu:.1f} / not benchmarked" in row
    assert "| CIFAR-100 |" in "\n".join(lines) and "not benchmarked / not benchmarked" in (
        "\n".join(lines)
    )
