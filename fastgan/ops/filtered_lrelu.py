"""Alias-free leaky ReLU of StyleGAN3, fused: `torch.ops.fastgan.filtered_lrelu`."""

import math
from collections.abc import Sequence

import torch

from fastgan import _native
from fastgan.ops import _backend, reference

__all__ = ["filtered_lrelu", "filtered_lrelu_size", "parse_padding"]


def parse_padding(padding: int | Sequence[int]) -> list[int]:
    """upfirdn2d's padding forms as [px0, px1, py0, py1]: p, [px, py] or [px0, px1, py0, py1]."""
    if isinstance(padding, int):
        return [padding] * 4
    values = list(padding)
    if not all(isinstance(p, int) for p in values) or len(values) not in (2, 4):
        raise ValueError(
            "filtered_lrelu: padding must be an int, [px, py] or [px0, px1, py0, py1] of ints, "
            f"got {padding!r}"
        )
    if len(values) == 2:
        return [values[0], values[0], values[1], values[1]]
    return values


def filtered_lrelu_size(
    size: int, up: int, down: int, pad0: int, pad1: int, taps_up: int, taps_down: int
) -> tuple[int, int]:
    """Along one axis: (output samples, upsampled samples the output reads)."""
    valid = size * up + pad0 + pad1 - (taps_up - 1) - (taps_down - 1)
    out = -(-valid // down) if valid > 0 else 0
    return out, ((out - 1) * down + taps_down if out > 0 else 0)


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None = None,
    fd: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
    flip_filter: bool = False,
) -> torch.Tensor:
    """Bias, FIR upsampling, leaky ReLU (gain, clamp) and FIR downsampling in one pass.

    Exactly the composite (fastgan.ops.reference.filtered_lrelu):

        t = x + b                                                   (b broadcast over C)
        t = upfirdn2d(t, fu, up=up, padding=padding, gain=up**2, flip_filter=flip_filter)
        t = clamp(leaky_relu(t, slope) * gain, -clamp, clamp)
        y = upfirdn2d(t, fd, down=down, flip_filter=flip_filter)

    with upfirdn2d as in StyleGAN2-ADA: zero-insert `up - 1` samples after each input sample,
    pad (negative values crop), convolve with the filter (correlate if flip_filter), keep every
    `down`-th sample. `padding` applies to the upsampled signal, before fu; the output is

        W_out = ceil((W * up + px0 + px1 - (fu_w - 1) - (fd_w - 1)) / down)

    and the same for H. The native kernels compute this tile by tile without the upsampled
    tensor, and keep for backward only 2 bits per upsampled sample (its sign and whether it was
    clamped), 1/16 of a float32 copy.

    Args:
        x: input [N, C, H, W]; float32 or float64 on the CPU (also float16 and bfloat16, with
            float32 arithmetic), float16, bfloat16, float32 or float64 on CUDA. Any memory
            layout; a channels-last x gives a channels-last y.
        fu: upsampling filter: [k] (separable, used along both axes) or [kh, kw]; None for
            [1]. It gets no gradient.
        fd: downsampling filter, the same forms.
        b: bias [C], or None.
        up: upsampling factor (>= 1).
        down: downsampling factor (>= 1).
        padding: of the upsampled signal: p, [px, py] or [px0, px1, py0, py1].
        gain: scale after the leaky ReLU.
        slope: negative slope of the leaky ReLU.
        clamp: if given (>= 0), limits the scaled leaky ReLU to [-clamp, clamp].
        flip_filter: correlate with the filters instead of convolving.

    Returns:
        y [N, C, H_out, W_out], the dtype of x.

    Gradients flow to x and b. Since the op is linear in x between sign changes, its gradient
    is linear in the incoming gradient with the stored slopes; the native backward is that
    linear map, and it is differentiable again (to any order) through the same stored codes, so
    second-order gradients (R1, path length) equal autograd through the composite without a
    fallback. The derivative of the slopes themselves is zero, as for leaky_relu.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"filtered_lrelu: x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"filtered_lrelu: x must be 4-D [N, C, H, W], got shape {tuple(x.shape)}")
    if x.dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise TypeError(
            f"filtered_lrelu: x must be float32, float64, float16 or bfloat16, got {x.dtype}"
        )
    fu = _filter("fu", fu, x)
    fd = _filter("fd", fd, x)
    if b is not None:
        if not isinstance(b, torch.Tensor) or b.ndim != 1 or b.shape[0] != x.shape[1]:
            shape = tuple(b.shape) if isinstance(b, torch.Tensor) else type(b).__name__
            raise ValueError(
                f"filtered_lrelu: b must be 1-D of length x.shape[1] = {x.shape[1]}, got {shape}"
            )
        if b.dtype != x.dtype:
            raise TypeError(
                f"filtered_lrelu: b must have the dtype of x ({x.dtype}), got {b.dtype}"
            )
    for name, value in (("up", up), ("down", down)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"filtered_lrelu: {name} must be an int >= 1, got {value!r}")
    pad = parse_padding(padding)
    if clamp is not None and not clamp >= 0:
        raise ValueError(f"filtered_lrelu: clamp must be None or >= 0, got {clamp}")
    gain, slope = float(gain), float(slope)
    clamp = None if clamp is None else float(clamp)
    for axis, size, p0, p1, lu, ld in (
        ("W", x.shape[3], pad[0], pad[1], fu.shape[-1], fd.shape[-1]),
        ("H", x.shape[2], pad[2], pad[3], fu.shape[0], fd.shape[0]),
    ):
        if filtered_lrelu_size(size, up, down, p0, p1, lu, ld)[0] < 1:
            raise ValueError(
                f"filtered_lrelu: along {axis}, the upsampled, padded input ({size} * {up} + "
                f"{p0} + {p1}) must be at least as long as fu and fd together ({lu} + {ld} - 1)"
            )

    if _backend.native_for("filtered_lrelu", x):
        needs_grad = x.requires_grad or (b is not None and b.requires_grad)
        write_signs = torch.is_grad_enabled() and needs_grad
        y, _ = torch.ops.fastgan.filtered_lrelu(
            x, fu, fd, b, up, down, pad, gain, slope, clamp, flip_filter, write_signs
        )
        return y
    return reference.filtered_lrelu(x, fu, fd, b, up, down, pad, gain, slope, clamp, flip_filter)


def _filter(name: str, f: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """A checked filter on the device of x; None becomes the identity filter [1]."""
    if f is None:
        return torch.ones([1], dtype=torch.float32, device=x.device)
    if not isinstance(f, torch.Tensor):
        raise TypeError(
            f"filtered_lrelu: {name} must be a torch.Tensor or None, got {type(f).__name__}"
        )
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(
            f"filtered_lrelu: {name} must be a non-empty 1-D (separable) or 2-D filter, "
            f"got shape {tuple(f.shape)}"
        )
    if not f.is_floating_point():
        raise TypeError(f"filtered_lrelu: {name} must be a floating-point tensor, got {f.dtype}")
    if f.requires_grad and torch.is_grad_enabled():
        raise ValueError(
            f"filtered_lrelu: {name} must not require grad (filters get no gradient); "
            f"pass {name}.detach()"
        )
    return f.to(x.device)


def _register() -> None:
    """Fake kernels and autograd for the native ops (run once, when the extension loaded)."""

    def sizes(h, w, fu, fd, up, down, padding):
        out_w, mid_w = filtered_lrelu_size(w, up, down, padding[0], padding[1],
                                           fu.shape[-1], fd.shape[-1])
        out_h, mid_h = filtered_lrelu_size(h, up, down, padding[2], padding[3],
                                           fu.shape[0], fd.shape[0])
        return out_h, out_w, mid_h, mid_w

    def empty_like_layout(t, shape):
        channels_last = t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        return torch.empty(shape, dtype=t.dtype, device=t.device, memory_format=fmt)

    @torch.library.register_fake("fastgan::filtered_lrelu")
    def _(x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, write_signs):
        n, c, h, w = x.shape
        out_h, out_w, mid_h, mid_w = sizes(h, w, fu, fd, up, down, padding)
        y = empty_like_layout(x, [n, c, out_h, out_w])
        shape = [n, c, mid_h, (mid_w + 3) // 4] if write_signs else [0]
        return y, x.new_empty(shape, dtype=torch.uint8)

    @torch.library.register_fake("fastgan::filtered_lrelu_stored")
    def _(g, signs, fu, fd, up, down, padding, gain, slope, flip_filter, x_size, transpose):
        n, c = g.shape[:2]
        if transpose:
            return empty_like_layout(g, [n, c, x_size[0], x_size[1]])
        out_h, out_w, _, _ = sizes(x_size[0], x_size[1], fu, fd, up, down, padding)
        return empty_like_layout(g, [n, c, out_h, out_w])

    def setup_forward(ctx, inputs, output):
        x, fu, fd, b, up, down, padding, gain, slope, clamp, flip_filter, write_signs = inputs
        ctx.save_for_backward(fu, fd, output[1])
        ctx.args = (up, down, padding, gain, slope, flip_filter, [x.shape[2], x.shape[3]])
        ctx.write_signs = write_signs
        ctx.has_b = b is not None

    def backward_forward(ctx, dy, _dsigns):
        fu, fd, signs = ctx.saved_tensors
        dx = db = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[3]:
            if not ctx.write_signs:
                raise RuntimeError(
                    "filtered_lrelu: gradients need the forward to run with write_signs=True"
                )
            dx = torch.ops.fastgan.filtered_lrelu_stored(dy, signs, fu, fd, *ctx.args, True)
        if ctx.has_b and ctx.needs_input_grad[3]:
            db = dx.sum([0, 2, 3])
        return dx, None, None, db, None, None, None, None, None, None, None, None

    torch.library.register_autograd(
        "fastgan::filtered_lrelu", backward_forward, setup_context=setup_forward
    )

    # filtered_lrelu_stored is linear in g: its gradient is the same map, transposed.
    def setup_stored(ctx, inputs, output):
        g, signs, fu, fd, up, down, padding, gain, slope, flip_filter, x_size, transpose = inputs
        ctx.save_for_backward(signs, fu, fd)
        ctx.args = (up, down, padding, gain, slope, flip_filter, x_size)
        ctx.transpose = transpose

    def backward_stored(ctx, gg):
        signs, fu, fd = ctx.saved_tensors
        dg = None
        if ctx.needs_input_grad[0]:
            dg = torch.ops.fastgan.filtered_lrelu_stored(
                gg, signs, fu, fd, *ctx.args, not ctx.transpose
            )
        return dg, None, None, None, None, None, None, None, None, None, None, None

    torch.library.register_autograd(
        "fastgan::filtered_lrelu_stored", backward_stored, setup_context=setup_stored
    )


if _native.has_op("filtered_lrelu"):
    _register()
