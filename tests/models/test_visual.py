"""The 2-D visualisation network of Figures 1 and 4: layer widths, kernels, pooling, output."""

from __future__ import annotations

import torch
from torch import nn

from paper_repro.models.layers import PReLU
from paper_repro.models.visual import VisualNet


def test_architecture_is_5x5_pairs_32_64_128_then_fc_to_2():
    net = VisualNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64, 128, 128]
    assert all(c.kernel_size == (5, 5) and c.padding == (2, 2) for c in convs)
    assert sum(isinstance(m, PReLU) for m in net.modules()) == 6  # none after the FC
    pools = [m for m in net.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(p.kernel_size == 2 and p.stride == 2 for p in pools)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in net.modules())
    (fc,) = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert (fc.in_features, fc.out_features) == (128 * 4 * 4, 2)  # 28 -> 14 -> 7 -> 4
    assert net.fc[-1] is fc  # the head sees the FC output itself, no activation after it
    features = net(torch.zeros(3, 1, 28, 28))
    assert features.shape == (3, 2) and net.feature_dim == 2


def test_initialisation_keeps_the_signal_through_six_convolutions():
    # without batch norm, PyTorch's default init shrinks activations ~100x by the last
    # convolution and SGD stalls; He init for PReLU keeps them near unit scale
    torch.manual_seed(0)
    x = torch.randn(16, 1, 28, 28)
    assert 0.3 < VisualNet().conv(x).std().item() < 3.0
