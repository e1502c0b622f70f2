"""He ("msra") initialisation, the filler of the authors' released Caffe files: every weight
matrix and convolution kernel ~ N(0, 2 / fan_in), fan_in = in_channels x kernel area (Caffe's
default FAN_IN), and the biases of those layers 0. Batch norm and PReLU keep their own
initial values (scale 1, shift 0, slope 0.25), as in the release.

PyTorch's default (kaiming-uniform with a = sqrt(5)) has std 1 / sqrt(3 fan_in), sqrt(6) =
2.45 times smaller: with batch norm after each layer the scale of a kernel does not change
what the layer computes, but it changes the effective step size SGD and weight decay take."""

from __future__ import annotations

import math

import torch
from torch import nn


@torch.no_grad()
def he_init(*modules: nn.Module) -> None:
    """Re-draw, from torch's global generator, every parameter called `weight` with two or
    more dimensions (convolutions, fully connected layers, the loss head's class weights) and
    zero the `bias` beside it."""
    for module in modules:
        for layer in module.modules():
            weight = getattr(layer, "weight", None)
            if not isinstance(weight, nn.Parameter) or weight.dim() < 2:
                continue  # batch norm, PReLU: 1-D, left as they are
            fan_in = math.prod(weight.shape[1:])
            weight.normal_(0.0, math.sqrt(2.0 / fan_in))
            bias = getattr(layer, "bias", None)
            if isinstance(bias, nn.Parameter):
                bias.zero_()
