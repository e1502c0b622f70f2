"""Files on disk: data root, checksums, verified reads, downloads and atomic writes.

Every dataset file is described by a :class:`FileSpec` (name, expected digest, where
to download it).  Files are always checked against their digest *before* any byte
is parsed, so a corrupt, truncated or wrong file is rejected with a :class:`DataError`
instead of being half-read.

There is deliberately no "already verified" stamp cache: hashing the largest file
(the 161 MiB CIFAR-100 archive) costs well under a second next to minutes of
training, and a stamp cache would add a way of trusting a file that changed.

Downloads go to a temporary name and are renamed only once verified, so a reader sees
either no file or the complete, checked one.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import pickletools
import secrets
import shutil
import urllib.request
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paper_repro.fileio import atomic_write, fsync_dir

log = logging.getLogger(__name__)

ENV_DATA_ROOT = "PAPER_REPRO_DATA"
ENV_CACHE_DIR = "PAPER_REPRO_CACHE"
DEFAULT_DATA_ROOT = "./data"
DEFAULT_CACHE_DIR = "./.cache/paper_repro"

_CHUNK = 1 << 20
# Seconds without progress before a download is abandoned (urllib's socket timeout).
DOWNLOAD_TIMEOUT_S = 60.0


class DataError(RuntimeError):
    """A dataset file is missing, corrupt, or not in the expected format."""


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root: explicit argument, else ``$PAPER_REPRO_DATA``, else ``./data``.

    Datasets live in sub-folders ``mnist/``, ``cifar10/``, ``cifar100/``, ``cifar10-jpeg/``.
    The root may be read-only (e.g. ``../shared/data``) as long as the files are there.
    """
    if root is None:
        root = os.environ.get(ENV_DATA_ROOT) or DEFAULT_DATA_ROOT
    return Path(root).expanduser().absolute()


def cache_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the cache folder for decoded arrays: argument, ``$PAPER_REPRO_CACHE``, or
    ``./.cache/paper_repro``.  Kept apart from the data root, which may be read-only."""
    if cache is None:
        cache = os.environ.get(ENV_CACHE_DIR) or DEFAULT_CACHE_DIR
    return Path(cache).expanduser().absolute()


@dataclass(frozen=True)
class FileSpec:
    """One dataset file: its name in the dataset folder, expected digest, and sources.

    ``gunzip=True`` means the digest is of the gzip-decompressed content (used for
    MNIST, whose offline ``.gz`` wrappers differ from the mirrors' while the content is
    identical).  ``max_bytes`` bounds the (decompressed) size so a wrong file or a
    gzip bomb is rejected instead of filling memory.
    """

    name: str
    digest: str
    algorithm: str = "md5"
    gunzip: bool = False
    urls: tuple[str, ...] = ()
    max_bytes: int = 1 << 30

    def describe(self) -> str:
        what = " of the uncompressed content" if self.gunzip else ""
        return f"{self.algorithm} {self.digest}{what}"


def digest_bytes(data: bytes, algorithm: str) -> str:
    """Hex digest of ``data``."""
    return hashlib.new(algorithm, data).hexdigest()


def digest_file(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file, read in chunks (constant memory)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def gunzip_bounded(data: bytes, limit: int, what: str) -> bytes:
    """Decompress gzip ``data`` (all members), refusing output larger than ``limit``."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
            out = g.read(limit + 1)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
        raise DataError(
            f"{what}: not a valid gzip file ({e}); the file is corrupt or truncated"
        ) from e
    if len(out) > limit:
        raise DataError(f"{what}: decompresses to more than {limit} bytes; wrong file")
    return out


def prescan_pickle(data: bytes) -> None:
    """Walk the opcodes once before unpickling, rejecting what the C unpickler would
    turn into huge allocations: a memo index of 2**32 makes it allocate a 32 GiB memo
    table, and a length field larger than the data makes it pre-allocate that much.
    Real pickles number memo entries consecutively, so an index can never exceed the
    number of opcodes read so far; pickletools itself rejects lengths past the end.
    """
    for count, (op, arg, _) in enumerate(pickletools.genops(data), start=1):
        if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and int(arg) > count:
            raise pickle.UnpicklingError(f"memo index {arg} out of range")


def _mismatch(path: Path, spec: FileSpec, actual: str) -> DataError:
    return DataError(
        f"checksum mismatch for {path}: expected {spec.describe()}, got {actual}. "
        "The file is corrupt, truncated or a different file; delete it and put a good "
        f"copy there{_sources(spec)}."
    )


def _sources(spec: FileSpec) -> str:
    return f" (official source: {' or '.join(spec.urls)})" if spec.urls else ""


