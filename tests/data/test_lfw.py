"""LFW: the View 2 files, the archive and extracted layouts, the crop, the cache, every
inconsistency as a DataError naming its file/line/identity, and the person-disjoint splits."""

from __future__ import annotations

import dataclasses
import io
import shutil
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from paper_repro.data import lfw, lfw_protocol
from paper_repro.data.files import DataError, FileSpec
from tests.data.synthetic_lfw import synthetic_people, tgz, write_synthetic_lfw
from tests.data.tiny_datasets import SHARED_DATA, md5, sha256

SHAPE = (3, 28, 24)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("lfw-template")
    return root, write_synthetic_lfw(root)


class LfwCopy:
    """An LFW in the official formats under `root` and the source whose digests accept it;
    `accept` changes the source (as if those files were the official ones)."""

    def __init__(self, root: Path, source: lfw.LfwSource):
        self.root, self.source = root, source

    def __truediv__(self, other):
        return self.root / other

    def accept(self, **changes) -> None:
        self.source = dataclasses.replace(self.source, **changes)


@pytest.fixture
def tiny(template, tmp_path):
    """A generated LFW in <tmp>/root/lfw (10 folds x 3 people with 3, 2, 1 images; 2 + 2
    pairs per fold) with its source. Copied from one generated per module."""
    root = tmp_path / "root"
    shutil.copytree(template[0] / "lfw", root / "lfw")
    return LfwCopy(root, template[1])


def load(data: LfwCopy, **kw):
    return lfw.load_lfw(data.root, SHAPE, download=False, cache=data.root.parent / "cache",
                        source=data.source, **kw)  # fmt: skip


def replace_file(root, name: str, data: bytes) -> None:
    """Overwrite a protocol file and make the source accept it (as if it were official)."""
    (root / "lfw" / name).write_bytes(data)
    field = {"pairs.txt": "pairs", "people.txt": "people"}[name]
    root.accept(**{field: dataclasses.replace(getattr(root.source, field), digest=md5(data))})


def rebuild_archive(root, change) -> None:
    """Rewrite the archive with change(name, data) -> data | None (None drops the member)."""
    path = root / "lfw" / lfw.ARCHIVE_NAME
    members = {}
    with tarfile.open(path) as tf:
        for m in tf:
            if m.isfile():
                data = change(m.name, tf.extractfile(m).read())
                if data is not None:
                    members[m.name] = data
    path.write_bytes(tgz(members))
    spec = FileSpec(lfw.ARCHIVE_NAME, sha256(path.read_bytes()), "sha256")
    root.accept(archives=(spec,))


def pairs_lines(root) -> list[str]:
    return (root / "lfw" / "pairs.txt").read_text().splitlines()


# --------------------------------------------------------------------------- reading


def test_round_trip_images_names_and_pairs(tiny):
    data = load(tiny)
    people = synthetic_people(10, 3)
    counts = {name: count for fold in people for name, count in fold}
    assert data.images.dtype == torch.uint8 and data.images.is_contiguous()
    assert data.images.shape == (sum(counts.values()), *SHAPE)
    assert data.names == tuple(sorted(counts))
    for name, count in counts.items():
        rows = np.flatnonzero(data.identity == data.names.index(name))
        assert data.number[rows].tolist() == list(range(1, count + 1))
    assert len(data.pairs.pairs) == 10 * 4 and data.pairs.folds == 10
    for pair, (a, b) in zip(data.pairs.pairs, data.pair_index, strict=True):
        assert (data.names[data.identity[a]], data.number[a]) == (pair.name_a, pair.number_a)
        assert (data.names[data.identity[b]], data.number[b]) == (pair.name_b, pair.number_b)
    assert data.pairs.issame.tolist() == ([True] * 2 + [False] * 2) * 10
    assert data.pairs.fold.tolist() == [k for k in range(1, 11) for _ in range(4)]


