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
