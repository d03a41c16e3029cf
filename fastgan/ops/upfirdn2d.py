"""FIR resampling of images: `torch.ops.fastgan.upfirdn2d` and the helpers built on it.

upfirdn2d upsamples by zero insertion, pads, convolves with a FIR filter and keeps every
down-th sample; setup_filter, upsample2d, downsample2d and filter2d choose the filter, padding
and gain the usual way (StyleGAN2/3 conventions), so that outputs stay aligned with inputs.
"""

from collections.abc import Sequence

import torch

from fastgan import _native
from fastgan.ops import _backend, reference

__all__ = ["downsample2d", "filter2d", "filter_size", "setup_filter", "upfirdn2d", "upsample2d"]

Scaling = int | Sequence[int]
Padding = int | Sequence[int]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_scaling(value: Scaling, name: str, op: str) -> tuple[int, int]:
    """An int or (x, y) of integers >= 1 as (x, y); `name` and `op` go into the error."""
    pair = (value, value) if _is_int(value) else tuple(value) if isinstance(value, Sequence) else ()
    if len(pair) != 2 or not all(_is_int(v) and v >= 1 for v in pair):
        raise ValueError(
            f"{op}: {name} must be an int >= 1 or a pair (x, y) of them, got {value!r}"
        )
    return pair[0], pair[1]


