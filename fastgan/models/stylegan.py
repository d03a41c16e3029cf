"""StyleGAN (v1, Karras et al. 2019) on fastgan's fused ops, at a fixed resolution.

Generator: the mapping network of fastgan.nn (8 layers, lr multiplier 0.01, tracked w_avg) and
a synthesis network from a learned 4x4 constant; each resolution has two layers, each layer
(convolution, the first one of a block upsampling 2x through the FIR blur [1, 2, 1]) + noise
with a learned per-channel strength + bias + leaky ReLU + AdaIN (the fused `adain` op) with
scale 1 + s and bias b from an affine map of its w. One ToRGB at the output resolution.
Discriminator: the ProGAN one (FromRGB, two 3x3 convs per resolution with blurred
downsampling, minibatch std, conv, two FC layers), the "orig" architecture of
fastgan.models.stylegan2.Discriminator with the [1, 2, 1] filter.

Progressive growing is not implemented: the nets train at their final resolution from the
start (as StyleGAN2 does).
"""

import torch
from torch import nn

from fastgan import ops
from fastgan.models.stylegan2 import Discriminator as _StyleGAN2Discriminator
from fastgan.models.stylegan2 import channels_at, check_resolution
from fastgan.nn.layers import Conv2d, FullyConnected
from fastgan.nn.style import MappingNetwork, check_noise_mode

BLUR = (1, 2, 1)


class StyleLayer(nn.Module):
    """x [N, I, H, W], w [N, W] -> [N, O, r, r]: (conv) + noise + bias + lrelu + AdaIN.

    in_channels 0 makes the layer take its input as is (the 4x4 constant, no convolution).
    """

    def __init__(self, *, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 up: int = 1) -> None:
        super().__init__()
        self.resolution, self.out_channels = resolution, out_channels
        self.conv = None
        if in_channels:
            self.conv = Conv2d(in_channels, out_channels, 3, bias=False, up=up,
                               resample_filter=BLUR)
        self.noise_strength = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.style = FullyConnected(w_dim, 2 * out_channels)  # (s, b); scale is 1 + s

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random"
                ) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)

        # Noise with a per-channel strength, then bias and leaky ReLU in one op.
        r = self.resolution
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, r, r, device=x.device, dtype=x.dtype)
            x = x + noise * self.noise_strength[:, None, None]
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength[:, None, None]
        x = ops.bias_act(x, self.bias, act="lrelu")

        # AdaIN with the style of w.
        s, b = self.style(w).chunk(2, dim=1)  # [N, O] each
        return ops.adain(x, (s + 1).to(x.dtype), b.to(x.dtype), eps=1e-8)

    def extra_repr(self) -> str:
        return f"out_channels={self.out_channels}, resolution={self.resolution}"


class SynthesisNetwork(nn.Module):
    """ws [N, 2 log2(R) - 2, W] -> images [N, C, R, R]; layer pair k uses ws[:, 2k : 2k + 2]."""

    def __init__(self, *, w_dim: int, resolution: int, img_channels: int,
                 channel_base: int = 16384, channel_max: int = 512) -> None:
        super().__init__()
        log2 = check_resolution(resolution)
        self.w_dim, self.resolution = w_dim, resolution
        c4 = channels_at(4, channel_base, channel_max)
        self.const = nn.Parameter(torch.ones(c4, 4, 4))
        self.layers = nn.ModuleList([
            StyleLayer(in_channels=0, out_channels=c4, w_dim=w_dim, resolution=4),
            StyleLayer(in_channels=c4, out_channels=c4, w_dim=w_dim, resolution=4),
        ])
        for r in [2 ** i for i in range(3, log2 + 1)]:
            c_in, c = channels_at(r // 2, channel_base, channel_max), \
                channels_at(r, channel_base, channel_max)
            self.layers.append(StyleLayer(in_channels=c_in, out_channels=c, w_dim=w_dim,
                                          resolution=r, up=2))
            self.layers.append(StyleLayer(in_channels=c, out_channels=c, w_dim=w_dim,
                                          resolution=r))
        self.num_ws = len(self.layers)
        self.torgb = Conv2d(channels_at(resolution, channel_base, channel_max), img_channels, 1)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        check_noise_mode(noise_mode)
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got "
                             f"{tuple(ws.shape)}")
        x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        for layer, w in zip(self.layers, ws.unbind(dim=1)):
            x = layer(x, w, noise_mode)
        return self.torgb(x)


class Generator(nn.Module):
    """z [N, Z] (+ labels c [N]) -> images [N, C, R, R]: mapping + AdaIN synthesis."""

    def __init__(self, *, z_dim: int, w_dim: int, resolution: int, img_channels: int,
                 num_classes: int = 0, mapping_layers: int = 8,
                 mapping_lr_multiplier: float = 0.01, w_avg_beta: float = 0.995,
                 channel_base: int = 16384, channel_max: int = 512) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_classes = z_dim, w_dim, num_classes
        self.resolution, self.img_channels = resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, resolution=resolution,
                                          img_channels=img_channels, channel_base=channel_base,
                                          channel_max=channel_max)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, w_dim=w_dim, num_ws=self.num_ws, num_classes=num_classes,
            num_layers=mapping_layers, lr_multiplier=mapping_lr_multiplier,
            w_avg_beta=w_avg_beta)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, *, psi: float = 1.0,
                cutoff: int | None = None, noise_mode: str = "random") -> torch.Tensor:
        ws = self.mapping(z, c, psi=psi, cutoff=cutoff)
        return self.synthesis(ws, noise_mode)


class Discriminator(_StyleGAN2Discriminator):
    """The ProGAN discriminator: images [N, C, R, R] (+ labels c [N]) -> logits [N]."""

    def __init__(self, *, resolution: int, img_channels: int, num_classes: int = 0,
                 channel_base: int = 16384, channel_max: int = 512,
                 mbstd_group_size: int = 4) -> None:
        super().__init__(resolution=resolution, img_channels=img_channels,
                         num_classes=num_classes, channel_base=channel_base,
                         channel_max=channel_max, architecture="orig",
                         mbstd_group_size=mbstd_group_size, resample_filter=BLUR)


__all__ = ["Discriminator", "Generator", "StyleLayer", "SynthesisNetwork"]
