"""DCGAN networks (Radford et al. 2015), unconditional or conditioned on a class label.

The generator maps `z` [N, Z] (and a label `c` [N]) to images [N, C, R, R] in [-1, 1]; the
discriminator maps images (and labels) to logits [N]. The number of up/down blocks follows
from the resolution: R = r0 * 2**k with a start size r0 in 4..7 (28 = 7 * 2**2, 32 = 4 * 2**3,
64 = 4 * 2**4, ...).

Both networks are split into the pieces that CoGAN shares or keeps per domain:
`GeneratorBody` (z -> features at R/2) + `ToImage` (features -> image at R), and
`FromImage` (image -> features at R/2) + `DiscriminatorBody` (features -> logit).
G takes a label as an embedding joined to z, D as one-hot channels joined to the image.
"""

import torch
from torch import nn


def stage_plan(resolution: int) -> tuple[int, int]:
    """Split a resolution into (r0, k) with resolution == r0 * 2**k, 4 <= r0 <= 7, k >= 1."""
    if not isinstance(resolution, int) or isinstance(resolution, bool):
        raise TypeError(f"resolution must be an int, got {type(resolution).__name__}")
    r0, k = resolution, 0
    while r0 > 7 and r0 % 2 == 0:
        r0, k = r0 // 2, k + 1
    if not 4 <= r0 <= 7 or k < 1:
        raise ValueError(
            "resolution must be r0 * 2**k with r0 in 4..7 and k >= 1 (e.g. 28, 32, 64, 128), "
            f"got {resolution}"
        )
    return r0, k