def parse_padding(padding: Padding, op: str) -> tuple[int, int, int, int]:
    """An int, (x, y) or (x0, x1, y0, y1) of integers as (x0, x1, y0, y1)."""
    if _is_int(padding):
        return padding, padding, padding, padding
    values = tuple(padding) if isinstance(padding, Sequence) else ()
    if len(values) not in (2, 4) or not all(_is_int(v) for v in values):
        raise ValueError(
            f"{op}: padding must be an int, (x, y) or (x0, x1, y0, y1) of ints, got {padding!r}"
        )
    if len(values) == 2:
        return values[0], values[0], values[1], values[1]
    return values[0], values[1], values[2], values[3]


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(fw, fh): taps along x and y of a 2-D filter [fh, fw], a separable [ft] or None."""
    if f is None:
        return 1, 1
    return f.shape[-1], f.shape[0]


def setup_filter(
    f: torch.Tensor | Sequence[float] | float | None,
    device: torch.device | str | None = None,
    normalize: bool = True,
    flip_filter: bool = False,
    gain: float = 1.0,
    separable: bool | None = None,
) -> torch.Tensor:
    """A float32 FIR filter for upfirdn2d from a list of taps, an array or a tensor.

    Args:
        f: taps [ft] (made 2-D as the outer product f f^T unless separable), a 2-D filter
            [fh, fw], a scalar, or None (the 1-tap identity).
        device: where the filter lives (default: the CPU).
        normalize: divide by the sum of the taps so that a constant image keeps its value.
        flip_filter: reverse the taps along every axis.
        gain: overall gain; each of the filter's dimensions carries gain ** (1 / ndim).
        separable: keep a 1-D filter 1-D (applied along x, then along y). None decides by
            size: 1-D filters of at least 8 taps stay separable.

    Returns:
        f: [fh, fw], or [ft] when separable.
    """
    if f is None:
        f = 1.0
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim not in (0, 1, 2):
        raise ValueError(f"setup_filter: f must be 0-D, 1-D or 2-D, got {f.ndim}-D")
    if f.numel() == 0:
        raise ValueError(f"setup_filter: f must not be empty, got shape {tuple(f.shape)}")
    if f.ndim == 0:
        f = f.reshape(1)
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if separable and f.ndim != 1:
        raise ValueError(f"setup_filter: separable filters must be 1-D, got shape {tuple(f.shape)}")

    # Separable taps stay 1-D; otherwise 1-D taps become their outer product.
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f * (gain ** (f.ndim / 2))
    return f.to(device=device)


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Scaling = 1,
    down: Scaling = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample a batch of images, in one pass.

    Per axis, with input u of length `in`:
        z = u with up - 1 zeros inserted after every sample (length in * up),
            padded with pad0 zeros before and pad1 after (negative values crop),
        v = z convolved with f (a true convolution; flip_filter=True correlates),
        y = gain * every down-th sample of v, starting at the first.
    out = (in * up + pad0 + pad1 - taps) // down + 1.

    Args:
        x: images [N, C, H, W]; float32, float64, bfloat16 (CPU and CUDA) or float16 (CPU and
            CUDA); any memory layout (a channels-last x gives a channels-last y).
        f: FIR filter [fh, fw], a separable [ft] (applied along x and then along y), or None
            (identity). Any floating dtype, on x's device. f gets no gradient: it is a constant
            of the op, and must not require grad.
        up: upsampling factor, int or (x, y), >= 1.
        down: downsampling factor, int or (x, y), >= 1.
        padding: int, (x, y) or (x0, x1, y0, y1), in samples of the upsampled image.
        flip_filter: False convolves with f, True correlates.
        gain: scale of the output (upsample2d passes up**2 to keep the signal level).

    Returns:
        y: [N, C, out_h, out_w], x's dtype.

    Gradients flow to x, to any order: the gradient of upfirdn2d is another upfirdn2d (up and
    down swapped, the filter flipped, the padding adjusted).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"upfirdn2d: x must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d: x must be 4-D [N, C, H, W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"upfirdn2d: x must be a floating tensor, got {x.dtype}")
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"upfirdn2d: f must be a torch.Tensor or None, got {type(f).__name__}")
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(
            f"upfirdn2d: f must be a non-empty 1-D [ft] or 2-D [fh, fw] filter, "
            f"got shape {tuple(f.shape)}"
        )
    if not f.is_floating_point():
        raise TypeError(f"upfirdn2d: f must be a floating tensor, got {f.dtype}")
    if f.device != x.device:
        raise ValueError(f"upfirdn2d: f must be on the device of x ({x.device}), got {f.device}")
    if f.requires_grad:
        raise ValueError("upfirdn2d: f must not require grad (filters get no gradient)")
    upx, upy = parse_scaling(up, "up", "upfirdn2d")
    downx, downy = parse_scaling(down, "down", "upfirdn2d")
    px0, px1, py0, py1 = parse_padding(padding, "upfirdn2d")
    fw, fh = filter_size(f)
    out_w = (x.shape[3] * upx + px0 + px1 - fw) // downx + 1
    out_h = (x.shape[2] * upy + py0 + py1 - fh) // downy + 1
    if out_w < 1 or out_h < 1:
        raise ValueError(
            f"upfirdn2d: padding (x0, x1, y0, y1) = {(px0, px1, py0, py1)} leaves an empty output "
            f"(out_h, out_w) = ({out_h}, {out_w}) for x of shape {tuple(x.shape)}, up "
            f"{(upx, upy)}, down {(downx, downy)} and a filter of {fh}x{fw} taps"
        )

    args = (upx, upy, downx, downy, px0, px1, py0, py1, bool(flip_filter), float(gain))
    if _backend.native_for("upfirdn2d", x):
        return torch.ops.fastgan.upfirdn2d(x, f, *args)
    return reference.upfirdn2d(
        x, f, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip_filter, gain
    )


def filter2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Filter images with f, padded so that the output is aligned with the input.

    x: [N, C, H, W] -> [N, C, H + pad_y0 + pad_y1, W + pad_x0 + pad_x1]. `padding` is added
    to the centring padding (fw // 2 before, (fw - 1) // 2 after, likewise along y).
    """
    px0, px1, py0, py1 = parse_padding(padding, "filter2d")
    fw, fh = filter_size(f)
    p = (px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2)
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: Scaling = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample images by `up` through the FIR filter f, keeping the signal level.

    x: [N, C, H, W] -> [N, C, H * up_y, W * up_x] (plus `padding`). The gain is multiplied
    by up_x * up_y to make up for the inserted zeros.
    """
    upx, upy = parse_scaling(up, "up", "upsample2d")
    px0, px1, py0, py1 = parse_padding(padding, "upsample2d")
    fw, fh = filter_size(f)
    p = (
        px0 + (fw + upx - 1) // 2,
        px1 + (fw - upx) // 2,
        py0 + (fh + upy - 1) // 2,
        py1 + (fh - upy) // 2,
    )
    return upfirdn2d(x, f, up=(upx, upy), padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    down: Scaling = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Low-pass x with the FIR filter f and keep every down-th sample.

    x: [N, C, H, W] -> [N, C, H // down_y, W // down_x] for sizes that divide (plus `padding`,
    counted in input samples).
    """
    downx, downy = parse_scaling(down, "down", "downsample2d")
    px0, px1, py0, py1 = parse_padding(padding, "downsample2d")
    fw, fh = filter_size(f)
    p = (
        px0 + (fw - downx + 1) // 2,
        px1 + (fw - downx) // 2,
        py0 + (fh - downy + 1) // 2,
        py1 + (fh - downy) // 2,
    )
    return upfirdn2d(x, f, down=(downx, downy), padding=p, flip_filter=flip_filter, gain=gain)


def is_channels_last(t: torch.Tensor) -> bool:
    """Whether the native kernels treat t as channels-last (a tensor both NCHW-contiguous and
    channels-last-contiguous, such as one with C = 1, counts as NCHW)."""
    return not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)


def _output_shape(x: torch.Tensor, f: torch.Tensor, upx, upy, downx, downy, px0, px1, py0, py1):
    fw, fh = filter_size(f)
    out_w = (x.shape[3] * upx + px0 + px1 - fw) // downx + 1
    out_h = (x.shape[2] * upy + py0 + py1 - fh) // downy + 1
    return [x.shape[0], x.shape[1], out_h, out_w]


