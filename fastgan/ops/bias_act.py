"""Fused bias + activation + gain + clamp: `torch.ops.fastgan.bias_act`."""

import torch

from fastgan import _native
from fastgan.ops import _backend, reference
from fastgan.ops.reference import ACTIVATIONS

__all__ = ["ACTIVATIONS", "bias_act"]


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    dim: int = 1,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Add a bias, apply an activation, scale and clamp, in one pass over memory.

    y = clamp(act(x + b) * gain, -clamp, clamp)

    Args:
        x: input of any shape, e.g. [N, C, H, W] or [N, C]; float32, float64 or bfloat16 on
            the CPU, also float16 on CUDA. Any memory layout (channels-last included).
        b: bias [C] with C = x.shape[dim], broadcast along `dim`; None for no bias.
        dim: the dimension of x that b runs along.
        act: linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus or swish (x * sigmoid(x)).
        alpha: negative slope of lrelu (default 0.2); other activations ignore it.
        gain: scale after the activation; None gives sqrt(2) for relu, lrelu and swish and 1
            for the others.
        clamp: if given (>= 0), limits the output to [-clamp, clamp].

    Returns:
        y, the shape and dtype of x.

    Gradients flow to x and b, to second order (R1 and path-length regularization
    differentiate through the op twice). Third-order gradients are not supported.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"bias_act: x must be a torch.Tensor, got {type(x).__name__}")
    if act not in ACTIVATIONS:
        raise ValueError(f"bias_act: act must be one of {sorted(ACTIVATIONS)}, got {act!r}")
    if clamp is not None and not clamp >= 0:
        raise ValueError(f"bias_act: clamp must be None or >= 0, got {clamp}")
    if b is not None:
        if not -x.ndim <= dim < x.ndim:
            raise ValueError(
                f"bias_act: dim must be in [{-x.ndim}, {x.ndim}) for x of {x.ndim} dims, got {dim}"
            )
        if b.ndim != 1 or b.shape[0] != x.shape[dim]:
            raise ValueError(
                f"bias_act: b must be 1-D of length x.shape[{dim}] = {x.shape[dim]}, "
                f"got shape {tuple(b.shape)}"
            )
        if b.dtype != x.dtype:
            raise TypeError(f"bias_act: b must have the dtype of x ({x.dtype}), got {b.dtype}")
        dim = dim % x.ndim
    _, default_alpha, default_gain = ACTIVATIONS[act]
    alpha = default_alpha if alpha is None else float(alpha)
    gain = default_gain if gain is None else float(gain)
    clamp = None if clamp is None else float(clamp)

    if _backend.native_for("bias_act", x):
        return torch.ops.fastgan.bias_act(x, b, dim, act, alpha, gain, clamp)
    return reference.bias_act(x, b, dim, act, alpha, gain, clamp)


def _reduce_to_bias(dx: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum over every dimension but `dim`: the gradient of a bias broadcast along `dim`."""
    return dx.sum(dim=[i for i in range(dx.ndim) if i != dim])


def _register() -> None:
    """Fake kernels and autograd for the native ops (run once, when the extension loaded)."""

    @torch.library.register_fake("fastgan::bias_act")
    def _(x, b, dim, act, alpha, gain, clamp):
        return torch.empty_like(x)

    @torch.library.register_fake("fastgan::bias_act_grad")
    def _(dy, x, b, dim, act, alpha, gain, clamp, order):
        return torch.empty_like(x)

    def setup_forward(ctx, inputs, output):
        x, b, ctx.dim, ctx.act, ctx.alpha, ctx.gain, ctx.clamp = inputs
        ctx.save_for_backward(x, b)

    def backward_forward(ctx, dy):
        x, b = ctx.saved_tensors
        dx = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            dx = torch.ops.fastgan.bias_act_grad(
                dy, x, b, ctx.dim, ctx.act, ctx.alpha, ctx.gain, ctx.clamp, 1
            )
        if b is not None and ctx.needs_input_grad[1]:
            db = _reduce_to_bias(dx, ctx.dim)
        return dx, db, None, None, None, None, None

    torch.library.register_autograd(
        "fastgan::bias_act", backward_forward, setup_context=setup_forward
    )

    # bias_act_grad(dy, x, b) = dy * h(x + b), with h = gain * act^(order) * clamp mask; so its
    # derivative to dy is the same op and to x (and b) the op of the next order.
    def setup_grad(ctx, inputs, output):
        dy, x, b, ctx.dim, ctx.act, ctx.alpha, ctx.gain, ctx.clamp, ctx.order = inputs
        ctx.save_for_backward(dy, x, b)

    def backward_grad(ctx, gg):
        dy, x, b = ctx.saved_tensors
        args = (ctx.dim, ctx.act, ctx.alpha, ctx.gain, ctx.clamp)
        if ctx.order != 1:
            raise NotImplementedError("bias_act: third-order gradients are not supported")
        d_dy = d_x = d_b = None
        if ctx.needs_input_grad[0]:
            d_dy = torch.ops.fastgan.bias_act_grad(gg, x, b, *args, 1)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            d_x = torch.ops.fastgan.bias_act_grad(gg * dy, x, b, *args, 2)
        if b is not None and ctx.needs_input_grad[2]:
            d_b = _reduce_to_bias(d_x, ctx.dim)
        return d_dy, d_x, d_b, None, None, None, None, None, None

    torch.library.register_autograd(
        "fastgan::bias_act_grad", backward_grad, setup_context=setup_grad
    )


if _native.has_op("bias_act"):
    _register()