@pytest.mark.parametrize("shape", [(3, 28, 24), (1, 56, 48)])
def test_crop_is_the_documented_box_resized(tiny, shape):
    data = lfw.load_lfw(
        tiny.root, shape, download=False, cache=tiny.root.parent / "c", source=tiny.source
    )
    name = data.names[4]
    with tarfile.open(tiny / "lfw" / lfw.ARCHIVE_NAME) as tf:
        member = tf.extractfile(f"lfw-deepfunneled/{name}/{name}_0001.jpg").read()
    c, h, w = shape
    image = Image.open(io.BytesIO(member)).convert("L" if c == 1 else "RGB")
    # independent route: crop, then resize; equal away from the border, where resize(box=)
    # may also read pixels just outside the box
    expected = np.asarray(image.crop(lfw.LFW_BOX).resize((w, h), Image.Resampling.BILINEAR))
    expected = expected[None] if c == 1 else expected.transpose(2, 0, 1)
    row = int(np.flatnonzero((data.identity == 4) & (data.number == 1))[0])
    got = data.images[row].numpy()
    assert got.shape == shape
    assert np.array_equal(got[:, 1:-1, 1:-1], expected[:, 1:-1, 1:-1])
    assert np.abs(got.astype(int) - expected).max() < 40


def test_extracted_folder_gives_the_same_faces(tmp_path):
    a = LfwCopy(tmp_path / "a", write_synthetic_lfw(tmp_path / "a"))
    from_archive = load(a)
    b = LfwCopy(tmp_path / "b", a.source)
    write_synthetic_lfw(b.root, extract=True)  # same seed: same images, same text files
    assert not (b / "lfw" / lfw.ARCHIVE_NAME).exists()
    from_folder = load(b)
    assert torch.equal(from_archive.images, from_folder.images)
    assert from_folder.where == str(b / "lfw" / "lfw-deepfunneled")


def test_cache_is_used_and_keyed_by_digest_and_shape(tiny, monkeypatch):
    first = load(tiny)
    cached = sorted(p.name for p in (tiny.root.parent / "cache").iterdir())
    digest = tiny.source.archives[0].digest
    assert cached == [f"lfw-{digest[:16]}-3x28x24-v2.npz"]
    monkeypatch.setattr(lfw, "_decode_all", lambda *a: pytest.fail("decoded despite the cache"))
    again = load(tiny)
    assert torch.equal(first.images, again.images)
    assert np.array_equal(first.pair_index, again.pair_index)


def test_cache_alone_is_the_compact_form_to_carry(tiny, monkeypatch):
    first = load(tiny)
    shutil.rmtree(tiny / "lfw")  # no archive, folder, pairs.txt or people.txt any more
    monkeypatch.setattr(lfw, "_decode_all", lambda *a: pytest.fail("decoded without images"))
    carried = load(tiny)
    assert torch.equal(first.images, carried.images)
    assert carried.pairs.pairs == first.pairs.pairs and carried.people.folds == first.people.folds
    assert np.array_equal(first.pair_index, carried.pair_index)
    assert carried.where.endswith("-v2.npz")
    # a cache of other protocol files is not used: the loader asks for the files instead
    tiny.accept(pairs=dataclasses.replace(tiny.source.pairs, digest="1" * 32))
    with pytest.warns(UserWarning, match="ignoring cache"), pytest.raises(DataError) as e:
        load(tiny)
    assert "missing data file(s)" in str(e.value) and "pairs.txt" in str(e.value)


def test_damaged_cache_is_rebuilt_with_a_warning(tiny):
    first = load(tiny)
    [path] = (tiny.root.parent / "cache").iterdir()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside the pixels: only the zip CRC notices
    path.write_bytes(data)
    with pytest.warns(UserWarning, match="ignoring cache"):
        again = load(tiny)
    assert torch.equal(first.images, again.images)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(tiny)  # rebuilt cache is valid


def test_archive_is_verified_even_when_cached(tiny):
    load(tiny)
    archive = tiny / "lfw" / lfw.ARCHIVE_NAME
    data = bytearray(archive.read_bytes())
    data[-40] ^= 0x10
    archive.write_bytes(data)
    with pytest.raises(DataError) as e:
        load(tiny)
    msg = str(e.value)
    assert str(archive) in msg and tiny.source.archives[0].digest in msg
    assert sha256(bytes(data)) in msg


def test_any_accepted_archive_digest_is_enough(tiny):
    good = tiny.source.archives[0]
    wrong = FileSpec(lfw.ARCHIVE_NAME, "0" * 32)  # e.g. the official tarball's md5
    tiny.accept(archives=(wrong, good))
    assert len(load(tiny).images) > 0
    tiny.accept(archives=(wrong,))
    with pytest.raises(DataError, match="matches none of the accepted versions") as e:
        load(tiny)
    assert "0" * 32 in str(e.value)