def read_verified(path: str | os.PathLike[str], spec: FileSpec) -> bytes:
    """Return the file's content (decompressed if ``spec.gunzip``) after checking its digest.

    The bytes returned are exactly the bytes that were hashed, so what the caller
    parses is what was verified.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        # gzip can expand incompressible data slightly (5 bytes per 64 KiB block + header).
        limit = spec.max_bytes + (spec.max_bytes // 1000 + 1024 if spec.gunzip else 0)
        if size > limit:
            raise DataError(
                f"{path}: {size} bytes, more than the {limit} expected for {spec.name}; wrong file"
            )
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    if spec.gunzip:
        try:
            data = gunzip_bounded(data, spec.max_bytes, str(path))
        except DataError as e:
            raise DataError(
                f"{e}; expected {spec.describe()}, got no valid content. "
                f"Delete it and put a good copy there{_sources(spec)}."
            ) from e
    actual = digest_bytes(data, spec.algorithm)
    if actual != spec.digest:
        raise _mismatch(path, spec, actual)
    return data


def verify_file(path: str | os.PathLike[str], spec: FileSpec) -> None:
    """Check a file against ``spec`` without keeping its content in memory."""
    if spec.gunzip:
        read_verified(path, spec)
        return
    path = Path(path)
    try:
        actual = digest_file(path, spec.algorithm)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    if actual != spec.digest:
        raise _mismatch(path, spec, actual)


def fetch(url: str, dest: str | os.PathLike[str]) -> None:
    """Download ``url`` into the file ``dest`` (overwritten).  Uses urllib only.

    This is the single network entry point: tests replace it (monkeypatch
    ``paper_repro.data.files.fetch``) so they never touch the network.
    """
    req = urllib.request.Request(url, headers={"User-Agent": "paper_repro"})
    with urllib.request.urlopen(req, timeout=DOWNLOAD_TIMEOUT_S) as r, open(dest, "wb") as f:
        shutil.copyfileobj(r, f, _CHUNK)


def download(spec: FileSpec, folder: Path) -> Path:
    """Download ``spec`` into ``folder``, trying each URL in turn.

    Each attempt writes a temporary ``.<name>.<random>.part`` file in ``folder``,
    verifies it, and only then renames it to its final name, so an interrupted or
    corrupt download never leaves a file that looks complete.
    """
    if not spec.urls:
        raise DataError(f"no download location is known for {spec.name}")
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / spec.name
    errors = []
    for url in spec.urls:
        tmp = folder / f".{spec.name}.{secrets.token_hex(6)}.part"
        try:
            log.info("downloading %s -> %s", url, final)
            fetch(url, tmp)
            verify_file(tmp, spec)
            os.replace(tmp, final)
            fsync_dir(folder)
            return final
        except Exception as e:  # any failure of one mirror: try the next one
            errors.append(f"{url}: {type(e).__name__}: {e}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError("; ".join(errors))


def ensure_files(
    specs: Iterable[FileSpec], folder: Path, *, download_missing: bool, label: str, hint: str = ""
) -> list[Path]:
    """Paths of ``specs`` in ``folder``, downloading missing ones if allowed.

    Only presence is checked here; content is verified when the file is read.
    Raises one :class:`DataError` listing every file still missing, with its full
    path, expected checksum and official source.  ``hint`` is appended to it.
    """
    specs = list(specs)
    problems: list[tuple[FileSpec, str]] = []
    for spec in specs:
        if (folder / spec.name).is_file():
            continue
        if not download_missing:
            problems.append((spec, "downloading is disabled"))
            continue
        try:
            download(spec, folder)
        except (DataError, OSError) as e:
            problems.append((spec, f"download failed: {e}"))
    if problems:
        lines = [f"{label}: missing data file(s) in {folder}:"]
        for spec, why in problems:
            lines.append(f"  {folder / spec.name}  [{why}]")
            lines.append(f"      expected {spec.describe()}")
            src = " or ".join(spec.urls) if spec.urls else "no known download location"
            lines.append(f"      get it from: {src}")
        lines.append(
            "Put the file(s) at the path(s) above, or point the data root (the explicit "
            f"data-root argument or ${ENV_DATA_ROOT}) at a folder that has them "
            f"in its {folder.name}/ sub-folder (on the project machines: ../shared/data)."
        )
        if hint:
            lines.append(hint)
        raise DataError("\n".join(lines))
    return [folder / s.name for s in specs]


def read_cache(path: Path, meta: str, keys: tuple[str, ...], valid) -> dict | None:
    """The arrays `keys` of a decoded-data cache (.npz) when it exists, was written for `meta`
    (what the decoded pixels depend on: files, decoder, crop) and `valid(arrays)` holds;
    else None, with a warning saying why it is decoded again. npz members carry a CRC-32
    that zipfile checks on read, so bit rot is caught too."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("meta", *keys)}
        if str(arrays.pop("meta")) == meta and valid(arrays):
            return arrays
        reason = "it was written for other files, another crop or another decoder"
    except Exception as e:  # any unreadable cache is simply rebuilt
        reason = f"{type(e).__name__}: {e}"
    warnings.warn(f"ignoring cache {path} ({reason}); decoding again", stacklevel=3)
    return None


def write_cache(path: Path, meta: str, arrays: dict) -> None:
    """Write a decoded-data cache atomically (uncompressed: decoded JPEG pixels gain ~6 % from
    compression); a cache that cannot be written only costs time, so it warns."""
    try:
        with atomic_write(path) as f:
            np.savez(f, meta=np.array(meta), **arrays)
    except OSError as e:
        warnings.warn(f"cannot write cache {path}: {e}", stacklevel=3)
