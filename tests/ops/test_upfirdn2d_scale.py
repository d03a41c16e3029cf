"""upfirdn2d_scale (CPU): upfirdn2d with a per-plane scale and noise, and its gradient op."""

import pytest
import torch

from fastgan import _native, ops
from fastgan.ops import reference
from fastgan.testing import dtype_error_bound, layouts, max_error

pytestmark = pytest.mark.skipif(not _native.has_op("upfirdn2d_scale"),
                                reason="native extension without upfirdn2d_scale")

F64 = torch.float64
# (x shape, filter, up, down, padding, gain): the modulated-conv case (after a transposed
# convolution: 2x + 1 -> 2x, the kernel's whole-plane path), a crop, upsampling, downsampling
# and a 12-tap separable filter.
CASES = [
    ((2, 3, 9, 9), [1, 3, 3, 1], 1, 1, (1, 1, 1, 1), 4.0),
    ((2, 3, 9, 9), [1, 3, 3, 1], 1, 1, (0, -1, 0, -1), 4.0),
    ((2, 3, 5, 6), [1, 3, 3, 1], 2, 1, (2, 1, 2, 1), 4.0),
    ((1, 2, 8, 7), [1, 3, 3, 1], 1, 2, (1, 1, 1, 1), 1.0),
    ((1, 2, 6, 7), "sep12", 2, 1, (6, 5, 6, 5), 4.0),
]


def filt(spec):
    if spec == "sep12":
        return ops.setup_filter(torch.hann_window(14)[1:-1], separable=True)
    return ops.setup_filter(spec)


def geometry(up, down, padding, gain):
    """The geometry arguments of both ops (upfirdn2d_scale takes channels_last after them)."""
    return (up, up, down, down, *padding, False, gain)


def composite(x, f, s, noise, up, down, padding, gain):
    y = reference.upfirdn2d(x, f, up, down, padding, False, gain) * s[:, :, None, None]
    return y if noise is None else y + noise


def inputs(shape, f, up, down, padding, gain, dtype=F64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=dtype)
    s = torch.rand(shape[:2], generator=g, dtype=dtype) + 0.5
    out = reference.upfirdn2d(x, f, up, down, padding, False, gain).shape
    noise = torch.randn(out[0], 1, out[2], out[3], generator=g, dtype=dtype).expand(out)
    return x, s, noise


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_noise", [True, False])
def test_float64_matches_composite_with_gradients(case, with_noise):
    shape, spec, up, down, padding, gain = case
    f = filt(spec)
    x, s, noise = inputs(shape, f, up, down, padding, gain)
    noise = noise if with_noise else None
    y = torch.ops.fastgan.upfirdn2d_scale(x, f, s, noise, *geometry(up, down, padding, gain),
                                          False)
    exact = composite(x, f, s, noise, up, down, padding, gain)
    assert max_error(y, exact) < 1e-12

    # First-order gradients to x and s, against the composite's.
    leaves = [x.clone().requires_grad_(True), s.clone().requires_grad_(True)]
    dy = torch.randn(exact.shape, dtype=F64)
    got = torch.autograd.grad(torch.ops.fastgan.upfirdn2d_scale(
        leaves[0], f, leaves[1], noise, *geometry(up, down, padding, gain), False), leaves, dy)
    want = torch.autograd.grad(composite(*leaves[:1], f, leaves[1], noise, up, down, padding,
                                         gain), leaves, dy)
    for a, b in zip(got, want):
        assert max_error(a, b) < 1e-12


@pytest.mark.parametrize("case", CASES[:3])
def test_gradcheck_and_gradgradcheck(case):
    shape, spec, up, down, padding, gain = case
    f = filt(spec).double()
    x, s, noise = inputs(shape, f, up, down, padding, gain)
    leaves = [t.clone().requires_grad_(True) for t in (x, s, noise.contiguous())]

    def fn(x, s, noise):
        return torch.ops.fastgan.upfirdn2d_scale(x, f, s, noise,
                                                 *geometry(up, down, padding, gain), False)

    assert torch.autograd.gradcheck(fn, leaves)
    assert torch.autograd.gradgradcheck(fn, leaves)


@pytest.mark.parametrize("case", CASES)
def test_float32_within_dtype_error(case):
    shape, spec, up, down, padding, gain = case
    f = filt(spec)
    x, s, noise = inputs(shape, f, up, down, padding, gain)

    def fn(x, s, noise):
        return composite(x, f, s, noise, up, down, padding, gain)

    got = torch.ops.fastgan.upfirdn2d_scale(x.float(), f, s.float(), noise.float(),
                                            *geometry(up, down, padding, gain), False)
    assert max_error(got, fn(x, s, noise)) <= dtype_error_bound(fn, [x, s, noise],
                                                                torch.float32)