def test_official_digests_are_the_published_ones():
    assert [(s.algorithm, s.digest) for s in lfw.LFW.archives] == [
        ("md5", "68331da3eb755a505a502b5aacb3c201"),
        ("sha256", "bccc8a953ed5be51f6e98790ca11ebcc145162f264c42447184ebe6da4f67b72"),
    ]
    assert lfw.LFW.pairs.digest == "9f1ba174e4e1c508ff7cdf10ac338a7d"
    assert lfw.LFW.people.digest == "450f0863dd89e85e73936a6d71a3474b"
    assert lfw.DEV_PAIRS["train"].digest == "4f27cbf15b2da4a85c1907eb4181ad21"
    assert lfw.DEV_PAIRS["test"].digest == "5132f7440eb68cf58910c8a45a2ac10b"
    assert all(s.urls[0].startswith("http://vis-www.cs.umass.edu/lfw/")
               for s in (lfw.LFW.archives[0], lfw.LFW.pairs, lfw.LFW.people))  # fmt: skip


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataError) as e:
        lfw.load_lfw(tmp_path, SHAPE, download=False)
    msg = str(e.value)
    assert str(tmp_path / "lfw" / "pairs.txt") in msg and "9f1ba174" in msg
    assert "http://vis-www.cs.umass.edu/lfw/pairs.txt" in msg


# --------------------------------------------------------------------------- bad data


def test_pair_naming_a_missing_image(tiny):
    lines = pairs_lines(tiny)
    name, n1, _ = lines[1].split("\t")
    lines[1] = f"{name}\t{n1}\t9"
    replace_file(tiny, "pairs.txt", ("\n".join(lines) + "\n").encode())
    with pytest.raises(DataError) as e:
        load(tiny)
    msg = str(e.value)
    assert "pairs.txt line 2" in msg and f"{name}/{name}_0009.jpg does not exist" in msg


def test_pair_naming_an_unknown_identity(tiny):
    lines = pairs_lines(tiny)
    _, n1, other, n2 = lines[4].split("\t")  # the second mismatched pair of fold 1
    lines[4] = f"Nobody_Known\t{n1}\t{other}\t{n2}"
    replace_file(tiny, "pairs.txt", ("\n".join(lines) + "\n").encode())
    with pytest.raises(DataError, match=r"pairs.txt line 5: unknown identity Nobody_Known"):
        load(tiny)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_jpeg_is_named(tiny, damage):
    target = "Synthetic_Person_03_02_0002.jpg"
    rebuild_archive(
        tiny,
        lambda name, data: (
            (b"not a jpeg" if damage == "garbage" else data[: len(data) // 2])
            if name.endswith(target)
            else data
        ),
    )
    with pytest.raises(DataError, match=rf"{target}: cannot decode the image"):
        load(tiny)


def test_corrupt_jpeg_in_extracted_folder(tmp_path):
    data = LfwCopy(tmp_path, write_synthetic_lfw(tmp_path, extract=True))
    path = tmp_path / "lfw/lfw-deepfunneled/Synthetic_Person_07_01/Synthetic_Person_07_01_0003.jpg"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match=rf"{path.name}: cannot decode the image"):
        load(data)


def test_image_of_the_wrong_size(tiny):
    small = io.BytesIO()
    Image.new("RGB", (64, 64)).save(small, format="JPEG")
    rebuild_archive(tiny,
        lambda name, data: small.getvalue() if name.endswith("_05_01_0001.jpg") else data,
    )  # fmt: skip
    with pytest.raises(
        DataError, match=r"_05_01_0001.jpg: expected a 250x250 image, got \(64, 64\)"
    ):
        load(tiny)


def test_unexpected_archive_member(tiny):
    rebuild_archive(tiny, lambda name, data: data)
    path = tiny / "lfw" / lfw.ARCHIVE_NAME
    with tarfile.open(path) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf if m.isfile()}
    members["lfw-deepfunneled/Someone/notes.txt"] = b"x"
    path.write_bytes(tgz(members))
    tiny.accept(archives=(FileSpec(lfw.ARCHIVE_NAME, sha256(path.read_bytes()), "sha256"),))
    with pytest.raises(DataError, match=r"unexpected file lfw-deepfunneled/Someone/notes\.txt"):
        load(tiny)


def test_people_count_disagreeing_with_the_images(tiny):
    text = (tiny / "lfw" / "people.txt").read_text()
    text = text.replace("Synthetic_Person_02_01\t3", "Synthetic_Person_02_01\t4")
    replace_file(tiny, "people.txt", text.encode())
    with pytest.raises(DataError, match=r"people.txt line 7: Synthetic_Person_02_01 has 4 images"):
        load(tiny)


