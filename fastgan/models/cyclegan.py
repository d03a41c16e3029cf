"""CycleGAN networks (Zhu et al. 2017): a ResNet generator and a PatchGAN discriminator.

The generator maps images [N, I, H, W] in [-1, 1] to images [N, O, H, W] in [-1, 1] of any
size: H and W are padded (replicating the border) up to a multiple of the network's stride
and the output is cropped back. The discriminator maps images [N, C, H, W] to a map of
patch logits [N, 1, h, w]; with 3 strided layers each logit sees a 70 x 70 patch.

Convolutions followed by a normalization carry no bias (the normalization removes it); the
others apply their bias and activation with the fused `fastgan.ops.bias_act`.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from fastgan.ops import bias_act

NORMS = ("instance", "batch")
STRIDE = 4  # two stride-2 downsampling convolutions


def default_blocks(resolution: int) -> int:
    """Residual blocks of the published generators: 6 up to 128 px, 9 above."""
    return 6 if resolution <= 128 else 9


def make_norm(norm: str, channels: int) -> nn.Module:
    """Instance norm without affine parameters or running statistics, or batch norm."""
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """The published initialization: conv weights from N(0, std), biases 0, batch-norm
    scales from N(1, std)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def _check_channels(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _check_input(x: torch.Tensor, channels: int, who: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{who}: x must be [N, {channels}, H, W], got {shape}")


class ConvBiasAct(nn.Module):
    """A convolution without normalization whose bias and activation are one fused op:
    x [N, I, H, W] -> bias_act(conv(pad(x)) , b, act) [N, O, H', W'] (gain 1)."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel: int, stride: int = 1,
                 padding: int = 0, reflect: bool = False, act: str = "linear",
                 alpha: float | None = None) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(padding) if reflect and padding else None
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride,
                              0 if reflect else padding, bias=False)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.act, self.alpha = act, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = self.pad(x)
        return bias_act(self.conv(x), self.bias, act=self.act, alpha=self.alpha, gain=1.0)

    def extra_repr(self) -> str:
        return f"act={self.act}" + ("" if self.alpha is None else f", alpha={self.alpha}")


class ResidualBlock(nn.Module):
    """x + [reflect-pad, 3x3 conv, norm, ReLU, (dropout), reflect-pad, 3x3 conv, norm](x);
    x [N, C, H, W] with H, W >= 2."""

    def __init__(self, channels: int, *, norm: str, dropout: float) -> None:
        super().__init__()
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False),
                  make_norm(norm, channels), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False),
                   make_norm(norm, channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """The CycleGAN generator: images x [N, I, H, W] -> y [N, O, H, W] in [-1, 1].

    c7s1-ngf, d(2 ngf), d(4 ngf), n_blocks x R(4 ngf), u(2 ngf), u(ngf), c7s1-O + tanh:
    a reflection-padded 7x7 conv, two 3x3 stride-2 convs, residual blocks at H/4, two 3x3
    transposed convs (stride 2), a reflection-padded 7x7 conv with tanh. Every inner conv is
    followed by the norm and ReLU. Any H, W: the input is padded (edge replication) to a
    multiple of 4 and at least 8, the output cropped back.
    """

    def __init__(self, *, in_channels: int, out_channels: int, ngf: int = 64,
                 n_blocks: int = 9, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        _check_channels("in_channels", in_channels)
        _check_channels("out_channels", out_channels)
        _check_channels("ngf", ngf)
        if not isinstance(n_blocks, int) or n_blocks < 0:
            raise ValueError(f"n_blocks must be an int >= 0, got {n_blocks!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        make_norm(norm, 1)  # checks the name
        self.in_channels, self.out_channels = in_channels, out_channels
        self.ngf, self.n_blocks, self.norm, self.dropout = ngf, n_blocks, norm, dropout

        # Stem and two downsampling convs: [N, I, H, W] -> [N, 4 ngf, H/4, W/4].
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=False),
                  make_norm(norm, ngf), nn.ReLU(inplace=True)]
        for k in range(2):
            c = ngf * 2**k
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=False),
                       make_norm(norm, 2 * c), nn.ReLU(inplace=True)]

        # Residual blocks, then two upsampling layers back to [N, ngf, H, W].
        layers += [ResidualBlock(4 * ngf, norm=norm, dropout=dropout) for _ in range(n_blocks)]
        for k in (2, 1):
            c = ngf * 2**k
            layers += [nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1,
                                          bias=False),
                       make_norm(norm, c // 2), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.to_image = ConvBiasAct(ngf, out_channels, kernel=7, padding=3, reflect=True,
                                    act="tanh")
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, "ResnetGenerator")
        h, w = x.shape[-2:]

        # Pad to a multiple of the stride (>= 2 strides, for the reflection pads inside).
        ph, pw = (max(2 * STRIDE, math.ceil(s / STRIDE) * STRIDE) - s for s in (h, w))
        top, left = ph // 2, pw // 2
        if ph or pw:
            x = F.pad(x, (left, pw - left, top, ph - top), mode="replicate")

        # The network, then the crop back to H x W.
        y = self.to_image(self.body(x))
        return y[:, :, top : top + h, left : left + w]

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"ngf={self.ngf}, n_blocks={self.n_blocks}, norm={self.norm}, "
                f"dropout={self.dropout}")


class PatchDiscriminator(nn.Module):
    """The PatchGAN discriminator: images x [N, C, H, W] -> patch logits [N, 1, h, w].

    A 4x4 stride-2 conv with leaky ReLU (0.2) and no norm, n_layers - 1 more 4x4 stride-2
    convs with norm and leaky ReLU (channels doubling up to 8 ndf), one 4x4 stride-1 conv
    with norm and leaky ReLU, and a 4x4 stride-1 conv to one channel. Each output sees a
    patch of 70 x 70 pixels for n_layers = 3 (34 for 2, 142 for 4); h = H // 2**n_layers - 2.
    """

    def __init__(self, *, channels: int, ndf: int = 64, n_layers: int = 3,
                 norm: str = "instance") -> None:
        super().__init__()
        _check_channels("channels", channels)
        _check_channels("ndf", ndf)
        if not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1, got {n_layers!r}")
        make_norm(norm, 1)
        self.channels, self.ndf, self.n_layers, self.norm = channels, ndf, n_layers, norm

        # The first strided conv (no norm), then the normalized ones.
        layers: list[nn.Module] = [ConvBiasAct(channels, ndf, kernel=4, stride=2, padding=1,
                                               act="lrelu", alpha=0.2)]
        c = ndf
        for k in range(1, n_layers + 1):
            c_next = ndf * min(2**k, 8)
            stride = 2 if k < n_layers else 1
            layers += [nn.Conv2d(c, c_next, 4, stride=stride, padding=1, bias=False),
                       make_norm(norm, c_next), nn.LeakyReLU(0.2, inplace=True)]
            c = c_next
        layers.append(nn.Conv2d(c, 1, 4, stride=1, padding=1))
        self.body = nn.Sequential(*layers)
        init_weights(self)

    def min_size(self) -> int:
        """The smallest H (and W) that gives a 1 x 1 logit map: 3 * 2**n_layers."""
        return 3 * 2**self.n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.channels, "PatchDiscriminator")
        if min(x.shape[-2:]) < self.min_size():
            raise ValueError(
                f"PatchDiscriminator: x must be at least {self.min_size()} x {self.min_size()} "
                f"for n_layers={self.n_layers}, got {tuple(x.shape[-2:])}"
            )
        return self.body(x)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, ndf={self.ndf}, n_layers={self.n_layers}, "
                f"norm={self.norm}")
