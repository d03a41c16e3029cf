"""StyleGAN2 networks (Karras et al. 2020) as StyleGAN2-ADA builds them, on fastgan's fused ops.

Generator: a mapping network z (+ label) -> w, and a synthesis network from a learned 4x4
constant through one block per resolution 4, 8, ..., R; each block has modulated 3x3
convolutions (the first one upsamples 2x with a FIR filter) with noise, and the image is built
as the sum of FIR-upsampled ToRGB outputs ("skip"), or taken from the last block ("orig",
"resnet" with residual blocks). Discriminator: one block per resolution R, ..., 8 (two 3x3
convs, the second one FIR-downsampling, residual by default), then at 4x4 minibatch std, a
conv, a fully connected layer and the output, projected onto a label embedding when
conditional.

The number of channels at resolution r is min(channel_base // r, channel_max). The highest
`num_fp16_res` resolutions run in float16 on CUDA (with conv_clamp limiting the activations);
on the CPU everything runs in float32.
"""

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from fastgan import ops
from fastgan.nn.layers import DEFAULT_FILTER, Conv2d, FullyConnected, MinibatchStd
from fastgan.nn.style import MappingNetwork, ModulatedConv, ToRGB, check_noise_mode

ARCHITECTURES = ("orig", "skip", "resnet")
SQRT_HALF = math.sqrt(0.5)


def check_resolution(resolution: int) -> int:
    """log2 of a resolution that is a power of two >= 4."""
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution!r}")
    return int(np.log2(resolution))


