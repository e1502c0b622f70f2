"""Face datasets as the registry serves them: a training set of identities plus the
verification pairs that test it, for a named split.

- ``lfw``: LFW alone (no outside data). Split ``half1`` trains on the people of folds 1-5 and
  tests on the pairs of folds 6-10, ``half2`` the other way round; ``fold01`` .. ``fold10``
  are LFW's image-unrestricted protocol (train on the people of the nine other folds).
- ``casia-webface``: the papers' protocol, CASIA-WebFace under ``<root>/casia-webface/`` as
  insightface RecordIO (``train.rec`` + ``train.idx``, tested on the ``lfw.bin`` beside them
  when present) or as a folder per identity (``CASIA-WebFace/<id>/*.jpg``), tested on all
  6000 LFW pairs. Split name: ``casia``."""

from __future__ import annotations

import numpy as np
import torch

from . import files, lfw, lfw_protocol
from .face_folders import load_face_folders
from .files import DataError
from .recordio import ALIGNED_112_BOX, load_recordio_faces, load_verification_bin
from .split import FaceSplit, PairSet

CASIA_FOLDER = "casia-webface"
LFW_LABEL = "LFW image-unrestricted (people of the other folds; no outside data)"
LFW_NOTE = (
    "Trained only on LFW people of folds other than the test fold (image-unrestricted "
    "protocol, no outside data), faces cut by one fixed box instead of 5-point alignment. "
    "NOT comparable to the papers' numbers, which train on CASIA-WebFace."
)
LFW_CROP = f"fixed box {lfw.LFW_BOX} of the 250x250 image (paper_repro.data.lfw)"
CASIA_LABEL = "CASIA-WebFace -> LFW 6000 pairs"
CASIA_NOTE = "The papers' protocol: trained on CASIA-WebFace, tested on all LFW pairs."
CASIA_CROP = (
    f"RecordIO: box {ALIGNED_112_BOX} of insightface's 112x112 alignment (the papers' 112x96); "
    "folders: LFW's fixed box, not 5-point alignment"
)


def load_lfw_split(split, shape, min_images, root, download, cache, source) -> FaceSplit:
    data = lfw.load_lfw(root, shape, download, cache=cache, source=source)
    if split in ("half1", "half2"):
        return lfw_protocol.halves_split(data, int(split[4:]), min_images)
    if split.startswith("fold") and split[4:].isdigit():
        return lfw_protocol.image_unrestricted_split(data, int(split[4:]), min_images)
    raise ValueError(f"unknown LFW split {split!r}; valid: half1, half2, fold01 .. fold10")


def load_casia_split(split, shape, min_images, root, download, cache, source) -> FaceSplit:
    """`source`: the LFW files whose pairs test it when there is no lfw.bin."""
    if split != "casia":
        raise ValueError(f"unknown CASIA-WebFace split {split!r}; valid: casia")
    folder = files.data_root(root) / CASIA_FOLDER
    if (folder / "train.rec").is_file():
        train, digest = load_recordio_faces(folder, shape, min_images=min_images)
        if (folder / "lfw.bin").is_file():
            pairs, test = load_verification_bin(folder / "lfw.bin", shape), "lfw.bin"
        else:
            pairs, test = _all_lfw_pairs(
                lfw.load_lfw(root, shape, download, cache=cache, source=source)
            )
    elif (folder / "CASIA-WebFace").is_dir():
        train, digest = load_face_folders(
            folder / "CASIA-WebFace", shape, box=lfw.LFW_BOX, side=lfw.IMAGE_SIDE,
            min_images=min_images,
        )  # fmt: skip
        pairs, test = _all_lfw_pairs(
            lfw.load_lfw(root, shape, download, cache=cache, source=source)
        )
    else:
        raise DataError(
            f"CASIA-WebFace is not in {folder}: put insightface's train.rec and train.idx "
            "(and lfw.bin) there, or the folder-per-identity tree as CASIA-WebFace/"
        )
    folds = tuple(int(k) for k in np.unique(pairs.folds))
    return FaceSplit("casia", train, pairs, folds, f"{CASIA_LABEL} (sha256 {digest[:16]}); {test}")


def _all_lfw_pairs(data: lfw_protocol.Lfw) -> tuple[PairSet, str]:
    pairs = PairSet(
        images=data.images,
        index=torch.from_numpy(data.pair_index),
        issame=data.pairs.issame,
        folds=data.pairs.fold,
        what=f"{data.where} pairs",
    )
    return pairs, f"{data.where} with LFW's fixed crop"
