"""upfirdn2d and the resampling helpers: native kernels against the plain-PyTorch reference."""

import itertools

import pytest
import torch

from fastgan import native_info, ops
from fastgan.ops import reference
from fastgan.testing import CUDA, dtype_error_bound, layouts, max_error

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

F64 = torch.float64
DEVICES = ["cpu"] + (["cuda"] if CUDA else [])
TAPS = [1, 2, 3, 4, 6, 12]
# (x0, x1, y0, y1): none, asymmetric, and negative (cropping) on either side.
PADDINGS = [(0, 0, 0, 0), (3, -1, 2, 5), (-2, 4, 1, -1), (5, 6, -3, 2)]


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


def make_filter(taps, separable, device="cpu", dtype=F64):
    """A random filter: [taps] when separable, else [taps, width] with width != taps mostly."""
    if separable:
        return torch.randn(taps, dtype=dtype, device=device)
    return torch.randn(taps, taps % 5 + 1, dtype=dtype, device=device)


def empty_output(x, f, up, down, padding):
    """Whether upfirdn2d would refuse this padding (an output with no samples)."""
    fw, fh = f.shape[-1], f.shape[0]
    x0, x1, y0, y1 = padding
    return x.shape[3] * up + x0 + x1 < fw or x.shape[2] * up + y0 + y1 < fh


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("up,down", list(itertools.product([1, 2, 4], [1, 2, 4])))
@pytest.mark.parametrize("separable", [False, True])
def test_sweep_matches_reference_float64(device, up, down, separable):
    # Every filter length, each with a different padding, flip and gain.
    for i, taps in enumerate(TAPS):
        x = torch.randn(2, 3, 7, 9, dtype=F64, device=device)
        f = make_filter(taps, separable, device)
        padding = PADDINGS[i % len(PADDINGS)]
        if empty_output(x, f, up, down, padding):
            padding = (taps, 0, 0, taps)
        kw = dict(up=up, down=down, padding=padding, flip_filter=i % 2 == 1, gain=0.5 + i)
        (y, dx), (y_ref, dx_ref) = run_both(x, f, **kw)
        assert y.shape == y_ref.shape, (taps, kw)
        assert max_error(y, y_ref) <= 1e-12 * (1 + i), (taps, kw)
        assert max_error(dx, dx_ref) <= 1e-12 * (1 + i), (taps, kw)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "up,down,padding",
    [
        ((2, 1), (1, 1), (1, 2, 0, 0)),
        ((1, 3), (2, 1), (0, 3, -1, 2)),
        ((1, 1), (3, 2), (4, -2, 1, 1)),
        ((4, 2), (1, 3), (2, 2, 7, 3)),
        ((2, 2), (2, 2), (1, 2, 2, 1)),
    ],
)
def test_different_factors_per_axis(device, up, down, padding):
    x = torch.randn(1, 2, 6, 11, dtype=F64, device=device)
    for f in (make_filter(4, False, device), make_filter(5, True, device)):
        (y, dx), (y_ref, dx_ref) = run_both(x, f, up=up, down=down, padding=padding)
        assert max_error(y, y_ref) <= 1e-12 and max_error(dx, dx_ref) <= 1e-12


@pytest.mark.parametrize("device", DEVICES)
def test_layouts_and_batch_one(device):
    f = ops.setup_filter([1, 3, 3, 1], device=device).double()
    for shape in [(1, 3, 5, 7), (2, 4, 9, 6)]:
        x = torch.randn(shape, dtype=F64, device=device)
        expected = reference.upfirdn2d(x, f, up=2, padding=(2, 1, 1, 2))
        for name, xl in layouts(x):
            (y, dx), (y_ref, dx_ref) = run_both(xl, f, up=2, padding=(2, 1, 1, 2))
            assert max_error(y, expected) <= 1e-12, name
            assert max_error(dx, dx_ref) <= 1e-12, name
            if name == "channels_last":
                assert y.is_contiguous(memory_format=torch.channels_last)
            else:
                assert y.is_contiguous()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("up,down,padding", [(2, 1, (2, 1, 1, 2)), (1, 2, (1, 1, 2, 0)),
                                              (2, 2, (-1, 3, 2, 0)), (1, 3, (4, -1, 0, 1))])
