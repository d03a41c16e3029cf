"""Layers of the style-based GANs, built on fastgan.ops (equalized learning rate throughout)."""

from fastgan.nn.layers import (
    Conv2d,
    FullyConnected,
    MinibatchStd,
    mbstd_group_size,
    normalize_2nd_moment,
)
from fastgan.nn.style import NOISE_MODES, MappingNetwork, ModulatedConv, ToRGB

__all__ = [
    "NOISE_MODES",
    "Conv2d",
    "FullyConnected",
    "MappingNetwork",
    "MinibatchStd",
    "ModulatedConv",
    "ToRGB",
    "mbstd_group_size",
    "normalize_2nd_moment",
]
