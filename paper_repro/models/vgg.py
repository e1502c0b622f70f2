"""The L-Softmax paper's Table 1 networks: VGG-like stacks of 3x3 convolutions, each followed
by batch norm and PReLU, 2x2 max pooling between stages, no dropout, then one fully connected
layer to the feature that the loss head (the last layer, no bias) classifies.

Pooling rounds up (ceil_mode) like the original Caffe models, so MNIST goes 28 -> 14 -> 7 -> 4."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from paper_repro.models.layers import PReLU


@dataclass(frozen=True)
class VGGSpec:
    in_channels: int
    image_size: int  # pixels per side
    conv0: int  # width of the single first convolution
    stages: tuple[tuple[int, int], ...]  # (width, number of 3x3 convolutions) per pooled stage
    feature_dim: int  # the FC layer before the loss head

    def spatial_after_pooling(self) -> int:
        size = self.image_size
        for _ in self.stages:
            size = -(-size // 2)
        return size


TABLE1 = {
    "mnist": VGGSpec(1, 28, 64, ((64, 3), (64, 3), (64, 3)), 256),
    "cifar10": VGGSpec(3, 32, 64, ((64, 4), (96, 4), (128, 4)), 256),
    "cifar100": VGGSpec(3, 32, 96, ((96, 4), (192, 4), (384, 4)), 512),
}


def conv_bn_prelu(cin: int, cout: int) -> list[nn.Module]:
    # bias is redundant before batch norm
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), PReLU(cout)]


class VGGFeatures(nn.Module):
    """images (B, C, H, W) float -> features (B, feature_dim)."""

    def __init__(self, spec: VGGSpec):
        super().__init__()
        self.spec = spec
        layers = conv_bn_prelu(spec.in_channels, spec.conv0)
        width = spec.conv0
        for stage_width, depth in spec.stages:
            for _ in range(depth):
                layers += conv_bn_prelu(width, stage_width)
                width = stage_width
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        self.conv = nn.Sequential(*layers)
        side = spec.spatial_after_pooling()
        self.fc = nn.Sequential(
            nn.Flatten(),  # (B, width, side, side) -> (B, width * side^2)
            nn.Linear(width * side * side, spec.feature_dim),
            PReLU(spec.feature_dim),
        )
        self.feature_dim = spec.feature_dim
        self.input_shape = (spec.in_channels, spec.image_size, spec.image_size)  # (C, H, W)

    def forward(self, images):
        return self.fc(self.conv(images))