def test_gradcheck_and_gradgradcheck(device, separable, up, down, padding):
    x = torch.randn(1, 2, 4, 5, dtype=F64, device=device, requires_grad=True)
    f = make_filter(3, separable, device)

    def fn(x):
        return ops.upfirdn2d(x, f, up=up, down=down, padding=padding, gain=0.7)

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.parametrize("separable", [False, True])
def test_tall_single_plane(separable):
    # One image plane: the CPU kernel splits the output rows into blocks run in parallel.
    x = torch.randn(1, 1, 90, 11, dtype=F64)
    f = make_filter(6, separable)
    cases = [dict(up=2, padding=(3, 2, 3, 2)), dict(down=2, padding=2), dict(padding=(1, 4, 2, 3))]
    for kw in cases:
        (y, dx), (y_ref, dx_ref) = run_both(x, f, **kw)
        assert max_error(y, y_ref) <= 1e-12 and max_error(dx, dx_ref) <= 1e-12, kw


def test_second_order_matches_reference():
    # The R1 pattern: a gradient penalty differentiated again.
    x = torch.randn(2, 3, 6, 6, dtype=F64)
    f = ops.setup_filter([1, 3, 3, 1]).double()
    grads = []
    for backend in ("native", "reference"):
        xi = x.clone().requires_grad_(True)
        with ops.use(backend):
            y = ops.downsample2d(ops.upsample2d(xi, f).sin(), f)
            (gx,) = torch.autograd.grad(y.square().sum(), xi, create_graph=True)
            grads.append(torch.autograd.grad(gx.square().sum(), xi))
    assert max_error(grads[0][0], grads[1][0]) <= 1e-10


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("separable", [False, True])
def test_low_precision_within_dtype_error(device, dtype, separable):
    x = torch.randn(2, 4, 9, 8, dtype=F64, device=device)
    f = ops.setup_filter(torch.rand(6) + 0.1, device=device, separable=separable)
    for up, down in [(2, 1), (1, 2)]:
        kw = dict(up=up, down=down, padding=(3, 2, 2, 3), gain=2.0)
        y = ops.upfirdn2d(x.to(dtype), f, **kw)
        assert y.dtype == dtype
        exact = reference.upfirdn2d(x.to(dtype).double(), f.double(), **kw)

        def fn(x):
            return reference.upfirdn2d(x, f.to(x.dtype), **kw)

        assert max_error(y, exact) <= dtype_error_bound(fn, [x], dtype), (up, down)


def test_identity_filter_and_cropping():
    x = torch.randn(2, 3, 5, 6, dtype=F64)
    assert torch.equal(ops.upfirdn2d(x, None), x)
    assert torch.equal(ops.upfirdn2d(x, None, padding=(-1, -2, 0, -3)), x[:, :, :2, 1:4])
    y = ops.upfirdn2d(x, None, up=2)
    assert torch.equal(y[:, :, ::2, ::2], x) and torch.count_nonzero(y[:, :, 1::2]) == 0
    assert torch.equal(ops.upfirdn2d(x, None, down=2), x[:, :, ::2, ::2])
    assert torch.equal(ops.upfirdn2d(x, None, gain=3.0), 3.0 * x)


def test_flip_filter_is_correlation():
    x = torch.zeros(1, 1, 5, 5, dtype=F64)
    x[0, 0, 2, 2] = 1.0
    f = torch.arange(1.0, 10.0, dtype=F64).reshape(3, 3)
    # The impulse response of a convolution is the filter; of a correlation, the flipped one.
    assert torch.equal(ops.upfirdn2d(x, f), f.reshape(1, 1, 3, 3))
    assert torch.equal(ops.upfirdn2d(x, f, flip_filter=True), f.flip([0, 1])[None, None])


def test_empty_batch():
    x = torch.randn(0, 3, 4, 4, requires_grad=True)
    y = ops.upsample2d(x, ops.setup_filter([1, 3, 3, 1]))
    assert y.shape == (0, 3, 8, 8)
    y.sum().backward()
    assert x.grad.shape == x.shape


