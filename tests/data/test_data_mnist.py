"""paper_repro.data.mnist: IDX reading, validation, real offline MNIST."""

from __future__ import annotations

import dataclasses
import gzip

import numpy as np
import pytest
import torch

from paper_repro.data import load_dataset, mnist
from paper_repro.data.files import DataError
from tests.data.tiny_datasets import SHARED_DATA, build_mnist, idx_bytes, write_idx_gz


def test_round_trip(tiny_mnist):
    for split in ("train", "test"):
        s = mnist.load_mnist(
            split, tiny_mnist.root, download=False, source=tiny_mnist.sources[split]
        )
        images, labels = tiny_mnist.arrays[split]
        assert s.images.dtype == torch.uint8 and s.images.is_contiguous()
        assert s.images.shape == (len(images), 1, 28, 28)
        assert np.array_equal(s.images.numpy()[:, 0], images)
        assert s.labels.dtype == torch.int64 and np.array_equal(s.labels.numpy(), labels)
        assert s.classes == tuple("0123456789")


def test_load_dataset_uses_env_root(tiny_mnist, monkeypatch):
    monkeypatch.setenv("PAPER_REPRO_DATA", str(tiny_mnist.root))
    s = tiny_mnist.catalog(download=False).load("mnist", "test")
    assert len(s) == 5


def test_uncompressed_files_accepted(tiny_mnist):
    for spec in (tiny_mnist.sources["test"].images, tiny_mnist.sources["test"].labels):
        gz = tiny_mnist.folder / spec.name
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    s = mnist.load_mnist("test", tiny_mnist.root, source=tiny_mnist.sources["test"], download=False)
    assert np.array_equal(s.images.numpy()[:, 0], tiny_mnist.arrays["test"][0])


def test_flipped_byte_in_gzip(tiny_mnist):
    spec = tiny_mnist.sources["train"].images
    path = tiny_mnist.folder / spec.name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(data)
    with pytest.raises(DataError) as e:
        mnist.load_mnist("train", tiny_mnist.root, source=tiny_mnist.sources["train"])
    assert str(path) in str(e.value) and spec.digest in str(e.value)


def test_truncated_gzip(tiny_mnist):
    path = tiny_mnist.folder / tiny_mnist.sources["train"].labels.name
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="corrupt or truncated"):
        mnist.load_mnist("train", tiny_mnist.root, source=tiny_mnist.sources["train"])


def test_wrong_checksum(tiny_mnist):
    src = tiny_mnist.sources["test"]
    bad = dataclasses.replace(src, labels=dataclasses.replace(src.labels, digest="f" * 32))
    tiny_mnist.sources["test"] = bad
    with pytest.raises(DataError) as e:
        tiny_mnist.catalog(root=tiny_mnist.root).load("mnist", "test")
    msg = str(e.value)
    assert "f" * 32 in msg and src.labels.digest in msg  # expected and actual
    assert str(tiny_mnist.folder / src.labels.name) in msg


def test_missing_offline_names_all_files_and_sources(tmp_path):
    with pytest.raises(DataError) as e:  # the autouse fixture makes fetch fail (offline)
        mnist.load_mnist("train", tmp_path / "empty")
    msg = str(e.value)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        assert str(tmp_path / "empty" / "mnist" / name) in msg
        assert f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}" in msg
        assert f"http://yann.lecun.com/exdb/mnist/{name}" in msg
    assert "6bbc9ace898e44ae57da46a324031adb" in msg and "download failed" in msg
    assert not (tmp_path / "empty" / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_download_path(tmp_path, monkeypatch):
    """Missing files are fetched (here from a fake mirror), verified and used."""
    from paper_repro.data import files

    t = build_mnist(tmp_path / "src")
    calls = []

    def fetch(url, dest):
        calls.append(url)
        dest.write_bytes((t.folder / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(files, "fetch", fetch)
    s = mnist.load_mnist("test", tmp_path / "dl", source=t.sources["test"])
    assert len(calls) == 2 and len(s) == 5
    assert sorted(p.name for p in (tmp_path / "dl" / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


# ---------------------------------------------------------------- content validation


def _replace_file(t, split, which, array):
    spec = write_idx_gz(t.folder / getattr(t.sources[split], which).name, array)
    t.sources[split] = dataclasses.replace(t.sources[split], **{which: spec})


def test_wrong_image_size(tiny_mnist):
    _replace_file(tiny_mnist, "test", "images", np.zeros((5, 27, 27), np.uint8))
    with pytest.raises(DataError, match=r"shape \(5, 27, 27\), expected \(5, 28, 28\)"):
        mnist.load_mnist("test", tiny_mnist.root, source=tiny_mnist.sources["test"])


def test_wrong_count(tiny_mnist):
    _replace_file(tiny_mnist, "test", "labels", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"label array has shape \(4,\), expected \(5,\)"):
        mnist.load_mnist("test", tiny_mnist.root, source=tiny_mnist.sources["test"])


def test_label_out_of_range(tiny_mnist):
    _replace_file(tiny_mnist, "test", "labels", np.array([0, 1, 2, 10, 3], np.uint8))
    with pytest.raises(DataError, match="label 10 out of range"):
        mnist.load_mnist("test", tiny_mnist.root, source=tiny_mnist.sources["test"])


def test_parse_idx_rejects_bad_headers():
    good = idx_bytes(np.zeros((2, 3), np.uint8))
    assert mnist.parse_idx(good).shape == (2, 3)
    with pytest.raises(DataError, match="magic"):
        mnist.parse_idx(b"\x00\x00\x0d\x02" + good[4:])  # float type code
    with pytest.raises(DataError, match="magic"):
        mnist.parse_idx(b"\x1f\x8b\x08\x00" + good[4:])  # still gzipped
    with pytest.raises(DataError, match="data bytes follow"):
        mnist.parse_idx(good[:-1])
    with pytest.raises(DataError, match="data bytes follow"):
        mnist.parse_idx(good + b"\x00")
    with pytest.raises(DataError, match="truncated IDX header"):
        mnist.parse_idx(good[:9])
    huge = b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3  # 2^96 bytes claimed
    with pytest.raises(DataError):
        mnist.parse_idx(huge)


# ---------------------------------------------------------------- the real offline copy

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(
    not (SHARED_DATA / "mnist").is_dir(),
    reason=f"offline MNIST copy not found at {SHARED_DATA / 'mnist'}",
)
def test_real_offline_mnist():
    train = load_dataset("mnist", "train", root=SHARED_DATA, download=False)
    test = load_dataset("mnist", "test", root=SHARED_DATA, download=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.label_counts() == TRAIN_COUNTS and test.label_counts() == TEST_COUNTS
    # The well-known MNIST mean pixel 0.13066 (x 255).
    assert train.channel_mean().item() == pytest.approx(0.13066 * 255, abs=1e-3)