def stage_channels(k: int, base: int, max_channels: int) -> list[int]:
    """Channels of the k feature maps from the smallest (r0) to the largest (R/2) size.

    The map at size r0 * 2**i has min(max_channels, base * 2**(k-1-i)) channels, so the
    largest map has `base` channels and each halving of the size doubles them.
    """
    for name, value in (("base", base), ("max_channels", max_channels)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    return [min(max_channels, base * 2 ** (k - 1 - i)) for i in range(k)]


def check_label(c: torch.Tensor | None, num_classes: int, n: int) -> None:
    """Raise unless `c` is a [n] integer label for a conditional net, or None otherwise."""
    if num_classes == 0:
        if c is not None:
            raise ValueError("c must be None for an unconditional network, got a tensor")
        return
    if c is None:
        raise ValueError(f"c must be a label tensor [N] for a net with {num_classes} classes")
    if c.dtype != torch.int64 or c.shape != (n,):
        raise ValueError(f"c must be int64 of shape ({n},), got {c.dtype} {tuple(c.shape)}")


class GeneratorBody(nn.Module):
    """z [N, Z] (+ label c [N]) -> features [N, ch[-1], R/2, R/2].

    A linear stem to [N, ch[0], r0, r0] with batch norm and ReLU, then k-1 transposed
    convolutions (4x4, stride 2) each doubling the size, with batch norm and ReLU. A label is
    embedded to `embed_dim` values and joined to z.
    """

    def __init__(
        self,
        *,
        z_dim: int,
        resolution: int,
        base: int,
        max_channels: int,
        num_classes: int = 0,
        embed_dim: int = 0,
    ) -> None:
        super().__init__()
        if z_dim < 1:
            raise ValueError(f"z_dim must be >= 1, got {z_dim}")
        if num_classes < 0 or (num_classes > 0 and embed_dim < 1):
            raise ValueError(
                "num_classes must be >= 0 and embed_dim >= 1 when num_classes > 0, "
                f"got num_classes={num_classes}, embed_dim={embed_dim}"
            )
        self.z_dim, self.num_classes = z_dim, num_classes
        self.r0, k = stage_plan(resolution)
        self.channels = stage_channels(k, base, max_channels)

        # Stem: a linear map to the smallest feature map.
        self.embed = nn.Embedding(num_classes, embed_dim) if num_classes else None
        in_dim = z_dim + (embed_dim if num_classes else 0)
        self.stem = nn.Linear(in_dim, self.channels[0] * self.r0 * self.r0, bias=False)
        self.stem_norm = nn.BatchNorm2d(self.channels[0])

        # Up blocks: each doubles the size.
        blocks = []
        for ci, co in zip(self.channels[:-1], self.channels[1:]):
            blocks.append(
                nn.Sequential(
                    nn.ConvTranspose2d(ci, co, 4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(co),
                    nn.ReLU(inplace=True),
                )
            )
        self.blocks = nn.ModuleList(blocks)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """z [N, Z], c [N] int64 (only when conditional) -> [N, ch[-1], R/2, R/2]."""
        check_label(c, self.num_classes, len(z))
        h = torch.cat([z, self.embed(c)], dim=1) if self.embed is not None else z
        h = self.stem(h).view(-1, self.channels[0], self.r0, self.r0)  # [N, ch0, r0, r0]
        h = torch.relu(self.stem_norm(h))
        for block in self.blocks:
            h = block(h)
        return h

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, num_classes={self.num_classes}, r0={self.r0}"


class ToImage(nn.Module):
    """Features [N, I, R/2, R/2] -> image [N, C, R, R] in [-1, 1] (transposed conv + tanh)."""

    def __init__(self, *, in_channels: int, channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, channels, 4, stride=2, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(h))


class FromImage(nn.Module):
    """Image [N, C, R, R] -> features [N, O, R/2, R/2] (strided conv + LeakyReLU 0.2, no norm)."""

    def __init__(self, *, channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels, 4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.leaky_relu(self.conv(x), 0.2)


class DiscriminatorBody(nn.Module):
    """Features [N, ch[-1], R/2, R/2] -> logits [N].

    k-1 strided convolutions (4x4, stride 2) with batch norm and LeakyReLU 0.2 down to r0,
    then a linear output.
    """

    def __init__(self, *, resolution: int, base: int, max_channels: int) -> None:
        super().__init__()
        self.r0, k = stage_plan(resolution)
        self.channels = stage_channels(k, base, max_channels)  # smallest map first

        # Down blocks: from the R/2 map to the r0 map.
        blocks = []
        for ci, co in zip(self.channels[:0:-1], self.channels[-2::-1]):
            blocks.append(
                nn.Sequential(
                    nn.Conv2d(ci, co, 4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(co),
                    nn.LeakyReLU(0.2, inplace=True),
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Linear(self.channels[0] * self.r0 * self.r0, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h [N, ch[-1], R/2, R/2] -> logits [N]."""
        for block in self.blocks:
            h = block(h)
        return self.out(h.flatten(1)).squeeze(1)  # from [N, ch0 * r0 * r0]

    def extra_repr(self) -> str:
        return f"r0={self.r0}"


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv and linear weights N(0, 0.02), norm scales N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Generator(nn.Module):
    """DCGAN generator: z [N, Z] (+ c [N]) -> images [N, C, R, R] in [-1, 1]."""

    def __init__(
        self,
        *,
        z_dim: int = 100,
        resolution: int = 64,
        channels: int = 3,
        base: int = 64,
        max_channels: int = 512,
        num_classes: int = 0,
        embed_dim: int = 0,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.body = GeneratorBody(
            z_dim=z_dim, resolution=resolution, base=base, max_channels=max_channels,
            num_classes=num_classes, embed_dim=embed_dim,
        )
        self.to_image = ToImage(in_channels=self.body.channels[-1], channels=channels)
        init_weights(self)

    @property
    def z_dim(self) -> int:
        return self.body.z_dim

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.to_image(self.body(z, c))


class Discriminator(nn.Module):
    """DCGAN discriminator: images [N, C, R, R] (+ c [N]) -> logits [N].

    A label enters as `num_classes` one-hot input channels joined to the image, so every
    layer sees it (the conditional GAN of Mirza & Osindero with DCGAN layers).
    """

    def __init__(
        self,
        *,
        resolution: int = 64,
        channels: int = 3,
        base: int = 64,
        max_channels: int = 512,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if channels < 1 or num_classes < 0:
            raise ValueError(f"channels must be >= 1 and num_classes >= 0, got {channels}, "
                             f"{num_classes}")
        self.num_classes = num_classes
        self.body = DiscriminatorBody(resolution=resolution, base=base, max_channels=max_channels)
        self.from_image = FromImage(channels=channels + num_classes,
                                    out_channels=self.body.channels[-1])
        init_weights(self)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        check_label(c, self.num_classes, len(x))
        if self.num_classes:
            onehot = nn.functional.one_hot(c, self.num_classes).to(x.dtype)  # [N, K]
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], dim=1)
        return self.body(self.from_image(x))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"
