"""The in-memory form every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SPLITS = ("train", "test")


def check_split(split: str) -> str:
    """Return ``split`` if it is ``"train"`` or ``"test"``, else raise ValueError."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset, on the CPU.

    ``images``: uint8 ``(N, C, H, W)``, contiguous, raw pixel values 0..255.
    ``labels``: int64 ``(N,)`` in ``[0, len(classes))``.
    ``classes``: class names, index = label.
    Normalisation and augmentation are left to the training code, which moves the
    tensors to the device once and does them there.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        im, lab = self.images, self.labels
        if im.dtype != torch.uint8 or im.ndim != 4 or not im.is_contiguous():
            raise ValueError(
                f"images must be contiguous uint8 (N, C, H, W), got {im.dtype} {tuple(im.shape)}"
            )
        if lab.dtype != torch.int64 or lab.shape != (im.shape[0],):
            raise ValueError(
                f"labels must be int64 ({im.shape[0]},), got {lab.dtype} {tuple(lab.shape)}"
            )
        if lab.numel() and not (int(lab.min()) >= 0 and int(lab.max()) < len(self.classes)):
            raise ValueError(f"labels outside [0, {len(self.classes)})")

    def __len__(self) -> int:
        return self.images.shape[0]

    def channel_mean(self) -> torch.Tensor:
        """Per-channel mean pixel, float32 ``(C,)`` in 0..255 units.

        The papers subtract the training set's mean pixel; call this on the *train*
        split (see ``DatasetInfo.train_mean``) and use it for both splits.
        Summed exactly in uint64 (numpy casts in small buffers, whereas torch's
        ``sum(dtype=...)`` would first copy the whole tensor to 64 bits).
        """
        n, _, h, w = self.images.shape
        total = np.add.reduce(self.images.cpu().numpy(), axis=(0, 2, 3), dtype=np.uint64)
        return torch.from_numpy(total / max(n * h * w, 1)).to(torch.float32)

    def pixel_mean(self) -> torch.Tensor:
        """Mean image, float32 ``(C, H, W)`` in 0..255 units (Caffe's mean_file), summed
        exactly like `channel_mean`."""
        total = np.add.reduce(self.images.cpu().numpy(), axis=0, dtype=np.uint64)
        return torch.from_numpy(total / max(len(self), 1)).to(torch.float32)

    def label_counts(self) -> list[int]:
        """Number of examples of each class, index = label."""
        return torch.bincount(self.labels, minlength=len(self.classes)).tolist()


def stratified_order(labels: torch.Tensor) -> torch.Tensor:
    """A fixed order of a split's examples (int64 indices) whose every prefix holds each class
    in proportion to its share of the split: example i, the r-th of its class's n_c examples in
    the split's own order, sorts by (r + 1/2) / n_c, ties by class. Classes of equal size are
    dealt round-robin (every prefix within one example of each share); in general a class's
    count in a prefix of n lies within 1.5 (1 + K n_c / N) of n n_c / N (K classes, N
    examples; from the sort key). It depends on the labels alone, whatever order a loader
    returns; a split already interleaved class by class (the CIFAR-10 loaders) keeps it."""
    labels = labels.cpu()
    n = len(labels)
    counts = torch.bincount(labels)
    by_class = torch.argsort(labels, stable=True)
    first = torch.cumsum(counts, 0) - counts  # where each class starts in by_class
    rank = torch.empty(n, dtype=torch.int64)
    rank[by_class] = torch.arange(n) - first[labels[by_class]]
    position = (rank.double() + 0.5) / counts[labels].double()
    return torch.from_numpy(np.lexsort((labels.numpy(), position.numpy())).astype(np.int64))


def head(split: Split, n: int) -> Split:
    """The first n examples of the split's `stratified_order`: a subset with every class in
    proportion (the only way the project takes a subset of a split)."""
    if n >= len(split):
        return split
    keep = stratified_order(split.labels)[:n]
    return Split(split.images[keep].contiguous(), split.labels[keep], split.classes)


@dataclass(frozen=True, eq=False)
class PairSet:
    """Verification pairs with their images.

    ``images``: uint8 (M, C, H, W), each image the pairs use, once. ``index``: int64 (P, 2)
    rows of ``images``. ``issame``: bool (P,). ``folds``: int64 (P,), 1-based."""

    images: torch.Tensor
    index: torch.Tensor
    issame: np.ndarray
    folds: np.ndarray
    what: str

    def __post_init__(self) -> None:
        p = self.issame.shape[0]
        if self.index.shape != (p, 2) or self.folds.shape != (p,):
            raise ValueError(f"{self.what}: index (P, 2), issame (P,), folds (P,) disagree")
        if p and not (int(self.index.min()) >= 0 and int(self.index.max()) < len(self.images)):
            raise ValueError(f"{self.what}: pair index outside the {len(self.images)} images")


@dataclass(frozen=True, eq=False)
class FaceSplit:
    """A training set of identities and the pairs that evaluate it.

    Accuracy is reported for the pairs of ``test_folds`` only, each fold with the threshold
    chosen on the other folds of ``pairs``; no identity of a test fold is in ``train``."""

    name: str
    train: Split
    pairs: PairSet
    test_folds: tuple[int, ...]
    description: str
