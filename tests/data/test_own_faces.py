"""Your own faces (paper_repro.data.own_faces) on a tiny generated set of people: who trains
and who is tested, the pairs, the conversion of any image to the network's input, clear
errors; and `train --task verify` end to end."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from PIL import Image

from paper_repro.__main__ import main
from paper_repro.data import Catalog, DataError
from paper_repro.data import own_faces as of
from paper_repro.results import read_result

SHAPE = (1, 56, 48)  # face-quick


@pytest.fixture(autouse=True)
def _denormals_back():
    """The CLI flushes denormals process-wide (a CPU speed setting); the property tests that
    run later in this process need them."""
    yield
    torch.set_flush_denormal(False)


def people(root, counts, rng=None, sizes=((90, 70), (64, 120), (250, 250))):
    """A folder per person with counts[i] images of mixed sizes, grey JPEG and RGB PNG."""
    rng = rng or np.random.default_rng(0)
    for p, n in enumerate(counts):
        folder = root / f"person{p:02d}"
        folder.mkdir(parents=True)
        for k in range(n):
            w, h = sizes[(p + k) % len(sizes)]
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            if k % 2:
                Image.fromarray(rgb).save(folder / f"{k:03d}.png")
            else:
                Image.fromarray(rgb[..., 0]).save(folder / f"{k:03d}.jpg")
    return root


def load(root, min_images=2, **options):
    name = of.dataset_name(root, **options)
    return Catalog().load(name, "heldout", shape=SHAPE, min_images=min_images)


def test_held_out_people_never_train_and_the_pairs_are_what_they_claim(tmp_path):
    counts = [1, 2, 3, 4, 5, 6, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4]
    faces = load(people(tmp_path / "faces", counts))
    eligible = [f"person{p:02d}" for p, n in enumerate(counts) if n >= 2]
    held = set(eligible[of.TEST_EVERY - 1 :: of.TEST_EVERY])
    assert held and not held & set(faces.train.classes)
    assert set(faces.train.classes) == set(eligible) - held  # person00 has one image
    pairs = faces.pairs
    assert pairs.issame.sum() == (~pairs.issame).sum()  # as many matched as mismatched
    assert sorted(set(pairs.folds)) == list(range(1, of.FOLDS + 1))
    assert faces.test_folds == tuple(range(1, of.FOLDS + 1))
    # the oracle: every pair read back from the files, by person and image
    name, _, _ = of._options(of.dataset_name(tmp_path / "faces"))
    rows = {}
    for person in sorted(held):
        for k, path in enumerate(sorted((name / person).iterdir())):
            rows[of.read_face(path, SHAPE).tobytes()] = (person, k)
    seen = set()
    for (a, b), same in zip(pairs.index.tolist(), pairs.issame, strict=True):
        pa, pb = rows[pairs.images[a].numpy().tobytes()], rows[pairs.images[b].numpy().tobytes()]
        assert (pa[0] == pb[0]) == bool(same) and pa != pb
        assert (pa, pb) not in seen
        seen.add((pa, pb))


def test_the_pairs_are_the_same_every_time(tmp_path):
    root = people(tmp_path / "faces", [4] * 12)
    a, b = load(root), load(root)
    assert np.array_equal(a.pairs.index.numpy(), b.pairs.index.numpy())
    assert np.array_equal(a.pairs.issame, b.pairs.issame)
    assert np.array_equal(a.pairs.folds, b.pairs.folds)


def test_any_image_size_and_colour_becomes_the_networks_input(tmp_path):
    assert of.centred_box((200, 100), SHAPE) == (57, 0, 143, 100)  # 100 * 48 / 56 = 86 wide
    assert of.centred_box((48, 112), SHAPE) == (0, 28, 48, 84)  # 48 * 56 / 48 = 56 high
    path = tmp_path / "wide.png"
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[:, 57:143] = 200  # the centred box white, the sides black: nothing of the sides shows
    Image.fromarray(rgb).save(path)
    face = of.read_face(path, SHAPE)
    assert face.shape == SHAPE and face.dtype == np.uint8
    # the resampling filter reaches one source pixel past the box: the edge columns blend
    assert face[..., 1:-1].min() >= 190 and face[..., [0, -1]].min() > 100
    assert of.read_face(path, (3, 112, 96)).shape == (3, 112, 96)


def test_a_pairs_file_chooses_the_tested_people(tmp_path):
    root = people(tmp_path / "faces", [3, 3, 2, 4, 2])
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2\t1\nperson00\t1\t3\nperson00\t1\tperson01\t2\n"
                     "person00\t2\t1\nperson01\t3\tperson00\t1\n")  # fmt: skip
    faces = load(root, pairs=pairs)
    assert faces.train.classes == ("person02", "person03", "person04")
    assert faces.pairs.issame.tolist() == [True, False, True, False]
    assert faces.pairs.folds.tolist() == [1, 1, 2, 2]
    bad = tmp_path / "bad.txt"
    bad.write_text("2\t1\nperson00\t1\t4\nperson00\t1\tperson01\t2\n"
                   "person00\t2\t1\nperson01\t3\tperson00\t1\n")  # fmt: skip
    with pytest.raises(DataError, match=r"bad.txt, line 2: person00 has 3 images, not an image 4"):
        load(root, pairs=bad)
    bad.write_text("2\t1\nnobody\t1\t2\nperson00\t1\tperson01\t2\n"
                   "person00\t2\t1\nperson01\t3\tperson00\t1\n")  # fmt: skip
    with pytest.raises(DataError, match="line 2: no folder 'nobody'"):
        load(root, pairs=bad)


@pytest.mark.parametrize(
    "counts,message",
    [
        ([5, 5, 5, 5, 1, 1], "too few people to hold out: 1 of 6"),
        ([2] * 8, "need at least 10 of each, one per fold"),
        # one held-out person with most of the images: 24 mismatched pairs only, and drawing
        # must stop there rather than wait for 67
        ([2, 2, 2, 12, 2, 2, 2, 2], None),
        ([1] * 10 + [9] * 8, None),  # enough
    ],
)
def test_too_few_people_or_images_say_what_is_missing(tmp_path, counts, message):
    root = people(tmp_path / "faces", counts)
    if message is None:
        faces = load(root)
        assert faces.pairs.issame.sum() == (~faces.pairs.issame).sum() >= 10
        return
    with pytest.raises(DataError, match=message):
        load(root)


def test_an_unreadable_image_is_named(tmp_path):
    root = people(tmp_path / "faces", [4] * 8)
    (root / "person03" / "001.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"person03/001.png: cannot read the image"):
        load(root)
    with pytest.raises(DataError, match="box must be X0,Y0,X1,Y1"):
        of.dataset_name(root, box="1,2,3")


def test_train_verify_writes_a_result_and_a_roc_and_resumes(tmp_path, capsys):
    root = people(tmp_path / "faces", [5] * 12)
    args = ["train", "--data", str(root), "--head", "lmcl", "--network", "face-quick",
            "--profile", "smoke", "--results-dir", str(tmp_path / "results"),
            "--runs-dir", str(tmp_path / "runs"), "--no-progress", "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "face network: training for verification" in out
    assert "images converted to luma 48x56" in out and "verification accuracy" in out
    [path] = (tmp_path / "results" / "smoke" / "user-faces").glob("lmcl-m0.35-data-*.json")
    result = read_result(path)
    assert "sha256 of the images used" in result["faces"]["split"]
    assert result["evaluator"] == "verification" and result["hyper"]["s"] == 30.0
    assert set(result["metrics"]["fold_accuracy"]) == {str(k) for k in range(1, 11)}
    assert result["faces"]["train_identities"] == 9
    assert path.with_name(path.stem + "-roc.png").stat().st_size > 0
    assert main(args) == 0 and "done already" in capsys.readouterr().out


def test_a_network_that_does_not_take_the_images_is_one_line(tmp_path, capsys):
    root = tmp_path / "classes"
    for c, k in itertools.product(range(2), range(5)):
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.zeros((30, 30), np.uint8)).save(root / f"c{c}" / f"{k}.png")
    code = main(["train", "--data", str(root), "--network", "table1-mnist", "--task", "classify",
                 "--profile", "smoke", "--results-dir", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "network table1-mnist takes 1x28x28 images, the data has 1x30x30" in err[0]


def test_a_one_fold_pairs_file_is_refused_before_training(tmp_path):
    root = people(tmp_path / "faces", [3, 3, 2, 4, 2])
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\nperson00\t1\t3\nperson00\t1\tperson01\t2\n")  # View 1's header
    with pytest.raises(DataError, match="1 fold; accuracy needs two or more"):
        load(root, pairs=pairs)


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path):
    pixels = np.zeros((60, 120), np.uint8)  # stored landscape, the left half white
    pixels[:, :60] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    face = of.read_face(tmp_path / "photo.jpg", (1, 120, 60))
    # upright it is portrait, 60 wide and 120 high, white on top: the stored left half
    assert face[0, :50].mean() > 200 and face[0, 70:].mean() < 50


def test_each_folder_and_its_options_is_its_own_run():
    from paper_repro.experiments import user_faces_run

    a = user_faces_run("faces:/x", "face-quick", "lmcl", {}, "smoke")
    b = user_faces_run("faces:/x|box=1,2,3,4", "face-quick", "lmcl", {}, "smoke")
    assert a.run_id != b.run_id and a.run_id.startswith("lmcl-m0.35-data-")
    given = user_faces_run("faces:/x", "face-quick", "lsoftmax", {"m": 2, "lam": 3.0}, "smoke")
    assert given.head.kwargs["lam"] == 3.0  # a given lambda is kept, not floored
