"""Tiny datasets in the real formats (IDX gzip, CIFAR pickle tar.gz, JPEG tar.xz) for tests.

A plain module (not conftest) so tests can import the builders.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from paper_repro.data import cifar, mnist
from paper_repro.data.files import FileSpec

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding of a uint8 array: 0, 0, 0x08, ndim, big-endian dims, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> FileSpec:
    """Write ``array`` as gzip IDX; return a FileSpec with the MD5 of the uncompressed content."""
    raw = idx_bytes(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw))
    return FileSpec(
        path.name,
        md5(raw),
        gunzip=True,
        max_bytes=len(raw),
        urls=(f"https://mirror.invalid/{path.name}",),
    )


class _Py2Pickler(pickle._Pickler):
    """Pure-Python pickler writing ``bytes`` as Python 2 ``str`` (BINSTRING), like the
    cPickle files of the CIFAR "python version" (Python 3 would write _codecs.encode)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def py2_pickle(obj: object) -> bytes:
    """Protocol-2 pickle as Python 2 + numpy 1 wrote it (numpy.core.multiarray names)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_batch(images: np.ndarray, labels, label_key: str, **extra) -> bytes:
    """A CIFAR batch pickle: images (n, 3, 32, 32) stored as rows of 3072 (R, G, B planes)."""
    d = {
        b"batch_label": b"testing batch 1 of 1",
        b"data": np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8),
        label_key.encode(): [int(v) for v in labels],
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    d.update({k.encode(): v for k, v in extra.items()})
    return py2_pickle(d)


def tar_bytes(members: dict[str, bytes], mode: str) -> bytes:
    """A tar archive (``mode`` "w:gz" or "w:xz") holding ``members`` plus their folders."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        folders = sorted({str(Path(n).parent) for n in members} - {"."})
        for folder in folders:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def jpeg_bytes(image_hwc: np.ndarray, quality: int = 75) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image_hwc).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def smooth_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """n smooth-ish RGB images (n, 32, 32, 3): JPEG reproduces them closely."""
    base = rng.integers(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(base, 8, axis=1), 8, axis=2)


def build_mnist(root: Path, counts=(("train", 12), ("test", 5)), seed=0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    folder = root / "mnist"
    sources, arrays = {}, {}
    for split, n in counts:
        prefix = "train" if split == "train" else "t10k"
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)  # every digit incl. 9 appears
        rng.shuffle(labels)
        sources[split] = mnist.MnistSource(
            images=write_idx_gz(folder / f"{prefix}-images-idx3-ubyte.gz", images),
            labels=write_idx_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", labels),
            count=n,
        )
        arrays[split] = (images, labels)
    return SimpleNamespace(root=root, folder=folder, sources=sources, arrays=arrays)


def build_cifar(
    root: Path, base: cifar.CifarSource, *, per_batch=4, n_test=6, extract=False, seed=1
) -> SimpleNamespace:
    """A tiny copy of ``base`` (same file names and keys) and the source describing it."""
    rng = np.random.default_rng(seed)
    names = base.classes or tuple(f"class_{i:02d}" for i in range(base.num_classes))
    meta_dict = {base.names_key.encode(): [n.encode() for n in names]}
    if base is cifar.CIFAR100:
        meta_dict[b"coarse_label_names"] = [f"super_{i}".encode() for i in range(20)]
    blobs = {base.meta.name: py2_pickle(meta_dict)}
    arrays = {}
    for split, specs in base.batches.items():
        n = per_batch if split == "train" else n_test
        parts = []
        for spec in specs:
            images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
            labels = rng.integers(0, base.num_classes, n)
            extra = {}
            if base is cifar.CIFAR100:  # must be ignored in favour of fine_labels
                extra["coarse_labels"] = [int(v) for v in rng.integers(0, 20, n)]
            blobs[spec.name] = cifar_batch(images, labels, base.label_key, **extra)
            parts.append((images, labels))
        arrays[split] = (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
        )
    folder = root / base.folder
    folder.mkdir(parents=True)
    archive = tar_bytes({f"{base.extracted}/{k}": v for k, v in blobs.items()}, "w:gz")
    if extract:
        (folder / base.extracted).mkdir()
        for k, v in blobs.items():
            (folder / base.extracted / k).write_bytes(v)
    else:
        (folder / base.archive.name).write_bytes(archive)
    source = dataclasses.replace(
        base,
        archive=dataclasses.replace(base.archive, digest=md5(archive)),
        batches={
            s: tuple(dataclasses.replace(f, digest=md5(blobs[f.name])) for f in specs)
            for s, specs in base.batches.items()
        },
        meta=dataclasses.replace(base.meta, digest=md5(blobs[base.meta.name])),
        counts={s: len(a[0]) for s, a in arrays.items()},
    )
    return SimpleNamespace(
        root=root, folder=folder, source=source, arrays=arrays, classes=names, archive_bytes=archive
    )


def build_jpeg(root: Path, per_class=(("train", 2), ("test", 1)), seed=2) -> SimpleNamespace:
    """A tiny cifar10-jpeg.tar.xz; members shuffled so the loader's sorting is exercised."""
    rng = np.random.default_rng(seed)
    members, expected = {}, {}
    for split, n in per_class:
        decoded, labels = [], []
        for c, name in enumerate(cifar.CIFAR10_CLASSES):
            for i in range(n):
                data = jpeg_bytes(smooth_images(rng, 1)[0])
                members[f"cifar10-jpeg/{split}/{name}/{i:04d}.jpg"] = data
                decoded.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                labels.append(c)
        # the loader's order: by image number, the classes taking turns
        turns = np.lexsort((labels, np.tile(np.arange(n), len(cifar.CIFAR10_CLASSES))))
        expected[split] = (np.stack(decoded).transpose(0, 3, 1, 2)[turns], np.array(labels)[turns])
    order = rng.permutation(len(members))
    items = list(members.items())
    archive = tar_bytes(dict(items[i] for i in order), "w:xz")
    folder = root / "cifar10-jpeg"
    folder.mkdir(parents=True)
    (folder / "cifar10-jpeg.tar.xz").write_bytes(archive)
    source = cifar.JpegSource(
        archive=FileSpec("cifar10-jpeg.tar.xz", sha256(archive), algorithm="sha256"),
        per_class=per_class,
    )
    return SimpleNamespace(
        root=root, folder=folder, source=source, expected=expected, members=members
    )