def test_opcheck():
    shape, spec, up, down, padding, gain = CASES[0]
    f = filt(spec)
    x, s, noise = inputs(shape, f, up, down, padding, gain, dtype=torch.float32)
    args = geometry(up, down, padding, gain)
    for channels_last in (False, True):
        torch.library.opcheck(torch.ops.fastgan.upfirdn2d_scale,
                              (x.clone().requires_grad_(True), f, s.clone().requires_grad_(True),
                               noise, *args, channels_last))
    xl = x.contiguous(memory_format=torch.channels_last)
    torch.library.opcheck(torch.ops.fastgan.upfirdn2d_scale,
                          (xl.requires_grad_(True), f, s.clone().requires_grad_(True), noise,
                           *args, False))
    g = torch.randn(noise.shape)
    torch.library.opcheck(torch.ops.fastgan.upfirdn2d_scale_grad, (g, x.detach(), f,
                                                                   s.detach(), *args))


def test_bad_arguments_name_the_argument():
    shape, spec, up, down, padding, gain = CASES[0]
    f = filt(spec)
    x, s, noise = inputs(shape, f, up, down, padding, gain, dtype=torch.float32)
    args = geometry(up, down, padding, gain)
    with pytest.raises(RuntimeError, match=r"s must be \[N, C\] = \[2, 3\], got \[3, 2\]"):
        torch.ops.fastgan.upfirdn2d_scale(x, f, s.t(), None, *args, False)
    with pytest.raises(RuntimeError, match="s must have the dtype of x"):
        torch.ops.fastgan.upfirdn2d_scale(x, f, s.double(), None, *args, False)
    with pytest.raises(RuntimeError, match="noise must have the output's shape"):
        torch.ops.fastgan.upfirdn2d_scale(x, f, s, noise[:, :, 1:], *args, False)
    with pytest.raises(RuntimeError, match="g must have the forward output's shape"):
        torch.ops.fastgan.upfirdn2d_scale_grad(noise[:, :, 1:].contiguous(), x, f, s, *args)


# x shapes on both sides of the rule for the transposed convolution's layout (channels-last
# up to 32x32 inputs, NCHW above).
@pytest.mark.parametrize("shape", [(2, 4, 5, 5), (1, 3, 33, 33)])
@pytest.mark.parametrize("x_layout", ["contiguous", "channels_last"])
def test_modulated_conv2d_up2_uses_it_and_matches_reference(shape, x_layout):
    N, C, H, W = shape
    g = torch.Generator().manual_seed(0)
    x, weight = torch.randn(shape, dtype=F64, generator=g), torch.randn(3, C, 3, 3, dtype=F64)
    styles = torch.randn(N, C, dtype=F64, generator=g) + 1
    noise = torch.randn(N, 1, 2 * H, 2 * W, dtype=F64, generator=g)
    if x_layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    f = ops.setup_filter([1, 3, 3, 1])
    kw = dict(up=2, padding=1, resample_filter=f, fused_modconv=False)
    leaves = [t.clone().requires_grad_(True) for t in (x, weight, styles)]
    with torch.autograd.profiler.profile() as prof:
        y = ops.modulated_conv2d(*leaves, noise, **kw)
    assert any(e.name == "fastgan::upfirdn2d_scale" for e in prof.function_events)
    ref_leaves = [t.clone().requires_grad_(True) for t in (x, weight, styles)]
    exact = reference.modulated_conv2d(*ref_leaves, None, 2, 1, 1, f, True, True, False) + noise
    assert max_error(y, exact) < 1e-12
    fmt = torch.channels_last if x_layout == "channels_last" else torch.contiguous_format
    assert y.is_contiguous(memory_format=fmt)
    dy = torch.randn(y.shape, dtype=F64, generator=g)
    for a, b in zip(torch.autograd.grad(y, leaves, dy), torch.autograd.grad(exact, ref_leaves, dy)):
        assert max_error(a, b) < 1e-12


