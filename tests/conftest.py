"""Shared test settings: hypothesis profiles, devices, and the gradient-verification summary.

HYPOTHESIS_PROFILE=ci (default, `make test`) keeps the suite to a few minutes on 2 cores;
HYPOTHESIS_PROFILE=thorough (`make verify-gradients`) runs many more examples."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

from tests import verification_log

# `device` is a stateless parametrised fixture, safe to share across hypothesis examples
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=SUPPRESSED)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=SUPPRESSED
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# the CLI compiles networks by default where it can; tests that want it ask for it
os.environ.setdefault("PAPER_REPRO_COMPILE", "off")

SESSION_START = pytest.StashKey[float]()

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def pytest_sessionstart(session):
    session.config.stash[SESSION_START] = time.monotonic()


def pytest_terminal_summary(terminalreporter):
    rows = verification_log.summary_rows()
    if not rows:
        return
    table = verification_log.markdown_table(rows)
    terminalreporter.write_sep("=", "gradient verification: PyTorch vs SymPy (float64)")
    terminalreporter.write_line(table)
    out = os.environ.get("PAPER_REPRO_VERIFY_REPORT")
    if out:
        wall_s = time.monotonic() - terminalreporter.config.stash[SESSION_START]
        verification_log.write_report(Path(out), table, wall_s)
        terminalreporter.write_line(f"written to {out}")


@pytest.fixture
def tiny_data(tmp_path):
    """A Catalog of tiny MNIST, CIFAR-10, CIFAR-100, CIFAR-10 JPEG and LFW files in the real
    formats, each registry entry's source replaced by the tiny files' checksums; offline."""
    from paper_repro.data import DATASETS, Catalog
    from tests.data.synthetic_lfw import write_synthetic_lfw
    from tests.data.tiny_datasets import build_cifar, build_jpeg, build_mnist

    root = tmp_path / "data"
    mnist = build_mnist(root, counts=(("train", 64), ("test", 24))).sources
    sources = {
        "mnist": mnist,
        "cifar10": build_cifar(root, DATASETS["cifar10"].source, per_batch=8, n_test=16).source,
        "cifar100": build_cifar(root, DATASETS["cifar100"].source, per_batch=40, n_test=16).source,
        "cifar10-jpeg": build_jpeg(root, per_class=(("train", 4), ("test", 2))).source,
        "lfw": write_synthetic_lfw(root),
    }
    sources["casia-webface"] = sources["lfw"]  # CASIA is tested on the LFW pairs
    datasets = {
        name: dataclasses.replace(d, source=sources[name]) if name in sources else d
        for name, d in DATASETS.items()
    }
    return Catalog(root, tmp_path / "cache", download=False, datasets=datasets)
