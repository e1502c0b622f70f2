"""Networks that map images to the feature the loss head classifies, by name."""

from __future__ import annotations

from torch import nn

from paper_repro.models.face import FACE_NETWORKS, FaceNet, FaceNetSpec, make_face_network
from paper_repro.models.vgg import TABLE1, VGGFeatures, VGGSpec
from paper_repro.models.visual import VisualNet

__all__ = [
    "FACE_NETWORKS",
    "NETWORKS",
    "TABLE1",
    "FaceNet",
    "FaceNetSpec",
    "VGGFeatures",
    "VGGSpec",
    "VisualNet",
    "make_face_network",
    "make_network",
]

NETWORKS = {
    **{f"table1-{name}": (lambda spec=spec: VGGFeatures(spec)) for name, spec in TABLE1.items()},
    **{name: (lambda spec=spec: FaceNet(spec)) for name, spec in FACE_NETWORKS.items()},
    "visual-2d": VisualNet,
}


def make_network(name: str) -> nn.Module:
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; valid networks: {', '.join(NETWORKS)}")
    return NETWORKS[name]()
