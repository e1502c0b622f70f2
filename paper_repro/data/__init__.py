"""The dataset registry: every dataset a run can name, classification and face data alike.

Example::

    from paper_repro.data import Catalog
    data = Catalog(root="../shared/data")
    train = data.get("mnist").load("train")
    train.images.shape, train.images.dtype      # (60000, 1, 28, 28), torch.uint8
    faces = data.get("lfw").load("half1", shape=(1, 56, 48), min_images=2)

Files live under the data root (argument, else ``$PAPER_REPRO_DATA``, else ``./data``) in
``mnist/``, ``cifar10/``, ``cifar100/``, ``cifar10-jpeg/``, ``lfw/``, ``casia-webface/``.
Missing files are downloaded from the official locations when allowed; every file is
checked against its checksum before it is parsed. Problems raise :class:`DataError`.

A registry entry names its files by a *source* (file names, checksums, counts), which the
entry's loader is given: tests register tiny files of the real formats by replacing an
entry's source (``dataclasses.replace``) and passing their own mapping to :class:`Catalog`.
A user's own classification data is named by path (:mod:`paper_repro.data.user`), a user's own
faces for verification likewise (:mod:`paper_repro.data.own_faces`).

Mean subtraction (as in the papers) uses the per-channel mean pixel of the *training*
split, in 0..255 units (``Split.channel_mean``); the training code subtracts it, on the
device, from every split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from . import cifar, faces, lfw, mnist, own_faces, user
from .files import DataError, cache_dir, data_root
from .split import SPLITS, FaceSplit, PairSet, Split, head, stratified_order

__all__ = [
    "DATASETS",
    "SPLITS",
    "Catalog",
    "ClassificationData",
    "DataError",
    "FaceData",
    "FaceSplit",
    "PairSet",
    "Split",
    "cache_dir",
    "data_root",
    "head",
    "load_dataset",
    "stratified_order",
]


@dataclass(frozen=True)
class ClassificationData:
    """Labelled images with a train and a test split.
    loader(split, root, download, cache, source) -> Split."""

    name: str
    label: str  # how tables name it
    loader: Callable[..., Split]
    source: object = None
    note: str = ""
    kind = "classification"

    def load(self, split: str, root=None, download: bool = True, cache=None) -> Split:
        return self.loader(split, root, download, cache, self.source)


@dataclass(frozen=True)
class FaceData:
    """Identities to train on plus the verification pairs that test them, per named split
    (which people train, which pairs test). loader(split, shape, min_images, root, download,
    cache, source) -> FaceSplit, images cropped to shape = (C, H, W)."""

    name: str
    label: str
    loader: Callable[..., FaceSplit]
    source: object = None
    note: str = ""
    crop: str = ""
    kind = "faces"

    def load(self, split: str, shape, min_images: int = 1, root=None, download=True, cache=None):
        return self.loader(split, tuple(shape), min_images, root, download, cache, self.source)


Dataset = ClassificationData | FaceData
OWN_FACES_NOTE = (
    "Your own faces: the network trains on some people and is tested on pairs of "
    "people it never saw (paper_repro.data.own_faces)."
)

# the registry: a new dataset is one loader module and one entry here
DATASETS: Mapping[str, Dataset] = MappingProxyType(
    {
        d.name: d
        for d in (
            ClassificationData("mnist", mnist.LABEL, mnist.load_split, mnist.SOURCES),
            ClassificationData("cifar10", cifar.CIFAR10.label, cifar.load_split, cifar.CIFAR10),
            ClassificationData("cifar100", cifar.CIFAR100.label, cifar.load_split, cifar.CIFAR100),
            ClassificationData(
                "cifar10-jpeg",
                cifar.JPEG_LABEL,
                cifar.load_jpeg_split,
                cifar.CIFAR10_JPEG,
                note=cifar.JPEG_NOTE,
            ),
            FaceData(
                "lfw",
                faces.LFW_LABEL,
                faces.load_lfw_split,
                lfw.LFW,
                note=faces.LFW_NOTE,
                crop=faces.LFW_CROP,
            ),
            FaceData(
                "casia-webface",
                faces.CASIA_LABEL,
                faces.load_casia_split,
                lfw.LFW,
                note=faces.CASIA_NOTE,
                crop=faces.CASIA_CROP,
            ),
        )
    }
)


@dataclass(frozen=True)
class Catalog:
    """Where runs get their data: a data root, a cache, whether to download, and the
    registry (tests pass their own)."""

    root: str | Path | None = None
    cache: str | Path | None = None
    download: bool = True
    datasets: Mapping[str, Dataset] = field(default_factory=lambda: DATASETS)

    def get(self, name: str) -> Dataset:
        """The registry entry, or a user dataset for a name of the form of `user.parse`."""
        if name in self.datasets:
            return self.datasets[name]
        if isinstance(name, str) and user.is_user_dataset(name):
            return ClassificationData(name, user.label(name), user.load_split, name)
        if own_faces.is_own_faces(name):
            return FaceData(name, own_faces.label(name),
                            own_faces.load_split, name, note=OWN_FACES_NOTE,
                            crop="each image's box (default: centred), resized")  # fmt: skip
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(self.datasets)}")

    def load(self, name: str, split: str, **kw):
        return self.get(name).load(split, **kw, root=self.root, download=self.download,
                                   cache=self.cache)  # fmt: skip


def load_dataset(name: str, split: str, root=None, download: bool = True, *, cache=None) -> Split:
    """One split of a registered classification dataset: ``load_dataset("mnist", "train")``."""
    return Catalog(root, cache, download).load(name, split)
