"""The parts of `make gpu-check` that can run without a GPU."""

from __future__ import annotations

import argparse

import torch

from paper_repro import gpu_check
from paper_repro.monitoring import FiniteWatch


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


def test_compiled_loss_and_network_are_held_to_exact_and_a_planted_error_fails(monkeypatch):
    """The CUDA steps' comparisons, run on the CPU's inductor for one head and one network."""
    args = argparse.Namespace()
    out = gpu_check.compiled_loss_equals_eager(args, "cpu", heads=("lmcl",))
    errors = out["relative error from exact (float64)"]
    assert set(errors) == {"lmcl fp32", "lmcl bf16"}
    assert float(errors["lmcl fp32"]["compiled"]) < 1e-5  # float32 rounding of a loss
    out = gpu_check.compiled_network_equals_eager(args, "cpu", networks=("face-smoke",))
    assert set(out["relative error from exact (float64)"]) == {"face-smoke fp32", "face-smoke bf16"}

    compile_network = gpu_check.compile_network

    def five_percent_off(net):  # a compiled network whose features are 5% too large
        compiled = compile_network(net)
        return lambda x: 1.05 * compiled(x)

    monkeypatch.setattr(gpu_check, "compile_network", five_percent_off)
    try:
        gpu_check.compiled_network_equals_eager(args, "cpu", networks=("face-smoke",))
    except RuntimeError as exc:
        assert "face-smoke (fp32): compiled is" in str(exc)
    else:
        raise AssertionError("a 5% error must fail the check")
