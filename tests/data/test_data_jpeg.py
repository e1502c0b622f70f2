"""The CIFAR-10 JPEG q75 copy: tar.xz reading, decoding, the decoded-array cache."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import torch

from paper_repro.data import DATASETS, cifar, load_dataset
from paper_repro.data.files import DataError
from tests.data.tiny_datasets import SHARED_DATA, build_jpeg, jpeg_bytes, sha256, tar_bytes


def _no_decoding(*args, **kwargs):
    raise AssertionError("decoded again although the cache is valid")


def test_label_is_never_the_original_benchmark():
    info = DATASETS["cifar10-jpeg"]
    assert info.label == "CIFAR-10 (JPEG q75 copy)" == cifar.JPEG_LABEL
    assert DATASETS["cifar10"].label == "CIFAR-10"


def test_round_trip_ordered_by_number_then_class(tmp_path):
    t = build_jpeg(tmp_path / "root")
    for split in ("train", "test"):
        s = cifar.load_cifar10_jpeg(split, t.root, download=False, source=t.source)
        images, labels = t.expected[split]
        assert s.images.dtype == torch.uint8 and s.images.is_contiguous()
        assert s.images.shape == (len(images), 3, 32, 32)
        assert np.array_equal(s.images.numpy(), images)  # exactly Pillow's decoding
        assert np.array_equal(s.labels.numpy(), labels)
        assert s.classes == cifar.CIFAR10_CLASSES
        assert s.labels[:10].tolist() == list(range(10))  # any prefix is class-balanced


def test_cache_is_used_and_keyed_by_archive(tmp_path, monkeypatch):
    t = build_jpeg(tmp_path / "root")
    cache = tmp_path / "c"
    first = cifar.load_cifar10_jpeg("test", t.root, source=t.source, cache=cache)
    names = sorted(p.name for p in cache.iterdir())
    assert names == [
        f"cifar10-jpeg-{s}-{t.source.archive.digest[:16]}-v{cifar._CACHE_VERSION}.npz"
        for s in ("test", "train")
    ]  # both splits from one decoding pass
    monkeypatch.setattr(cifar, "_decode_archive", _no_decoding)
    for split in ("train", "test"):
        again = cifar.load_cifar10_jpeg(split, t.root, source=t.source, cache=cache)
        assert np.array_equal(again.images.numpy(), t.expected[split][0])
    assert torch.equal(first.labels, again.labels)


def test_archive_is_verified_even_when_cached(tmp_path):
    t = build_jpeg(tmp_path / "root")
    cifar.load_cifar10_jpeg("test", t.root, source=t.source, cache=tmp_path / "c")
    archive = t.folder / "cifar10-jpeg.tar.xz"
    data = bytearray(archive.read_bytes())
    data[-50] ^= 0x10
    archive.write_bytes(data)
    with pytest.raises(DataError) as e:
        cifar.load_cifar10_jpeg("test", t.root, source=t.source, cache=tmp_path / "c")
    msg = str(e.value)
    assert str(archive) in msg and t.source.archive.digest in msg and sha256(bytes(data)) in msg


@pytest.mark.parametrize("damage", ["flip", "truncate", "foreign"])
def test_damaged_cache_is_rebuilt(tmp_path, damage):
    t = build_jpeg(tmp_path / "root")
    cache = tmp_path / "c"
    cifar.load_cifar10_jpeg("train", t.root, source=t.source, cache=cache)
    path = cifar._cache_path(cache, t.source, "train")
    data = bytearray(path.read_bytes())
    if damage == "flip":  # inside the image array: only the zip CRC can notice
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        del data[len(data) // 2 :]
    else:  # a valid cache file of the other split under this name
        data = cifar._cache_path(cache, t.source, "test").read_bytes()
    path.write_bytes(data)
    with pytest.warns(UserWarning, match="ignoring cache"):
        s = cifar.load_cifar10_jpeg("train", t.root, source=t.source, cache=cache)
    assert np.array_equal(s.images.numpy(), t.expected["train"][0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt: no warning the next time
        cifar.load_cifar10_jpeg("train", t.root, source=t.source, cache=cache)


def test_unwritable_cache_only_warns(tmp_path):
    t = build_jpeg(tmp_path / "root")
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.warns(UserWarning, match="cannot write cache"):
        s = cifar.load_cifar10_jpeg("test", t.root, source=t.source, cache=blocker / "c")
    assert len(s) == 10


def test_missing_archive_says_where_to_put_it(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10-jpeg", "train", root=tmp_path)
    msg = str(e.value)
    assert "CIFAR-10 (JPEG q75 copy)" in msg
    assert str(tmp_path / "cifar10-jpeg" / "cifar10-jpeg.tar.xz") in msg
    assert cifar.CIFAR10_JPEG.archive.digest in msg and "no known download location" in msg


def _archive_with(tmp_path, members, per_class=(("train", 1), ("test", 1))):
    data = tar_bytes(members, "w:xz")
    folder = tmp_path / "root" / "cifar10-jpeg"
    folder.mkdir(parents=True)
    (folder / "cifar10-jpeg.tar.xz").write_bytes(data)
    src = cifar.JpegSource(
        archive=cifar.FileSpec("cifar10-jpeg.tar.xz", sha256(data), algorithm="sha256"),
        per_class=per_class,
    )
    return tmp_path / "root", src


def _members(exclude=(), extra=None, image=None):
    jpg = jpeg_bytes(np.full((32, 32, 3), 128, np.uint8)) if image is None else image
    m = {
        f"cifar10-jpeg/{s}/{c}/0000.jpg": jpg
        for s in ("train", "test")
        for c in cifar.CIFAR10_CLASSES
    }
    for k in exclude:
        del m[k]
    m.update(extra or {})
    return m


def test_wrong_per_class_count(tmp_path):
    root, src = _archive_with(tmp_path, _members(exclude=["cifar10-jpeg/test/cat/0000.jpg"]))
    with pytest.raises(DataError, match=r"test has \[1, 1, 1, 0, 1"):
        cifar.load_cifar10_jpeg("test", root, source=src)


def test_unknown_class_folder(tmp_path):
    jpg = jpeg_bytes(np.zeros((32, 32, 3), np.uint8))
    root, src = _archive_with(tmp_path, _members(extra={"cifar10-jpeg/train/zebra/0000.jpg": jpg}))
    with pytest.raises(DataError, match="unexpected member 'cifar10-jpeg/train/zebra/"):
        cifar.load_cifar10_jpeg("train", root, source=src)


def test_wrong_image_size(tmp_path):
    root, src = _archive_with(tmp_path, _members(image=jpeg_bytes(np.zeros((16, 16, 3), np.uint8))))
    with pytest.raises(DataError, match=r"expected a 32x32 JPEG, got JPEG \(16, 16\)"):
        cifar.load_cifar10_jpeg("train", root, source=src)


def test_decode_jpeg_rejects_garbage_and_truncation():
    good = jpeg_bytes(np.full((32, 32, 3), 77, np.uint8))
    assert cifar.decode_jpeg(good).shape == (32, 32, 3)
    for bad in (b"", b"not a jpeg", good[: len(good) // 2]):
        with pytest.raises(DataError, match=r"img\.jpg"):
            cifar.decode_jpeg(bad, "img.jpg")


# ---------------------------------------------------------------- the real offline copy


@pytest.mark.skipif(
    not (SHARED_DATA / "cifar10-jpeg" / "cifar10-jpeg.tar.xz").is_file(),
    reason=f"offline CIFAR-10 JPEG copy not found in {SHARED_DATA}",
)
def test_real_offline_cifar10_jpeg(tmp_path, monkeypatch):
    """First load decodes all 60,000 JPEGs (about 10 s); the second comes from the cache."""
    t0 = time.perf_counter()
    train = load_dataset(
        "cifar10-jpeg", "train", root=SHARED_DATA, download=False, cache=tmp_path / "c"
    )
    first = time.perf_counter() - t0
    monkeypatch.setattr(cifar, "_decode_archive", _no_decoding)
    t0 = time.perf_counter()
    test = load_dataset(
        "cifar10-jpeg", "test", root=SHARED_DATA, download=False, cache=tmp_path / "c"
    )
    cached = time.perf_counter() - t0
    print(f"cifar10-jpeg: first load {first:.1f} s, cached {cached:.2f} s")
    assert train.images.shape == (50000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert train.label_counts() == [5000] * 10 and test.label_counts() == [1000] * 10
    assert train.classes == cifar.CIFAR10_CLASSES
    assert sorted(test.labels[:2000].bincount().tolist()) == [200] * 10  # balanced prefix
    # Close to the original CIFAR-10 mean pixel (125.3, 123.0, 113.9), not equal: lossy copy.
    assert torch.allclose(train.channel_mean(), torch.tensor([125.3, 123.0, 113.9]), atol=0.5)
