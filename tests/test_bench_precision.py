"""The precision check compares like with like and reports what its test could detect."""

from __future__ import annotations

import math

from paper_repro import bench_precision
from paper_repro.checkpoints import identity


def test_runs_differ_only_in_precision():
    runs = bench_precision.precision_runs()
    assert set(runs) == {"fp32", "bf16"}
    for fp32, bf16 in zip(runs["fp32"], runs["bf16"], strict=True):
        a, b = identity(fp32), identity(bf16)
        assert (a.pop("precision"), b.pop("precision")) == ("fp32", "bf16")
        assert a == b
    assert [r.seed for r in runs["bf16"]] == [0, 1, 2]


def _result(error, seed, precision):
    return {"metrics": {"test_error": error, "test_images": 10_000}, "images_per_s": 100.0,
            "seed": seed,
            "wall_time_s": 60.0, "config": {"schedule": {"iterations": 200, "batch_size": 256}},
            "provenance": {"commit": "abc", "hardware": {"device": "cpu", "cpu": "x",
                           "cpu_cores": 2, "bf16_native": True},
                           "software": {"torch": "2.13"}}}  # fmt: skip


def test_comparison_against_a_hand_computed_t_test():
    fp32, bf16 = (1.0, 1.2, 1.4), (1.1, 1.3, 1.5)
    results = {"fp32": [_result(e, s, "fp32") for s, e in enumerate(fp32)],
               "bf16": [_result(e, s, "bf16") for s, e in enumerate(bf16)]}  # fmt: skip
    summary = bench_precision.compare(results)
    # both groups have std 0.2: pooled 0.2, se 0.2 sqrt(2/3), t = 0.1 / se = 0.612
    assert math.isclose(summary["difference"], 0.1)
    assert "t = 0.61" in summary["evidence"] and summary["verdict"] == "inconclusive"
    # (t_0.975,4 + t_0.80,4) se = (2.776 + 0.941) * 0.1633
    assert math.isclose(summary["mde"], (2.776 + 0.941) * 0.2 * math.sqrt(2 / 3), rel_tol=1e-3)
    text = bench_precision.render(summary, results, "make bench-precision")
    assert "| bf16 | 1.10, 1.30, 1.50 | 1.30 ± 0.20 |" in text
    assert f"below {summary['mde']:.2f} points could not have been detected with 3 seeds" in text
    assert "no difference found" in text and "10,000 test images" in text
