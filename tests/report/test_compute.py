"""Hours spent come from the results' wall times; hours needed from the runs still missing
over the benchmark's images/s of the variant the runner trains."""

from __future__ import annotations

import pytest

from paper_repro.experiments import EXPERIMENTS
from paper_repro.report import compute


def _benchmark(bf16_native):
    rows = [{"network": "table1-mnist", "images_per_s": {"fp32-cl": 100.0, "bf16-cl": 400.0}}]
    hardware = {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}
    return {"command": "make bench-train", "bf16_native": bf16_native, "rows": rows,
            "provenance": {"commit": "0123456789", "hardware": hardware}}  # fmt: skip


@pytest.mark.parametrize(("native", "speed"), [(True, 400.0), (False, 100.0)])
def test_needed_hours_use_the_runners_precision_and_count_done_runs(native, speed):
    specs = EXPERIMENTS["mnist"].runs("cpu")
    images = specs[0].schedule.iterations * specs[0].schedule.batch_size
    done = {("cpu", "mnist"): [{}] * 2}  # two of the runs saved
    lines = compute.estimate_lines(done, _benchmark(native))
    (row,) = [line for line in lines if line.startswith("| `cpu` / mnist |")]
    hours = (len(specs) - 2) * images / speed / 3600
    assert row == f"| `cpu` / mnist | {len(specs)} (2) | {images:,} | {speed:.0f} | {hours:.1f} |"
    assert any("not benchmarked" in line for line in lines)  # CIFAR's network is not in it


def test_spent_hours_sum_wall_times():
    hardware = {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}
    results = [{"wall_time_s": 1800.0, "images_per_s": 100.0, "precision": "bf16",
                "provenance": {"hardware": hardware}}] * 3  # fmt: skip
    (row,) = compute.spent_lines({("cpu", "lfw"): results})[2:]
    assert row == "| `cpu` / lfw | 3 | 1.50 | 100 | bf16 | Test CPU, 2 cores |"
    assert compute.estimate_lines({}, None)[0].startswith("No training benchmark")
