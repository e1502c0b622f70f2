"""The L-Softmax paper's Table 1 networks: VGG-like stacks of 3x3 convolutions, each followed
by batch norm and PReLU, 2x2 max pooling between stages, no dropout, then one fully connected
layer to the feature that the loss head (the last layer, no bias) classifies.

The authors' released Caffe networks (wy1iu/LargeMargin_Softmax_Loss,
myexamples/{mnist,cifar10}/model/*_train_test.prototxt) have the same shape with other widths
(64/128/256, a 512-wide fully connected layer), ReLU instead of PReLU, and batch norm after the
fully connected layer too. Their convolutions and fully connected layer have biases; each sits
right before a batch norm, which subtracts any per-channel constant, so its gradient is zero
and leaving it out computes the same network.

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
    activation: str = "prelu"  # or "relu" (the release)
    fc_norm: bool = False  # batch norm between the FC layer and its activation (the release)

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
RELEASE = {
    "mnist": VGGSpec(1, 28, 64, ((64, 3), (128, 3), (256, 3)), 512, "relu", fc_norm=True),
    "cifar10": VGGSpec(3, 32, 64, ((64, 4), (128, 4), (256, 4)), 512, "relu", fc_norm=True),
}


def activation(kind: str, channels: int) -> nn.Module:
    if kind not in ("prelu", "relu"):
        raise ValueError(f"unknown activation {kind!r}; valid: prelu, relu")
    return PReLU(channels) if kind == "prelu" else nn.ReLU(inplace=True)


def conv_bn_act(cin: int, cout: int, kind: str) -> list[nn.Module]:
    # bias is redundant before batch norm
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            activation(kind, cout)]  # fmt: skip


class VGGFeatures(nn.Module):
    """images (B, C, H, W) float -> features (B, feature_dim)."""

    def __init__(self, spec: VGGSpec):
        super().__init__()
        self.spec = spec
        layers = conv_bn_act(spec.in_channels, spec.conv0, spec.activation)
        width = spec.conv0
        for stage_width, depth in spec.stages:
            for _ in range(depth):
                layers += conv_bn_act(width, stage_width, spec.activation)
                width = stage_width
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        self.conv = nn.Sequential(*layers)
        side = spec.spatial_after_pooling()
        fc_in = width * side * side
        self.fc = nn.Sequential(
            nn.Flatten(),  # (B, width, side, side) -> (B, width * side^2)
            *(
                [nn.Linear(fc_in, spec.feature_dim, bias=False), nn.BatchNorm1d(spec.feature_dim)]
                if spec.fc_norm
                else [nn.Linear(fc_in, spec.feature_dim)]
            ),
            activation(spec.activation, spec.feature_dim),
        )
        self.feature_dim = spec.feature_dim
        self.input_shape = (spec.in_channels, spec.image_size, spec.image_size)  # (C, H, W)

    def forward(self, images):
        return self.fc(self.conv(images))
