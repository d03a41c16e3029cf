"""Adaptive instance normalization: `torch.ops.fastgan.adain`."""

import torch

from fastgan import _native
from fastgan.ops import _backend, reference

__all__ = ["adain"]


def adain(
    x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """Normalize every [H, W] plane of x to zero mean and unit variance, then apply a style.

    y[n, c] = (x[n, c] - mean[n, c]) / sqrt(var[n, c] + eps) * scale[n, c] + bias[n, c]

    with mean and the biased variance var taken over the plane (all dims after the first two).
    A plane of one element (or a constant plane) has var = 0 and gives y = bias. Layers of the
    "1 + gamma" form (StarGAN v2) pass scale = 1 + gamma.

    Args:
        x: input [N, C, H, W] (or [N, C, *] with any number of trailing dims); float32, float64,
            float16 or bfloat16; contiguous or channels-last (other layouts are copied).
        scale: per-plane scale [N, C], dtype of x.
        bias: per-plane bias [N, C], dtype of x.
        eps: added to the variance inside the square root, > 0.

    Returns:
        y, the shape, dtype and memory layout of x.

    The native kernels compute the plane statistics in one pass (Welford, float32 accumulation
    for float32 and lower, float64 for float64), then write y; the backward is one fused kernel
    for x, scale and bias. Second-order gradients are supported: the fused backward is itself a
    custom op whose gradient is taken through the plain-PyTorch closed form
    (`fastgan.ops.reference.adain_grad`), so double backward runs that composite.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"adain: x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"adain: x must be [N, C, ...] with at least 2 dims, got shape "
                         f"{tuple(x.shape)}")
    for name, t in (("scale", scale), ("bias", bias)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"adain: {name} must be a torch.Tensor, got {type(t).__name__}")
        if tuple(t.shape) != tuple(x.shape[:2]):
            raise ValueError(f"adain: {name} must be [N, C] = {tuple(x.shape[:2])}, got shape "
                             f"{tuple(t.shape)}")
        if t.dtype != x.dtype:
            raise TypeError(f"adain: {name} must have the dtype of x ({x.dtype}), got {t.dtype}")
    if not eps > 0:
        raise ValueError(f"adain: eps must be > 0, got {eps}")

    if _backend.native_for("adain", x):
        return torch.ops.fastgan.adain(x, scale, bias, float(eps))[0]
    return reference.adain(x, scale, bias, float(eps))


def _register() -> None:
    """Fake kernels and autograd for the native ops (run once, when the extension loaded)."""

    def stats_like(x):
        dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        return x.new_empty(x.shape[:2], dtype=dtype)

    def output_like(x):
        # The kernels keep channels-last 4-D inputs and write every other layout contiguous.
        channels_last = x.ndim == 4 and not x.is_contiguous()
        channels_last = channels_last and x.is_contiguous(memory_format=torch.channels_last)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        return torch.empty_like(x, memory_format=fmt)

    @torch.library.register_fake("fastgan::adain")
    def _(x, scale, bias, eps):
        return output_like(x), stats_like(x), stats_like(x)

    @torch.library.register_fake("fastgan::adain_grad")
    def _(dy, x, scale, mean, rstd, eps):
        return output_like(x), scale.new_empty(scale.shape), scale.new_empty(scale.shape)

    # mean and rstd are outputs only so that the backward need not recompute them; they carry
    # no gradient of their own (the composite double backward recomputes them from x).
    def setup_forward(ctx, inputs, output):
        x, scale, _, ctx.eps = inputs
        _, mean, rstd = output
        ctx.save_for_backward(x, scale, mean, rstd)

    def backward_forward(ctx, dy, _dmean, _drstd):
        x, scale, mean, rstd = ctx.saved_tensors
        dx, dscale, dbias = torch.ops.fastgan.adain_grad(dy, x, scale, mean, rstd, ctx.eps)
        return dx, dscale, dbias, None

    torch.library.register_autograd(
        "fastgan::adain", backward_forward, setup_context=setup_forward
    )

    # The gradient of the fused backward: the vector-Jacobian product of its closed form.
    def setup_grad(ctx, inputs, output):
        dy, x, scale, _, _, ctx.eps = inputs
        ctx.save_for_backward(dy, x, scale)

    def backward_grad(ctx, g_dx, g_dscale, g_dbias):
        dy, x, scale = ctx.saved_tensors
        cotangents = tuple(
            torch.zeros_like(like) if g is None else g
            for g, like in ((g_dx, x), (g_dscale, scale), (g_dbias, scale))
        )

        def closed_form(dy, x, scale):
            return reference.adain_grad(dy, x, scale, ctx.eps)

        _, vjp = torch.func.vjp(closed_form, dy, x, scale)
        d_dy, d_x, d_scale = vjp(cotangents)
        return d_dy, d_x, d_scale, None, None, None

    torch.library.register_autograd(
        "fastgan::adain_grad", backward_grad, setup_context=setup_grad
    )


if _native.has_op("adain"):
    _register()
