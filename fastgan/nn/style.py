"""Style-based generator layers: the mapping network, modulated convolutions, ToRGB.

Shapes: z [N, Z], labels c [N] (int64), w [N, W], per-layer w's [N, L, W].
"""

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from fastgan import ops
from fastgan.nn.layers import DEFAULT_FILTER, FullyConnected, normalize_2nd_moment

NOISE_MODES = ("random", "const", "none")


def check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")


class MappingNetwork(nn.Module):
    """z [N, Z] (+ label c [N]) -> w broadcast to [N, num_ws, W] (or [N, W] if num_ws == 0).

    z is normalized to unit second moment; a label is one-hot encoded, embedded to W features,
    normalized the same way and joined to z. Then `num_layers` equalized-lr fully connected
    layers with leaky ReLU and the learning-rate multiplier `lr_multiplier`. In training mode
    each call moves `w_avg` towards the batch mean: w_avg = lerp(mean(w), w_avg, w_avg_beta).
    Truncation: w[:, :cutoff] = lerp(w_avg, w[:, :cutoff], psi).
    """

    def __init__(self, *, z_dim: int, w_dim: int, num_ws: int, num_classes: int = 0,
                 num_layers: int = 8, lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        if z_dim < 0 or num_classes < 0 or num_ws < 0 or (z_dim == 0 and num_classes == 0):
            raise ValueError(f"need z_dim >= 0, num_classes >= 0, num_ws >= 0 and one of z_dim "
                             f"or num_classes > 0, got z_dim={z_dim}, num_classes={num_classes}, "
                             f"num_ws={num_ws}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.z_dim, self.w_dim, self.num_ws = z_dim, w_dim, num_ws
        self.num_classes, self.num_layers, self.w_avg_beta = num_classes, num_layers, w_avg_beta
        self.embed = FullyConnected(num_classes, w_dim) if num_classes else None
        features = z_dim + (w_dim if num_classes else 0)
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            self.layers.append(FullyConnected(features if i == 0 else w_dim, w_dim,
                                              activation="lrelu", lr_multiplier=lr_multiplier))
        if w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, *,
                psi: float = 1.0, cutoff: int | None = None,
                update_w_avg: bool = True) -> torch.Tensor:
        # The input: normalized z, joined by the normalized label embedding.
        parts = []
        if self.z_dim:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"z must be [N, {self.z_dim}], got "
                                 f"{None if z is None else tuple(z.shape)}")
            parts.append(normalize_2nd_moment(z.float()))
        if self.num_classes:
            if c is None or c.ndim != 1:
                raise ValueError(f"c must be int64 labels [N] for a mapping with "
                                 f"{self.num_classes} classes, got "
                                 f"{None if c is None else tuple(c.shape)}")
            onehot = F.one_hot(c, self.num_classes).to(self.embed.weight.dtype)
            parts.append(normalize_2nd_moment(self.embed(onehot)))
        elif c is not None:
            raise ValueError("c must be None for an unconditional mapping, got a tensor")
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

        # The layers, then the running average of w.
        for layer in self.layers:
            x = layer(x)
        if self.w_avg_beta is not None and self.training and update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

        # Broadcast to every layer and truncate.
        if self.num_ws == 0:
            return x
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1.0:
            if self.w_avg_beta is None:
                raise ValueError("truncation (psi != 1) needs w_avg, but w_avg_beta is None")
            end = self.num_ws if cutoff is None else cutoff
            x = torch.cat([self.w_avg.lerp(x[:, :end], psi), x[:, end:]], dim=1)
        return x

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"num_classes={self.num_classes}, w_avg_beta={self.w_avg_beta}")


class ModulatedConv(nn.Module):
    """StyleGAN2's synthesis layer: modulated/demodulated 3x3 conv, noise, bias, lrelu.

    x [N, I, H, W], w [N, W] -> [N, O, H * up, W * up] (= resolution). The styles are an
    affine map of w (bias initialised to 1); noise [N, 1, R, R] is scaled by a learned
    strength: fresh per call ("random"), the stored `noise_const` ("const") or none.
    """

    def __init__(self, *, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True,
                 resample_filter: Sequence[float] = DEFAULT_FILTER,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, \
            resolution
        self.up, self.use_noise, self.conv_clamp = up, use_noise, conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)),
                             persistent=False)
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random",
                gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)  # [N, I]
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution,
                                device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = ops.modulated_conv2d(x, self.weight, styles, noise, up=self.up,
                                 padding=self.padding, resample_filter=self.resample_filter,
                                 flip_weight=self.up == 1, fused_modconv=None)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return ops.bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=math.sqrt(2.0) * gain,
                            clamp=clamp)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, resolution={self.resolution}, "
                f"up={self.up}, use_noise={self.use_noise}, conv_clamp={self.conv_clamp}")


class ToRGB(nn.Module):
    """x [N, I, H, W], w [N, W] -> image [N, C, H, W]: a modulated 1x1 conv without
    demodulation (styles scaled by 1 / sqrt(I)), plus a bias, clamped to conv_clamp."""

    def __init__(self, *, in_channels: int, out_channels: int, w_dim: int,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp = in_channels, out_channels, \
            conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=None)
        return ops.bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, conv_clamp={self.conv_clamp}"
