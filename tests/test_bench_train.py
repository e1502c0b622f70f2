"""The training benchmark measures what it names and judges the targets from its own rows."""

from __future__ import annotations

import pytest
import torch

from paper_repro import bench_train
from paper_repro.models import make_network


def test_variants_time_the_same_network_in_each_setting():
    runs, notes = bench_train.variants("face-smoke", 4, False, "cpu")
    assert [v.name for v in runs] == ["baseline", "fp32", "fp32-cl", "bf16", "bf16-cl"]
    settings = [(v.precision, v.channels_last) for v in runs]
    assert settings == [("fp32", False), ("fp32", False), ("fp32", True), ("bf16", False),
                        ("bf16", True)]  # fmt: skip
    assert notes == {}
    row = bench_train.measure("face-smoke", 4, 2, False)
    assert row["vs_baseline"]["baseline"] == 1.0
    assert row["best"] != "baseline" and row["floor"]["variant"] == row["best"]
    for name, speed in row["images_per_s"].items():
        assert row["vs_baseline"][name] == pytest.approx(speed / row["images_per_s"]["baseline"])


def _row(network, best_ratio):
    # the target is judged against fp32-cl, not the (slower) NCHW baseline
    speeds = {"baseline": 80.0, "fp32-cl": 100.0, "compiled-bf16": 100.0 * best_ratio}
    return {"network": network, "batch": 256, "rounds": 3, "images_per_s": speeds,
            "vs_baseline": {k: v / 80.0 for k, v in speeds.items()}, "best": "compiled-bf16",
            "floor": {"variant": "compiled-bf16", "images_per_s": 500.0},
            "share_of_floor": speeds["compiled-bf16"] / 500.0,
            "target": bench_train.TARGETS.get(network), "target_base": "fp32-cl",
            "compile_s": {"compiled": 12.0}}  # fmt: skip


def test_render_judges_each_target_from_the_measured_ratio():
    hardware = {"cpu": "Test CPU", "cpu_cores": 2, "torch_threads": 2,
                "cpu_capability": "AVX512", "bf16_native": True}  # fmt: skip
    prov = {"hardware": hardware, "commit": "abc",
            "software": {"torch": "2.13", "python": "3.11"}}  # fmt: skip
    text = bench_train.render([_row("table1-mnist", 4.5), _row("table1-cifar10", 2.0)], prov,
                              "make bench-train", 60.0)  # fmt: skip
    assert "4x fp32-cl: met (4.50x)" in text and "3x fp32-cl: missed (2.00x)" in text
    assert "`compiled` 12 s" in text
    on_gpu = {**prov, "hardware": {**hardware, "gpu": "Test GPU"}}
    text = bench_train.render([_row("table1-mnist", 4.5)], on_gpu, "make gpu-check", 60.0)
    assert "fp32-cl: met" not in text and text.rstrip().count("| - |") >= 1  # CPU targets


def test_the_floor_of_a_compiled_step_is_compiled(monkeypatch):
    compiled = []
    monkeypatch.setattr(torch, "compile", lambda net, **options: compiled.append(net) or net)
    for name, want in (("bf16-cl", []), ("compiled-bf16", ["floor"])):
        fastest = bench_train.Variant(name, make_network("face-smoke"), "bf16", False, 2, "cpu")
        floor = bench_train.floor_variant("face-smoke", fastest, 2, "cpu")
        assert ["floor" for net in compiled if net is floor.net] == want
        assert floor.precision == "bf16" and not floor.channels_last


def test_flops_per_image_count_the_convolutions_forward_and_backward(monkeypatch):
    """One 3x3 convolution, 8 -> 16 channels on 10x10: 2 x 9 x 8 x 16 x 100 FLOPs forward, as
    many again for its weight's gradient (the image itself needs none, as in training)."""

    class OneConv(torch.nn.Conv2d):
        input_shape = (8, 10, 10)

    monkeypatch.setattr(bench_train, "make_network", lambda name: OneConv(8, 16, 3, padding=1))
    assert bench_train.flops_per_image("one-conv", batch=2) == 2 * (2 * 9 * 8 * 16 * 100)


def test_the_share_of_the_bf16_peak_is_images_times_flops_over_the_peak():
    hardware = {"cpu": "Host", "cpu_cores": 16, "torch_threads": 16, "cpu_capability": "AVX512",
                "bf16_native": True, "gpu": "NVIDIA H200"}  # fmt: skip
    prov = {"hardware": hardware, "commit": "abc",
            "software": {"torch": "2.13", "python": "3.11"}}  # fmt: skip
    row = {**_row("table1-cifar10", 2.0), "flops_per_image": 1.6e9}
    text = bench_train.render([row], prov, "make gpu-check", 60.0)
    best = row["images_per_s"]["compiled-bf16"]
    assert f"| 1.60 | {100 * best * 1.6e9 / 989e12:.1f}% |" in text
    assert "H200's dense bf16 peak of 989 TFLOP/s" in text
    assert bench_train.bf16_peak("Tesla T4") is None
