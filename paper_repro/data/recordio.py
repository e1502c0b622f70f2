"""MXNet RecordIO, the format insightface distributes its face sets in (e.g. CASIA-WebFace as
``faces_webface_112x112/train.rec`` + ``train.idx`` with ``lfw.bin``), read without mxnet.

Format (dmlc-core ``include/dmlc/recordio.h``, ``src/recordio.cc``; mxnet
``python/mxnet/recordio.py``), all integers little-endian:

- A record is the uint32 magic 0xced7230a, a uint32 ``lrecord = cflag << 29 | length``, the
  ``length`` data bytes, and zero padding to a multiple of 4 bytes. The writer splits a record
  wherever the magic occurs at a 4-byte aligned position of its data: the parts carry cflag
  1 (first), 2 (middle), 3 (last) and leave the magic out; the reader joins them with the
  magic in between. cflag 0 is a whole record.
- ``.idx``: one ``key<TAB>offset`` text line per record, ``offset`` in bytes into ``.rec``.
- An image record's data is an IRHeader, struct ``IfQQ`` (flag, label, id, id2: 24 bytes),
  then, when flag > 0, ``flag`` float32 labels that replace ``label``, then the encoded image.
- insightface's ``train.rec``: when record 0 is a header (flag > 0), its labels (a, b) say
  records 1..a-1 are images (records a..b-1 index identities); otherwise every record is an
  image. An image's identity is its label, or its first label.
- ``lfw.bin`` (likewise ``cfp_fp.bin``, ``agedb_30.bin``): a pickle of ``(bins, issame_list)``,
  2P encoded images, pair i being ``bins[2i], bins[2i+1]``. insightface scores it with
  ``KFold(10)`` without shuffling, i.e. 10 folds of consecutive pairs; LFW's 6000 pairs keep
  the order of pairs.txt, so these are its 10 folds.

insightface's 112x112 alignment template is SphereFace's 112x96 one moved 8 px right, so
:data:`ALIGNED_112_BOX`, columns 8..104, gives back the papers' 112x96 alignment exactly.
No checksum is published for these files; :func:`load_recordio_faces` returns their sha256.
"""

from __future__ import annotations

import io
import mmap
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from paper_repro.fileio import atomic_write_bytes

from . import files
from .files import DataError, prescan_pickle
from .lfw import face_from_bytes
from .split import PairSet, Split

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_BITS = 29
_IR_FORMAT = "<IfQQ"  # flag, label, id, id2
_IR_SIZE = struct.calcsize(_IR_FORMAT)  # 24
ALIGNED_112_BOX = (8, 0, 104, 112)  # insightface 112x112 -> SphereFace/CosFace 112x96


class IRHeader(NamedTuple):
    flag: int
    label: float | np.ndarray  # float32 array of `flag` labels when flag > 0
    id: int
    id2: int


# --------------------------------------------------------------------------- records


def pack_record(data: bytes) -> bytes:
    """One record as dmlc's RecordIOWriter::WriteRecord writes it (splitting at the magic)."""
    if len(data) >= 1 << _LENGTH_BITS:
        raise ValueError("RecordIO records must be shorter than 2**29 bytes")
    out, start = [], 0
    for i in range(0, len(data) - len(data) % 4, 4):
        if data[i : i + 4] == _MAGIC_BYTES:
            cflag = 1 if start == 0 else 2
            out.append(_MAGIC_BYTES + struct.pack("<I", cflag << _LENGTH_BITS | (i - start)))
            out.append(data[start:i])
            start = i + 4
    cflag = 3 if start else 0
    out.append(_MAGIC_BYTES + struct.pack("<I", cflag << _LENGTH_BITS | (len(data) - start)))
    out.append(data[start:])
    out.append(b"\0" * (-len(data) % 4))  # pad the whole record, as the writer does
    return b"".join(out)


def read_record(buf, offset: int, what: str) -> tuple[bytes, int]:
    """The record starting at ``offset`` of ``buf`` (bytes or mmap), and the next offset."""
    parts: list[bytes] = []
    while True:
        if offset < 0 or offset + 8 > len(buf):
            raise DataError(f"{what}: record header at byte {offset} is past the end of the file")
        magic, lrecord = struct.unpack_from("<II", buf, offset)
        if magic != MAGIC:
            raise DataError(
                f"{what}: no RecordIO magic at byte {offset} (found {magic:#010x}); "
                "the file is corrupt or the index does not belong to it"
            )
        cflag, length = lrecord >> _LENGTH_BITS, lrecord & ((1 << _LENGTH_BITS) - 1)
        if cflag not in ((0, 1) if not parts else (2, 3)):
            raise DataError(f"{what}: unexpected continuation flag {cflag} at byte {offset}")
        start = offset + 8
        if start + length > len(buf):
            raise DataError(f"{what}: record at byte {offset} is truncated")
        parts.append(bytes(buf[start : start + length]))
        # the writer pads only after the last part; earlier parts end on a boundary anyway
        offset = start + length + (-length % 4)
        if cflag in (0, 3):
            return _MAGIC_BYTES.join(parts), offset


