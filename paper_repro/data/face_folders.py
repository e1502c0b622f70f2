"""A folder per identity, the layout CASIA-WebFace (Yi et al., 2014) is distributed in:
``<folder>/<identity>/<image>.jpg``, the identity being the sub-folder's name.

No checksum is published for CASIA-WebFace, so nothing can be verified against a known
digest: every image must decode, and :func:`load_face_folders` returns a sha256 of the
whole tree (paths and bytes) so a result can record exactly which files it was trained on.
Files directly in ``<folder>`` (lists, licences) are ignored; anything else that is not an
image, or a folder nested deeper, is an error rather than silently skipped data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from .files import DataError
from .lfw import face_from_bytes
from .split import Split

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def list_face_folders(folder: str | Path) -> list[tuple[str, list[Path]]]:
    """``[(identity, image paths)]`` sorted by identity, each identity's paths sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: no such folder; expected one sub-folder of images per identity "
            "(as CASIA-WebFace is distributed)"
        )
    identities = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        images = []
        for path in sorted(sub.iterdir()):
            if path.is_dir():
                raise DataError(f"{path}: nested folder; expected images directly in {sub}")
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{path}: not an image ({', '.join(IMAGE_SUFFIXES)})")
            images.append(path)
        identities.append((sub.name, images))
    if not any(images for _, images in identities):
        raise DataError(f"{folder}: no images in any identity sub-folder")
    return identities


def load_face_folders(
    folder: str | Path,
    shape,
    *,
    box: tuple[int, int, int, int] | None = None,
    side: int | None = None,
    min_images: int = 1,
) -> tuple[Split, str]:
    """Decode and crop every image: ``(Split, tree sha256)``.

    ``shape`` = (C, H, W) of the crops (see :func:`paper_repro.data.lfw.crop_face`); ``box``:
    the crop box in the image (None: the whole image); ``side``: required image size
    (side x side), None for any. Identities with fewer than ``min_images`` images are dropped;
    labels number the rest in sorted order of their names, which are the Split's classes."""
    identities = [(n, p) for n, p in list_face_folders(folder) if len(p) >= min_images]
    if not identities:
        raise DataError(f"{folder}: no identity has at least {min_images} images")
    n = sum(len(paths) for _, paths in identities)
    images = np.empty((n, *shape), dtype=np.uint8)
    labels = np.empty(n, dtype=np.int64)
    tree = hashlib.sha256()
    row = 0
    for label, (name, paths) in enumerate(identities):
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError as e:
                raise DataError(f"cannot read {path}: {e}") from e
            relative = f"{name}/{path.name}"
            tree.update(f"{relative}\0{len(data)}\0".encode())
            tree.update(data)
            images[row] = face_from_bytes(
                data, str(path), box=box, shape=shape, side=side, formats=("JPEG", "PNG")
            )
            labels[row] = label
            row += 1
    split = Split(
        images=torch.from_numpy(images),
        labels=torch.from_numpy(labels),
        classes=tuple(name for name, _ in identities),
    )
    return split, tree.hexdigest()
