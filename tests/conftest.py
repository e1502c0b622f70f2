"""Shared test settings: hypothesis profiles, devices, and the gradient-verification summary.

HYPOTHESIS_PROFILE=ci (default, `make test`) keeps the suite to a few minutes on 2 cores;
HYPOTHESIS_PROFILE=thorough (`make verify-gradients`) runs many more examples."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from tests import verification_log

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def pytest_terminal_summary(terminalreporter):
    rows = verification_log.summary_rows()
    if not rows:
        return
    table = verification_log.markdown_table(rows)
    terminalreporter.write_sep("=", "gradient verification: PyTorch vs SymPy (float64)")
    terminalreporter.write_line(table)
    out = os.environ.get("PAPER_REPRO_VERIFY_REPORT")
    if out:
        verification_log.write_report(Path(out), table)
        terminalreporter.write_line(f"written to {out}")
