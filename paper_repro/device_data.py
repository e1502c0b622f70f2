"""A split on the training device, and what the network sees of it: the runner trains on it
and the evaluators test on it.

The whole split sits on the device as uint8 and is normalised there per batch
(`InputNorm`), so no DataLoader worker limits a GPU run."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from paper_repro.data import Split, stratified_order


@dataclass(frozen=True)
class InputNorm:
    """What a network sees of a uint8 image: (pixel - mean) / scale. mean is per channel (C,)
    or per pixel (C, H, W), in 0..255 units."""

    mean: torch.Tensor
    scale: float = 255.0  # the paper recipe's; batch norm after the first layer absorbs it

    def broadcast(self, device) -> torch.Tensor:
        mean = self.mean.to(device=device, dtype=torch.float32)
        return mean.view(1, -1, 1, 1) if mean.dim() == 1 else mean.unsqueeze(0)  # (1, C, ., .)


class DeviceData:
    """A dataset split held on the device as uint8 (N, C, H, W) with its labels."""

    def __init__(self, split: Split, norm: InputNorm, device: torch.device):
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.mean, self.scale = norm.broadcast(device), norm.scale
        self.order = stratified_order(split.labels).to(device)

    def __len__(self) -> int:
        return self.images.shape[0]

    def normalised(self, index) -> torch.Tensor:
        return (self.images[index].float() - self.mean) / self.scale

    def subset(self, n: int | None = None) -> torch.Tensor:
        """Indices of n examples, every class in proportion (`stratified_order`); all of them,
        in the split's order, where n is None or covers the split."""
        if n is None or n >= len(self):
            return torch.arange(len(self), device=self.images.device)
        return self.order[:n]

    def batches(self, index: torch.Tensor | None = None, batch_size: int = 1000):
        """(indices, normalised images) over `index` (default: every example, in order)."""
        index = self.subset() if index is None else index
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            yield chunk, self.normalised(chunk)


def forward_features(net: nn.Module, x: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    if x.is_cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    if precision == "bf16":
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            return net(x)
    return net(x)
