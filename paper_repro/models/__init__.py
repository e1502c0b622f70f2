"""Networks that map images to the feature the loss head classifies."""

from __future__ import annotations

from torch import nn

from paper_repro.models.vgg import TABLE1, VGGFeatures, VGGSpec

__all__ = ["TABLE1", "VGGFeatures", "VGGSpec", "make_network"]

NETWORKS = {f"table1-{name}": spec for name, spec in TABLE1.items()}


def make_network(name: str) -> nn.Module:
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; valid networks: {', '.join(NETWORKS)}")
    return VGGFeatures(NETWORKS[name])
