"""PReLU with the parameter and state-dict key of nn.PReLU (a per-channel slope `weight`,
0.25 at the start), computed by torch's own kernel in float32 and as relu(x) - a relu(-x) in
bf16. nn.PReLU's bf16 backward was 39 % of a bf16 training step of the MNIST network on an
AMX Xeon (issue 12's profile); in float32 on an AVX2 EPYC the relu form was slower than
torch's kernel (49 against 68 images/s, make bench-train), so float32 keeps the kernel and
stays bit-identical to nn.PReLU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PReLU(nn.Module):
    """x (B, C, ...) -> max(x, 0) + a_c min(x, 0), one slope per channel c."""

    def __init__(self, num_parameters: int, init: float = 0.25):
        super().__init__()
        self.weight = nn.Parameter(torch.full((num_parameters,), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return F.prelu(x, self.weight)
        slope = self.weight.view(1, -1, *([1] * (x.dim() - 2))).to(x.dtype)  # (1, C, 1, ...)
        return F.relu(x) - slope * F.relu(-x)

    def extra_repr(self) -> str:
        return f"num_parameters={self.weight.numel()}"
