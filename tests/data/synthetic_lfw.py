"""A small LFW in the official formats (archive or folder, pairs.txt, people.txt), with the
source whose digests match these files: the face runs' and the LFW readers' test data."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from paper_repro.data.files import FileSpec
from paper_repro.data.lfw import ARCHIVE_NAME, IMAGE_SIDE, LFW, LfwSource


def jpeg(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def tgz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        folders = {str(p) for m in members for p in Path(m).parents if str(p) != "."}
        for name in sorted(folders | set(members)):
            data = members.get(name)
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def synthetic_people(folds: int, people_per_fold: int) -> list[list[tuple[str, int]]]:
    """Names and image counts (3, 2, 1, 3, ...: some people have a single image, as in LFW)."""
    return [
        [
            (f"Synthetic_Person_{k:02d}_{j:02d}", (3, 2, 1)[(j - 1) % 3])
            for j in range(1, people_per_fold + 1)
        ]
        for k in range(1, folds + 1)
    ]


def write_synthetic_lfw(
    root: str | Path,
    *,
    folds: int = 10,
    people_per_fold: int = 3,
    pairs_per_fold: int = 2,
    seed: int = 0,
    extract: bool = False,
) -> LfwSource:
    """Write a small LFW in the official formats into ``<root>/lfw/`` and return its source.

    For the smoke profile and the tests: 250x250 JPEG "faces" (each identity a smooth random
    colour pattern, each image of it shifted and noised) in ``lfw-deepfunneled.tgz`` (or the
    extracted folder), and pairs.txt / people.txt in the View 2 format with the source's
    digests set to these files."""
    if people_per_fold < 2:
        raise ValueError("mismatched pairs need at least two people per fold")
    rng = np.random.default_rng(seed)
    people = synthetic_people(folds, people_per_fold)
    top = LFW.top
    members = {}
    for fold in people:
        for name, count in fold:
            pattern = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
            smooth = Image.fromarray(pattern).resize((IMAGE_SIDE,) * 2, Image.Resampling.BILINEAR)
            face = np.asarray(smooth, dtype=np.float64)
            for number in range(1, count + 1):
                shifted = np.roll(face, tuple(rng.integers(-6, 7, 2)), axis=(0, 1))
                noisy = np.clip(shifted + rng.normal(0, 8, shifted.shape), 0, 255)
                members[f"{top}/{name}/{name}_{number:04d}.jpg"] = jpeg(noisy.astype(np.uint8))
    pair_lines = [f"{folds}\t{pairs_per_fold}"]
    for fold in people:
        several = [(n, c) for n, c in fold if c >= 2]
        if not several:
            raise ValueError("matched pairs need a person with two images in every fold")
        for i in range(pairs_per_fold):
            name, count = several[i % len(several)]
            first = 1 + (i // len(several)) % (count - 1)
            pair_lines.append(f"{name}\t{first}\t{count}")
        for i in range(pairs_per_fold):
            a, b = fold[i % len(fold)], fold[(i + 1) % len(fold)]
            pair_lines.append(f"{a[0]}\t{1 + i % a[1]}\t{b[0]}\t{1 + i % b[1]}")
    people_lines = [str(folds)]
    for fold in people:
        people_lines += [str(len(fold)), *(f"{n}\t{c}" for n, c in fold)]
    pairs_text = ("\n".join(pair_lines) + "\n").encode()
    people_text = ("\n".join(people_lines) + "\n").encode()
    archive = tgz(members)

    folder = Path(root) / LFW.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pairs.txt").write_bytes(pairs_text)
    (folder / "people.txt").write_bytes(people_text)
    if extract:
        for name, data in members.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    else:
        (folder / ARCHIVE_NAME).write_bytes(archive)
    md5 = lambda data: hashlib.md5(data).hexdigest()  # noqa: E731
    return LfwSource(
        archives=(FileSpec(ARCHIVE_NAME, hashlib.sha256(archive).hexdigest(), "sha256"),),
        pairs=FileSpec("pairs.txt", md5(pairs_text)),
        people=FileSpec("people.txt", md5(people_text)),
    )
