"""Plain-PyTorch references of every fastgan op: short, obviously right, the ground truth.

Each function computes exactly what the native op's docstring states, with ordinary torch
operations and their autograd. Tests hold the native kernels to these in float64, and the ops
fall back to them where no native kernel exists.
"""

import math
from collections.abc import Callable

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
