"""adain: native kernels against the plain-PyTorch reference."""

import pytest
import torch
import torch.nn.functional as F

from fastgan import native_info, ops
from fastgan.ops import reference
from fastgan.testing import CUDA, dtype_error_bound, layouts, max_error

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

DEVICES = ["cpu"] + (["cuda"] if CUDA else [])


def style(N, C, dtype=torch.float64, device="cpu"):
    scale = torch.randn(N, C, dtype=dtype, device=device) + 1
    bias = torch.randn(N, C, dtype=dtype, device=device)
    return scale, bias


def run_both(x, scale, bias, eps=1e-5):
    """Native and reference outputs and gradients (x, scale, bias) under the same upstream grad."""
    results = []
    for backend in ("native", "reference"):
        leaves = [t.detach().clone().requires_grad_(True) for t in (x, scale, bias)]
        with ops.use(backend):
            y = ops.adain(*leaves, eps=eps)
        dy = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).reshape(y.shape)
        dy = dy * torch.arange(y.numel(), device=y.device).remainder(7).reshape(y.shape)
        results.append((y, torch.autograd.grad(y, leaves, dy)))
    return results


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (3, 70, 4, 4), (2, 5, 8, 8), (1, 2, 33)])
def test_matches_reference_float64(device, shape):
    x = torch.randn(shape, dtype=torch.float64, device=device) * 3 + 2
    scale, bias = style(*shape[:2], device=device)
    for name, xl in layouts(x):
        (y, g), (y_ref, g_ref) = run_both(xl, scale, bias)
        assert max_error(y, y_ref) <= 1e-12, name
        for gn, gr in zip(g, g_ref):
            assert max_error(gn, gr) <= 1e-11, name


@pytest.mark.parametrize("device", DEVICES)
def test_output_keeps_channels_last(device):
    x = torch.randn(2, 70, 3, 5, device=device).contiguous(memory_format=torch.channels_last)
    y = ops.adain(x, *style(2, 70, torch.float32, device))
    assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(3, 4, 1, 1), (3, 4)])
def test_single_element_planes_give_bias(device, shape):
    x = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
    scale, bias = (t.requires_grad_(True) for t in style(3, 4, device=device))
    y = ops.adain(x, scale, bias)
    assert torch.equal(y.reshape(3, 4), bias)
    dy = torch.randn_like(y)
    dx, dscale, dbias = torch.autograd.grad(y, [x, scale, bias], dy)
    assert torch.equal(dx, torch.zeros_like(x)) and torch.equal(dscale, torch.zeros_like(scale))
    assert torch.equal(dbias, dy.reshape(3, 4))


@pytest.mark.parametrize("device", DEVICES)
def test_constant_planes_give_bias(device):
    x = torch.full((2, 3, 6, 6), 7.25, device=device)
    scale, bias = style(2, 3, torch.float32, device)
    y = ops.adain(x, scale, bias)
    assert torch.equal(y, bias[:, :, None, None].expand_as(y))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_large_mean_planes_keep_their_variance(device, layout):
    # Plane means of 1e4 against a spread of 1: "mean of squares minus squared mean" in float32
    # loses every digit of the variance here.
    x64 = 1e4 + torch.randn(2, 8, 16, 16, dtype=torch.float64, device=device)
    x = x64.float()
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    scale, bias = style(2, 8, torch.float64, device)
    y = ops.adain(x, scale.float(), bias.float())
    exact = reference.adain(x.double(), scale.float().double(), bias.float().double())
    naive_var = x.square().mean((2, 3)) - x.mean((2, 3)).square()
    true_var = x.double().var((2, 3), unbiased=False)
    assert max_error(naive_var, true_var) > 0.1  # the cancellation this test guards against
    assert max_error(y, exact) <= dtype_error_bound(reference.adain, [x, scale, bias],
                                                    torch.float32)


def test_gradcheck_and_gradgradcheck():
    x = torch.randn(2, 3, 3, 4, dtype=torch.float64, requires_grad=True)
    scale, bias = (t.requires_grad_(True) for t in style(2, 3))
    assert torch.autograd.gradcheck(ops.adain, (x, scale, bias))
    assert torch.autograd.gradgradcheck(ops.adain, (x, scale, bias))
    xl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.autograd.gradgradcheck(ops.adain, (xl, scale, bias))


def test_second_order_matches_reference():
    # The R1 pattern: a gradient penalty differentiated again.
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    scale, bias = style(2, 4)
    grads = []
    for backend in ("native", "reference"):
        leaves = [t.clone().requires_grad_(True) for t in (x, scale, bias)]
        with ops.use(backend):
            y = ops.adain(*leaves)
            (gx,) = torch.autograd.grad((y.square() * y).sum(), leaves[0], create_graph=True)
            grads.append(torch.autograd.grad(gx.square().sum(), leaves))
    # float64 rounding, relative to the largest gradient (the scale gradient is a small
    # difference of large terms).
    scale = max(g.abs().max().item() for g in grads[1])
    for gn, gr in zip(*grads):
        assert max_error(gn, gr) <= 1e-13 * scale


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_low_precision_within_dtype_error(device, dtype, channels_last):
    x = torch.randn(2, 8, 6, 6, device=device, dtype=torch.float64) * 2 + 1
    scale, bias = style(2, 8, device=device)
    xl, sl, bl = x.to(dtype), scale.to(dtype), bias.to(dtype)
    if channels_last:
        xl = xl.contiguous(memory_format=torch.channels_last)
    xl.requires_grad_(True)
    y = ops.adain(xl, sl, bl)
    assert y.dtype == dtype
    exact = reference.adain(xl.double(), sl.double(), bl.double())
    assert max_error(y, exact) <= dtype_error_bound(reference.adain, [x, scale, bias], dtype)

    # The gradient to x, against the closed form in float64 on the same rounded inputs.
    dy = torch.randn_like(x)
    (dx,) = torch.autograd.grad(y, xl, dy.to(dtype))

    def grad_x(dy, x, scale):
        return reference.adain_grad(dy, x, scale)[0]

    exact_dx = grad_x(dy.to(dtype).double(), xl.double(), sl.double())
    assert max_error(dx, exact_dx) <= dtype_error_bound(grad_x, [dy, x, scale], dtype)


