"""conv2d_resample: its fused orderings against the plain composite, values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from fastgan import native_info, ops
from fastgan.ops import reference
from fastgan.testing import max_error

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

F64 = torch.float64


def composite(x, w, f, up, down, padding, groups, flip_weight, flip_filter):
    """upsample (zero insertion, filter, gain up**2) with the padding, conv2d, downsample."""
    fw, fh = (1, 1) if f is None else (f.shape[-1], f.shape[0])
    px0, px1, py0, py1 = (padding,) * 4 if isinstance(padding, int) else padding
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2
    x = reference.upfirdn2d(x, f if up > 1 else None, up, 1, (px0, px1, py0, py1), flip_filter,
                            gain=up**2)
    x = F.conv2d(x, w if flip_weight else w.flip([2, 3]), groups=groups)
    if down > 1:
        x = reference.upfirdn2d(x, f, 1, down, 0, flip_filter)
    return x


CASES = [
    # (up, down, kernel, padding)
    (1, 1, 3, 1),
    (1, 1, 3, (0, 2, 1, 1)),
    (1, 1, 1, 0),
    (2, 1, 3, 1),
    (2, 1, 1, 0),
    (1, 2, 3, 1),
    (1, 2, 1, 0),
    (2, 2, 3, 1),
]


@pytest.mark.parametrize("up,down,k,padding", CASES)
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("separable", [False, True])
def test_matches_composite_with_gradients(up, down, k, padding, groups, separable):
    x = torch.randn(2, 4, 7, 6, dtype=F64)
    w = torch.randn(6, 4 // groups, k, k, dtype=F64)
    f = ops.setup_filter([1, 3, 3, 1], separable=separable).double()
    for flip_weight, flip_filter in [(True, False), (False, True)]:
        args = (f, up, down, padding, groups, flip_weight, flip_filter)
        outs = []
        for fn in (ops.conv2d_resample, composite):
            xi, wi = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
            y = fn(xi, wi, *args)
            dy = torch.linspace(-1, 1, y.numel(), dtype=F64).reshape(y.shape)
            outs.append((y, *torch.autograd.grad(y, [xi, wi], dy)))
        (y, dx, dw), (y_ref, dx_ref, dw_ref) = outs
        assert y.shape == y_ref.shape
        assert max_error(y, y_ref) <= 1e-11
        assert max_error(dx, dx_ref) <= 1e-11 and max_error(dw, dw_ref) <= 1e-10


@pytest.mark.parametrize("up,down,k", [(2, 1, 3), (1, 2, 3), (2, 1, 1)])
def test_gradcheck_and_gradgradcheck(up, down, k):
    x = torch.randn(1, 1, 3, 3, dtype=F64, requires_grad=True)
    w = torch.randn(2, 1, k, k, dtype=F64, requires_grad=True)
    f = ops.setup_filter([1, 3, 1]).double()

    def fn(x, w):
        return ops.conv2d_resample(x, w, f, up=up, down=down, padding=k // 2)

    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


def test_shapes_follow_the_resampling():
    x = torch.randn(2, 3, 8, 8)
    w = torch.randn(5, 3, 3, 3)
    f = ops.setup_filter([1, 3, 3, 1])
    assert ops.conv2d_resample(x, w, f, padding=1).shape == (2, 5, 8, 8)
    assert ops.conv2d_resample(x, w, f, up=2, padding=1).shape == (2, 5, 16, 16)
    assert ops.conv2d_resample(x, w, f, down=2, padding=1).shape == (2, 5, 4, 4)
    assert ops.conv2d_resample(x, w[:, :, :1, :1], f, down=2).shape == (2, 5, 4, 4)


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(2, 3, 8, 8)
    w = torch.randn(5, 3, 3, 3)
    with pytest.raises(ValueError, match=r"w must be a 4-D tensor \[O, I, kh, kw\], got shape"):
        ops.conv2d_resample(x, w[0])
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor"):
        ops.conv2d_resample(x[0], w)
    with pytest.raises(TypeError, match="w must have the dtype of x"):
        ops.conv2d_resample(x, w.double())
    with pytest.raises(ValueError, match="up must be an int >= 1, got 0"):
        ops.conv2d_resample(x, w, up=0)
    with pytest.raises(ValueError, match=r"needs x with 6 channels .* got x of shape \(2, 3, 8"):
        ops.conv2d_resample(x, w, groups=2)
