"""The face network: stride-2 stem, VGG-like stages, 512-d linear feature, width multiplier."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paper_repro.models.face import FACE_NETWORKS, FaceNetSpec, make_face_network
from paper_repro.models.layers import PReLU


@pytest.fixture(autouse=True)
def _one_thread():
    # small CPU convolutions: threads only add waiting on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def convs(net):
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


def test_paper_network():
    net = make_face_network("face-paper")
    cs = convs(net)
    assert [c.out_channels for c in cs] == [64, 64, 64, 128, 128, 256, 256, 512]
    assert cs[0].stride == (2, 2) and all(c.stride == (1, 1) for c in cs[1:])
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is None for c in cs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == len(cs)
    assert sum(isinstance(m, PReLU) for m in net.modules()) == len(cs)  # none on the feature
    assert sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 4
    # 112x96 -> stem 56x48 -> pools 28x24, 14x12, 7x6, 4x3 (rounding up): 512 * 4 * 3 inputs
    [fc] = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert (fc.in_features, fc.out_features) == (512 * 4 * 3, 512)
    assert net(torch.zeros(2, 3, 112, 96)).shape == (2, 512)


def test_quick_network_is_a_quarter_width_on_luma():
    net = make_face_network("face-quick")
    assert [c.out_channels for c in convs(net)] == [16, 16, 16, 32, 32, 64, 64, 128]
    assert convs(net)[0].in_channels == 1
    # 56x48 -> 28x24 -> 14x12, 7x6, 4x3, 2x2
    [fc] = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert (fc.in_features, fc.out_features) == (128 * 2 * 2, 512)
    assert net(torch.zeros(3, 1, 56, 48)).shape == (3, 512)


@pytest.mark.parametrize("name", list(FACE_NETWORKS))
def test_every_network_runs_on_its_input(name):
    spec = FACE_NETWORKS[name]
    net = make_face_network(name)
    x = torch.randn(2, spec.in_channels, *spec.image_size)
    out = net(x)
    assert out.shape == (2, spec.feature_dim) == (2, net.feature_dim)
    out.sum().backward()  # every parameter takes part
    assert all(p.grad is not None for p in net.parameters())


def test_spec_and_unknown_name():
    spec = FaceNetSpec(image_size=(33, 17), stages=((4, 1),), width=0.5, feature_dim=8)
    assert spec.spatial_after_pooling() == (9, 5)  # 33x17 -> 17x9 -> 9x5
    assert make_face_network(spec)(torch.zeros(1, 3, 33, 17)).shape == (1, 8)
    with pytest.raises(ValueError, match="unknown face network 'resnet64'; valid networks"):
        make_face_network("resnet64")
