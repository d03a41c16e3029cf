"""Plain-PyTorch references of every fastgan op: short, obviously right, the ground truth.

Each function computes exactly what the native op's docstring states, with ordinary torch
operations and their autograd. Tests hold the native kernels to these in float64, and the ops
fall back to them where no native kernel exists.
"""

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

# name -> (function of (v, alpha), default alpha, default gain)
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], float, float]] = {
    "linear": (lambda v, alpha: v, 0.0, 1.0),
    "relu": (lambda v, alpha: torch.relu(v), 0.0, math.sqrt(2)),
    "lrelu": (lambda v, alpha: F.leaky_relu(v, alpha), 0.2, math.sqrt(2)),
    "tanh": (lambda v, alpha: torch.tanh(v), 0.0, 1.0),
    "sigmoid": (lambda v, alpha: torch.sigmoid(v), 0.0, 1.0),
    "elu": (lambda v, alpha: F.elu(v), 0.0, 1.0),
    "selu": (lambda v, alpha: F.selu(v), 0.0, 1.0),
    "softplus": (lambda v, alpha: F.softplus(v), 0.0, 1.0),
    "swish": (lambda v, alpha: v * torch.sigmoid(v), 0.0, math.sqrt(2)),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """y = clamp(act(x + b) * gain, -clamp, clamp), b broadcast along `dim`."""
    fn, default_alpha, default_gain = ACTIVATIONS[act]
    alpha = default_alpha if alpha is None else alpha
    gain = default_gain if gain is None else gain
    if b is not None:
        x = x + b.reshape([-1 if i == dim % x.ndim else 1 for i in range(x.ndim)])
    y = fn(x, alpha) * gain
    if clamp is not None:
        y = y.clamp(-clamp, clamp)
    return y


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    """An int or (x, y) as (x, y)."""
    if isinstance(value, int):
        return value, value
    x, y = value
    return int(x), int(y)


def _quad(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """An int, (x, y) or (x0, x1, y0, y1) as (x0, x1, y0, y1)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return int(px), int(px), int(py), int(py)
    x0, x1, y0, y1 = padding
    return int(x0), int(x1), int(y0), int(y1)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Zero-insert (up), pad, convolve with f, keep every down-th sample, scale by gain.

    x: [N, C, H, W]; f: [fh, fw], [ft] (the same filter along x, then along y) or None (1x1
    identity). up, down: int or (x, y); padding: int, (x, y) or (x0, x1, y0, y1), negative crops.
    """
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _quad(padding)
    n, c, h, w = x.shape
    if f is None:
        f = torch.ones([1, 1], dtype=x.dtype, device=x.device)

    # Insert up - 1 zeros after every sample: [N, C, H * upy, W * upx].
    x = x.reshape(n, c, h, 1, w, 1)
    x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1]).reshape(n, c, h * upy, w * upx)

    # Pad with zeros, or crop where the padding is negative.
    x = F.pad(x, [px0, px1, py0, py1])

    # conv2d correlates: flip f for a true convolution. Strided depthwise convolutions keep
    # every down-th sample.
    f = f.to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        weight = (f * gain).expand(c, 1, *f.shape)  # [C, 1, fh, fw]
        return F.conv2d(x, weight, stride=(downy, downx), groups=c)
    x = F.conv2d(x, f.expand(c, 1, 1, f.shape[0]), stride=(1, downx), groups=c)
    fy = (f * gain).reshape(-1, 1)  # [ft, 1]
    return F.conv2d(x, fy.expand(c, 1, *fy.shape), stride=(downy, 1), groups=c)