def test_setup_filter():
    f = ops.setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and f.dtype == torch.float32
    taps = torch.tensor([1.0, 3, 3, 1])
    assert torch.allclose(f, torch.outer(taps, taps) / 64)
    assert ops.setup_filter(torch.ones(8)).shape == (8,)
    assert ops.setup_filter([1, 2, 3], separable=True).shape == (3,)
    assert ops.setup_filter(None).shape == (1, 1) and ops.setup_filter(2.0).item() == 1.0
    g = ops.setup_filter([1, 2], gain=4.0, flip_filter=True, separable=True)
    assert torch.allclose(g, torch.tensor([2.0, 1.0]) / 3 * 2)  # gain 4 over two passes
    outer = torch.tensor([[1.0, 2], [2, 4]])
    assert torch.allclose(ops.setup_filter([1, 2], normalize=False), outer)
    with pytest.raises(ValueError, match="f must be 0-D, 1-D or 2-D, got 3-D"):
        ops.setup_filter(torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match="separable filters must be 1-D"):
        ops.setup_filter(torch.ones(2, 2), separable=True)
    with pytest.raises(ValueError, match="f must not be empty"):
        ops.setup_filter([])


@pytest.mark.parametrize("separable", [False, True])
def test_helpers_keep_level_and_alignment(separable):
    f = ops.setup_filter([1, 3, 3, 1], separable=separable).double()
    x = torch.ones(1, 1, 8, 10, dtype=F64)
    up = ops.upsample2d(x, f)
    assert up.shape == (1, 1, 16, 20) and max_error(up[..., 2:-2, 2:-2], torch.ones(12, 16)) < 1e-15
    down = ops.downsample2d(x, f)
    assert down.shape == (1, 1, 4, 5) and max_error(down[..., 1:-1, 1:-1], torch.ones(2, 3)) < 1e-15
    same = ops.filter2d(x, f)
    assert same.shape == x.shape and max_error(same[..., 2:-2, 2:-2], torch.ones(4, 6)) < 1e-15
    # The helpers' padding conventions (StyleGAN2/3), spelled out against upfirdn2d itself.
    z = torch.randn(2, 3, 7, 6, dtype=F64)
    g = ops.setup_filter([1, 2, 5, 3, 1], separable=separable).double()  # 5 taps: odd size
    assert torch.equal(ops.upsample2d(z, g, up=2, padding=(1, 0, 0, 2)),
                       ops.upfirdn2d(z, g, up=2, padding=(4, 1, 3, 3), gain=4))
    assert torch.equal(ops.downsample2d(z, g, down=2, padding=1),
                       ops.upfirdn2d(z, g, down=2, padding=(3, 2, 3, 2)))
    assert torch.equal(
        ops.filter2d(z, g, padding=(0, 1)), ops.upfirdn2d(z, g, padding=(2, 2, 3, 3))
    )
    assert ops.upsample2d(z, g, up=(2, 4)).shape == (2, 3, 28, 12)
    assert ops.downsample2d(z, None, down=(3, 1)).shape == (2, 3, 7, 2)


