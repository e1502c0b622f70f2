"""MXNet RecordIO and insightface's .bin pairs, read without mxnet: tiny files built here,
the byte layout checked against hand-written struct packing, corrupt files rejected."""

from __future__ import annotations

import io
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

from paper_repro.data import recordio
from paper_repro.data.files import DataError
from tests.data.tiny_datasets import py2_pickle

MAGIC = struct.pack("<I", 0xCED7230A)


def jpeg(rng, size=112) -> bytes:
    buf = io.BytesIO()
    pixels = np.repeat(np.repeat(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8), 14, 0), 14, 1)
    Image.fromarray(pixels[:size, :size]).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


# --------------------------------------------------------------------------- records


def test_plain_record_layout():
    packed = recordio.pack_record(b"abcde")
    # magic, lrecord = cflag 0 | length 5, data, 3 zero bytes to a multiple of 4
    assert packed == MAGIC + struct.pack("<I", 5) + b"abcde\0\0\0"
    assert recordio.read_record(packed, 0, "x") == (b"abcde", 16)


def test_magic_inside_the_data_splits_the_record():
    data = b"ABCD" + MAGIC + b"EFGH" + MAGIC + b"IJ"  # magic at aligned offsets 4 and 12
    packed = recordio.pack_record(data)
    expected = (
        MAGIC + struct.pack("<I", 1 << 29 | 4) + b"ABCD"  # first part
        + MAGIC + struct.pack("<I", 2 << 29 | 4) + b"EFGH"  # middle part
        + MAGIC + struct.pack("<I", 3 << 29 | 2) + b"IJ\0\0"  # last part, padded
    )  # fmt: skip
    assert packed == expected
    assert recordio.read_record(packed, 0, "x") == (data, len(packed))


def test_unaligned_magic_is_plain_data():
    data = b"A" + MAGIC + b"BCD"
    packed = recordio.pack_record(data)
    assert packed[4:8] == struct.pack("<I", len(data))  # one whole record, cflag 0
    assert recordio.read_record(packed, 0, "x")[0] == data


@pytest.mark.parametrize(
    "data", [b"", MAGIC, MAGIC * 3, b"xyz" + MAGIC, bytes(range(256)) * 3 + MAGIC + b"t"]
)
def test_round_trip_and_sequential_reading(data):
    blob = b"".join(recordio.pack_record(d) for d in (b"first", data, b"last!"))
    assert [r for _, r in recordio.iter_records(blob, "x")] == [b"first", data, b"last!"]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\0" * 8, "no RecordIO magic at byte 0"),
        (MAGIC + struct.pack("<I", 10) + b"short", "truncated"),
        (MAGIC + b"\0", "past the end"),
        (MAGIC + struct.pack("<I", 2 << 29 | 0), "unexpected continuation flag 2"),
        (MAGIC + struct.pack("<I", 1 << 29 | 0) + MAGIC + struct.pack("<I", 0), "flag 0"),
        (MAGIC + struct.pack("<I", 5 << 29 | 0), "unexpected continuation flag 5"),
    ],
)
def test_corrupt_records(blob, message):
    with pytest.raises(DataError, match=message):
        recordio.read_record(blob, 0, "train.rec")


def test_image_header_layout():
    record = recordio.pack_image_record(7.0, b"JPEGDATA", id=3)
    assert record == struct.pack("<IfQQ", 0, 7.0, 3, 0) + b"JPEGDATA"
    header, payload = recordio.unpack_image_record(record, "x")
    assert (header.flag, header.label, header.id, payload) == (0, 7.0, 3, b"JPEGDATA")
    record = recordio.pack_image_record([5.0, 9.0], b"P")
    assert record == struct.pack("<IfQQ", 2, 0.0, 0, 0) + struct.pack("<2f", 5, 9) + b"P"
    header, payload = recordio.unpack_image_record(record, "x")
    assert header.label.tolist() == [5.0, 9.0] and payload == b"P"
    with pytest.raises(DataError, match="shorter than the 24-byte IRHeader"):
        recordio.unpack_image_record(b"\0" * 10, "x")
    with pytest.raises(DataError, match="3 labels past the record's end"):
        recordio.unpack_image_record(struct.pack("<IfQQ", 3, 0, 0, 0) + b"\0" * 8, "x")


def test_index_errors(tmp_path):
    path = tmp_path / "train.idx"
    path.write_text("0\t0\n1\tx\n")
    with pytest.raises(DataError, match="line 2: expected 'key<TAB>offset'"):
        recordio.read_index(path)
    path.write_text("0\t0\n0\t8\n")
    with pytest.raises(DataError, match="key 0 appears twice"):
        recordio.read_index(path)


# --------------------------------------------------------------------------- insightface sets