def test_image_missing_from_the_archive(tiny):
    rebuild_archive(tiny,
        lambda name, data: None if name.endswith("Synthetic_Person_09_01_0002.jpg") else data,
    )  # fmt: skip
    with pytest.raises(DataError, match=r"people.txt line \d+: Synthetic_Person_09_01 has 3"):
        load(tiny)


def test_person_listed_in_two_folds(tiny):
    lines = (tiny / "lfw" / "people.txt").read_text().splitlines()
    lines[6] = lines[2]  # fold 2's first person replaced by fold 1's first person
    replace_file(tiny, "people.txt", ("\n".join(lines) + "\n").encode())
    with pytest.raises(DataError, match=r"people.txt line 7: .* already listed at line 3"):
        load(tiny)


def test_pair_outside_its_persons_fold(tiny):
    lines = pairs_lines(tiny)
    fold2_pair = lines[5 + 0]  # first matched pair of fold 2 ...
    lines[1] = fold2_pair  # ... written into fold 1
    replace_file(tiny, "pairs.txt", ("\n".join(lines) + "\n").encode())
    with pytest.raises(DataError, match=r"pairs.txt line 2: .* appears in fold 1 but is in fold 2"):
        load(tiny)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"2\t1\nA\t1\t2\nA\t1\tB\t2\n", "ends early; expected a pair 'name n1 n2' of fold 2"),
        (b"1\t1\nA\t1\nA\t1\tB\t2\n", "line 2: expected a matched pair 'name n1 n2'"),
        (b"1\t1\nA\t1\t2\nA\t1\tA\t2\n", "line 3: a mismatched pair names A twice"),
        (b"1\t1\nA\tx\t2\nA\t1\tB\t2\n", "line 2: expected a positive integer, got 'x'"),
        (b"1\t1\nA\t0\t2\nA\t1\tB\t2\n", "line 2: expected a positive integer, got '0'"),
        (b"1\t1\nA\t1\t2\nA\t1\tB\t2\nC\t1\t2\n", "line 4: unexpected content after"),
        (b"1 1 1\n", "line 1: expected 'folds pairs_per_fold'"),
        (b"\xff\xfe", "not a text file"),
    ],
)
def test_parse_pairs_errors(text, message):
    with pytest.raises(DataError, match=message):
        lfw_protocol.parse_pairs(text, "pairs.txt")


def test_parse_view1_pairs_and_blank_lines():
    pairs = lfw_protocol.parse_pairs(b"2\n\nA 1 2\r\nB\t2\t3\nA 1 B 1\nC 2 D 3\n\n\n", "dev")
    assert (pairs.folds, pairs.per_fold) == (1, 2)
    assert pairs.pairs[1] == lfw_protocol.Pair("B", 2, "B", 3, True, 1, 4)
    assert pairs.pairs[3] == lfw_protocol.Pair("C", 2, "D", 3, False, 1, 6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"1\n2\nA\t1\n", "ends early; expected 'name count' in fold 1"),
        (b"1\n1\nA\n", "line 3: expected 'name count'"),
        (b"2\n1\nA\t1\n1\nA\t2\n", "line 5: A is already listed at line 3"),
        (b"1\n1 2\n", "line 2: expected the size of fold 1"),
    ],
)
def test_parse_people_errors(text, message):
    with pytest.raises(DataError, match=message):
        lfw_protocol.parse_people(text, "people.txt")


# --------------------------------------------------------------------------- protocols


def _names_of(split_train) -> set[str]:
    return {split_train.classes[i] for i in split_train.labels.tolist()}


