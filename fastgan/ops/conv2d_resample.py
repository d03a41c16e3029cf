"""2-D convolution fused with FIR up/downsampling, arranged the way StyleGAN2 does it."""

import torch
import torch.nn.functional as F

from fastgan.ops.upfirdn2d import filter_size, parse_padding, upfirdn2d

__all__ = ["conv2d_resample", "conv_transpose_parts"]


def _conv(
    x: torch.Tensor,
    w: torch.Tensor,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    groups: int = 1,
    transpose: bool = False,
    flip_weight: bool = True,
) -> torch.Tensor:
    """conv2d (or conv_transpose2d); flip_weight=False flips w, i.e. a true convolution."""
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int | tuple[int, ...] = 0,
    groups: int = 1,
    flip_weight: bool = True,
    flip_filter: bool = False,
) -> torch.Tensor:
    """Convolve x with w and resample with the FIR filter f, in the cheapest equivalent order.

    The result equals upsample2d(x, f, up) (gain up**2), padded by `padding`, then conv2d with
    w, then downsample2d(..., f, down); it is computed as a transposed strided convolution for
    up > 1, a filter followed by a strided convolution for down > 1, and with the filter on the
    smaller side of a 1x1 convolution.

    Args:
        x: input [N, I, H, W].
        w: weight [O, I / groups, kh, kw], x's dtype.
        f: FIR filter [fh, fw] or separable [ft] (see setup_filter), or None (identity).
        up: integer upsampling factor >= 1.
        down: integer downsampling factor >= 1.
        padding: int, (x, y) or (x0, x1, y0, y1), in samples of the upsampled image.
        groups: groups of the convolution.
        flip_weight: True correlates with w (torch.nn.functional.conv2d), False convolves.
        flip_filter: True correlates with f, False convolves.

    Returns:
        y: [N, O, out_h, out_w].
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"conv2d_resample: x must be a 4-D tensor [N, I, H, W], got {_desc(x)}")
    if not isinstance(w, torch.Tensor) or w.ndim != 4:
        raise ValueError(f"conv2d_resample: w must be a 4-D tensor [O, I, kh, kw], got {_desc(w)}")
    if w.dtype != x.dtype:
        raise TypeError(f"conv2d_resample: w must have the dtype of x ({x.dtype}), got {w.dtype}")
    for name, value in (("up", up), ("down", down), ("groups", groups)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"conv2d_resample: {name} must be an int >= 1, got {value!r}")
    out_channels, in_per_group, kh, kw = w.shape
    if x.shape[1] != in_per_group * groups or out_channels % groups:
        raise ValueError(
            f"conv2d_resample: w of shape {tuple(w.shape)} with groups={groups} needs x with "
            f"{in_per_group * groups} channels and O divisible by groups, got x of shape "
            f"{tuple(x.shape)}"
        )
    px0, px1, py0, py1 = pad = _aligned_padding(f, up, down, padding)

    # 1x1 weight, downsampling only: downsample first, on the fewer input channels or not.
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, groups=groups, flip_weight=flip_weight)

    # 1x1 weight, upsampling only: convolve at the low resolution, then upsample.
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=pad, gain=up**2, flip_filter=flip_filter)

    # Downsampling only: filter, then a strided convolution.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=pad, flip_filter=flip_filter)
        return _conv(x, w, stride=down, groups=groups, flip_weight=flip_weight)

    # Upsampling (and maybe downsampling): a transposed strided convolution does the zero
    # insertion and the convolution at once; the filter follows.
    if up > 1:
        x, fir_padding = _transposed(x, w, pad, up, groups, flip_weight)
        x = upfirdn2d(x, f, padding=fir_padding, gain=up**2, flip_filter=flip_filter)
        if down > 1:
            x = upfirdn2d(x, f, down=down, flip_filter=flip_filter)
        return x

    # No resampling and a symmetric non-negative padding: a plain convolution.
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv(x, w, padding=(py0, px0), groups=groups, flip_weight=flip_weight)

    # Otherwise pad (or crop) with upfirdn2d, then convolve.
    x = upfirdn2d(x, None, padding=pad)
    return _conv(x, w, groups=groups, flip_weight=flip_weight)


def _desc(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)}"
    return type(value).__name__


def _aligned_padding(f, up: int, down: int, padding) -> tuple[int, int, int, int]:
    """`padding` plus what keeps the resampled output aligned (as upsample2d, downsample2d)."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = parse_padding(padding, "conv2d_resample")
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    return px0, px1, py0, py1


def _transposed(x, w, pad, up: int, groups: int, flip_weight: bool):
    """The transposed strided convolution of the upsampling path, and the padding (x0, x1, y0,
    y1) of the FIR filter (gain up**2) that follows it. The transposed convolution takes the
    weight as [I, O / groups, kh, kw]; its own padding crops, the rest goes to the filter."""
    out_channels, in_per_group, kh, kw = w.shape
    if groups == 1:
        w = w.transpose(0, 1)
    else:
        w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
        w = w.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
    px0, px1, py0, py1 = pad
    px0, px1 = px0 - (kw - 1), px1 - (kw - up)
    py0, py1 = py0 - (kh - 1), py1 - (kh - up)
    pxt = max(min(-px0, -px1), 0)
    pyt = max(min(-py0, -py1), 0)
    x = _conv(x, w, stride=up, padding=(pyt, pxt), groups=groups, transpose=True,
              flip_weight=not flip_weight)
    return x, (px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt)


def conv_transpose_parts(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None,
    up: int,
    padding: int | tuple[int, ...] = 0,
    flip_weight: bool = True,
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """conv2d_resample(x, w, f, up, padding=padding, flip_weight=flip_weight) for up > 1 and
    down = 1 without its last step: returns t, the transposed convolution [N, O, H', W'], and
    the padding (x0, x1, y0, y1) with which upfirdn2d(t, f, padding=..., gain=up**2) gives the
    result. For callers that fuse more work into that filter pass."""
    if up < 2:
        raise ValueError(f"conv_transpose_parts: up must be an int >= 2, got {up!r}")
    return _transposed(x, w, _aligned_padding(f, up, 1, padding), up, 1, flip_weight)
