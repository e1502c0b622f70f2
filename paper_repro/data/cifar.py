"""CIFAR-10 / CIFAR-100 ("python version" pickles) and the offline CIFAR-10 JPEG q75 copy.

Pickles are read directly from the official ``cifar-10-python.tar.gz`` /
``cifar-100-python.tar.gz`` (or from the folder they unpack to) with a restricted
unpickler: only the numpy names an ndarray pickle needs can be loaded, so a
malicious or corrupt file cannot run code.

The JPEG copy (``cifar10-jpeg.tar.xz``) is a *different dataset*: lossy q75
re-encodings of the CIFAR-10 images.  It is labelled "CIFAR-10 (JPEG q75 copy)" and
must never be reported as the original benchmark.  Decoding its 60,000 JPEGs takes
seconds, so the decoded arrays are cached (see :func:`load_cifar10_jpeg`).
"""

from __future__ import annotations

import io
import pickle
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image

from . import files
from .files import DataError, FileSpec, prescan_pickle
from .split import Split, check_split

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_PIXELS = 3 * 32 * 32


# --------------------------------------------------------------------------- pickles


class _ArrayStub:
    """Stands in for an ndarray while unpickling. numpy's C-level ``__setstate__`` trusts
    its input and can crash the interpreter on crafted bytes (found by fuzzing), so the
    state is checked here and the array built from a buffer of verified length."""

    array = None

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) == 5):
            raise pickle.UnpicklingError("malformed ndarray state")
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DtypeStub) or not isinstance(fortran, bool):
            raise pickle.UnpicklingError("malformed ndarray state")
        if not (isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)):
            raise pickle.UnpicklingError("malformed ndarray shape")
        if isinstance(raw, str):  # a Python 2 str, decoded as latin-1 by the unpickler
            raw = raw.encode("latin-1")
        count = 1
        for n in shape:
            count *= n
        if not isinstance(raw, bytes) or len(raw) != count * dtype.dtype.itemsize:
            raise pickle.UnpicklingError("ndarray buffer does not match its shape")
        order = "F" if fortran else "C"
        self.array = np.frombuffer(raw, dtype.dtype).reshape(shape, order=order).copy()


class _DtypeStub:
    """A plain numeric dtype; its pickled state is checked instead of given to numpy."""

    def __init__(self, dtype: np.dtype):
        self.dtype = dtype

    def __setstate__(self, state):
        if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", ">", "|", "=")):
            raise pickle.UnpicklingError("malformed dtype state")
        if self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(state[1])


def _safe_reconstruct(cls, shape, typecode):
    # ndarray pickles always call this with shape (0,) and set the real contents in
    # __setstate__; refusing anything else stops a crafted file allocating memory.
    if cls is not np.ndarray or shape != (0,):
        raise pickle.UnpicklingError("unexpected ndarray reconstruction arguments")
    return _ArrayStub()


def _safe_dtype(obj, align=False, copy=False):
    if not isinstance(obj, str) or not re.fullmatch(r"[biuf][1248]", obj):
        raise pickle.UnpicklingError(f"dtype {obj!r} not allowed")  # CIFAR only has uint8
    return _DtypeStub(np.dtype(obj))


