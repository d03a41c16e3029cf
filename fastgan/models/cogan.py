"""Coupled GAN (Liu & Tuzel 2016): two generators and two discriminators with tied layers.

The generators share every layer but the last (`GeneratorBody`), so one z gives a pair of
images [N, C, R, R] x 2 that agree in their high-level content; the discriminators share
every layer but the first (`DiscriminatorBody`). The two domains are never paired in the
training data. On one-domain data the second domain is a fixed transform of the first
(`domain_transform`): the negative image or its edge map, the tasks of the CoGAN paper.
"""

import torch
from torch import nn

from fastgan.models.dcgan import (
    DiscriminatorBody,
    FromImage,
    GeneratorBody,
    ToImage,
    init_weights,
)

TRANSFORMS = ("negative", "edges")


def domain_transform(name: str, x: torch.Tensor) -> torch.Tensor:
    """The second domain from the first: images [N, C, H, W] in [-1, 1] -> same shape and range.

    negative: -x (the image inverted, 1 - v for values v in [0, 1]).
    edges: the morphological gradient, max - min over each 3x3 neighbourhood of v in [0, 1],
        mapped back to [-1, 1]: bright where the intensity changes, dark elsewhere.
    """
    if name == "negative":
        return -x
    if name == "edges":
        v = (x + 1) / 2
        grad = nn.functional.max_pool2d(v, 3, 1, 1) + nn.functional.max_pool2d(-v, 3, 1, 1)
        return grad.clamp(0, 1) * 2 - 1
    raise ValueError(f"transform must be one of {TRANSFORMS}, got {name!r}")


class CoupledGenerator(nn.Module):
    """z [N, Z] -> (images of domain 1, images of domain 2), each [N, C, R, R] in [-1, 1]."""

    def __init__(
        self,
        *,
        z_dim: int = 100,
        resolution: int = 28,
        channels: int = 1,
        base: int = 64,
        max_channels: int = 512,
    ) -> None:
        super().__init__()
        self.body = GeneratorBody(
            z_dim=z_dim, resolution=resolution, base=base, max_channels=max_channels
        )
        self.to_image = nn.ModuleList(
            ToImage(in_channels=self.body.channels[-1], channels=channels) for _ in range(2)
        )
        init_weights(self)

    @property
    def z_dim(self) -> int:
        return self.body.z_dim

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(z)
        return self.to_image[0](h), self.to_image[1](h)


class CoupledDiscriminator(nn.Module):
    """(x1 [N1, C, R, R], x2 [N2, C, R, R]) -> (logits [N1], logits [N2])."""

    def __init__(
        self, *, resolution: int = 28, channels: int = 1, base: int = 64, max_channels: int = 512
    ) -> None:
        super().__init__()
        self.body = DiscriminatorBody(resolution=resolution, base=base, max_channels=max_channels)
        self.from_image = nn.ModuleList(
            FromImage(channels=channels, out_channels=self.body.channels[-1]) for _ in range(2)
        )
        init_weights(self)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # One pass through the shared layers keeps batch-norm statistics over both domains.
        h = torch.cat([self.from_image[0](x1), self.from_image[1](x2)])
        logits = self.body(h)
        return logits[: len(x1)], logits[len(x1) :]


def pair_agreement(x1: torch.Tensor, x2: torch.Tensor, transform: str) -> float:
    """The CoGAN paper's pair-correspondence score of generated pairs x1, x2 [N, C, H, W].

    The known transform is applied to the first image of each pair and compared with the
    second, pixel by pixel, after thresholding both at the middle of the range (0 in [-1, 1]):
    the score is the share of pixels that agree, averaged over pairs; 1.0 is a perfect pair.
    """
    if x1.shape != x2.shape:
        raise ValueError(f"x2 must have the shape of x1 {tuple(x1.shape)}, got {tuple(x2.shape)}")
    expected = domain_transform(transform, x1.float()) > 0
    return float((expected == (x2.float() > 0)).float().flatten(1).mean(1).mean())