def test_opcheck():
    x = torch.randn(1, 2, 4, 5, dtype=F64, requires_grad=True)
    op = torch.ops.fastgan.upfirdn2d.default
    f2 = torch.randn(3, 2, dtype=F64)
    f1 = torch.randn(4, dtype=torch.float32)
    torch.library.opcheck(op, (x, f2, 2, 2, 1, 1, 2, 1, 1, 2, False, 4.0))
    torch.library.opcheck(op, (x, f1, 2, 1, 1, 3, 0, 3, 2, -1, True, 0.5))
    xl = torch.randn(1, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    torch.library.opcheck(op, (xl, f2.float(), 1, 1, 2, 2, 1, 1, 1, 1, False, 1.0))


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile(backend):
    torch._dynamo.reset()
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    f = ops.setup_filter([1, 3, 3, 1])
    f12 = ops.setup_filter(torch.rand(12) + 0.1)

    def fn(x):
        y = ops.downsample2d(ops.upsample2d(x, f12).relu(), f)
        return ops.filter2d(y, f).square().sum()

    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    loss = compiled(x)
    (gx,) = torch.autograd.grad(loss, x)
    x2 = x.detach().requires_grad_(True)
    loss_ref = fn(x2)
    (gx_ref,) = torch.autograd.grad(loss_ref, x2)
    assert torch.allclose(loss, loss_ref) and torch.allclose(gx, gx_ref, atol=1e-6)


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(2, 3, 4, 4)
    f = torch.ones(3, 3)
    with pytest.raises(ValueError, match=r"non-empty 1-D \[ft\] or 2-D .* got shape \(2, 2, 2\)"):
        ops.upfirdn2d(x, torch.ones(2, 2, 2))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        ops.upfirdn2d(x, torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"up must be an int >= 1 or a pair \(x, y\) .* got 0"):
        ops.upfirdn2d(x, f, up=0)
    with pytest.raises(ValueError, match=r"down must be .* got \(2, -1\)"):
        ops.upfirdn2d(x, f, down=(2, -1))
    with pytest.raises(ValueError, match=r"padding must be an int, \(x, y\) or \(x0, x1, y0, y1\)"):
        ops.upfirdn2d(x, f, padding=(1, 2, 3))
    with pytest.raises(ValueError, match=r"leaves an empty output \(out_h, out_w\) = \(2, -1\)"):
        ops.upfirdn2d(x, f, padding=(-2, -1, 0, 0))
    with pytest.raises(ValueError, match=r"x must be 4-D \[N, C, H, W\], got shape \(3, 4, 4\)"):
        ops.upfirdn2d(x[0], f)
    with pytest.raises(TypeError, match="x must be a floating tensor, got torch.int64"):
        ops.upfirdn2d(x.long(), f)
    with pytest.raises(TypeError, match="f must be a floating tensor, got torch.int64"):
        ops.upfirdn2d(x, f.long())
    with pytest.raises(ValueError, match="f must not require grad"):
        ops.upfirdn2d(x, f.clone().requires_grad_(True))
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        ops.upfirdn2d([1.0], f)
    # The op called directly checks its arguments in C++ too.
    op = torch.ops.fastgan.upfirdn2d
    with pytest.raises(RuntimeError, match="f must be 1-D or 2-D, got 3-D"):
        op(x, torch.ones(1, 1, 1), 1, 1, 1, 1, 0, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match=r"up must be >= 1, got \(0, 1\)"):
        op(x, f, 0, 1, 1, 1, 0, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match=r"down must be >= 1, got \(1, -2\)"):
        op(x, f, 1, 1, 1, -2, 0, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match="padding leaves an empty output.* got -1 along x and 2"):
        op(x, f, 1, 1, 1, 1, -3, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match="x must be 4-D"):
        op(x[0], f, 1, 1, 1, 1, 0, 0, 0, 0, False, 1.0)
    with pytest.raises(RuntimeError, match="x must be float32, float64, bfloat16 or float16"):
        op(x.int(), f, 1, 1, 1, 1, 0, 0, 0, 0, False, 1.0)


@pytest.mark.skipif(not CUDA, reason="no CUDA device")
def test_cuda_large_filter_and_tile_edges():
    # A 2-D filter too large for the shared-memory tile takes the generic kernel; odd sizes
    # leave partial tiles.
    x = torch.randn(2, 3, 70, 45, dtype=F64, device="cuda")
    for shape in [(80, 81), (7, 5)]:
        f = torch.randn(shape, dtype=F64, device="cuda")
        for up, down in [(1, 1), (2, 1), (1, 2), (3, 2)]:
            y = ops.upfirdn2d(x, f, up=up, down=down, padding=(20, 21, 20, 19))
            y_ref = reference.upfirdn2d(x, f, up, down, (20, 21, 20, 19))
            assert max_error(y, y_ref) <= 1e-11, (f.shape, up, down)


def test_backend_switch_runs_the_reference():
    x = torch.randn(1, 2, 5, 5)
    f = ops.setup_filter([1, 2, 1])
    with ops.use("reference"):
        y_ref = ops.upsample2d(x, f)
    assert torch.allclose(ops.upsample2d(x, f), y_ref, atol=1e-6)
