"""The face network: a VGG-like stack in the style of the L-Softmax paper's Table 1 networks
(3x3 convolutions, each followed by batch norm and PReLU, 2x2 max pooling between stages, no
dropout), opened by a stride-2 3x3 convolution as the face networks of SphereFace and CosFace
are, and closed by a fully connected 512-d feature without activation, like SphereFace's
and CosFace's fc5: the face descriptor those papers compare by cosine.

The papers train 20- to 64-layer residual networks on 112x96 faces; this plain network keeps
their input, stride-2 stem and 512-d feature at a depth a single GPU trains in minutes.
``width`` scales every convolution (not the feature), for the CPU quick profile.

Pooling rounds up (ceil_mode) like the Table 1 networks: 112x96 -> 56x48 (stem) -> 28x24
-> 14x12 -> 7x6 -> 4x3."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from paper_repro.models.layers import PReLU
from paper_repro.models.vgg import conv_bn_act


@dataclass(frozen=True)
class FaceNetSpec:
    in_channels: int = 3
    image_size: tuple[int, int] = (112, 96)  # (H, W)
    stem: int = 64  # width of the stride-2 first convolution
    stages: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 2), (512, 1))  # (width, convs)
    feature_dim: int = 512
    width: float = 1.0  # multiplies every convolution width

    def scaled(self, channels: int) -> int:
        return max(1, round(channels * self.width))

    def spatial_after_pooling(self) -> tuple[int, int]:
        h, w = (-(-s // 2) for s in self.image_size)  # the stride-2 stem (padding 1)
        for _ in self.stages:
            h, w = -(-h // 2), -(-w // 2)
        return h, w


FACE_NETWORKS = {
    # the papers' input: 112x96 RGB
    "face-paper": FaceNetSpec(),
    # CPU: half-size luma faces (paper_repro.data.lfw.SHAPES["quick"]), a quarter of the widths
    "face-quick": FaceNetSpec(in_channels=1, image_size=(56, 48), width=0.25),
    # CI: seconds
    "face-smoke": FaceNetSpec(
        in_channels=1, image_size=(56, 48), stages=((8, 1), (8, 1)), feature_dim=32, width=1.0
    ),
}


class FaceNet(nn.Module):
    """faces (B, C, H, W) float -> features (B, feature_dim)."""

    def __init__(self, spec: FaceNetSpec):
        super().__init__()
        self.spec = spec
        width = spec.scaled(spec.stem)
        stem = nn.Conv2d(spec.in_channels, width, 3, stride=2, padding=1, bias=False)
        layers = [stem, nn.BatchNorm2d(width), PReLU(width)]
        for stage_width, depth in spec.stages:
            for _ in range(depth):
                layers += conv_bn_act(width, spec.scaled(stage_width), "prelu")
                width = spec.scaled(stage_width)
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        self.conv = nn.Sequential(*layers)
        h, w = spec.spatial_after_pooling()
        self.fc = nn.Sequential(
            nn.Flatten(),  # (B, width, h, w) -> (B, width * h * w)
            nn.Linear(width * h * w, spec.feature_dim),
        )
        self.feature_dim = spec.feature_dim
        self.input_shape = (spec.in_channels, *spec.image_size)  # (C, H, W)

    def forward(self, images):
        return self.fc(self.conv(images))


def make_face_network(name: str | FaceNetSpec = "face-paper") -> FaceNet:
    """A face network by name (a key of :data:`FACE_NETWORKS`) or from a spec."""
    if isinstance(name, FaceNetSpec):
        return FaceNet(name)
    if name not in FACE_NETWORKS:
        raise ValueError(
            f"unknown face network {name!r}; valid networks: {', '.join(FACE_NETWORKS)}"
        )
    return FaceNet(FACE_NETWORKS[name])
