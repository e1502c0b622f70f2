"""Hours spent come from the results' wall times; hours needed from the runs still missing
over the benchmark's images/s of the variant the runner trains."""

from __future__ import annotations

import pytest

from paper_repro.experiments import EXPERIMENTS
from paper_repro.report import compute


def _benchmark(bf16_native, speeds=None, device="cpu"):
    speeds = speeds or {"fp32-cl": 90.0, "fp32": 100.0, "compiled": 120.0, "bf16": 300.0,
                        "bf16-cl": 350.0, "compiled-bf16": 400.0}  # fmt: skip
    rows = [{"network": "table1-mnist", "images_per_s": speeds}]
    hardware = {"device": device, "cpu": "Test CPU", "cpu_cores": 2}
    return {"command": "make bench-train", "bf16_native": bf16_native, "rows": rows,
            "provenance": {"commit": "0123456789", "hardware": hardware}}  # fmt: skip


@pytest.mark.parametrize(("saved", "speed"), [
    (_benchmark(True), 400.0),  # CPU, native bf16, compiled: what make reproduce trains
    (_benchmark(False), 120.0),  # CPU without native bf16: fp32, compiled
    (_benchmark(False, {"fp32": 100.0, "fp32-cl": 90.0}), 100.0),  # no compiled variant: eager
    (_benchmark(True, {"bf16-cl": 350.0, "fp32": 1.0}), 350.0),  # an older benchmark
    (_benchmark(True, device="cuda"), 400.0),  # CUDA compiles too
    (_benchmark(True, {"bf16-cl": 350.0, "bf16": 300.0}, "cuda"), 350.0),  # eager: channels_last
])  # fmt: skip
def test_needed_hours_use_what_the_runner_trains_and_count_done_runs(saved, speed):
    specs = EXPERIMENTS["mnist"].runs("cpu")
    images = specs[0].schedule.iterations * specs[0].schedule.batch_size
    done = {("cpu", "mnist"): [{}] * 2}  # two of the runs saved
    lines = compute.estimate_lines(done, saved)
    (row,) = [line for line in lines if line.startswith("| `cpu` / mnist |")]
    hours = (len(specs) - 2) * images / speed / 3600
    assert row == f"| `cpu` / mnist | {len(specs)} (2) | {images:,} | {speed:.0f} | {hours:.1f} |"
    assert any("not benchmarked" in line for line in lines)  # CIFAR's network is not in it


def test_spent_hours_sum_wall_times():
    hardware = {"device": "cpu", "cpu": "Test CPU", "cpu_cores": 2}
    results = [{"wall_time_s": 1800.0, "images_per_s": 100.0, "precision": "bf16",
                "provenance": {"hardware": hardware}}] * 3  # fmt: skip
    row = compute.spent_lines({("cpu", "lfw"): results})[2]
    assert row == "| `cpu` / lfw | 3 | 1.50 | 100 | bf16 | Test CPU, 2 cores |"
    assert compute.estimate_lines({}, None)[0].startswith("No training benchmark")
    assert "No GPU training benchmark saved yet" in "\n".join(compute.compute_lines({}, None))
    assert not any("JOBS" in line for line in compute.spent_lines({("cpu", "lfw"): results}))


def test_runs_trained_several_at_once_say_so():
    hardware = {"device": "cuda", "gpu": "Test GPU"}
    results = [{"wall_time_s": 600.0, "images_per_s": 9000.0, "precision": "bf16",
                "command": "make reproduce-cifar10-jpeg PROFILE=cpu JOBS=8",
                "provenance": {"hardware": hardware}}] * 8  # fmt: skip
    lines = compute.spent_lines({("cpu", "cifar10-jpeg"): results})
    assert lines[2] == "| `cpu` / cifar10-jpeg | 8 | 1.33 | 9000 | bf16 | Test GPU |"
    assert any("JOBS=8 trained that many at once" in line for line in lines)


def test_the_cpu_budget_counts_cpu_profile_runs_on_cpus_only():
    def saved(device, hours, n):
        return [{"wall_time_s": hours * 3600, "provenance": {"hardware": {"device": device}}}] * n

    runs = {
        ("cpu", "mnist"): saved("cpu", 0.5, 3),
        ("cpu", "cifar10-jpeg"): saved("cuda", 2, 8),
        ("quick", "lfw"): saved("cpu", 1, 2),
        ("cpu", "lfw"): saved("cpu", 0.25, 2),
    }
    line = compute.budget_line(runs)
    assert "Its runs on CPUs took 2.0 h (mnist 1.5 h, lfw 0.5 h)" in line
    assert f"about {compute.CPU_BUDGET_HOURS:.0f} hours" in line
    assert compute.spent_lines(runs)[-1] == line
    assert "the rest ran on a GPU" in line
    del runs[("cpu", "cifar10-jpeg")]
    assert "the rest ran on a GPU" not in compute.budget_line(runs)  # no GPU run
