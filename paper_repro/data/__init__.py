"""Datasets of the reproduction: MNIST, CIFAR-10, CIFAR-100 and the CIFAR-10 JPEG q75 copy.

Example::

    from paper_repro.data import DATASETS, load_dataset
    train = load_dataset("mnist", "train", root="../shared/data")
    train.images.shape, train.images.dtype      # (60000, 1, 28, 28), torch.uint8
    DATASETS["mnist"].train_mean(root="../shared/data")   # tensor([33.3184])

Files live under the data root (argument, else ``$PAPER_REPRO_DATA``, else ``./data``)
in ``mnist/``, ``cifar10/``, ``cifar100/``, ``cifar10-jpeg/``.  Missing files are
downloaded from the official locations when allowed; every file is checked against
its checksum before it is parsed.  Problems raise :class:`DataError`.

Mean subtraction (as in the papers) uses the per-channel mean pixel of the
*training* split, in 0..255 units: ``DatasetInfo.train_mean`` computes it from the
data (so the JPEG copy gets its own mean) and the training code subtracts it, on
the device, from both splits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch

from . import cifar, mnist
from .files import DataError, cache_dir, data_root
from .split import SPLITS, Split

__all__ = [
    "DATASETS",
    "SPLITS",
    "DataError",
    "DatasetInfo",
    "Split",
    "cache_dir",
    "data_root",
    "get_dataset",
    "load_dataset",
]

Loader = Callable[[str, "str | Path | None", bool, "str | Path | None"], Split]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: how to present it and how to load it.

    ``label`` is the human-readable name to print in tables and reports.
    """

    name: str
    label: str
    num_classes: int
    image_shape: tuple[int, int, int]  # (C, H, W)
    loader: Loader

    def load(
        self,
        split: str,
        root: str | Path | None = None,
        download: bool = True,
        cache: str | Path | None = None,
    ) -> Split:
        """Load ``split`` ("train" or "test"); see :func:`load_dataset`."""
        return self.loader(split, root, download, cache)

    def train_mean(
        self, root: str | Path | None = None, download: bool = True, cache: str | Path | None = None
    ) -> torch.Tensor:
        """Per-channel mean pixel of the training split, float32 ``(C,)``, 0..255 units.

        Computed from the data each call (under a second); keep the result.
        """
        return self.load("train", root, download, cache).channel_mean()


DATASETS: MappingProxyType[str, DatasetInfo] = MappingProxyType(
    {
        "mnist": DatasetInfo(
            "mnist",
            mnist.LABEL,
            10,
            (1, 28, 28),
            lambda split, root, download, cache: mnist.load_mnist(split, root, download),
        ),
        "cifar10": DatasetInfo(
            "cifar10",
            cifar.CIFAR10.label,
            10,
            (3, 32, 32),
            lambda split, root, download, cache: cifar.load_cifar(
                cifar.CIFAR10, split, root, download
            ),
        ),
        "cifar10-jpeg": DatasetInfo(
            "cifar10-jpeg",
            cifar.JPEG_LABEL,
            10,
            (3, 32, 32),
            lambda split, root, download, cache: cifar.load_cifar10_jpeg(
                split, root, download, cache=cache
            ),
        ),
        "cifar100": DatasetInfo(
            "cifar100",
            cifar.CIFAR100.label,
            100,
            (3, 32, 32),
            lambda split, root, download, cache: cifar.load_cifar(
                cifar.CIFAR100, split, root, download
            ),
        ),
    }
)


def get_dataset(name: str) -> DatasetInfo:
    """The registry entry for ``name``; ValueError naming the valid names otherwise."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}") from None


def load_dataset(
    name: str,
    split: str,
    root: str | Path | None = None,
    download: bool = True,
    *,
    cache: str | Path | None = None,
) -> Split:
    """Load split ``"train"`` or ``"test"`` of dataset ``name`` (a key of ``DATASETS``).

    ``root``: data root (default ``$PAPER_REPRO_DATA`` or ``./data``).  ``download``:
    fetch missing files from the official locations.  ``cache``: where decoded arrays
    are cached (only the JPEG copy uses it; default ``$PAPER_REPRO_CACHE`` or
    ``./.cache/paper_repro``).  Returns CPU tensors; see :class:`Split`.
    """
    return get_dataset(name).load(split, root, download, cache)