def _register() -> None:
    """Fake kernel and autograd for the native op (run once, when the extension loaded)."""

    @torch.library.register_fake("fastgan::upfirdn2d")
    def _(x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain):
        shape = _output_shape(x, f, upx, upy, downx, downy, px0, px1, py0, py1)
        fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
        return x.new_empty(shape).contiguous(memory_format=fmt)

    def setup_context(ctx, inputs, output):
        x, f, *ctx.args = inputs
        ctx.save_for_backward(f)
        ctx.in_h, ctx.in_w = x.shape[2], x.shape[3]

    # dy has the output's shape; dx = upfirdn2d(dy) with up and down swapped and the flipped
    # filter, padded so that every output sample meets the taps that read it (and dx has x's
    # size). That call is the same op, so higher orders follow.
    def backward(ctx, dy):
        (f,) = ctx.saved_tensors
        upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain = ctx.args
        fw, fh = filter_size(f)
        out_h, out_w = dy.shape[2], dy.shape[3]
        p = (
            fw - px0 - 1,
            ctx.in_w * upx - out_w * downx + px0 - upx + 1,
            fh - py0 - 1,
            ctx.in_h * upy - out_h * downy + py0 - upy + 1,
        )
        dx = None
        if ctx.needs_input_grad[0]:
            dx = torch.ops.fastgan.upfirdn2d(
                dy, f, downx, downy, upx, upy, *p, not flip_filter, gain
            )
        return (dx,) + (None,) * 11

    torch.library.register_autograd("fastgan::upfirdn2d", backward, setup_context=setup_context)


def _register_scale() -> None:
    """Fake kernels and autograd of upfirdn2d_scale (CPU only), to any order.

    upfirdn2d_scale(x, f, s, noise, *geometry, channels_last) = s[n, c] * U(x)[n, c] + noise,
    U the upfirdn2d of the geometry, written channels-last when channels_last and NCHW otherwise
    (x may be either); upfirdn2d_scale_grad(g, x, f, s, *geometry) = (s * U^T(g), sum_HW U^T(g)
    x), the first in x's layout. The gradient is bilinear in (g, x, s) term by term, so its own
    vector-Jacobian product is made of the same two ops.
    """

    @torch.library.register_fake("fastgan::upfirdn2d_scale")
    def _(x, f, s, noise, upx, upy, downx, downy, px0, px1, py0, py1, flip_filter, gain,
          channels_last):
        shape = _output_shape(x, f, upx, upy, downx, downy, px0, px1, py0, py1)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        return x.new_empty(shape).contiguous(memory_format=fmt)

    @torch.library.register_fake("fastgan::upfirdn2d_scale_grad")
    def _(g, x, f, s, *geometry):
        fmt = torch.channels_last if is_channels_last(x) else torch.contiguous_format
        return x.new_empty(x.shape).contiguous(memory_format=fmt), s.new_empty(s.shape)

    def setup_scale(ctx, inputs, output):
        x, f, s, noise, *ctx.geometry, _ = inputs
        ctx.has_noise = noise is not None
        ctx.save_for_backward(x, f, s)

    def backward_scale(ctx, g):
        x, f, s = ctx.saved_tensors
        dx, ds = torch.ops.fastgan.upfirdn2d_scale_grad(g, x, f, s, *ctx.geometry)
        return (dx, None, ds, g if ctx.has_noise else None) + (None,) * 11

    torch.library.register_autograd(
        "fastgan::upfirdn2d_scale", backward_scale, setup_context=setup_scale
    )

    def setup_grad(ctx, inputs, output):
        g, x, f, s, *ctx.geometry = inputs
        ctx.save_for_backward(g, x, f, s)

    def backward_grad(ctx, c_x, c_s):
        g, x, f, s = ctx.saved_tensors
        c_x = torch.zeros_like(x) if c_x is None else c_x
        c_s = torch.zeros_like(s) if c_s is None else c_s
        op, grad = torch.ops.fastgan.upfirdn2d_scale, torch.ops.fastgan.upfirdn2d_scale_grad
        d_g = d_x = d_s = None
        if ctx.needs_input_grad[0]:  # U(s c_x) + U(x c_s), in g's layout
            cl = is_channels_last(g)
            d_g = op(c_x, f, s, op(x, f, c_s, None, *ctx.geometry, cl), *ctx.geometry, cl)
        if ctx.needs_input_grad[1]:  # c_s U^T(g)
            d_x = grad(g, x, f, c_s, *ctx.geometry)[0]
        if ctx.needs_input_grad[3]:  # sum U^T(g) c_x
            d_s = grad(g, c_x, f, s, *ctx.geometry)[1]
        return (d_g, d_x, None, d_s) + (None,) * 10

    torch.library.register_autograd(
        "fastgan::upfirdn2d_scale_grad", backward_grad, setup_context=setup_grad
    )


if _native.has_op("upfirdn2d"):
    _register()
if _native.has_op("upfirdn2d_scale"):
    _register_scale()
