"""StyleGAN2's modulated convolution: native per-sample parts around torch's convolution.

Native ops (`torch.ops.fastgan.*`):
  modconv_weight(weight, a, b)       w[n, o, i, k] = weight[o, i, k] * a[n, i] * b[n, o]
  modconv_weight_grad(g, weight, a, b) -> (gweight, ga, gb), one pass over g
  modconv_scale(x, s, noise)         y[n, c] = x[n, c] * s[n, c] + noise[n, c]
  modconv_scale_grad(g, x, s)        -> (g * s, sum over H, W of g * x), one pass
Each gradient op has its own autograd, written with the same four ops (second order).
With up > 1 on the CPU the non-fused path ends in `upfirdn2d_scale` (fastgan.ops.upfirdn2d):
the FIR filter after the transposed convolution, the demodulation scale and the noise in one
pass over the upsampled output; the transposed convolution runs on channels-last x where that
was measured faster (`_transposed_conv_prefers_channels_last`), and y keeps x's layout.
"""

import torch

from fastgan import _native
from fastgan.ops import _backend, reference
from fastgan.ops.conv2d_resample import conv2d_resample, conv_transpose_parts
from fastgan.ops.upfirdn2d import filter_size, is_channels_last

__all__ = ["modulated_conv2d", "prefers_fused"]


def prefers_fused(x: torch.Tensor, training: bool) -> bool:
    """The faster path of the native op for inputs like x (see benchmarks/RESULTS.md).

    CPU: always the non-fused path, measured faster forward and forward+backward on StyleGAN2
    layers (it runs one batched convolution instead of N grouped ones, and its weight gradient
    is an ordinary convolution gradient). CUDA: fused for inference and non-fused for training,
    StyleGAN2-ADA's choice (not yet measured on a GPU here).
    """
    return x.device.type == "cuda" and not training


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int | tuple[int, ...] = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool | None = True,
) -> torch.Tensor:
    """Convolve each sample with the weight modulated (and demodulated) by its own styles.

    w[n, o, i, :, :] = weight[o, i, :, :] * styles[n, i]
    d[n, o] = 1 / sqrt(sum over i, kh, kw of w[n, o, i, :, :]^2 + 1e-8)     (demodulate)
    y[n] = conv2d_resample(x[n], w[n] * d[n, :, None, None, None], resample_filter, up, down,
                           padding, flip_weight) + noise[n]

    fused_modconv=True runs one grouped convolution over the batch with the per-sample weights;
    False scales x by the styles, runs the shared weight and scales the output by d (adding
    the noise in the same pass); both give the same result. None picks the faster path for the
    device and for whether gradients are needed (see `prefers_fused`). With float16 x and
    demodulate, weight and styles are first divided by their max-norms, which leaves the result
    unchanged and keeps float16 finite. The non-fused path returns y in x's memory layout
    (channels-last in, channels-last out); the fused path returns NCHW (its grouped convolution
    runs on x viewed as [1, N * I, H, W]).

    Args:
        x: input [N, I, H, W], any floating dtype.
        weight: [O, I, kh, kw], float32 or float64 (the dtype of the modulation arithmetic).
        styles: [N, I], the dtype of weight.
        noise: None, or a tensor that broadcasts to the output [N, O, H', W'] (StyleGAN uses
            [N, 1, H', W'] or [H', W']).
        up, down: integer resampling factors (FIR filter `resample_filter`, see
            fastgan.ops.setup_filter), as in conv2d_resample.
        padding: int, (x, y) or (x0, x1, y0, y1), in samples of the upsampled image.
        resample_filter: the FIR filter for up/down > 1, or None.
        demodulate: scale each output channel to unit expected variance.
        flip_weight: True correlates (torch conv2d), False convolves.
        fused_modconv: True, False or None (choose), see above.

    Returns:
        y [N, O, H', W'], the dtype of x.

    Gradients flow to x, weight, styles and noise, to second order (path-length
    regularization differentiates the generator twice): the native parts' backward ops are
    custom ops with their own autograd, written with the same native ops (no composite
    fallback).
    """
    _check(x, weight, styles, up, down)
    if not _backend.native_for("modulated_conv2d", x, ("modconv_weight", "modconv_scale")):
        fused = True if fused_modconv is None else fused_modconv
        y = reference.modulated_conv2d(x, weight, styles, None, up, down, padding,
                                       resample_filter, demodulate, flip_weight, fused)
        return _add_noise(y, noise)
    if fused_modconv is None:
        training = torch.is_grad_enabled() and any(
            t.requires_grad for t in (x, weight, styles)
        )
        fused_modconv = prefers_fused(x, training)
    N = x.shape[0]
    O, I, kh, kw = weight.shape

    # float16: pre-normalize (demodulation cancels both factors).
    if x.dtype == torch.float16 and demodulate:
        weight = weight / (weight.abs().amax(dim=[1, 2, 3], keepdim=True) * (I * kh * kw) ** 0.5)
        styles = styles / styles.abs().amax(dim=1, keepdim=True)

    # d[n, o] without the [N, O, I, kh, kw] weights: sum_i styles[n, i]^2 * |weight[o, i]|^2.
    dcoefs = None
    if demodulate:
        dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()

    if fused_modconv and N > 0:  # (a grouped convolution needs at least one group)
        w = torch.ops.fastgan.modconv_weight(weight, styles, dcoefs)  # [N, O, I, kh, kw]
        y = conv2d_resample(x.reshape(1, N * I, *x.shape[2:]),
                            w.reshape(N * O, I, kh, kw).to(x.dtype), resample_filter, up, down,
                            padding, groups=N, flip_weight=flip_weight)
        return _add_noise(y.reshape(N, O, *y.shape[2:]), noise)

    channels_last = is_channels_last(x)
    x = torch.ops.fastgan.modconv_scale(x, styles.to(x.dtype), None)

    # Upsampling on the CPU: the demodulation and the noise go into the FIR pass after the
    # transposed convolution (one pass over the large output instead of two). The FIR pass
    # reads the convolution's result in either layout and writes y in x's layout.
    if demodulate and up > 1 and down == 1 and _fuses_fir_epilogue(x):
        if _transposed_conv_prefers_channels_last(x):
            x = x.contiguous(memory_format=torch.channels_last)
        t, fir_padding = conv_transpose_parts(x, weight.to(x.dtype), resample_filter, up,
                                              padding, flip_weight)
        f = resample_filter if resample_filter is not None else x.new_ones([1, 1])
        if noise is not None:
            shape = t.shape[:2] + _fir_output_hw(t, f, fir_padding)
            _check_noise(noise, shape)
            noise = noise.to(t.dtype).expand(shape)
        return torch.ops.fastgan.upfirdn2d_scale(t, f, dcoefs.to(t.dtype), noise, 1, 1, 1, 1,
                                                 *fir_padding, False, float(up**2),
                                                 channels_last)

    y = conv2d_resample(x, weight.to(x.dtype), resample_filter, up, down, padding,
                        flip_weight=flip_weight)
    if not demodulate:
        return _add_noise(y, noise)
    if noise is not None:
        _check_noise(noise, y.shape)
        noise = noise.to(y.dtype).expand(y.shape)
    return torch.ops.fastgan.modconv_scale(y, dcoefs.to(y.dtype), noise)


