"""paper_repro.data.cifar: CIFAR-10/100 python pickles, from the tar or the extracted folder."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
import torch

from paper_repro.data import DATASETS, Catalog, cifar, load_dataset
from paper_repro.data.files import DataError
from tests.data.tiny_datasets import build_cifar, cifar_batch, md5, py2_pickle


@pytest.mark.parametrize("base", [cifar.CIFAR10, cifar.CIFAR100], ids=["cifar10", "cifar100"])
@pytest.mark.parametrize("extract", [False, True], ids=["tar", "folder"])
def test_round_trip(tmp_path, base, extract):
    t = build_cifar(tmp_path / "root", base, extract=extract)
    for split in ("train", "test"):
        s = cifar.load_cifar(t.source, split, t.root, download=False)
        images, labels = t.arrays[split]  # CIFAR-100: the fine labels, not coarse_labels
        assert s.images.dtype == torch.uint8 and s.images.is_contiguous()
        assert s.images.shape == (len(images), 3, 32, 32)
        assert np.array_equal(s.images.numpy(), images)
        assert np.array_equal(s.labels.numpy(), labels) and s.labels.dtype == torch.int64
        assert s.classes == t.classes and len(s.classes) == base.num_classes
    assert t.source.counts["train"] == 4 * len(base.batches["train"])


def test_channel_layout_is_rgb_planes(tmp_path):
    """Row = 1024 R values, then G, then B: pixel (c, y, x) is at c*1024 + y*32 + x."""
    t = build_cifar(tmp_path / "root", cifar.CIFAR10)
    s = cifar.load_cifar(t.source, "test", t.root)
    rows = t.arrays["test"][0].reshape(len(s), -1)
    assert s.images[2, 1, 5, 7].item() == rows[2, 1 * 1024 + 5 * 32 + 7]


def test_registry_loads_via_its_source(tmp_path):
    t = build_cifar(tmp_path / "root", cifar.CIFAR100)
    tiny = dataclasses.replace(DATASETS["cifar100"], source=t.source)
    catalog = Catalog(t.root, download=False, datasets={"cifar100": tiny})
    assert len(catalog.load("cifar100", "test")) == 6


def test_corrupt_archive(tmp_path):
    t = build_cifar(tmp_path / "root", cifar.CIFAR10)
    path = t.folder / "cifar-10-python.tar.gz"
    data = bytearray(t.archive_bytes)
    data[100] ^= 0xFF
    path.write_bytes(data)
    with pytest.raises(DataError) as e:
        cifar.load_cifar(t.source, "train", t.root)
    msg = str(e.value)
    assert str(path) in msg and t.source.archive.digest in msg and md5(bytes(data)) in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg


def test_truncated_extracted_batch(tmp_path):
    t = build_cifar(tmp_path / "root", cifar.CIFAR10, extract=True)
    path = t.folder / "cifar-10-batches-py" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="checksum mismatch") as e:
        cifar.load_cifar(t.source, "train", t.root)
    assert str(path) in str(e.value)


def test_missing_offline(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar100", "train", root=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "cifar100" / "cifar-100-python.tar.gz") in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz" in msg
    assert "eb9058c3a382ffc7106e4002c42a8d85" in msg
    assert str(tmp_path / "cifar100" / "cifar-100-python") in msg  # the extracted alternative
    assert list((tmp_path / "cifar100").iterdir()) == []


def test_download_disabled(tmp_path):
    with pytest.raises(DataError, match="downloading is disabled"):
        load_dataset("cifar10", "test", root=tmp_path, download=False)


def test_wrong_count_rejected(tmp_path):
    t = build_cifar(tmp_path / "root", cifar.CIFAR10)
    src = dataclasses.replace(t.source, counts={"train": 50_000, "test": 10_000})
    with pytest.raises(DataError, match="has 6 images, expected 10000"):
        cifar.load_cifar(src, "test", t.root)


def test_wrong_class_names_rejected(tmp_path):
    t = build_cifar(tmp_path / "root", cifar.CIFAR10)
    src = dataclasses.replace(t.source, classes=tuple(reversed(cifar.CIFAR10_CLASSES)))
    with pytest.raises(DataError, match="class names"):
        cifar.load_cifar(src, "test", t.root)


def test_missing_member_rejected(tmp_path):
    t = build_cifar(tmp_path / "root", cifar.CIFAR10)
    src = dataclasses.replace(
        t.source,
        batches={
            **t.source.batches,
            "test": (dataclasses.replace(t.source.batches["test"][0], name="no_such_batch"),),
        },
    )
    with pytest.raises(DataError, match="cifar-10-batches-py/no_such_batch"):
        cifar.load_cifar(src, "test", t.root)


# ---------------------------------------------------------------- batch validation


def _check(obj):
    return cifar._batch(obj, cifar.CIFAR10, "batch")


def test_batch_validation():
    images = np.zeros((3, 3, 32, 32), np.uint8)
    ok = cifar.unpickle(cifar_batch(images, [0, 1, 9], "labels"))
    data, labels = _check(ok)
    assert data.shape == (3, 3072) and labels.tolist() == [0, 1, 9]
    with pytest.raises(DataError, match="expected a dict"):
        _check([1, 2])
    with pytest.raises(DataError, match="'labels'"):
        _check({"data": ok["data"]})
    with pytest.raises(DataError, match="uint8 array"):
        _check({**ok, "data": ok["data"].astype(np.int16)})
    with pytest.raises(DataError, match="uint8 array"):
        _check({**ok, "data": ok["data"][:, :100]})
    with pytest.raises(DataError, match="3 images but 2 labels"):
        _check({**ok, "labels": [0, 1]})
    with pytest.raises(DataError, match=r"outside 0\.\.9"):
        _check({**ok, "labels": [0, 1, 10]})
    with pytest.raises(DataError, match="list of integers"):
        _check({**ok, "labels": [0, 1, 2.5]})


# ---------------------------------------------------------------- restricted unpickling


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def test_unpickle_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    for proto in (0, 2, 5):
        blob = pickle.dumps({"data": _Evil(marker)}, protocol=proto)
        with pytest.raises(DataError, match="not allowed"):
            cifar.unpickle(blob)
    assert not marker.exists()


def test_unpickle_refuses_object_arrays_and_odd_reconstruction():
    with pytest.raises(DataError):
        cifar.unpickle(py2_pickle(np.array([1, "x"], dtype=object)))
    evil = (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"J\x00\xe1\xf5\x05\x85U\x01b\x87R."
    )  # _reconstruct(ndarray, (10**8,), 'b')
    with pytest.raises(DataError, match="reconstruction"):
        cifar.unpickle(evil)


def test_unpickle_python3_pickles():
    """Protocols 3-4 of today's numpy also load; others need globals outside the allow-list
    (_codecs.encode, _frombuffer) and fail cleanly."""
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for proto in (3, 4):
        assert np.array_equal(
            cifar.unpickle(pickle.dumps({"data": arr}, protocol=proto))["data"], arr
        )
    for proto in (2, 5):
        with pytest.raises(DataError, match="not allowed"):
            cifar.unpickle(pickle.dumps({"data": arr}, protocol=proto))


def test_unpickle_refuses_huge_memo_index_and_lengths():
    """CPython's C unpickler would allocate a 32 GiB memo table / a 4 GiB string here."""
    huge_memo = b"\x80\x02]r\xf0\xff\xff\xff."  # EMPTY_LIST, LONG_BINPUT 2**32 - 16
    with pytest.raises(DataError, match="memo index"):
        cifar.unpickle(huge_memo)
    huge_bytes = b"\x80\x04\x8e\x00\x00\x00\x00\x01\x00\x00\x00" + b"x" * 10  # BINBYTES8 4 GiB
    with pytest.raises(DataError):
        cifar.unpickle(huge_bytes)