def _resolve(obj):
    """Replace the stubs in an unpickled structure by the arrays they built."""
    if isinstance(obj, _ArrayStub):
        if obj.array is None:
            raise pickle.UnpicklingError("ndarray without contents")
        return obj.array
    if isinstance(obj, _DtypeStub):
        raise pickle.UnpicklingError("a bare dtype is not CIFAR data")
    if isinstance(obj, dict):
        return {_resolve(k): _resolve(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def unpickle(data: bytes, what: str = "pickle") -> object:
    """Unpickle a CIFAR (Python 2) pickle, allowing only plain data and uint8 ndarrays.

    Python 2 ``str`` values are decoded as latin-1 (as torchvision does), so dict keys
    and names come back as ``str`` and ndarray buffers keep their exact bytes.
    Any failure raises :class:`DataError`.
    """
    try:
        prescan_pickle(data)
        return _resolve(_RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load())
    except Exception as e:  # random bytes can raise almost any exception type
        raise DataError(f"{what}: not a valid CIFAR pickle ({type(e).__name__}: {e})") from e


@dataclass(frozen=True)
class CifarSource:
    """Everything that identifies one CIFAR variant's files and their expected content.

    ``batches[split]`` are the pickles of a split inside ``extracted`` (the folder the
    archive unpacks to); their digests are used when reading the extracted folder.
    ``classes``, if given, is the expected class-name list from the meta file.
    """

    label: str
    folder: str
    archive: FileSpec
    extracted: str
    batches: Mapping[str, tuple[FileSpec, ...]]
    meta: FileSpec
    label_key: str
    names_key: str
    num_classes: int
    counts: Mapping[str, int]
    classes: tuple[str, ...] | None = None


_TORONTO = "https://www.cs.toronto.edu/~kriz/"

CIFAR10 = CifarSource(
    label="CIFAR-10",
    folder="cifar10",
    archive=FileSpec(
        "cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        urls=(_TORONTO + "cifar-10-python.tar.gz",),
    ),
    extracted="cifar-10-batches-py",
    batches={
        "train": tuple(
            FileSpec(f"data_batch_{i}", md5)
            for i, md5 in enumerate(
                (
                    "c99cafc152244af753f735de768cd75f",
                    "d4bba439e000b95fd0a9bffe97cbabec",
                    "54ebc095f3ab1f0389bbae665268c751",
                    "634d18415352ddfa80567beed471001a",
                    "482c414d41f54cd18b22e5b47cb7c3cb",
                ),
                start=1,
            )
        ),
        "test": (FileSpec("test_batch", "40351d587109b95175f43aff81a1287e"),),
    },
    meta=FileSpec("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
    label_key="labels",
    names_key="label_names",
    num_classes=10,
    counts={"train": 50_000, "test": 10_000},
    classes=CIFAR10_CLASSES,
)

CIFAR100 = CifarSource(
    label="CIFAR-100",
    folder="cifar100",
    archive=FileSpec(
        "cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        urls=(_TORONTO + "cifar-100-python.tar.gz",),
    ),
    extracted="cifar-100-python",
    batches={
        "train": (FileSpec("train", "16019d7e3df5f24257cddd939b257f8d"),),
        "test": (FileSpec("test", "f0ef6b0ae62326f3e7ffdfab6717acfc"),),
    },
    meta=FileSpec("meta", "7973b15100ade9c7d40fb424638fde48"),
    label_key="fine_labels",  # the 100-class labels; coarse_labels are the 20 superclasses
    names_key="fine_label_names",
    num_classes=100,
    counts={"train": 50_000, "test": 10_000},
)


def _tar_members(archive: Path, spec: FileSpec, names: list[str]) -> dict[str, bytes]:
    """Read the named members from a verified tar archive (one forward pass)."""
    data = files.read_verified(archive, spec)
    found: dict[str, bytes] = {}
    try:
        # Forward iteration only: seeking back in a compressed stream re-decompresses it.
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for m in tf:
                if m.name in names and m.isfile():
                    found[m.name] = tf.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: cannot read the tar archive ({e})") from e
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(f"{archive}: member(s) missing from the archive: {', '.join(missing)}")
    return found


def _batch(obj: object, src: CifarSource, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one unpickled batch dict; return (data (n, 3072) uint8, labels int64)."""
    if not isinstance(obj, dict) or "data" not in obj or src.label_key not in obj:
        keys = sorted(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise DataError(f"{what}: expected a dict with 'data' and {src.label_key!r}, got {keys}")
    data, labels = obj["data"], obj[src.label_key]
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == _PIXELS
    ):
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{what}: 'data' must be a uint8 array (n, {_PIXELS}), got {desc}")
    if not (
        isinstance(labels, list | np.ndarray)
        and all(isinstance(v, int | np.integer) for v in labels)
    ):
        raise DataError(f"{what}: {src.label_key!r} must be a list of integers")
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if labels.shape[0] != data.shape[0]:
        raise DataError(f"{what}: {data.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= src.num_classes):
        raise DataError(f"{what}: labels outside 0..{src.num_classes - 1}")
    return data, labels


def _class_names(obj: object, src: CifarSource, what: str) -> tuple[str, ...]:
    names = obj.get(src.names_key) if isinstance(obj, dict) else None
    if not (
        isinstance(names, list)
        and len(names) == src.num_classes
        and all(isinstance(n, str) for n in names)
    ):
        raise DataError(f"{what}: expected {src.num_classes} class names under {src.names_key!r}")
    if src.classes is not None and tuple(names) != src.classes:
        raise DataError(f"{what}: class names {names} differ from the expected {src.classes}")
    return tuple(names)


def load_cifar(
    src: CifarSource, split: str, root: str | Path | None = None, download: bool = True
) -> Split:
    """Load a CIFAR-10/100 split as ``Split`` with images uint8 ``(N, 3, 32, 32)``.

    Reads ``<root>/<src.folder>/<archive>`` if present, else the extracted folder
    ``<root>/<src.folder>/<src.extracted>/`` if it has all needed files, else downloads
    the archive (when ``download``).
    """
    specs = (*src.batches[check_split(split)], src.meta)
    folder = files.data_root(root) / src.folder
    extracted = folder / src.extracted
    if not (folder / src.archive.name).is_file() and all(
        (extracted / s.name).is_file() for s in specs
    ):
        blobs = {s.name: files.read_verified(extracted / s.name, s) for s in specs}
        where = extracted
    else:
        hint = (
            f"Alternatively put the extracted files "
            f"({', '.join(s.name for s in specs)}) in {extracted}/."
        )
        [archive] = files.ensure_files(
            [src.archive], folder, download_missing=download, label=src.label, hint=hint
        )
        members = _tar_members(archive, src.archive, [f"{src.extracted}/{s.name}" for s in specs])
        blobs = {s.name: members[f"{src.extracted}/{s.name}"] for s in specs}
        where = archive

    classes = _class_names(
        unpickle(blobs[src.meta.name], f"{where}:{src.meta.name}"), src, f"{where}:{src.meta.name}"
    )
    parts = [
        _batch(unpickle(blobs[s.name], f"{where}:{s.name}"), src, f"{where}:{s.name}")
        for s in src.batches[split]
    ]
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if data.shape[0] != src.counts[split]:
        raise DataError(
            f"{where}: {src.label} {split} split has {data.shape[0]} images, "
            f"expected {src.counts[split]}"
        )
    # Rows are 1024 red, then green, then blue values, each row-major 32x32: i.e. CHW.
    images = torch.from_numpy(np.ascontiguousarray(data.reshape(-1, 3, 32, 32)))
    return Split(images=images, labels=torch.from_numpy(labels), classes=classes)


def load_split(split: str, root=None, download: bool = True, cache=None, source=None) -> Split:
    """The registry's loader for CIFAR-10 and CIFAR-100 (``source``: which one)."""
    return load_cifar(source, split, root, download)


# --------------------------------------------------------------------------- JPEG copy

JPEG_LABEL = "CIFAR-10 (JPEG q75 copy)"
JPEG_NOTE = (
    "Trained and tested on the CIFAR-10 JPEG q75 copy (lossy re-encoding of every image), "
    "not the original benchmark: compare trends, not absolute numbers, with the paper."
)
_CACHE_VERSION = 2  # 2: classes interleaved (1 was sorted by class)


@dataclass(frozen=True)
class JpegSource:
    """The JPEG archive and the layout it must have: ``<top>/<split>/<class>/<NNNN>.jpg``."""

    archive: FileSpec
    top: str = "cifar10-jpeg"
    folder: str = "cifar10-jpeg"
    classes: tuple[str, ...] = CIFAR10_CLASSES
    per_class: tuple[tuple[str, int], ...] = (("train", 5000), ("test", 1000))


CIFAR10_JPEG = JpegSource(
    # No official download exists: the copy is provided offline (../shared/data).
    archive=FileSpec(
        "cifar10-jpeg.tar.xz",
        "5014d12cee0f1afa5df0ccff99ebfd42386973ea34c7d3a0f90b4bf5d42a2367",
        algorithm="sha256",
    ),
)


def decode_jpeg(data: bytes, what: str = "JPEG") -> np.ndarray:
    """Decode one 32x32 JPEG into a uint8 (32, 32, 3) RGB array, or raise DataError."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG" or im.size != (32, 32):
                raise DataError(f"{what}: expected a 32x32 JPEG, got {im.format} {im.size}")
            return np.asarray(im.convert("RGB"))
    except DataError:
        raise
    except Exception as e:  # Pillow raises many types for corrupt input
        raise DataError(f"{what}: cannot decode JPEG ({type(e).__name__}: {e})") from e


def _decode_archive(archive: Path, src: JpegSource) -> dict[str, Split]:
    """Decode both splits from the verified archive, ordered by (image number, class): the
    classes take turns, so every prefix is class-balanced (the copy's folders are sorted by
    class, and the first N images of a class-sorted split would hold one or two classes)."""
    data = files.read_verified(archive, src.archive)
    pattern = re.compile(rf"{re.escape(src.top)}/(train|test)/([^/]+)/(\d+)\.jpg")
    class_index = {c: i for i, c in enumerate(src.classes)}
    entries: dict[str, dict[tuple[int, int], bytes]] = {"train": {}, "test": {}}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
            for m in tf:
                if not m.isfile():
                    continue
                match = pattern.fullmatch(m.name)
                if match is None or match[2] not in class_index:
                    raise DataError(f"{archive}: unexpected member {m.name!r}")
                key = (class_index[match[2]], int(match[3]))
                entries[match[1]][key] = tf.extractfile(m).read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: cannot read the tar archive ({e})") from e

    out = {}
    for split, n_per_class in src.per_class:
        counts = np.bincount(
            np.array([c for c, _ in entries[split]], dtype=np.int64), minlength=len(src.classes)
        )
        if not (counts == n_per_class).all():
            raise DataError(
                f"{archive}: {split} has {counts.tolist()} images per class, "
                f"expected {n_per_class} each"
            )
        keys = sorted(entries[split], key=lambda key: (key[1], key[0]))
        hwc = np.empty((len(keys), 32, 32, 3), dtype=np.uint8)
        for i, key in enumerate(keys):
            hwc[i] = decode_jpeg(
                entries[split][key], f"{archive}:{split}/{src.classes[key[0]]}/{key[1]:04d}.jpg"
            )
        out[split] = Split(
            images=torch.from_numpy(np.ascontiguousarray(hwc.transpose(0, 3, 1, 2))),
            labels=torch.tensor([c for c, _ in keys], dtype=torch.int64),
            classes=src.classes,
        )
    return out


def _cache_meta(src: JpegSource, split: str) -> str:
    # Decoded pixels depend on the JPEG decoder, hence Pillow's version in the key.
    return (
        f"v{_CACHE_VERSION} {src.archive.algorithm}:{src.archive.digest} "
        f"pillow:{PIL.__version__} split:{split}"
    )


def _cache_path(cache: Path, src: JpegSource, split: str) -> Path:
    return cache / f"{src.folder}-{split}-{src.archive.digest[:16]}-v{_CACHE_VERSION}.npz"


def _read_cache(path: Path, src: JpegSource, split: str) -> Split | None:
    """The cached split if the file is intact and matches this source, else None."""
    n_per_class = dict(src.per_class)[split]
    n = n_per_class * len(src.classes)

    def valid(a: dict) -> bool:
        images, labels = a["images"], a["labels"]
        counts = np.bincount(labels, minlength=len(src.classes)) if labels.ndim == 1 else None
        return (
            images.dtype == np.uint8
            and images.shape == (n, 3, 32, 32)
            and labels.dtype == np.int64
            and labels.shape == (n,)
            and bool((counts == n_per_class).all())
        )

    arrays = files.read_cache(path, _cache_meta(src, split), ("images", "labels"), valid)
    if arrays is None:
        return None
    return Split(torch.from_numpy(arrays["images"]), torch.from_numpy(arrays["labels"]),
                 src.classes)  # fmt: skip


def load_cifar10_jpeg(
    split: str,
    root: str | Path | None = None,
    download: bool = True,
    *,
    cache: str | Path | None = None,
    source: JpegSource | None = None,
) -> Split:
    """Load a split of the CIFAR-10 JPEG q75 copy (images uint8 ``(N, 3, 32, 32)``).

    The archive's checksum is verified on every call; the decoded arrays are cached
    in ``files.cache_dir(cache)`` as ``.npz`` files whose name and content are keyed
    by that checksum (and the Pillow version), written atomically and validated on
    load.  A first load decodes and caches both splits.  Order: by image number, then
    by class in the canonical CIFAR-10 order, so that the first N images (the subsets of the
    smoke profile and of the mid-run test curve) cover every class.
    """
    src = source or CIFAR10_JPEG
    check_split(split)
    folder = files.data_root(root) / src.folder
    [archive] = files.ensure_files(
        [src.archive], folder, download_missing=download, label=JPEG_LABEL
    )
    files.verify_file(archive, src.archive)  # also when cached: the key must be the real file
    cache_folder = files.cache_dir(cache)
    cached = _read_cache(_cache_path(cache_folder, src, split), src, split)
    if cached is not None:
        return cached
    decoded = _decode_archive(archive, src)
    for name, part in decoded.items():
        arrays = {"images": part.images.numpy(), "labels": part.labels.numpy()}
        files.write_cache(_cache_path(cache_folder, src, name), _cache_meta(src, name), arrays)
    return decoded[split]


def load_jpeg_split(split: str, root=None, download: bool = True, cache=None, source=None):
    """The registry's loader for the JPEG copy."""
    return load_cifar10_jpeg(split, root, download, cache=cache, source=source)
