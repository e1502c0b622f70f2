"""MNIST from the original IDX files (``<root>/mnist/*-idx?-ubyte.gz``).

Checksums are MD5s of the *uncompressed* IDX content: the offline copy's gzip
wrappers differ from the mirrors' while the content is byte-identical, so both pass.
An already-uncompressed file (same name without ``.gz``) is accepted too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import files
from .files import DataError, FileSpec
from .split import Split, check_split

LABEL = "MNIST"
FOLDER = "mnist"
CLASSES = tuple(str(d) for d in range(10))
MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")

_UBYTE = 0x08  # IDX type code of unsigned bytes, the only one MNIST uses


def _spec(name: str, md5: str, size: int) -> FileSpec:
    return FileSpec(
        name=f"{name}.gz",
        digest=md5,
        gunzip=True,
        max_bytes=size,
        urls=tuple(m + f"{name}.gz" for m in MIRRORS),
    )


@dataclass(frozen=True)
class MnistSource:
    """The two files of one split and the number of examples they must hold."""

    images: FileSpec
    labels: FileSpec
    count: int


SOURCES = {
    "train": MnistSource(
        images=_spec("train-images-idx3-ubyte", "6bbc9ace898e44ae57da46a324031adb", 47_040_016),
        labels=_spec("train-labels-idx1-ubyte", "a25bea736e30d166cdddb491f175f624", 60_008),
        count=60_000,
    ),
    "test": MnistSource(
        images=_spec("t10k-images-idx3-ubyte", "2646ac647ad5339dbf082846283269ea", 7_840_016),
        labels=_spec("t10k-labels-idx1-ubyte", "27ae3e4e09519cfbb04c329615203637", 10_008),
        count=10_000,
    ),
}


# what a file that is not IDX most often is, by its first bytes
_SIGNATURES = {
    b"\x1f\x8b": "a gzip file",
    b"PK\x03\x04": "a zip archive",
    b"BZh": "a bzip2 file",
    b"\xfd7zXZ": "an xz file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x93NUMPY": "a NumPy .npy file",
}


def sniff(data: bytes) -> str:
    """What `data` looks like, from its first bytes: 'a gzip file', ..., or ''."""
    return next((what for magic, what in _SIGNATURES.items() if data.startswith(magic)), "")


def parse_idx(data: bytes, what: str = "IDX data") -> np.ndarray:
    """Parse an IDX file of unsigned bytes into a read-only uint8 array.

    Layout: two zero bytes, type code 0x08, number of dimensions, one big-endian
    uint32 per dimension, then the values.  Any deviation raises :class:`DataError`.
    """
    if len(data) < 4:
        raise DataError(f"{what}: {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0 or data[2] != _UBYTE:
        found = sniff(data)
        raise DataError(
            f"{what}: bad IDX magic number {data[:4].hex()} (expected 000008xx, unsigned bytes)"
            + (f"; this is {found}, not IDX" if found else "")
        )
    ndim = data[3]
    if ndim == 0 or len(data) < 4 + 4 * ndim:
        raise DataError(f"{what}: truncated IDX header ({ndim} dimensions)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = len(data) - 4 - 4 * ndim
    # Python ints: the product cannot overflow, so huge fake dimensions are caught here.
    if math.prod(shape) != body:
        raise DataError(f"{what}: IDX header says shape {shape} but {body} data bytes follow")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _read(folder: Path, spec: FileSpec) -> bytes:
    gz = folder / spec.name
    raw = folder / spec.name.removesuffix(".gz")
    if not gz.is_file() and raw.is_file():
        # Same digest: it is the digest of the uncompressed content.
        return files.read_verified(
            raw, FileSpec(raw.name, spec.digest, spec.algorithm, max_bytes=spec.max_bytes)
        )
    return files.read_verified(gz, spec)


def load_mnist(
    split: str,
    root: str | Path | None = None,
    download: bool = True,
    *,
    source: MnistSource | None = None,
) -> Split:
    """Load an MNIST split as ``Split`` with images uint8 ``(N, 1, 28, 28)``.

    ``source`` overrides the expected files/checksums/count (used by tests).
    """
    src = source or SOURCES[check_split(split)]
    folder = files.data_root(root) / FOLDER
    needed = [
        s for s in (src.images, src.labels) if not (folder / s.name.removesuffix(".gz")).is_file()
    ]
    files.ensure_files(needed, folder, download_missing=download, label=LABEL)

    images = parse_idx(_read(folder, src.images), str(folder / src.images.name))
    labels = parse_idx(_read(folder, src.labels), str(folder / src.labels.name))
    if images.shape != (src.count, 28, 28):
        raise DataError(
            f"{folder / src.images.name}: image array has shape {images.shape}, "
            f"expected ({src.count}, 28, 28)"
        )
    if labels.shape != (src.count,):
        raise DataError(
            f"{folder / src.labels.name}: label array has shape {labels.shape}, "
            f"expected ({src.count},)"
        )
    if labels.size and labels.max() >= len(CLASSES):
        raise DataError(f"{folder / src.labels.name}: label {labels.max()} out of range 0..9")
    return Split(
        images=torch.from_numpy(images.reshape(src.count, 1, 28, 28).copy()),
        labels=torch.from_numpy(labels.astype(np.int64)),
        classes=CLASSES,
    )


def load_split(split: str, root=None, download: bool = True, cache=None, sources=None) -> Split:
    """The registry's loader: ``sources`` maps split -> MnistSource (default ``SOURCES``)."""
    return load_mnist(split, root, download, source=(sources or SOURCES)[check_split(split)])
