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
    assert "MNIST 3,000 iterations (1/6 of 18,000)" in text


def test_the_annealing_line_follows_each_runs_schedule(monkeypatch):
    """The compression of L-Softmax's lambda decay is read from the runs that train it, per
    dataset; a study (its own line) and a doubling check are left out."""
    text = "\n".join(deviations.deviation_lines())
    cpu = experiments.SCHEDULES["cpu"].iterations
    assert f"{18_000 / cpu:.3g}x (`mnist`)" in text and "11.7x (`lfw`)" in text
    mnist = experiments.EXPERIMENTS["mnist"]

    def longer(exp, profile):
        return [replace(r, schedule=replace(r.schedule, iterations=3000)) for r in
                mnist.builder(exp, profile)]  # fmt: skip

    patched = {"mnist": replace(mnist, builder=longer)}
    monkeypatch.setattr(deviations, "EXPERIMENTS", patched)
    line = next(x for x in deviations.deviation_lines() if "`cpu` lambda annealing" in x)
    assert "6x (`mnist`)" in line and "lfw" not in line
