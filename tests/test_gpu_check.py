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