@pytest.mark.parametrize("fold", [1, 4, 10])
def test_image_unrestricted_split(tiny, fold):
    data = load(tiny)
    split = lfw_protocol.image_unrestricted_split(data, fold)
    people = synthetic_people(10, 3)
    expected = sorted(n for k, f in enumerate(people, 1) if k != fold for n, _ in f)
    assert split.train.classes == tuple(expected) and _names_of(split.train) == set(expected)
    assert len(split.train) == sum(c for k, f in enumerate(people, 1) if k != fold for _, c in f)
    assert split.test_folds == (fold,)
    tested = {n for p in data.pairs.pairs if p.fold == fold for n in (p.name_a, p.name_b)}
    assert tested and not tested & set(split.train.classes)
    # every image of the training set is the image of the person its label names
    row_of = {data.images[r].numpy().tobytes(): r for r in range(len(data.images))}
    for image, label in zip(split.train.images, split.train.labels, strict=True):
        row = row_of[image.numpy().tobytes()]
        assert data.names[data.identity[row]] == split.train.classes[label]
    # the pairs of every fold stay, for choosing thresholds; their images are the right ones
    assert sorted(set(split.pairs.folds.tolist())) == list(range(1, 11))
    for (a, b), (ra, rb) in zip(split.pairs.index.tolist(), data.pair_index, strict=True):
        assert torch.equal(split.pairs.images[a], data.images[ra])
        assert torch.equal(split.pairs.images[b], data.images[rb])


@pytest.mark.parametrize("half", [1, 2])
def test_halves_split_is_person_disjoint(tiny, half):
    data = load(tiny)
    split = lfw_protocol.halves_split(data, half, min_images=2)
    train_folds, test_folds = ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])[:: 1 if half == 1 else -1]
    people = synthetic_people(10, 3)
    trained = {n for k in train_folds for n, c in people[k - 1] if c >= 2}
    assert set(split.train.classes) == trained == _names_of(split.train)
    assert split.test_folds == tuple(test_folds)
    assert sorted(set(split.pairs.folds.tolist())) == test_folds
    assert len(split.pairs.issame) == 4 * 5
    tested = {n for p in data.pairs.pairs if p.fold in test_folds for n in (p.name_a, p.name_b)}
    assert not tested & trained


def test_split_refuses_a_test_identity_in_training(tiny):
    data = load(tiny)
    # a pair of fold 6 naming a person of fold 1 (load_lfw would already refuse the file)
    leak = data.pairs.pairs[0]._replace(fold=6)
    bad = dataclasses.replace(
        data, pairs=dataclasses.replace(data.pairs, pairs=(leak, *data.pairs.pairs[1:]))
    )
    with pytest.raises(DataError, match=f"both trained on and tested: {leak.name_a}"):
        lfw_protocol.halves_split(bad, 1)


def test_split_arguments():
    with pytest.raises(ValueError, match="half must be 1 or 2"):
        lfw_protocol.halves_split(None, 3)


# --------------------------------------------------------------------------- real files


@pytest.mark.skipif(not (SHARED_DATA / "lfw" / "pairs.txt").is_file(), reason="no offline LFW")
def test_real_offline_protocol_files():
    from paper_repro.data import files

    folder = SHARED_DATA / "lfw"
    pairs = lfw_protocol.parse_pairs(files.read_verified(folder / "pairs.txt", lfw.LFW.pairs))
    people = lfw_protocol.parse_people(files.read_verified(folder / "people.txt", lfw.LFW.people))
    assert (pairs.folds, pairs.per_fold, len(pairs.pairs)) == (10, 300, 6000)
    assert np.bincount(pairs.fold).tolist() == [0] + [600] * 10
    for k in range(1, 11):
        same = pairs.issame[pairs.fold == k]
        assert same[:300].all() and not same[300:].any()
    assert len(people.folds) == 10
    names = [p.name for fold in people.folds for p in fold]
    assert len(names) == len(set(names)) == 5749  # person-disjoint folds
    assert sum(p.count for fold in people.folds for p in fold) == 13233
    fold_of = {p.name: p.fold for fold in people.folds for p in fold}
    assert all(fold_of[p.name_a] == fold_of[p.name_b] == p.fold for p in pairs.pairs)
    for split, n in (("train", 1100), ("test", 500)):
        dev = lfw_protocol.parse_pairs(files.read_verified(folder / lfw.DEV_PAIRS[split].name,
                                                  lfw.DEV_PAIRS[split]))  # fmt: skip
        assert (dev.folds, len(dev.pairs), int(dev.issame.sum())) == (1, 2 * n, n)


@pytest.mark.skipif(not (SHARED_DATA / "lfw" / lfw.ARCHIVE_NAME).is_file(), reason="no archive")
def test_real_offline_archive_is_an_accepted_version():
    spec = lfw._accepted_spec(SHARED_DATA / "lfw" / lfw.ARCHIVE_NAME, lfw.LFW.archives)
    assert spec.algorithm == "sha256"
    expected = (SHARED_DATA / "lfw" / "SHA256SUMS").read_text().split()[0]
    assert spec.digest == expected
