"""The networks' compile (`models.compiled`): inductor without its scatter-add rewrite of
max_pool2d's backward gives eager's values and gradients, ceil_mode's half windows included."""

from __future__ import annotations

import copy
import shutil

import pytest
import torch
from torch import nn

from paper_repro.models.compiled import LOWERED_NOT_DECOMPOSED, compile_network, inductor_backend
from paper_repro.models.layers import PReLU

pytestmark = pytest.mark.skipif(
    not any(map(shutil.which, ("cc", "gcc", "clang"))), reason="no C compiler for inductor"
)


def test_the_backend_drops_exactly_the_pool_backward_rewrite(monkeypatch):
    from torch._inductor import decomposition

    seen = {}
    monkeypatch.setattr("torch._inductor.compile_fx.compile_fx",
                        lambda gm, inputs, decompositions: seen.update(decompositions))  # fmt: skip
    inductor_backend(None, [])
    default = decomposition.select_decomp_table()
    assert all(op in default for op in LOWERED_NOT_DECOMPOSED)  # still a rewrite in this torch
    assert set(default) - set(seen) == set(LOWERED_NOT_DECOMPOSED)


def _values_and_gradients(net, model, x):
    inputs = x.clone().requires_grad_()
    out = model(inputs)
    (out * torch.linspace(-1, 1, out.shape[1], dtype=out.dtype)).sum().backward()
    return out, inputs.grad, *[p.grad for p in net.parameters()]


@pytest.mark.parametrize("side", [8, 7])  # 7: ceil_mode's last row and column of half windows
def test_compiled_network_matches_eager_in_values_and_gradients(side):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), PReLU(4),
                        nn.MaxPool2d(2, 2, ceil_mode=True), nn.Flatten())  # fmt: skip
    net = net.double()
    twin = copy.deepcopy(net)
    x = torch.randn(3, 2, side, side, dtype=torch.float64)
    want = _values_and_gradients(net, net, x)
    got = _values_and_gradients(twin, compile_network(twin), x)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-10, atol=1e-12)
