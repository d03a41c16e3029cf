"""Equalized-learning-rate layers on fastgan's fused ops (StyleGAN, StyleGAN2).

Weights are stored as N(0, 1) / lr_multiplier and scaled at run time by
lr_multiplier / sqrt(fan_in), so that Adam's step moves every layer at the same relative speed
(Karras et al. 2018). Bias, activation, gain and clamp run as one `fastgan.ops.bias_act`;
resampling convolutions run as `fastgan.ops.conv2d_resample` with a FIR filter.
"""

import math
from collections.abc import Sequence

import torch
from torch import nn

from fastgan import ops

ACTIVATION_GAINS = {"linear": 1.0, "lrelu": math.sqrt(2.0), "relu": math.sqrt(2.0)}
DEFAULT_FILTER = (1, 3, 3, 1)


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATION_GAINS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATION_GAINS)}, got "
                         f"{activation!r}")


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2 over `dim`) + eps): each row of x [N, F] scaled to unit 2nd moment."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnected(nn.Module):
    """y = act(x @ (weight * gain).T + bias * lr_multiplier), gain = lr_multiplier / sqrt(I).

    x [N, I] -> y [N, O]. `bias_init` is the bias's initial value (1 for style affines, so the
    styles start around 1).
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 bias_init: float = 0.0, lr_multiplier: float = 1.0,
                 activation: str = "linear") -> None:
        super().__init__()
        _check_positive(in_features=in_features, out_features=out_features)
        _check_activation(activation)
        if lr_multiplier <= 0:
            raise ValueError(f"lr_multiplier must be > 0, got {lr_multiplier}")
        self.in_features, self.out_features = in_features, out_features
        self.activation, self.lr_multiplier = activation, lr_multiplier
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        init = torch.full([out_features], float(bias_init) / lr_multiplier)
        self.bias = nn.Parameter(init) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        b = None if self.bias is None else (self.bias * self.lr_multiplier).to(x.dtype)
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return ops.bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"activation={self.activation}, lr_multiplier={self.lr_multiplier}")


class Conv2d(nn.Module):
    """An equalized-lr convolution with optional FIR up/downsampling, bias and activation.

    x [N, I, H, W] -> y [N, O, H * up / down, W * up / down];
    y = clamp(act(conv2d_resample(x, weight / sqrt(I k k)) + bias) * g, -clamp, clamp) with
    g = activation gain * `gain`, and clamp = conv_clamp * `gain` when conv_clamp is set.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *,
                 bias: bool = True, activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[float] = DEFAULT_FILTER,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        _check_positive(in_channels=in_channels, out_channels=out_channels,
                        kernel_size=kernel_size, up=up, down=down)
        _check_activation(activation)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, \
            kernel_size
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", ops.setup_filter(list(resample_filter)),
                             persistent=False)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = ops.conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down,
                                padding=self.padding, flip_weight=self.up == 1)
        b = None if self.bias is None else self.bias.to(x.dtype)
        act_gain = ACTIVATION_GAINS[self.activation] * gain
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return ops.bias_act(x, b, act=self.activation, gain=act_gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"activation={self.activation}, up={self.up}, down={self.down}, "
                f"conv_clamp={self.conv_clamp}")


def mbstd_group_size(batch: int, group_size: int) -> int:
    """The group size minibatch-std uses for `batch`: `group_size` if it divides the batch,
    else the divisor of the batch nearest to it (the larger one on a tie: a group of
    one sample carries no statistics)."""
    divisors = [g for g in range(1, batch + 1) if batch % g == 0]
    return min(divisors, key=lambda g: (abs(g - group_size), -g))


class MinibatchStd(nn.Module):
    """Append the standard deviation across groups of samples as extra feature maps.

    x [N, C, H, W] -> [N, C + F, H, W]. The batch is split into groups of G samples (sample n
    belongs to group n mod (N / G)); per group, the std over its G samples of each feature is
    averaged over C / F channels and all pixels, giving F numbers broadcast to [F, H, W].
    G is `group_size` when it divides N, else the divisor of N nearest to it, so any batch
    works (with N = 1 the std is sqrt(1e-8)).
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        _check_positive(group_size=group_size, num_channels=num_channels)
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.shape
        G, F = mbstd_group_size(N, self.group_size), self.num_channels
        if C % F != 0:
            raise ValueError(f"MinibatchStd: channels ({C}) must be divisible by num_channels "
                             f"({F})")
        y = x.reshape(G, -1, F, C // F, H, W)  # [G, M, F, c, H, W], M = N / G
        y = (y - y.mean(dim=0)).square().mean(dim=0)  # variance over the group
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [M, F]
        y = y.reshape(-1, F, 1, 1).repeat(G, 1, H, W)  # [N, F, H, W]
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
