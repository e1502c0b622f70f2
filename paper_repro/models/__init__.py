"""Networks that map images to the feature the loss head classifies, by name."""

from __future__ import annotations

from torch import nn

from paper_repro.models.face import FACE_NETWORKS, FaceNet, FaceNetSpec, make_face_network
from paper_repro.models.vgg import RELEASE, TABLE1, VGGFeatures, VGGSpec
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
    "network_for",
]

NETWORKS = {
    **{f"table1-{name}": (lambda spec=spec: VGGFeatures(spec)) for name, spec in TABLE1.items()},
    **{f"release-{name}": (lambda spec=spec: VGGFeatures(spec)) for name, spec in RELEASE.items()},
    **{name: (lambda spec=spec: FaceNet(spec)) for name, spec in FACE_NETWORKS.items()},
    "visual-2d": VisualNet,
}


def make_network(name: str) -> nn.Module:
    """A network by name; every network has `feature_dim` and `input_shape` (C, H, W)."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; valid networks: {', '.join(NETWORKS)}")
    return NETWORKS[name]()


def network_for(shape: tuple[int, int, int]) -> str:
    """The Table-1 network whose input is images of `shape` (C, H, W)."""
    for name, spec in TABLE1.items():
        if (spec.in_channels, spec.image_size, spec.image_size) == tuple(shape):
            return f"table1-{name}"
    valid = ", ".join(f"table1-{n}: {s.in_channels}x{s.image_size}x{s.image_size}"
                      for n, s in TABLE1.items())  # fmt: skip
    raise ValueError(
        f"no Table-1 network takes {shape[0]}x{shape[1]}x{shape[2]} images ({valid}); "
        "resize the images or name a network (faces: TASK=verify converts any image)"
    )