def adain(
    x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """y = (x - mean) / sqrt(var + eps) * scale + bias per [N, C] plane; biased var over dims 2+."""
    N, C = x.shape[:2]
    v = x.reshape(N, C, -1)  # [N, C, L]
    mean = v.mean(dim=2, keepdim=True)
    var = (v - mean).square().mean(dim=2, keepdim=True)
    y = (v - mean) * torch.rsqrt(var + eps) * scale[:, :, None] + bias[:, :, None]
    return y.reshape(x.shape)


def adain_grad(
    dy: torch.Tensor, x: torch.Tensor, scale: torch.Tensor, eps: float = 1e-5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dx, dscale, dbias) of adain for the upstream gradient dy, in closed form.

    With x_hat the normalized plane and r = 1 / sqrt(var + eps):
    dx = scale * r * (dy - mean(dy) - x_hat * mean(dy * x_hat)), dscale = sum(dy * x_hat),
    dbias = sum(dy), means and sums over each plane. Differentiable to any order.
    """
    N, C = x.shape[:2]
    v, g = x.reshape(N, C, -1), dy.reshape(N, C, -1)  # [N, C, L]
    mean = v.mean(dim=2, keepdim=True)
    r = torch.rsqrt((v - mean).square().mean(dim=2, keepdim=True) + eps)
    x_hat = (v - mean) * r
    dbias = g.sum(dim=2)
    dscale = (g * x_hat).sum(dim=2)
    L = v.shape[2]
    dx = scale[:, :, None] * r * (g - dbias[:, :, None] / L - x_hat * dscale[:, :, None] / L)
    return dx.reshape(x.shape), dscale, dbias


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """StyleGAN2's modulated convolution, composed as StyleGAN2-ADA composes it.

    w[n] = weight * styles[n] (over I); with demodulate, d[n, o] = 1 / sqrt(sum over I, kh, kw
    of w[n, o]^2 + 1e-8) and w[n, o] *= d[n, o]; each sample is convolved with its own w[n]
    (conv2d_resample), then noise is added. fused_modconv=False scales x by the styles, runs the
    shared weight and scales the output by d instead. float16 x: weight and styles are first
    divided by their max-norms (the result does not change, nothing overflows).
    """
    from fastgan.ops.conv2d_resample import conv2d_resample  # imports this module

    N = x.shape[0]
    O, I, kh, kw = weight.shape
    if x.dtype == torch.float16 and demodulate:
        weight = weight / (math.sqrt(I * kh * kw) * weight.abs().amax(dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.abs().amax(dim=1, keepdim=True)

    # Per-sample weights [N, O, I, kh, kw] and demodulation coefficients [N, O].
    w = dcoefs = None
    if demodulate or fused_modconv:
        w = weight[None] * styles[:, None, :, None, None]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()

    # Scale the activations before and after a shared-weight convolution.
    if not fused_modconv:
        x = x * styles.to(x.dtype)[:, :, None, None]
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up, down, padding,
                            flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.to(x.dtype)[:, :, None, None]
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    # One grouped convolution over the batch: [1, N * I, H, W] with N groups.
    if demodulate:
        w = w * dcoefs[:, :, None, None, None]
    y = conv2d_resample(x.reshape(1, N * I, *x.shape[2:]), w.reshape(N * O, I, kh, kw).to(x.dtype),
                        resample_filter, up, down, padding, groups=N, flip_weight=flip_weight)
    y = y.reshape(N, O, *y.shape[2:])
    if noise is not None:
        y = y + noise.to(y.dtype)
    return y


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int | list[int] = 0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
) -> torch.Tensor:
    """The composite that fastgan.ops.filtered_lrelu fuses, x [N, C, H, W]:
    bias, upfirdn2d(fu, up, padding, gain=up**2), leaky ReLU * gain clamped, upfirdn2d(fd, down).
    """
    fu = None if fu is None else fu.to(x.dtype)
    fd = None if fd is None else fd.to(x.dtype)
    if b is not None:
        x = bias_act(x, b)
    x = upfirdn2d(x, fu, up=up, padding=padding, flip_filter=flip_filter, gain=up**2)
    x = bias_act(x, act="lrelu", alpha=slope, gain=gain, clamp=clamp)
    return upfirdn2d(x, fd, down=down, flip_filter=flip_filter)
