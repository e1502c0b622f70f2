"""Fixtures for the data tests: no network, isolated env, tiny MNIST."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from paper_repro.data import DATASETS, Catalog, files
from tests.data.tiny_datasets import build_mnist


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test may reach the network: an unpatched fetch fails like an offline machine."""

    def offline(url, dest):
        raise OSError(f"network disabled in tests ({url})")

    monkeypatch.setattr(files, "fetch", offline)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """Data root / cache from the environment must not leak into (or out of) tests."""
    monkeypatch.delenv(files.ENV_DATA_ROOT, raising=False)
    monkeypatch.setenv(files.ENV_CACHE_DIR, str(tmp_path / "cache"))


@pytest.fixture
def tiny_mnist(tmp_path) -> SimpleNamespace:
    """Tiny MNIST (12 train, 5 test) in <tmp>/root/mnist with its sources (t.sources) and a
    registry whose MNIST entry reads them (t.catalog(**kw))."""
    t = build_mnist(tmp_path / "root")

    def catalog(**kw) -> Catalog:
        entry = dataclasses.replace(DATASETS["mnist"], source=t.sources)
        return Catalog(datasets={"mnist": entry}, **kw)

    t.catalog = catalog
    return t