def _fuses_fir_epilogue(x: torch.Tensor) -> bool:
    """Whether the up > 1 path runs the FIR filter, demodulation and noise as one native op
    (upfirdn2d_scale, CPU kernel only)."""
    return x.device.type == "cpu" and _native.has_op("upfirdn2d_scale")


def _transposed_conv_prefers_channels_last(x: torch.Tensor) -> bool:
    """Whether the CPU path runs its transposed convolution on channels-last x.

    Measured on oneDNN (torch 2.14, one thread, float32; benchmarks/RESULTS.md), forward and
    backward of the stride-2 3x3 transposed convolution: channels-last is faster up to 384
    input channels at inputs up to 32x32 (1.13x-1.9x on 16x256x32x32, 16x384x16x16 and the
    stylegan2-small32 layers), slower at 512 input channels (0.82x-0.97x at 4-16 x 512 x 8x8)
    and on larger inputs (0.77x on 16x256x64x64).
    """
    return x.shape[1] <= 384 and max(x.shape[2], x.shape[3]) <= 32


def _fir_output_hw(t: torch.Tensor, f: torch.Tensor, padding) -> tuple[int, int]:
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = padding
    return t.shape[2] + py0 + py1 - fh + 1, t.shape[3] + px0 + px1 - fw + 1


def _check(x, weight, styles, up, down) -> None:
    for name, t in (("x", x), ("weight", weight), ("styles", styles)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"modulated_conv2d: {name} must be a torch.Tensor, got "
                            f"{type(t).__name__}")
    if weight.ndim != 4:
        raise ValueError(f"modulated_conv2d: weight must be 4-D [O, I, kh, kw], got shape "
                         f"{tuple(weight.shape)}")
    if x.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(f"modulated_conv2d: x must be [N, I, H, W] with I = {weight.shape[1]}, "
                         f"got shape {tuple(x.shape)}")
    if tuple(styles.shape) != (x.shape[0], weight.shape[1]):
        raise ValueError(f"modulated_conv2d: styles must be [N, I] = "
                         f"{(x.shape[0], weight.shape[1])}, got shape {tuple(styles.shape)}")
    if not x.dtype.is_floating_point or not weight.dtype.is_floating_point:
        raise TypeError(f"modulated_conv2d: x and weight must be floating point, got {x.dtype} "
                        f"and {weight.dtype}")
    if styles.dtype != weight.dtype:
        raise TypeError(f"modulated_conv2d: styles must have the dtype of weight "
                        f"({weight.dtype}), got {styles.dtype}")
    for name, value in (("up", up), ("down", down)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"modulated_conv2d: {name} must be an int >= 1, got {value!r}")


