"""What a training step draws, as a function of (seed, epoch) or (seed, iteration) rather
than of a running generator: so a run resumed from a checkpoint takes exactly the steps an
uninterrupted run takes. Batch order and CIFAR-10+'s crops and flips."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def step_generator(*key: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(hash(key) & 0x7FFF_FFFF_FFFF_FFFF)  # hash of ints is stable across runs
    return g


def pad_crop_flip(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """CIFAR-10+ augmentation (Liu et al. 2016 sec. 5): zero-pad `pad` pixels per side (zero is
    the mean pixel after mean subtraction), take a random crop of the original size, and flip
    horizontally with probability 1/2 (pad 0: flips only). x: (B, C, H, W) on any device."""
    b, _, h, w = x.shape
    # drawn on the CPU, so every device crops alike; one copy, from pinned memory on CUDA so
    # that it does not block the host
    draws = torch.cat((
        torch.randint(0, 2 * pad + 1, (b, 2), generator=generator).float(),
        torch.rand(b, 1, generator=generator),
    ), dim=1)  # fmt: skip
    if x.device.type == "cuda":
        draws = draws.pin_memory()
    draws = draws.to(x.device, non_blocking=True)  # (B, 3): row offset, column offset, u
    offsets, flips = draws[:, :2].long(), draws[:, 2] < 0.5
    padded = F.pad(x, (pad, pad, pad, pad))  # (B, C, H + 2 pad, W + 2 pad)
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    crops = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return crops.permute(0, 3, 1, 2)  # (B, C, H, W)


class BatchOrder:
    """Epoch-wise random permutations of the training set, each a function of (seed, epoch)."""

    def __init__(self, n: int, batch_size: int, seed: int, device="cpu"):
        if batch_size > n:
            raise ValueError(f"batch size {batch_size} exceeds the {n} training images")
        self.n, self.batch_size, self.seed, self.device = n, batch_size, seed, device
        self.steps_per_epoch = n // batch_size  # the remainder of each epoch is dropped
        self._epoch, self._perm = -1, None

    def indices(self, iteration: int) -> torch.Tensor:
        epoch, step = divmod(iteration - 1, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._perm = (
                epoch,
                # drawn on the CPU (the same order on every device), copied once per epoch
                torch.randperm(self.n, generator=step_generator(self.seed, epoch)).to(self.device),
            )
        return self._perm[step * self.batch_size : (step + 1) * self.batch_size]
