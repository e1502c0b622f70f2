"""Your own faces for verification: a folder with one sub-folder of images per person
(JPEG or PNG, any size, grey or colour), named ``faces:DIR`` (options after ``|``:
``pairs=FILE``, ``box=X0,Y0,X1,Y1``).

What the network sees: each image converted to the network's channels (Pillow's luma for
one, RGB for three), cut to ``box`` (default: the largest centred box of the network's
aspect ratio) and resized to its input, so any image size and colour fits any network.

Who trains and who tests, reproducibly and without overlap:
- without a pairs file, every ``TEST_EVERY``-th person with two or more images (in name
  order) is held out; pairs of held-out images, half of the same person, half of two people,
  are drawn with a fixed generator and dealt into ``FOLDS`` folds in turn;
- with ``pairs=FILE`` (LFW's pairs.txt format; image numbers count a person's files in name
  order from 1) its pairs and folds test, and everyone it names is held out.
The network trains on the remaining people with at least ``min_images`` images. A result
records a sha256 of every image it used: the run's identity is the folder's path, so a
folder changed since keeps its old result until that is deleted. Accuracy is
LFW's: per fold, with the threshold chosen on the other folds. Drawn pairs' folds share
people, so that threshold is a little better informed than LFW's person-disjoint folds."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .face_folders import list_face_folders
from .files import DataError
from .lfw import crop_face
from .lfw_protocol import parse_pairs
from .split import FaceSplit, PairSet, Split

PREFIX = "faces:"
TEST_EVERY = 4  # every 4th person with 2+ images is held out for testing
FOLDS = 10
PAIRS_PER_FOLD = 300  # matched pairs per fold at most (and as many mismatched), as LFW
PAIR_SEED = 0  # the drawn pairs are the same for every run and seed


def is_own_faces(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def dataset_name(folder, pairs=None, box: str | None = None) -> str:
    folder = Path(folder).expanduser().absolute()
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected one sub-folder of images per person")
    parts = [f"{PREFIX}{folder}"]
    if pairs:
        parts.append(f"pairs={Path(pairs).expanduser().absolute()}")
    if box:
        parts.append(f"box={','.join(str(v) for v in _box(box))}")
    return "|".join(parts)


def label(name: str) -> str:
    """How results and figures name the dataset: the folder, then its options."""
    folder, *options = name[len(PREFIX) :].split("|")
    return f"your faces {folder}" + (f" ({', '.join(options)})" if options else "")


def _box(text: str) -> tuple[int, int, int, int]:
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise DataError(f"box must be X0,Y0,X1,Y1 in pixels, got {text!r}") from None
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise DataError(f"box {text!r}: need 0 <= X0 < X1 and 0 <= Y0 < Y1")
    return x0, y0, x1, y1


def _options(name: str) -> tuple[Path, Path | None, tuple[int, int, int, int] | None]:
    folder, *rest = name[len(PREFIX) :].split("|")
    options = dict(part.split("=", 1) for part in rest)
    pairs = Path(options["pairs"]) if "pairs" in options else None
    return Path(folder), pairs, _box(options["box"]) if "box" in options else None


def centred_box(size: tuple[int, int], shape) -> tuple[int, int, int, int]:
    """The largest box of the network's aspect ratio W:H centred in an image of `size`."""
    width, height = size
    _, h, w = shape
    if width * h > height * w:  # wider than the network's input: cut the sides
        cut = round(height * w / h)
        left = (width - cut) // 2
        return left, 0, left + cut, height
    cut = round(width * h / w)
    top = (height - cut) // 2
    return 0, top, width, top + cut


def read_face(path: Path, shape, box=None, digest=None) -> np.ndarray:
    """One image as the network takes it, uint8 (C, H, W), upright by its EXIF orientation
    (phone photos); DataError naming the file. digest: a hashlib object fed the file."""
    try:
        data = path.read_bytes()
        if digest is not None:
            digest.update(f"{path.parent.name}/{path.name}\0{len(data)}\0".encode())
            digest.update(data)
        with Image.open(io.BytesIO(data)) as raw:
            raw.load()  # decode now: a truncated or corrupt file fails here
            image = ImageOps.exif_transpose(raw)
            where = box or centred_box(image.size, shape)
            if where[2] > image.size[0] or where[3] > image.size[1]:
                raise DataError(f"{path}: box {where} does not fit the {image.size} image")
            return crop_face(image, where, shape)
    except DataError:
        raise
    except Exception as e:  # Pillow raises many types for corrupt input
        raise DataError(f"{path}: cannot read the image ({type(e).__name__}: {e})") from e


