"""The deviations list is read from the run lists: change a schedule and the text follows."""

from __future__ import annotations

from dataclasses import replace

from paper_repro import experiments
from paper_repro.report import deviations


def test_numbers_come_from_the_run_lists(monkeypatch):
    text = "\n".join(deviations.deviation_lines())
    cpu = experiments.SCHEDULES["cpu"]
    assert (
        f"MNIST {cpu.iterations:,} iterations (1/{18_000 / cpu.iterations:.3g} of 18,000)" in text
    )
    assert "lambda_min 5 for L-Softmax" in text and "without arcface" in text
    longer = {**experiments.SCHEDULES, "cpu": replace(cpu, iterations=3000)}
    monkeypatch.setattr(deviations, "SCHEDULES", longer)
    text = "\n".join(deviations.deviation_lines())
    assert "MNIST 3,000 iterations (1/6 of 18,000)" in text and "6x faster on MNIST" in text
