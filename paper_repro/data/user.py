"""A user's own classification data, named by path instead of a registry key:

- ``folder:DIR``: one sub-folder per class holding its images (PNG, JPEG, BMP, GIF; any
  Pillow reads). With ``DIR/train/`` and ``DIR/test/`` the two splits are those trees;
  otherwise every ``HOLDOUT``-th image of each class (in file-name order) is the test split.
  Every image must have the size and the channel count of the first (grey or RGB).
- ``idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS]``: IDX files as MNIST ships them (unsigned
  bytes, images (N, H, W) or (N, H, W, C), labels (N,) in 0..C-1), gzip'd or not; without
  test files the hold-out rule above applies. A file that is neither is named with what it
  looks like (a zip archive, an image, ...).

Every problem raises :class:`DataError` naming the file: an unreadable image, a size or
channel mismatch, an empty folder, a single class, an IDX header that disagrees with its
data or with the labels file, a test label unknown to training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from . import files
from .files import DataError
from .mnist import parse_idx, sniff
from .split import Split, check_split

HOLDOUT = 5  # every 5th image of each class is held out for testing when no test split exists
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
KINDS = ("folder", "idx")
MAX_IDX_BYTES = 8 << 30  # a decompressed IDX file larger than this is refused, not read


def is_user_dataset(name: str) -> bool:
    return name.split(":", 1)[0] in KINDS and ":" in name


def dataset_name(path: str | Path, labels: str | Path | None = None) -> str:
    """The dataset name for a folder tree, or for IDX images with their labels file."""
    path = Path(path).expanduser().absolute()
    if labels is None:
        if not path.is_dir():
            raise DataError(f"{path} is not a folder of class folders (IDX files need LABELS)")
        return f"folder:{path}"
    return f"idx:{path},{Path(labels).expanduser().absolute()}"


def label(name: str) -> str:
    return f"user data {name}"


def load_split(split: str, root=None, download=True, cache=None, source=None) -> Split:
    """The registry-style loader of a user dataset; `split` is "train" or "test" and the
    dataset's name travels in `source`. root, download and cache do not apply."""
    kind, _, where = source.partition(":")
    check_split(split)
    if kind == "folder":
        return _folder_split(Path(where), split)
    return _idx_split([Path(p) for p in where.split(",")], split)


def _holdout(split: Split, part: str) -> Split:
    """Every HOLDOUT-th example of each class (test) or the others (train), order kept."""
    labels = split.labels.numpy()
    rank = np.zeros(len(labels), dtype=np.int64)  # position of each example within its class
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        rank[rows] = np.arange(len(rows))
    keep = (rank % HOLDOUT == HOLDOUT - 1) == (part == "test")
    index = torch.from_numpy(np.flatnonzero(keep))
    return Split(split.images[index].contiguous(), split.labels[index], split.classes)


# --------------------------------------------------------------------------- image folders


def _folder_split(folder: Path, split: str) -> Split:
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        train = _read_tree(folder / "train")
        if split == "train":
            return train
        return _read_tree(folder / "test", classes=train.classes, like=train)
    return _holdout(_read_tree(folder), split)


def _read_tree(folder: Path, classes=None, like: Split | None = None) -> Split:
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        if len(found) < 2:
            raise DataError(
                f"{folder}: {len(found)} class folder(s) ({', '.join(found) or 'none'}); "
                "classification needs at least two, one sub-folder per class"
            )
        classes = tuple(found)
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataError(f"{folder}: classes {', '.join(unknown)} are not in the training split")
    images, labels = [], []
    shape = None if like is None else tuple(like.images.shape[1:])  # (C, H, W)
    for label_index, name in enumerate(classes):
        paths = sorted(
            p for p in (folder / name).glob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
        ) if (folder / name).is_dir() else []  # fmt: skip
        if not paths and like is None:
            raise DataError(f"{folder / name}: no images ({', '.join(SUFFIXES)})")
        for path in paths:
            pixels = _read_image(path, shape)
            shape = shape or pixels.shape
            images.append(pixels)
            labels.append(label_index)
    if not images:
        raise DataError(f"{folder}: no images in any class folder")
    return Split(
        torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64), classes
    )


def _read_image(path: Path, shape) -> np.ndarray:
    """(C, H, W) uint8; grey stays one channel, anything else becomes RGB."""
    try:
        with Image.open(path) as image:
            channels = shape[0] if shape else (1 if image.mode in ("1", "L", "I;16") else 3)
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from exc
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)  # -> (C, H, W)
    if shape is not None and tuple(pixels.shape) != tuple(shape):
        raise DataError(
            f"{path}: image is {pixels.shape[1]}x{pixels.shape[2]} but the first image is "
            f"{shape[1]}x{shape[2]}; every image must have the same size (resize them first)"
        )
    return np.ascontiguousarray(pixels)


# --------------------------------------------------------------------------- IDX files


def _idx_split(paths: list[Path], split: str) -> Split:
    if len(paths) not in (2, 4):
        raise DataError(f"idx data needs IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS], got {paths}")
    train = _read_idx(paths[0], paths[1])
    if len(paths) == 2:
        return _holdout(train, split)
    if split == "train":
        return train
    test = _read_idx(paths[2], paths[3], classes=train.classes)
    if test.images.shape[1:] != train.images.shape[1:]:
        raise DataError(
            f"{paths[2]}: images {tuple(test.images.shape[1:])} but training images are "
            f"{tuple(train.images.shape[1:])}"
        )
    return test


def _read_idx(images_path: Path, labels_path: Path, classes=None) -> Split:
    raw = {}
    for path in (images_path, labels_path):
        try:
            raw[path] = path.read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
        if sniff(raw[path]) == "a gzip file":  # IDX as MNIST ships it: train-images-idx3-ubyte.gz
            raw[path] = files.gunzip_bounded(raw[path], MAX_IDX_BYTES, str(path))
    images = parse_idx(raw[images_path], str(images_path))
    labels = parse_idx(raw[labels_path], str(labels_path))
    if images.ndim not in (3, 4):
        raise DataError(
            f"{images_path}: images must be (N, H, W) or (N, H, W, C), got {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{labels_path}: labels have shape {labels.shape}, but {images_path} holds "
            f"{images.shape[0]} images: expected ({images.shape[0]},)"
        )
    if classes is None:
        count = int(labels.max()) + 1 if labels.size else 0
        if len(np.unique(labels)) < 2:
            raise DataError(f"{labels_path}: one class only; classification needs two or more")
        classes = tuple(str(c) for c in range(count))
    elif labels.size and int(labels.max()) >= len(classes):
        raise DataError(
            f"{labels_path}: label {int(labels.max())} out of range: training labels are "
            f"0..{len(classes) - 1}"
        )
    chw = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)  # (N, C, H, W)
    return Split(
        torch.from_numpy(chw.copy()),  # parse_idx returns a read-only view
        torch.from_numpy(labels.astype(np.int64)),
        classes,
    )
