"""The 2-D visualisation network behind Figures 1 and 4 (L-Softmax Fig. 2, CosFace Fig. 3).

Three pairs of 5x5 convolutions (32, 32), (64, 64), (128, 128) with padding 2, each followed by
PReLU, 2x2 max pooling after each pair, then one fully connected layer to a 2-D feature that
the loss head classifies (the "LeNet++" of the centre-loss paper, which the 2-D feature plots
of the margin papers follow). Pooling rounds up like the Caffe original and the Table 1
networks (28 -> 14 -> 7 -> 4)."""

from __future__ import annotations

from torch import nn

from paper_repro.models.layers import PReLU

VISUAL_WIDTHS = (32, 64, 128)  # convolution width per pooled pair
FEATURE_DIM = 2  # plotted directly: no projection between the network and the figure


def conv_prelu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 5, padding=2), PReLU(cout)]


class VisualNet(nn.Module):
    """images (B, 1, 28, 28) float -> features (B, 2)."""

    def __init__(self, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        layers, width, side = [], in_channels, image_size
        for stage_width in VISUAL_WIDTHS:
            layers += conv_prelu(width, stage_width) + conv_prelu(stage_width, stage_width)
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            width, side = stage_width, -(-side // 2)
        self.conv = nn.Sequential(*layers)
        # no nonlinearity after the FC layer: the figures show the angles of exactly the
        # feature the head sees, and a ReLU-like bend there would fold the plane
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(width * side * side, FEATURE_DIM))
        self.feature_dim = FEATURE_DIM
        self.input_shape = (in_channels, image_size, image_size)  # (C, H, W)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Without batch norm, PyTorch's default init (kaiming_uniform with a=sqrt 5) shrinks the
        # signal through six convolutions and SGD stalls at chance for hundreds of steps; He
        # init for PReLU's initial slope 0.25 keeps the variance, so short schedules train.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.25, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, images):
        return self.fc(self.conv(images))
