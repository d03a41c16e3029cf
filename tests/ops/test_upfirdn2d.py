"""upfirdn2d and the resampling helpers: native kernels against the plain-PyTorch reference."""

import itertools

import pytest
import torch

from fastgan import native_info, ops
from fastgan.ops import reference
from fastgan.testing import max_error

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

F64 = torch.float64


def run_both(x, f, **kw):
    """Native and reference outputs and x-gradients under the same upstream gradient."""
    results = []
    for backend in ("native", "reference"):
        xi = x.detach().clone().requires_grad_(True)
        with ops.use(backend):
            y = ops.upfirdn2d(xi, f, **kw)
        dy = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).reshape(y.shape)
        (dx,) = torch.autograd.grad(y, xi, dy)
        results.append((y, dx))
    return results


@pytest.mark.parametrize("up,down", list(itertools.product([1, 2, 4], [1, 2, 4])))
@pytest.mark.parametrize("separable", [False, True])
def test_sweep_matches_reference_float64(up, down, separable):
    paddings = [(0, 0, 0, 0), (3, -1, 2, 5), (-2, 4, 1, -1)]
    for taps, padding, flip in itertools.product([1, 2, 3, 4, 6, 12], paddings, [False, True]):
        x = torch.randn(2, 3, 7, 9, dtype=F64)
        f = torch.randn(taps, dtype=F64) if separable else torch.randn(taps, taps % 5 + 1, dtype=F64)
        kw = dict(up=up, down=down, padding=padding, flip_filter=flip, gain=1.5)
        try:
            (y, dx), (y_ref, dx_ref) = run_both(x, f, **kw)
        except ValueError as error:
            assert "leaves an empty output" in str(error)
            continue
        assert y.shape == y_ref.shape, (taps, padding, flip)
        assert max_error(y, y_ref) <= 1e-12, (taps, padding, flip)
        assert max_error(dx, dx_ref) <= 1e-12, (taps, padding, flip)


def test_helpers_shapes():
    f = ops.setup_filter([1, 3, 3, 1])
    x = torch.randn(2, 3, 8, 8)
    assert ops.upsample2d(x, f).shape == (2, 3, 16, 16)
    assert ops.downsample2d(x, f).shape == (2, 3, 4, 4)
    assert ops.filter2d(x, f).shape == (2, 3, 8, 8)