def load_split(split, shape, min_images, root=None, download=True, cache=None, source=None):
    """The registry-style loader: split "heldout" of the dataset named in `source`."""
    if split != "heldout":
        raise ValueError(f"unknown split {split!r} of your faces; valid: heldout")
    folder, pairs_file, box = _options(source)
    people = dict(list_face_folders(folder))
    if pairs_file is None:
        tested = [n for n, paths in people.items() if len(paths) >= 2][TEST_EVERY - 1 :: TEST_EVERY]
        pairs = _drawn_pairs(people, tested)
    else:
        pairs, tested = _file_pairs(people, pairs_file)
    trained = sorted(n for n, paths in people.items()
                     if n not in set(tested) and len(paths) >= min_images)  # fmt: skip
    if len(trained) < 2:
        raise DataError(
            f"{folder}: {len(trained)} people left to train on (with {min_images}+ images, "
            f"after holding out {len(tested)}); need at least 2"
        )
    images, labels, digest = [], [], hashlib.sha256()
    for label, name in enumerate(trained):
        for path in people[name]:
            images.append(read_face(path, shape, box, digest))
            labels.append(label)
    train = Split(torch.from_numpy(np.stack(images)), torch.tensor(labels), tuple(trained))
    used = sorted({key for pair in pairs for key in pair[:2]})  # (person, image number)
    row = {key: i for i, key in enumerate(used)}
    pair_images = np.stack([read_face(people[n][k - 1], shape, box, digest) for n, k in used])
    left_out = len(people) - len(trained) - len(tested)
    where = "drawn pairs" if pairs_file is None else f"the pairs of {pairs_file.name}"
    return FaceSplit(
        "heldout",
        train,
        PairSet(
            images=torch.from_numpy(pair_images),
            index=torch.tensor([[row[a], row[b]] for a, b, _, _ in pairs]).view(-1, 2),
            issame=np.array([same for *_, same, _ in pairs], dtype=bool),
            folds=np.array([fold for *_, fold in pairs], dtype=np.int64),
            what=f"{where}: {len(pairs)} pairs of {len(tested)} held-out people",
        ),
        tuple(range(1, max(fold for *_, fold in pairs) + 1)),
        f"{len(trained)} people train, {len(tested)} held out for pairs"
        + (f"; {left_out} with fewer than {min_images} images left out" if left_out else "")
        + f"; sha256 of the images used {digest.hexdigest()[:16]}",
    )


def _drawn_pairs(people: dict, tested: list[str]) -> list[tuple]:
    """[((person, number), (person, number), same, fold)]: as many matched as mismatched
    pairs, at most PAIRS_PER_FOLD of each per fold, dealt into the folds in turn."""
    if len(tested) < 2:
        raise DataError(
            f"too few people to hold out: {len(tested)} of {len(people)} people would be held "
            f"out (every {TEST_EVERY}th of those with two or more images); need at least "
            f"{2 * TEST_EVERY} people with two or more images, or give a pairs file"
        )
    rng = np.random.default_rng(PAIR_SEED)
    counts = np.array([len(people[n]) for n in tested])
    # how many distinct pairs there are: a person with n images has n(n-1)/2 matched ones,
    # two people with n and k images n k mismatched ones
    matched_total = int(sum(n * (n - 1) // 2 for n in counts))
    mismatched_total = int((counts.sum() ** 2 - (counts**2).sum()) // 2)
    want = min(PAIRS_PER_FOLD * FOLDS, matched_total, mismatched_total)
    if want < FOLDS:
        raise DataError(
            f"the held-out people give {matched_total} matched and {mismatched_total} "
            f"mismatched pairs; need at least {FOLDS} of each, one per fold: add people with "
            "two or more images"
        )
    matched, mismatched = set(), set()
    weights = counts * (counts - 1) / (counts * (counts - 1)).sum()
    while len(matched) < want:
        p = int(rng.choice(len(tested), p=weights))
        a, b = sorted(rng.choice(counts[p], size=2, replace=False) + 1)
        matched.add(((tested[p], int(a)), (tested[p], int(b))))
    while len(mismatched) < want:  # want <= mismatched_total: this ends
        p, q = sorted(rng.choice(len(tested), size=2, replace=False))
        a, b = (int(rng.integers(counts[i])) + 1 for i in (p, q))
        mismatched.add(((tested[p], a), (tested[q], b)))
    ordered = [(*pair, True) for pair in sorted(matched)] + [
        (*pair, False) for pair in sorted(mismatched)]  # fmt: skip
    return [(a, b, same, i % want % FOLDS + 1) for i, (a, b, same) in enumerate(ordered)]


def _file_pairs(people: dict, path: Path) -> tuple[list[tuple], list[str]]:
    try:
        parsed = parse_pairs(path.read_bytes(), str(path))
    except OSError as e:
        raise DataError(f"cannot read the pairs file {path}: {e}") from e
    if parsed.folds < 2:
        raise DataError(f"{path}: {parsed.folds} fold; accuracy needs two or more (each fold's "
                        "threshold is chosen on the others), as in LFW's pairs.txt")  # fmt: skip
    out = []
    for p in parsed.pairs:
        for name, number in ((p.name_a, p.number_a), (p.name_b, p.number_b)):
            if name not in people:
                raise DataError(f"{path}, line {p.line}: no folder {name!r} of images")
            if not 1 <= number <= len(people[name]):
                raise DataError(f"{path}, line {p.line}: {name} has {len(people[name])} images, "
                                f"not an image {number}")  # fmt: skip
        out.append(((p.name_a, p.number_a), (p.name_b, p.number_b), p.same, p.fold))
    tested = sorted({n for a, b, *_ in out for n, _ in (a, b)})
    return out, tested