def insightface_rec(folder, labels, rng, header=True) -> list[bytes]:
    """train.rec/.idx as insightface writes them: record 0 a header (images 1..n), images,
    then one record per identity."""
    images = [jpeg(rng) for _ in labels]
    records = [
        recordio.pack_image_record(float(y), img) for y, img in zip(labels, images, strict=True)
    ]
    if header:
        n, ids = len(labels), sorted(set(labels))
        head = recordio.pack_image_record([n + 1, n + 1 + len(ids)], b"")
        identity = [recordio.pack_image_record([0, 0], b"") for _ in ids]
        records = [head, *records, *identity]
    recordio.write_recordio(folder / "train.rec", folder / "train.idx", records)
    return images


@pytest.mark.parametrize("header", [True, False])
def test_insightface_train_rec(tmp_path, header):
    rng = np.random.default_rng(0)
    labels = [3, 0, 3, 7, 0]
    images = insightface_rec(tmp_path, labels, rng, header)
    split, digest = recordio.load_recordio_faces(tmp_path, (3, 112, 96))
    assert split.classes == ("0", "3", "7")
    assert split.labels.tolist() == [1, 0, 1, 2, 0]
    # the 112x96 crop is columns 8..104 of the aligned 112x112 image, untouched
    aligned = np.asarray(Image.open(io.BytesIO(images[3])))  # (112, 112, 3)
    assert np.array_equal(split.images[3].numpy(), aligned[:, 8:104].transpose(2, 0, 1))
    assert len(digest) == 64
    dropped, _ = recordio.load_recordio_faces(tmp_path, (1, 56, 48), min_images=2)
    assert dropped.classes == ("0", "3") and dropped.images.shape == (4, 1, 56, 48)


def test_rec_errors_name_the_record(tmp_path):
    rng = np.random.default_rng(1)
    insightface_rec(tmp_path, [1, 2], rng, header=False)
    rec = tmp_path / "train.rec"
    data = bytearray(rec.read_bytes())
    start = recordio.read_index(tmp_path / "train.idx")[1] + 8 + 24  # record 1's image
    data[start : start + 20] = b"\0" * 20
    rec.write_bytes(data)
    with pytest.raises(DataError, match=r"train.rec record 1: cannot decode the image"):
        recordio.load_recordio_faces(tmp_path, (3, 112, 96))
    (tmp_path / "train.idx").write_text("0\t0\n1\t4\n")
    with pytest.raises(DataError, match="no RecordIO magic at byte 4"):
        recordio.load_recordio_faces(tmp_path, (3, 112, 96))
    rec.write_bytes(b"")
    with pytest.raises(DataError, match="cannot read"):
        recordio.load_recordio_faces(tmp_path, (3, 112, 96))


def test_fractional_label_is_rejected(tmp_path):
    rng = np.random.default_rng(2)
    recordio.write_recordio(tmp_path / "train.rec", tmp_path / "train.idx",
                            [recordio.pack_image_record(1.5, jpeg(rng))])  # fmt: skip
    with pytest.raises(DataError, match=r"identity label 1\.5 is not a non-negative integer"):
        recordio.load_recordio_faces(tmp_path, (3, 112, 96))


# --------------------------------------------------------------------------- .bin pairs


def bin_pickle(bins, issame, how: str) -> bytes:
    if how == "py2":  # Python 2 str, as the original insightface files
        return py2_pickle((bins, issame))
    return pickle.dumps((bins, issame), protocol=2 if how == "protocol2" else 4)


@pytest.mark.parametrize("how", ["py2", "protocol2", "protocol4"])
def test_lfw_bin_pairs_and_folds(tmp_path, how):
    rng = np.random.default_rng(3)
    bins = [jpeg(rng) for _ in range(40)]
    issame = [i % 2 == 0 for i in range(20)]
    path = tmp_path / "lfw.bin"
    path.write_bytes(bin_pickle(bins, issame, how))
    pairs = recordio.load_verification_bin(path, (3, 112, 96))
    assert pairs.issame.tolist() == issame
    assert pairs.folds.tolist() == [k for k in range(1, 11) for _ in range(2)]  # consecutive
    assert pairs.index.tolist() == [[2 * i, 2 * i + 1] for i in range(20)]
    expected = np.asarray(Image.open(io.BytesIO(bins[13])))[:, 8:104].transpose(2, 0, 1)
    assert np.array_equal(pairs.images[13].numpy(), expected)


class Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (Evil(), "global posix.system is not allowed|global nt.system is not allowed"),
        (([b"a"], [True]), "1 images for 1 pairs"),
        (([b"a", "text"], [True]), "bins must be a list of encoded images"),
        (([b"a", b"b"], [2]), "issame_list must be a list of booleans"),
        ({"bins": []}, "expected a pickled"),
    ],
)
def test_bad_bin_files(tmp_path, obj, message):
    path = tmp_path / "lfw.bin"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(DataError, match=message):
        recordio.load_verification_bin(path, (3, 112, 96), folds=1)


def test_bin_with_too_few_pairs(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "lfw.bin"
    path.write_bytes(pickle.dumps(([jpeg(rng), jpeg(rng)], [True])))
    with pytest.raises(DataError, match="1 pairs cannot fill 10 folds"):
        recordio.load_verification_bin(path, (3, 112, 96))
