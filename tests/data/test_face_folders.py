"""A folder per identity (the CASIA-WebFace layout): labels, crops, digest, bad trees."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from paper_repro.data.face_folders import list_face_folders, load_face_folders
from paper_repro.data.files import DataError

SHAPE = (3, 16, 12)


def image_bytes(rng, fmt="JPEG", size=(40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def tree(tmp_path):
    """3 identities (names not in creation order) with 2, 1 and 3 images, JPEG and PNG."""
    rng = np.random.default_rng(0)
    root = tmp_path / "CASIA-WebFace"
    layout = {
        "0000107": ["001.jpg", "002.png"],
        "0000045": ["001.jpg"],
        "0000099": ["a.jpg", "b.jpg", "c.jpeg"],
    }
    for identity, names in layout.items():
        (root / identity).mkdir(parents=True)
        for name in names:
            fmt = "PNG" if name.endswith(".png") else "JPEG"
            (root / identity / name).write_bytes(image_bytes(rng, fmt))
    (root / "names.txt").write_text("a list file beside the folders is ignored")
    return root


def test_labels_follow_sorted_identity_names(tree):
    split, digest = load_face_folders(tree, SHAPE)
    assert split.classes == ("0000045", "0000099", "0000107")
    assert split.labels.tolist() == [0, 1, 1, 1, 2, 2]
    assert split.images.shape == (6, *SHAPE) and split.images.dtype == torch.uint8
    assert len(digest) == 64
    # pixels: the whole image resized (no box), decoded independently
    expected = Image.open(tree / "0000107" / "002.png").convert("RGB")
    expected = expected.resize((12, 16), Image.Resampling.BILINEAR)
    assert np.array_equal(split.images[5].numpy(), np.asarray(expected).transpose(2, 0, 1))


def test_box_and_required_size(tree):
    split, _ = load_face_folders(tree, (1, 8, 8), box=(10, 10, 30, 30), side=40)
    expected = Image.open(tree / "0000045" / "001.jpg").convert("L").crop((10, 10, 30, 30))
    expected = np.asarray(expected.resize((8, 8), Image.Resampling.BILINEAR))
    assert np.array_equal(split.images[0, 0, 1:-1, 1:-1].numpy(), expected[1:-1, 1:-1])
    with pytest.raises(DataError, match=r"001.jpg: expected a 50x50 image, got \(40, 40\)"):
        load_face_folders(tree, SHAPE, side=50)


def test_min_images_drops_small_identities(tree):
    split, _ = load_face_folders(tree, SHAPE, min_images=2)
    assert split.classes == ("0000099", "0000107")
    assert split.labels.tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(DataError, match="no identity has at least 4 images"):
        load_face_folders(tree, SHAPE, min_images=4)


def test_digest_covers_every_byte_and_name(tree):
    _, first = load_face_folders(tree, SHAPE)
    path = tree / "0000099" / "c.jpeg"
    path.rename(path.with_name("d.jpeg"))
    _, renamed = load_face_folders(tree, SHAPE)
    assert renamed != first


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("corrupt", r"0000099/b.jpg: cannot decode the image"),
        ("stray", r"0000045/notes.txt: not an image"),
        ("nested", r"0000045/deeper: nested folder"),
        ("missing", "no such folder"),
    ],
)
def test_bad_trees(tree, damage, message):
    if damage == "corrupt":
        (tree / "0000099" / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    elif damage == "stray":
        (tree / "0000045" / "notes.txt").write_text("x")
    elif damage == "nested":
        (tree / "0000045" / "deeper").mkdir()
    else:
        tree = tree / "absent"
    with pytest.raises(DataError, match=message):
        load_face_folders(tree, SHAPE)


def test_empty_tree(tmp_path):
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="no images in any identity sub-folder"):
        list_face_folders(tmp_path)
