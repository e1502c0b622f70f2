"""PReLU as relu(x) - a relu(-x) against torch's nn.PReLU: same values, gradients and
parameter in float32 (torch's kernel), and the relu form in bf16 against a float64 loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paper_repro.models.layers import PReLU


@pytest.mark.parametrize("shape", [(5, 3, 4, 4), (6, 3)])
def test_prelu_equals_torch_prelu_in_value_and_gradients(shape):
    torch.manual_seed(0)
    ours, theirs = PReLU(3), nn.PReLU(3)
    with torch.no_grad():
        slopes = torch.tensor([0.25, -0.5, 2.0])
        ours.weight.copy_(slopes)
        theirs.weight.copy_(slopes)
    x = torch.randn(shape, dtype=torch.float64).float().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    upstream = torch.randn(shape)
    (ours(x) * upstream).sum().backward()
    (theirs(x2) * upstream).sum().backward()
    assert torch.equal(ours(x), theirs(x2))
    torch.testing.assert_close(x.grad, x2.grad, rtol=0, atol=0)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-6, atol=1e-6)
    assert set(ours.state_dict()) == set(theirs.state_dict()) == {"weight"}


def test_prelu_in_bf16_is_the_relu_form_against_a_float64_loop():
    torch.manual_seed(1)
    x = torch.randn(8, 4, 5, 5).bfloat16().requires_grad_()
    layer = PReLU(4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.25, -0.5, 2.0, 0.0]))
    out = layer(x)
    assert out.dtype == torch.bfloat16
    x64, a = x.detach().double(), layer.weight.detach().double()
    expected = torch.empty_like(x64)
    for c in range(4):  # slow oracle: the definition, channel by channel
        expected[:, c] = torch.where(x64[:, c] > 0, x64[:, c], a[c] * x64[:, c])
    torch.testing.assert_close(out.double(), expected, rtol=1e-2, atol=1e-2)
    out.float().sum().backward()
    grad_a = torch.stack([x64[:, c][x64[:, c] < 0].sum() for c in range(4)])
    torch.testing.assert_close(layer.weight.grad.double(), grad_a, rtol=2e-2, atol=5e-2)