def _check_noise(noise, shape: torch.Size) -> None:
    if not isinstance(noise, torch.Tensor):
        raise TypeError(f"modulated_conv2d: noise must be None or a torch.Tensor, got "
                        f"{type(noise).__name__}")
    try:
        broadcast = torch.broadcast_shapes(noise.shape, shape)
    except RuntimeError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(f"modulated_conv2d: noise must broadcast to the output shape "
                         f"{tuple(shape)}, got shape {tuple(noise.shape)}")


def _add_noise(y, noise):
    if noise is None:
        return y
    _check_noise(noise, y.shape)
    return y + noise.to(y.dtype)


def _layout_like(x: torch.Tensor) -> torch.memory_format:
    """The memory format the native kernels give their output for an input like x."""
    if x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _register() -> None:
    """Fake kernels and autograd for the native ops (run once, when the extension loaded)."""

    @torch.library.register_fake("fastgan::modconv_weight")
    def _(weight, a, b):
        return weight.new_empty(a.shape[0], *weight.shape)

    @torch.library.register_fake("fastgan::modconv_weight_grad")
    def _(g, weight, a, b):
        return (weight.new_empty(weight.shape), a.new_empty(a.shape),
                a.new_empty(a.shape[0], weight.shape[0]))

    @torch.library.register_fake("fastgan::modconv_scale")
    def _(x, s, noise):
        return torch.empty_like(x, memory_format=_layout_like(x))

    @torch.library.register_fake("fastgan::modconv_scale_grad")
    def _(g, x, s):
        return torch.empty_like(x, memory_format=_layout_like(x)), s.new_empty(s.shape)

    def setup_weight(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward_weight(ctx, g):
        weight, a, b = ctx.saved_tensors
        gweight, ga, gb = torch.ops.fastgan.modconv_weight_grad(g, weight, a, b)
        return gweight, ga, gb if b is not None else None

    torch.library.register_autograd(
        "fastgan::modconv_weight", backward_weight, setup_context=setup_weight
    )

    # modconv_weight_grad is trilinear in (g, weight, a, b) term by term, so its vector-Jacobian
    # product is made of the same two ops; unused outputs of the helper calls are discarded.
    def setup_weight_grad(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward_weight_grad(ctx, c_weight, c_a, c_b):
        g, weight, a, b = ctx.saved_tensors
        N, O = a.shape[0], weight.shape[0]
        c_weight = torch.zeros_like(weight) if c_weight is None else c_weight
        c_a = torch.zeros_like(a) if c_a is None else c_a
        c_b = a.new_zeros(N, O) if c_b is None else c_b
        op, grad = torch.ops.fastgan.modconv_weight, torch.ops.fastgan.modconv_weight_grad
        d_g = d_weight = d_a = d_b = None
        if ctx.needs_input_grad[0]:
            d_g = op(c_weight, a, b) + op(weight, c_a, b) + op(weight, a, c_b)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            first, second = grad(g, c_weight, c_a, b), grad(g, weight, a, c_b)
            d_weight = first[0] + second[0]
            d_a = first[1] + second[1]
        if b is not None and ctx.needs_input_grad[3]:
            d_b = grad(g, c_weight, a, b)[2] + grad(g, weight, c_a, b)[2]
        return d_g, d_weight, d_a, d_b

    torch.library.register_autograd(
        "fastgan::modconv_weight_grad", backward_weight_grad, setup_context=setup_weight_grad
    )

    def setup_scale(ctx, inputs, output):
        x, s, noise = inputs
        ctx.has_noise = noise is not None
        ctx.save_for_backward(x, s)

    def backward_scale(ctx, g):
        x, s = ctx.saved_tensors
        gx, gs = torch.ops.fastgan.modconv_scale_grad(g, x, s)
        return gx, gs, g if ctx.has_noise else None

    torch.library.register_autograd(
        "fastgan::modconv_scale", backward_scale, setup_context=setup_scale
    )

    # (g * s, sum g * x) is bilinear: its vector-Jacobian product is made of the same two ops.
    def setup_scale_grad(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward_scale_grad(ctx, c_x, c_s):
        g, x, s = ctx.saved_tensors
        c_x = torch.zeros_like(g) if c_x is None else c_x
        c_s = torch.zeros_like(s) if c_s is None else c_s
        op, grad = torch.ops.fastgan.modconv_scale, torch.ops.fastgan.modconv_scale_grad
        d_g = d_x = d_s = None
        if ctx.needs_input_grad[0]:
            d_g = op(c_x, s, op(x, c_s, None))
        if ctx.needs_input_grad[1]:
            d_x = op(g, c_s, None)
        if ctx.needs_input_grad[2]:
            d_s = grad(c_x, g, s)[1]
        return d_g, d_x, d_s

    torch.library.register_autograd(
        "fastgan::modconv_scale_grad", backward_scale_grad, setup_context=setup_scale_grad
    )


if _native.has_op("modconv_weight") and _native.has_op("modconv_scale"):
    _register()
