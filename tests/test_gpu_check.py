"""The parts of `make gpu-check` that can run without a GPU."""

from __future__ import annotations

import argparse

import torch

from paper_repro import gpu_check
from paper_repro.runner import FiniteWatch


def test_step_syncs_times_both_variants_and_restores_the_watch(tiny_data, monkeypatch):
    monkeypatch.setattr(gpu_check, "Catalog", lambda root: tiny_data)
    args = argparse.Namespace(data_root=None)
    out = gpu_check.step_syncs(args, device="cpu", iterations=4)
    assert set(out) == {"as trained", "one sync per step"}
    assert all(v["ms_per_step"] > 0 and v["syncs_in_run"] == 0 for v in out.values())
    assert FiniteWatch.observe is gpu_check.FiniteWatch.observe
    watch = FiniteWatch("cpu")
    watch.observe(torch.ones(2, 3), torch.tensor(float("nan")), 7)
    assert watch.first.tolist() == [FiniteWatch.NEVER, 7]  # the unpatched observe


def test_loss_head_bench_writes_the_selected_rows(tmp_path):
    """The CUDA step, run on two CPU cases instead: a report with their rows and ratios."""
    out = tmp_path / "heads.md"
    select = "test_head and cifar and cpu and float32 and typical and lmcl and not bdlmcl"
    written = gpu_check.loss_head_bench(argparse.Namespace(), select=select, out=out)
    table = out.read_text()
    assert written["written"].endswith("heads.md") and out.with_suffix(".json").exists()
    assert "| cifar (256, 256, 10) | cpu | float32 | lmcl |" in table
    assert "face (" not in table  # not selected
    try:
        gpu_check.loss_head_bench(argparse.Namespace(), select="no_such_case", out=out)
    except RuntimeError as exc:
        assert "pytest exit" in str(exc)  # nothing ran: an error, not an empty report
    else:
        raise AssertionError("an empty selection must fail")


def test_compiled_loss_and_network_agree_with_eager_and_a_planted_gap_fails(monkeypatch):
    """The CUDA steps' comparisons, run on the CPU's inductor for one head and one network."""
    args = argparse.Namespace()
    out = gpu_check.compiled_loss_equals_eager(args, "cpu", heads=("lmcl",))
    gaps = out["max |compiled - eager| / tolerance"]
    assert set(gaps) == {"lmcl fp32", "lmcl bf16"} and max(gaps.values()) <= 1
    out = gpu_check.compiled_network_equals_eager(args, "cpu", networks=("table1-mnist",))
    assert max(out["max |compiled - eager| / tolerance"].values()) <= 1

    def off_by_a_percent(net):  # a compiled network whose features are 1% too large
        compiled = gpu_check.compile_network(net)
        return lambda x: 1.01 * compiled(x)

    monkeypatch.setattr(gpu_check, "compile_network", off_by_a_percent)
    try:
        gpu_check.compiled_network_equals_eager(args, "cpu", networks=("table1-mnist",))
    except RuntimeError as exc:
        assert "table1-mnist (fp32): compiled differs from eager" in str(exc)
    else:
        raise AssertionError("a 1% gap must fail the check")
