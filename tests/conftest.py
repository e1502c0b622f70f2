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

# `device` is a stateless parametrised fixture, safe to share across hypothesis examples
SUPPRESSED = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=SUPPRESSED)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=SUPPRESSED
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


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    """A data root with tiny MNIST, CIFAR-10, CIFAR-100 and CIFAR-10 JPEG files in the real
    formats (the registries' checksums point at them); network off, cache isolated."""
    from paper_repro.data import cifar, files, mnist
    from tests.data.tiny_datasets import build_cifar, build_jpeg, build_mnist

    def offline(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(files, "fetch", offline)
    monkeypatch.setenv(files.ENV_CACHE_DIR, str(tmp_path / "cache"))
    root = tmp_path / "data"
    for split, src in build_mnist(root, counts=(("train", 64), ("test", 24))).sources.items():
        monkeypatch.setitem(mnist.SOURCES, split, src)
    c10 = build_cifar(root, cifar.CIFAR10, per_batch=8, n_test=16).source
    c100 = build_cifar(root, cifar.CIFAR100, per_batch=40, n_test=16).source
    jpeg = build_jpeg(root, per_class=(("train", 4), ("test", 2))).source
    monkeypatch.setattr(cifar, "CIFAR10", c10)
    monkeypatch.setattr(cifar, "CIFAR100", c100)
    monkeypatch.setattr(cifar, "CIFAR10_JPEG", jpeg)
    monkeypatch.setenv(files.ENV_DATA_ROOT, str(root))
    return root