def iter_records(buf, what: str) -> Iterator[tuple[int, bytes]]:
    """(offset, record) for every record of a whole ``.rec`` content, in order."""
    offset = 0
    while offset < len(buf):
        record, next_offset = read_record(buf, offset, what)
        yield offset, record
        offset = next_offset


def read_index(path: str | Path) -> dict[int, int]:
    """The ``.idx`` file: record key -> byte offset in the ``.rec``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    index: dict[int, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip().isdigit() for f in fields):
            raise DataError(f"{path} line {n}: expected 'key<TAB>offset', got {line!r}")
        key, offset = int(fields[0]), int(fields[1])
        if key in index:
            raise DataError(f"{path} line {n}: key {key} appears twice")
        index[key] = offset
    if not index:
        raise DataError(f"{path}: empty index")
    return index


def pack_image_record(label, payload: bytes, id: int = 0, id2: int = 0) -> bytes:
    """IRHeader + image bytes, as mxnet.recordio.pack: a scalar label, or an array of them."""
    labels = np.atleast_1d(np.asarray(label, dtype=np.float32))
    if np.ndim(label) == 0:
        return struct.pack(_IR_FORMAT, 0, float(label), id, id2) + payload
    return struct.pack(_IR_FORMAT, labels.size, 0.0, id, id2) + labels.tobytes() + payload


def unpack_image_record(record: bytes, what: str) -> tuple[IRHeader, bytes]:
    """(header, image bytes) of an image record, as mxnet.recordio.unpack."""
    if len(record) < _IR_SIZE:
        raise DataError(f"{what}: {len(record)} bytes, shorter than the {_IR_SIZE}-byte IRHeader")
    header = IRHeader(*struct.unpack_from(_IR_FORMAT, record))
    rest = record[_IR_SIZE:]
    if header.flag > 0:
        if len(rest) < 4 * header.flag:
            raise DataError(f"{what}: header announces {header.flag} labels past the record's end")
        labels = np.frombuffer(rest, np.float32, header.flag).copy()
        header, rest = header._replace(label=labels), rest[4 * header.flag :]
    return header, rest


def write_recordio(rec_path: str | Path, idx_path: str | Path, records: list[bytes]) -> None:
    """Write records with keys 0..n-1 and their index (for tests and small tools)."""
    rec, idx, offset = [], [], 0
    for key, record in enumerate(records):
        packed = pack_record(record)
        rec.append(packed)
        idx.append(f"{key}\t{offset}\n")
        offset += len(packed)
    atomic_write_bytes(rec_path, b"".join(rec))
    atomic_write_bytes(idx_path, "".join(idx).encode())


# --------------------------------------------------------------------------- insightface


def _identity(header: IRHeader, what: str) -> int:
    label = header.label if header.flag == 0 else header.label[0]
    if not (np.isfinite(label) and float(label).is_integer() and label >= 0):
        raise DataError(f"{what}: identity label {label} is not a non-negative integer")
    return int(label)


def _decode_images(buf, index, rec_path, idx_path, box, shape, side):
    keys = sorted(index)
    if 0 in index:
        what = f"{rec_path} record 0"
        head, _ = unpack_image_record(read_record(buf, index[0], what)[0], what)
        if head.flag > 0:  # insightface's header record: images are records 1..a-1
            keys = list(range(1, int(head.label[0])))
            missing = [k for k in keys if k not in index]
            if missing:
                raise DataError(
                    f"{idx_path}: the header record announces images 1..{keys[-1]}, "
                    f"but key {missing[0]} is not indexed"
                )
    images = np.empty((len(keys), *shape), dtype=np.uint8)
    identity = np.empty(len(keys), dtype=np.int64)
    for row, key in enumerate(keys):
        what = f"{rec_path} record {key}"
        header, payload = unpack_image_record(read_record(buf, index[key], what)[0], what)
        identity[row] = _identity(header, what)
        images[row] = face_from_bytes(
            payload, what, box=box, shape=shape, side=side, formats=("JPEG", "PNG")
        )
    return images, identity


def load_recordio_faces(
    folder: str | Path,
    shape,
    *,
    box=ALIGNED_112_BOX,
    side: int | None = 112,
    min_images: int = 1,
    name: str = "train",
) -> tuple[Split, str]:
    """Decode and crop every image of ``<folder>/<name>.rec`` (+ ``.idx``): (Split, sha256).

    ``shape`` = (C, H, W) of the crops; ``box`` / ``side`` as in
    :func:`paper_repro.data.lfw.face_from_bytes`. Labels number the identities with at least
    ``min_images`` images in increasing order of their insightface label, which is the
    class name. The digest is of the ``.rec`` file."""
    folder = Path(folder)
    rec_path, idx_path = folder / f"{name}.rec", folder / f"{name}.idx"
    index = read_index(idx_path)
    try:
        f = open(rec_path, "rb")  # noqa: SIM115 - closed by the with block below
    except OSError as e:
        raise DataError(f"cannot read {rec_path}: {e}") from e
    with f:
        try:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
            raise DataError(f"cannot read {rec_path}: {e}") from e
        with buf:
            images, identity = _decode_images(buf, index, rec_path, idx_path, box, shape, side)
    ids, counts = np.unique(identity, return_counts=True)
    kept = ids[counts >= min_images]
    if kept.size == 0:
        raise DataError(f"{rec_path}: no identity has at least {min_images} images")
    rows = np.flatnonzero(np.isin(identity, kept))
    split = Split(
        images=torch.from_numpy(np.ascontiguousarray(images[rows])),
        labels=torch.from_numpy(np.searchsorted(kept, identity[rows])),
        classes=tuple(str(int(v)) for v in kept),
    )
    return split, files.digest_file(rec_path, "sha256")


# --------------------------------------------------------------------------- .bin pairs


def _latin1(text, encoding="latin1"):
    # what Python 3 writes for bytes at pickle protocol < 3: _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only _codecs.encode(str, 'latin1') is allowed")
    return text.encode("latin1")


class _BinUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return _latin1
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")


def unpickle_bin(data: bytes, what: str) -> tuple[list[bytes], list[bool]]:
    """``(bins, issame)`` from an insightface ``.bin`` pickle, refusing anything but plain
    lists of bytes and booleans (no code can run; Python 2 strings load as bytes)."""
    try:
        prescan_pickle(data)  # memo indices and lengths that would make the unpickler allocate GiBs
        obj = _BinUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as e:  # random bytes can raise almost any exception type
        raise DataError(
            f"{what}: not a valid verification .bin pickle ({type(e).__name__}: {e})"
        ) from e
    if not (isinstance(obj, tuple | list) and len(obj) == 2):
        raise DataError(f"{what}: expected a pickled (bins, issame_list), got {type(obj).__name__}")
    bins, issame = obj
    if not (isinstance(bins, list | tuple) and all(isinstance(b, bytes | bytearray) for b in bins)):
        raise DataError(f"{what}: bins must be a list of encoded images (bytes)")
    if not (
        isinstance(issame, list | tuple) and all(isinstance(v, bool) or v in (0, 1) for v in issame)
    ):
        raise DataError(f"{what}: issame_list must be a list of booleans")
    if len(bins) != 2 * len(issame):
        raise DataError(
            f"{what}: {len(bins)} images for {len(issame)} pairs; expected two per pair"
        )
    return [bytes(b) for b in bins], [bool(v) for v in issame]


def load_verification_bin(
    path: str | Path, shape, *, box=ALIGNED_112_BOX, side: int | None = 112, folds: int = 10
) -> PairSet:
    """The pairs of an insightface ``.bin`` file with their cropped images, in ``folds``
    folds of consecutive pairs (sizes as ``numpy.array_split``, like sklearn's KFold)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from e
    bins, issame = unpickle_bin(data, str(path))
    if len(issame) < folds:
        raise DataError(f"{path}: {len(issame)} pairs cannot fill {folds} folds")
    images = np.empty((len(bins), *shape), dtype=np.uint8)
    for i, blob in enumerate(bins):
        images[i] = face_from_bytes(
            blob, f"{path} image {i} (pair {i // 2})", box=box, shape=shape, side=side,
            formats=("JPEG", "PNG"),
        )  # fmt: skip
    p = len(issame)
    fold = np.concatenate(
        [np.full(len(part), k + 1) for k, part in enumerate(np.array_split(np.arange(p), folds))]
    )
    return PairSet(
        images=torch.from_numpy(images),
        index=torch.arange(2 * p).reshape(p, 2),  # pair i = images 2i, 2i + 1
        issame=np.array(issame, dtype=bool),
        folds=fold.astype(np.int64),
        what=str(path),
    )
