"""Table 1 of Liu et al. 2016: the networks' layer widths and counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paper_repro.models import make_network
from paper_repro.models.layers import PReLU

TABLE1 = {  # conv widths in order, FC feature size
    "table1-mnist": ([64] + [64] * 3 + [64] * 3 + [64] * 3, 256, (1, 28, 28)),
    "table1-cifar10": ([64] + [64] * 4 + [96] * 4 + [128] * 4, 256, (3, 32, 32)),
    "table1-cifar100": ([96] + [96] * 4 + [192] * 4 + [384] * 4, 512, (3, 32, 32)),
}


@pytest.mark.parametrize("name", list(TABLE1))
def test_table1_architecture(name):
    widths, feature, shape = TABLE1[name]
    net = make_network(name)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == widths
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == len(convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 3
    assert not any(isinstance(m, nn.Dropout) for m in net.modules())
    assert sum(isinstance(m, PReLU) for m in net.modules()) == len(convs) + 1
    assert net(torch.zeros(2, *shape)).shape == (2, feature)


def test_unknown_network():
    with pytest.raises(ValueError, match="unknown network 'resnet'; valid networks: table1-mnist"):
        make_network("resnet")