def test_matches_instance_norm():
    x = torch.randn(3, 5, 9, 9, dtype=torch.float64)
    scale, bias = style(3, 5)
    expected = F.instance_norm(x, eps=1e-3) * scale[:, :, None, None] + bias[:, :, None, None]
    assert max_error(ops.adain(x, scale, bias, eps=1e-3), expected) <= 1e-12


def test_empty_tensors():
    for shape in [(0, 3, 4, 4), (2, 3, 0, 4)]:
        x = torch.randn(shape, requires_grad=True)
        scale, bias = (t.requires_grad_(True) for t in style(*shape[:2], torch.float32))
        y = ops.adain(x, scale, bias)
        assert y.shape == x.shape
        y.sum().backward()
        assert x.grad.shape == x.shape and torch.equal(bias.grad, torch.zeros_like(bias))


def test_opcheck():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    scale, bias = (t.requires_grad_(True) for t in style(2, 3))
    torch.library.opcheck(torch.ops.fastgan.adain.default, (x, scale, bias, 1e-5))
    xl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    torch.library.opcheck(torch.ops.fastgan.adain.default, (xl, scale, bias, 1e-5))
    _, mean, rstd = torch.ops.fastgan.adain(x.detach(), scale.detach(), bias.detach(), 1e-5)
    dy = torch.randn_like(x, requires_grad=True)
    torch.library.opcheck(
        torch.ops.fastgan.adain_grad.default, (dy, x, scale, mean, rstd, 1e-5)
    )


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile(backend):
    torch._dynamo.reset()
    x = torch.randn(2, 3, 4, 5, requires_grad=True)
    scale, bias = (t.requires_grad_(True) for t in style(2, 3, torch.float32))

    def fn(x, scale, bias):
        return ops.adain(x, scale, bias).square().sum()

    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    loss = compiled(x, scale, bias)
    grads = torch.autograd.grad(loss, [x, scale, bias])
    leaves = [t.detach().requires_grad_(True) for t in (x, scale, bias)]
    loss_ref = fn(*leaves)
    grads_ref = torch.autograd.grad(loss_ref, leaves)
    assert torch.allclose(loss, loss_ref)
    for g, gr in zip(grads, grads_ref):
        assert torch.allclose(g, gr, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(2, 3, 4, 4)
    scale, bias = style(2, 3, torch.float32)
    with pytest.raises(ValueError, match=r"scale must be \[N, C\] = \(2, 3\), got shape \(2, 4\)"):
        ops.adain(x, torch.randn(2, 4), bias)
    with pytest.raises(ValueError, match=r"bias must be \[N, C\] = \(2, 3\), got shape \(3,\)"):
        ops.adain(x, scale, torch.randn(3))
    with pytest.raises(TypeError, match="scale must have the dtype of x"):
        ops.adain(x, scale.double(), bias)
    with pytest.raises(ValueError, match="eps must be > 0, got 0"):
        ops.adain(x, scale, bias, eps=0)
    with pytest.raises(ValueError, match="at least 2 dims"):
        ops.adain(torch.randn(3), scale, bias)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ops.adain([1.0], scale, bias)
    # The op called directly checks its arguments in C++ too.
    with pytest.raises(RuntimeError, match=r"scale must be \[N, C\] = \[2, 3\], got \[3, 2\]"):
        torch.ops.fastgan.adain(x, scale.t(), bias, 1e-5)
    with pytest.raises(RuntimeError, match="bias must have the dtype of x"):
        torch.ops.fastgan.adain(x, scale, bias.double(), 1e-5)
    with pytest.raises(RuntimeError, match="eps must be finite and > 0, got -1"):
        torch.ops.fastgan.adain(x, scale, bias, -1.0)
    with pytest.raises(RuntimeError, match="x must be float32, float64, float16 or bfloat16"):
        torch.ops.fastgan.adain(x.int(), scale.int(), bias.int(), 1e-5)
    _, mean, rstd = torch.ops.fastgan.adain(x, scale, bias, 1e-5)
    with pytest.raises(RuntimeError, match="mean must be \\[N, C\\] = \\[2, 3\\] of Float"):
        torch.ops.fastgan.adain_grad(x, x, scale, mean.double(), rstd, 1e-5)
    with pytest.raises(RuntimeError, match="dy must match x in shape and dtype"):
        torch.ops.fastgan.adain_grad(x[:1], x, scale, mean, rstd, 1e-5)