# Planes above the size the kernel reads channels-last in place (it copies them to NCHW).
LARGE_PLANES = ((2, 5, 131, 131), [1, 3, 3, 1], 1, 1, (1, 1, 1, 1), 4.0)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[2], LARGE_PLANES])
def test_layouts_and_batch_one(case):
    """Every layout of x and s, both output layouts, noise expanded or channels-last: y and the
    gradients equal the composite's; y has the layout asked for, dx the layout of x."""
    shape, spec, up, down, padding, gain = case
    f = filt(spec)
    for batch in (1, shape[0]):
        x, s, noise = inputs((batch, *shape[1:]), f, up, down, padding, gain, seed=batch)
        dy = torch.randn(noise.shape, dtype=F64)
        leaves = [x.clone().requires_grad_(True), s.clone().requires_grad_(True)]
        exact = composite(leaves[0], f, leaves[1], noise, up, down, padding, gain)
        want = torch.autograd.grad(exact, leaves, dy)
        noises = [("expanded", noise),
                  ("channels_last", noise.contiguous(memory_format=torch.channels_last))]
        for name, xl in layouts(x):
            for sname, sl in layouts(s):
                for nname, nz in noises:
                    for out_cl in (False, True):
                        where = (name, sname, nname, out_cl)
                        xl_, sl_ = xl.clone().requires_grad_(True), sl.clone().requires_grad_(True)
                        y = torch.ops.fastgan.upfirdn2d_scale(
                            xl_, f, sl_, nz, *geometry(up, down, padding, gain), out_cl)
                        assert max_error(y, exact) < 1e-12, where
                        fmt = torch.channels_last if out_cl else torch.contiguous_format
                        assert y.is_contiguous(memory_format=fmt), where
                        dx, ds = torch.autograd.grad(y, [xl_, sl_], dy)
                        assert max_error(dx, want[0]) < 1e-12, where
                        assert max_error(ds, want[1]) < 1e-12, where
                        if name == "channels_last":
                            assert dx.is_contiguous(memory_format=torch.channels_last), where
                        else:
                            assert dx.is_contiguous(), where


@pytest.mark.parametrize("case", [CASES[0], CASES[2]])
def test_channels_last_gradgradcheck(case):
    """Second order through channels-last x, s and a channels-last output."""
    shape, spec, up, down, padding, gain = case
    f = filt(spec).double()
    x, s, noise = inputs(shape, f, up, down, padding, gain)
    xl = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    leaves = [xl, s.clone().requires_grad_(True)]

    def fn(x, s):
        return torch.ops.fastgan.upfirdn2d_scale(x, f, s, noise,
                                                 *geometry(up, down, padding, gain), True)

    assert torch.autograd.gradcheck(fn, leaves)
    assert torch.autograd.gradgradcheck(fn, leaves)


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile(backend):
    torch._dynamo.reset()
    shape, spec, up, down, padding, gain = CASES[1]
    f = filt(spec)
    x, s, noise = inputs(shape, f, up, down, padding, gain, dtype=torch.float32)
    args = geometry(up, down, padding, gain)

    def fn(x, s):
        return torch.ops.fastgan.upfirdn2d_scale(x, f, s, noise, *args, False).square().sum()

    leaves = [x.clone().requires_grad_(True), s.clone().requires_grad_(True)]
    loss = torch.compile(fn, backend=backend, fullgraph=True)(*leaves)
    got = torch.autograd.grad(loss, leaves)
    leaves_ref = [x.clone().requires_grad_(True), s.clone().requires_grad_(True)]
    loss_ref = fn(*leaves_ref)
    want = torch.autograd.grad(loss_ref, leaves_ref)
    assert torch.allclose(loss, loss_ref, rtol=1e-5)
    for a, b in zip(got, want):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("case", [CASES[0], CASES[2]])
def test_channels_last_gives_the_nchw_values_in_every_dtype(dtype, case):
    """Channels-last inputs and outputs go through transposes (by groups of channels: 140
    channels make full and partial groups); the arithmetic is the NCHW one, so the values are
    equal bit for bit."""
    _, spec, up, down, padding, gain = case
    f = filt(spec)
    x, s, noise = inputs((2, 140, 9, 9), f, up, down, padding, gain, dtype=dtype)
    xl = x.contiguous(memory_format=torch.channels_last)
    args = geometry(up, down, padding, gain)
    y = torch.ops.fastgan.upfirdn2d_scale(x, f, s, noise, *args, False)
    for xin in (x, xl):
        for out_cl in (False, True):
            got = torch.ops.fastgan.upfirdn2d_scale(xin, f, s, noise, *args, out_cl)
            assert torch.equal(got, y)
    g = torch.randn(y.shape, dtype=dtype)
    dx, ds = torch.ops.fastgan.upfirdn2d_scale_grad(g, x, f, s, *args)
    for gin in (g, g.contiguous(memory_format=torch.channels_last)):
        dxl, dsl = torch.ops.fastgan.upfirdn2d_scale_grad(gin, xl, f, s, *args)
        assert dxl.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(dxl, dx) and torch.equal(dsl, ds)
    plain = torch.ops.fastgan.upfirdn2d(x, f, *args)
    plain_cl = torch.ops.fastgan.upfirdn2d(xl, f, *args)
    assert plain_cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(plain_cl, plain)