def channels_at(resolution: int, channel_base: int, channel_max: int) -> int:
    """min(channel_base // resolution, channel_max), at least 1."""
    return max(1, min(channel_base // resolution, channel_max))


def _check_architecture(name: str, value: str) -> None:
    if value not in ARCHITECTURES:
        raise ValueError(f"{name} must be one of {ARCHITECTURES}, got {value!r}")


def _block_dtype(use_fp16: bool, x: torch.Tensor) -> torch.dtype:
    return torch.float16 if use_fp16 and x.device.type == "cuda" else torch.float32


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network.

    (x [N, I, r/2, r/2] or nothing for the 4x4 constant, img [N, C, r/2, r/2] or None,
    ws [N, num_conv + num_torgb, W]) -> (x [N, O, r, r], img [N, C, r, r] or None).
    """

    def __init__(self, *, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, is_last: bool, architecture: str = "skip",
                 resample_filter: Sequence[float] = DEFAULT_FILTER,
                 conv_clamp: float | None = None, use_fp16: bool = False) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.is_last = in_channels, resolution, is_last
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)),
                             persistent=False)
        self.num_conv = self.num_torgb = 0
        layer = dict(w_dim=w_dim, resolution=resolution, resample_filter=resample_filter,
                     conv_clamp=conv_clamp)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = ModulatedConv(in_channels=in_channels, out_channels=out_channels, up=2,
                                       **layer)
            self.num_conv += 1
        self.conv1 = ModulatedConv(in_channels=out_channels, out_channels=out_channels, **layer)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGB(in_channels=out_channels, out_channels=img_channels, w_dim=w_dim,
                               conv_clamp=conv_clamp)
            self.num_torgb = 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2d(in_channels, out_channels, 1, bias=False, up=2,
                               resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor | None]:
        w = iter(ws.unbind(dim=1))
        N = ws.shape[0]
        ref = ws if x is None else x
        dtype = _block_dtype(self.use_fp16, ref)

        # The features: the constant, or the upsampled input through two convolutions.
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(N, 1, 1, 1)
            x = self.conv1(x, next(w), noise_mode)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            y = self.skip(x, gain=SQRT_HALF)
            x = self.conv0(x, next(w), noise_mode)
            x = y + self.conv1(x, next(w), noise_mode, gain=SQRT_HALF)
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w), noise_mode)
            x = self.conv1(x, next(w), noise_mode)

        # The image: the upsampled image so far plus this resolution's ToRGB.
        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w)).float()
            img = y if img is None else img + y
        return x, img

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, architecture={self.architecture}, "
                f"use_fp16={self.use_fp16}")


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, W] -> images [N, C, R, R].

    Block r uses ws[:, k : k + num_conv + num_torgb] where k counts the convolutions of the
    blocks before it: a ToRGB shares its w with the next block's first convolution.
    """

    def __init__(self, *, w_dim: int, resolution: int, img_channels: int,
                 channel_base: int = 32768, channel_max: int = 512, architecture: str = "skip",
                 num_fp16_res: int = 0, conv_clamp: float | None = None,
                 resample_filter: Sequence[float] = DEFAULT_FILTER) -> None:
        super().__init__()
        log2 = check_resolution(resolution)
        _check_architecture("architecture", architecture)
        self.w_dim, self.resolution, self.img_channels = w_dim, resolution, img_channels
        self.resolutions = [2 ** i for i in range(2, log2 + 1)]
        fp16_from = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.blocks = nn.ModuleList()
        self.num_ws = 0
        for r in self.resolutions:
            block = SynthesisBlock(
                in_channels=channels_at(r // 2, channel_base, channel_max) if r > 4 else 0,
                out_channels=channels_at(r, channel_base, channel_max), w_dim=w_dim,
                resolution=r, img_channels=img_channels, is_last=r == resolution,
                architecture=architecture, resample_filter=resample_filter,
                conv_clamp=conv_clamp, use_fp16=num_fp16_res > 0 and r >= fp16_from)
            self.num_ws += block.num_conv + (block.num_torgb if r == resolution else 0)
            self.blocks.append(block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        check_noise_mode(noise_mode)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got "
                             f"{tuple(ws.shape)}")
        x = img = None
        k = 0
        for block in self.blocks:
            n = block.num_conv + block.num_torgb
            x, img = block(x, img, ws[:, k:k + n], noise_mode)
            k += block.num_conv
        return img


class Generator(nn.Module):
    """z [N, Z] (+ labels c [N]) -> images [N, C, R, R] (about [-1, 1]): mapping + synthesis."""

    def __init__(self, *, z_dim: int, w_dim: int, resolution: int, img_channels: int,
                 num_classes: int = 0, mapping_layers: int = 8,
                 mapping_lr_multiplier: float = 0.01, w_avg_beta: float = 0.995,
                 channel_base: int = 32768, channel_max: int = 512, architecture: str = "skip",
                 num_fp16_res: int = 0, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_classes = z_dim, w_dim, num_classes
        self.resolution, self.img_channels = resolution, img_channels
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim, resolution=resolution, img_channels=img_channels,
            channel_base=channel_base, channel_max=channel_max, architecture=architecture,
            num_fp16_res=num_fp16_res, conv_clamp=conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, w_dim=w_dim, num_ws=self.num_ws, num_classes=num_classes,
            num_layers=mapping_layers, lr_multiplier=mapping_lr_multiplier,
            w_avg_beta=w_avg_beta)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, *, psi: float = 1.0,
                cutoff: int | None = None, noise_mode: str = "random") -> torch.Tensor:
        ws = self.mapping(z, c, psi=psi, cutoff=cutoff)
        return self.synthesis(ws, noise_mode)


class DiscriminatorBlock(nn.Module):
    """One resolution r of the discriminator: (x [N, I, r, r] or None, img [N, C, r, r])
    -> (x [N, O, r/2, r/2], img [N, C, r/2, r/2] for "skip", else None)."""

    def __init__(self, *, in_channels: int, tmp_channels: int, out_channels: int,
                 resolution: int, img_channels: int, architecture: str = "resnet",
                 resample_filter: Sequence[float] = DEFAULT_FILTER,
                 conv_clamp: float | None = None, use_fp16: bool = False) -> None:
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)),
                             persistent=False)
        conv = dict(activation="lrelu", resample_filter=resample_filter, conv_clamp=conv_clamp)
        if in_channels == 0 or architecture == "skip":
            self.fromrgb = Conv2d(img_channels, tmp_channels, 1, **conv)
        self.conv0 = Conv2d(tmp_channels, tmp_channels, 3, **conv)
        self.conv1 = Conv2d(tmp_channels, out_channels, 3, down=2, **conv)
        if architecture == "resnet":
            self.skip = Conv2d(tmp_channels, out_channels, 1, bias=False, down=2,
                               resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        dtype = _block_dtype(self.use_fp16, img if x is None else x)

        # From the image: the first block, or every block of the skip architecture.
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.fromrgb(img.to(dtype))
            x = y if x is None else x.to(dtype) + y
            img = ops.downsample2d(img, self.resample_filter) \
                if self.architecture == "skip" else None
        x = x.to(dtype)

        # Two convolutions, the second one downsampling; residual or plain.
        if self.architecture == "resnet":
            y = self.skip(x, gain=SQRT_HALF)
            x = self.conv0(x)
            x = y + self.conv1(x, gain=SQRT_HALF)
        else:
            x = self.conv1(self.conv0(x))
        return x, img

    def extra_repr(self) -> str:
        return (f"resolution={self.resolution}, architecture={self.architecture}, "
                f"use_fp16={self.use_fp16}")


class DiscriminatorEpilogue(nn.Module):
    """x [N, I, 4, 4] (+ img [N, C, 4, 4] for "skip"; only img when `first`) -> logits [N].

    Minibatch std, 3x3 conv, fully connected, output; with labels the output [N, M] is
    projected onto their embedding cmap [N, M] / sqrt(M)."""

    def __init__(self, *, in_channels: int, cmap_dim: int, img_channels: int,
                 resolution: int = 4, architecture: str = "resnet", mbstd_group_size: int = 4,
                 mbstd_channels: int = 1, conv_clamp: float | None = None,
                 first: bool = False) -> None:
        super().__init__()
        self.cmap_dim = cmap_dim
        self.first = first
        if architecture == "skip" or first:
            self.fromrgb = Conv2d(img_channels, in_channels, 1, activation="lrelu",
                                  conv_clamp=conv_clamp)
        self.mbstd = MinibatchStd(mbstd_group_size, mbstd_channels) if mbstd_channels else None
        self.conv = Conv2d(in_channels + mbstd_channels, in_channels, 3, activation="lrelu",
                           conv_clamp=conv_clamp)
        self.fc = FullyConnected(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnected(in_channels, cmap_dim if cmap_dim else 1)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None,
                cmap: torch.Tensor | None) -> torch.Tensor:
        if self.first:  # a 4x4 discriminator: no blocks before
            x = self.fromrgb(img.float())
        elif hasattr(self, "fromrgb"):
            x = x.float() + self.fromrgb(img.float())
        x = x.float()
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.out(self.fc(x.flatten(1)))
        if self.cmap_dim:
            x = (x * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return x.squeeze(1)


class Discriminator(nn.Module):
    """images [N, C, R, R] (+ labels c [N]) -> logits [N]."""

    def __init__(self, *, resolution: int, img_channels: int, num_classes: int = 0,
                 channel_base: int = 32768, channel_max: int = 512,
                 architecture: str = "resnet", num_fp16_res: int = 0,
                 conv_clamp: float | None = None, mbstd_group_size: int = 4,
                 mbstd_channels: int = 1, cmap_dim: int | None = None,
                 resample_filter: Sequence[float] = DEFAULT_FILTER) -> None:
        super().__init__()
        log2 = check_resolution(resolution)
        _check_architecture("architecture", architecture)
        self.resolution, self.img_channels, self.num_classes = resolution, img_channels, \
            num_classes
        fp16_from = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.blocks = nn.ModuleList()
        for r in [2 ** i for i in range(log2, 2, -1)]:
            self.blocks.append(DiscriminatorBlock(
                in_channels=channels_at(r, channel_base, channel_max) if r < resolution else 0,
                tmp_channels=channels_at(r, channel_base, channel_max),
                out_channels=channels_at(r // 2, channel_base, channel_max), resolution=r,
                img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp,
                resample_filter=resample_filter, use_fp16=num_fp16_res > 0 and r >= fp16_from))
        c4 = channels_at(4, channel_base, channel_max)
        cmap_dim = (cmap_dim or c4) if num_classes else 0
        self.mapping = None
        if num_classes:
            self.mapping = MappingNetwork(z_dim=0, w_dim=cmap_dim, num_ws=0,
                                          num_classes=num_classes, w_avg_beta=None)
        self.epilogue = DiscriminatorEpilogue(
            in_channels=c4, cmap_dim=cmap_dim, img_channels=img_channels,
            architecture=architecture, first=resolution == 4, mbstd_group_size=mbstd_group_size,
            mbstd_channels=mbstd_channels, conv_clamp=conv_clamp)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        shape = (self.img_channels, self.resolution, self.resolution)
        if img.ndim != 4 or tuple(img.shape[1:]) != shape:
            raise ValueError(f"img must be [N, {', '.join(map(str, shape))}], got "
                             f"{tuple(img.shape)}")
        x = None
        for block in self.blocks:
            x, img = block(x, img)
        cmap = self.mapping(None, c) if self.mapping is not None else None
        if self.mapping is None and c is not None:
            raise ValueError("c must be None for an unconditional discriminator, got a tensor")
        return self.epilogue(x, img, cmap)
