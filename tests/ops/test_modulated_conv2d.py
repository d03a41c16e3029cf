"""modulated_conv2d: native per-sample parts against StyleGAN2-ADA's composite (the reference)."""

import pytest
import torch

from fastgan import native_info, ops
from fastgan.ops import reference
from fastgan.testing import CUDA, max_error

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

DEVICES = ["cpu"] + (["cuda"] if CUDA else [])
# (up, down): StyleGAN2's synthesis layers use up=2, the discriminator's convolutions down=2.
RESAMPLING = [(1, 1), (2, 1), (1, 2)]


def make(N=2, I=3, O=4, k=3, H=6, dtype=torch.float64, device="cpu"):
    x = torch.randn(N, I, H, H, dtype=dtype, device=device)
    weight = torch.randn(O, I, k, k, dtype=dtype, device=device)
    styles = torch.randn(N, I, dtype=dtype, device=device) + 1
    return x, weight, styles


def kwargs(k, up, down, device="cpu", **extra):
    f = ops.setup_filter([1, 3, 3, 1], device=device) if up > 1 or down > 1 else None
    return dict(up=up, down=down, padding=k // 2, resample_filter=f, flip_weight=up == 1, **extra)


def output_shape(x, weight, up, down):
    k = weight.shape[2]
    side = (x.shape[2] * up + 2 * (k // 2) - k + 1) // down
    return x.shape[0], weight.shape[0], side, side


def run(backend, x, weight, styles, noise, **kw):
    """Output and gradients to (x, weight, styles[, noise]) under a fixed upstream gradient."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, weight, styles)]
    if noise is not None:
        leaves.append(noise.detach().clone().requires_grad_(True))
    with ops.use(backend):
        y = ops.modulated_conv2d(*leaves[:3], noise=leaves[3] if noise is not None else None, **kw)
    dy = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).reshape(y.shape)
    return y, torch.autograd.grad(y, leaves, dy)


def assert_close(a, b, rel=1e-12):
    scale = max(1.0, b.abs().max().item())
    assert max_error(a, b) <= rel * scale, (max_error(a, b), scale)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("up,down", RESAMPLING)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_matches_reference_float64(device, up, down, k, demodulate, fused):
    x, weight, styles = make(k=k, device=device)
    N, O, H, W = output_shape(x, weight, up, down)
    noise = torch.randn(N, 1, H, W, dtype=x.dtype, device=device)
    kw = kwargs(k, up, down, device, demodulate=demodulate, fused_modconv=fused)
    y, g = run("native", x, weight, styles, noise, **kw)
    y_ref, g_ref = run("reference", x, weight, styles, noise, **kw)
    assert y.shape == (N, O, H, W)
    assert_close(y, y_ref)
    for gn, gr in zip(g, g_ref):
        assert_close(gn, gr)


@pytest.mark.parametrize("up,down", RESAMPLING)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_and_non_fused_agree(up, down, k, demodulate):
    x, weight, styles = make(k=k)
    kw = kwargs(k, up, down, demodulate=demodulate)
    y_fused, g_fused = run("native", x, weight, styles, None, fused_modconv=True, **kw)
    y_split, g_split = run("native", x, weight, styles, None, fused_modconv=False, **kw)
    assert_close(y_fused, y_split)
    for a, b in zip(g_fused, g_split):
        assert_close(a, b)


@pytest.mark.parametrize("fused", [True, False])
def test_channels_last_and_noise_forms(fused):
    x, weight, styles = make(N=3, I=5, O=6)
    xl = x.contiguous(memory_format=torch.channels_last)
    for noise in (None, torch.randn(6, 6, dtype=x.dtype), torch.randn(3, 1, 6, 6, dtype=x.dtype),
                  torch.randn(3, 6, 6, 6, dtype=x.dtype)):
        kw = kwargs(3, 1, 1, fused_modconv=fused)
        y, g = run("native", xl, weight, styles, noise, **kw)
        y_ref, g_ref = run("reference", x, weight, styles, noise, **kw)
        assert_close(y, y_ref)
        for gn, gr in zip(g, g_ref):
            assert_close(gn, gr)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up", [1, 2])
def test_gradcheck_and_gradgradcheck(fused, up):
    x, weight, styles = (t.requires_grad_(True) for t in make(N=2, I=2, O=2, H=3))
    noise = torch.randn(2, 1, 3 * up, 3 * up, dtype=torch.float64, requires_grad=True)
    kw = kwargs(3, up, 1, fused_modconv=fused)

    def fn(x, weight, styles, noise):
        return ops.modulated_conv2d(x, weight, styles, noise, **kw)

    # Through torch's float64 CPU convolution (milliseconds per call) random projections of the
    # Jacobians keep this fast; the native parts alone get full checks below.
    assert torch.autograd.gradcheck(fn, (x, weight, styles, noise), fast_mode=True)
    assert torch.autograd.gradgradcheck(fn, (x, weight, styles, noise), fast_mode=True)


def test_gradgradcheck_native_parts():
    weight = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    a = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    for op in (torch.ops.fastgan.modconv_weight, torch.ops.fastgan.modconv_weight_grad):
        args = (weight, a, b) if op is torch.ops.fastgan.modconv_weight else (
            torch.randn(2, 2, 3, 2, 2, dtype=torch.float64, requires_grad=True), weight, a, b)
        assert torch.autograd.gradcheck(op, args)
        assert torch.autograd.gradgradcheck(op, args)
    x = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(torch.ops.fastgan.modconv_scale, (x, a, noise))
    g = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(torch.ops.fastgan.modconv_scale_grad, (g, x, a))
    xl = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert torch.autograd.gradgradcheck(torch.ops.fastgan.modconv_scale, (xl, a, None))


@pytest.mark.parametrize("fused", [True, False])
def test_path_length_second_order_matches_reference(fused):
    # Path-length regularization: the gradient of <y, r> to the styles, penalized, then
    # differentiated to x, weight and styles.
    x, weight, styles = make(N=2, I=4, O=3, H=5)
    r = torch.randn(2, 3, 10, 10, dtype=torch.float64)
    grads = []
    for backend in ("native", "reference"):
        leaves = [t.clone().requires_grad_(True) for t in (x, weight, styles)]
        with ops.use(backend):
            y = ops.modulated_conv2d(*leaves, **kwargs(3, 2, 1, fused_modconv=fused))
            (gs,) = torch.autograd.grad((y * r).sum(), leaves[2], create_graph=True)
            grads.append(torch.autograd.grad(gs.square().sum(), leaves))
    for gn, gr in zip(*grads):
        assert_close(gn, gr, rel=1e-11)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fused", [True, False])
def test_float16_pre_normalization(device, fused):
    # Styles of 3e4: x * styles overflows float16 unless both factors are pre-normalized.
    x64, weight, styles = make(N=2, I=8, O=4, H=6, device=device)
    x = x64.half()
    weight, styles = weight.float(), styles.float() * 3e4
    assert not torch.isfinite(x * styles.half()[:, :, None, None]).all()
    kw = kwargs(3, 1, 1, device, fused_modconv=fused)
    y = ops.modulated_conv2d(x, weight, styles, **kw)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()

    # Judged against the error the reference itself makes in float16.
    exact = reference.modulated_conv2d(x.double(), weight.double(), styles.double(), **kw)
    own = reference.modulated_conv2d(x, weight, styles, **kw)
    bound = max_error(own, exact) + torch.finfo(torch.float16).eps * exact.abs().max().item()
    assert max_error(y, exact) <= bound


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_within_dtype_error(device, dtype):
    x64, weight, styles = make(N=2, I=8, O=4, H=6, device=device)
    kw = kwargs(3, 1, 1, device, fused_modconv=False)
    xl, wl, sl = x64.to(dtype), weight.to(dtype), styles.to(dtype)
    y = ops.modulated_conv2d(xl, wl, sl, **kw)
    exact = reference.modulated_conv2d(xl.double(), wl.double(), sl.double(), **kw)
    own = reference.modulated_conv2d(xl, wl, sl, **kw)
    bound = max_error(own, exact) + torch.finfo(dtype).eps * exact.abs().max().item()
    assert y.dtype == dtype and max_error(y, exact) <= 2 * bound


def test_automatic_path_choice():
    x, weight, styles = make()
    kw = kwargs(3, 1, 1)
    y_auto = ops.modulated_conv2d(x, weight, styles, fused_modconv=None, **kw)
    y_ref = reference.modulated_conv2d(x, weight, styles, **kw)
    assert_close(y_auto, y_ref)
    from fastgan.ops.modulated_conv2d import prefers_fused

    assert not prefers_fused(x, training=True) and not prefers_fused(x, training=False)
    if CUDA:
        assert prefers_fused(x.cuda(), training=False)


def test_empty_batch():
    x, weight, styles = make(N=0)
    x.requires_grad_(True)
    for fused in (True, False):
        y = ops.modulated_conv2d(x, weight, styles, padding=1, fused_modconv=fused)
        assert y.shape == (0, 4, 6, 6)


def test_opcheck():
    x, weight, styles = make()
    b = torch.rand(2, 4, dtype=torch.float64) + 0.5
    for t in (weight, styles, b):
        t.requires_grad_(True)
    op = torch.ops.fastgan
    torch.library.opcheck(op.modconv_weight.default, (weight, styles, b))
    torch.library.opcheck(op.modconv_weight.default, (weight, styles, None))
    g = torch.randn(2, 4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(op.modconv_weight_grad.default, (g, weight, styles, b))
    y = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(2, 1, 5, 5, dtype=torch.float64).expand(2, 4, 5, 5)
    torch.library.opcheck(op.modconv_scale.default, (y, b, noise))
    yl = y.detach().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    torch.library.opcheck(op.modconv_scale.default, (yl, b, None))
    torch.library.opcheck(op.modconv_scale_grad.default, (torch.randn_like(y), y, b))


@pytest.mark.parametrize(
    "backend,fused", [("aot_eager", True), ("aot_eager", False), ("inductor", False)]
)
def test_torch_compile(backend, fused):
    torch._dynamo.reset()
    x, weight, styles = (t.float().requires_grad_(True) for t in make())
    noise = torch.randn(2, 1, 6, 6)

    def fn(x, weight, styles):
        y = ops.modulated_conv2d(x, weight, styles, noise, padding=1, fused_modconv=fused)
        return y.square().sum()

    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    loss = compiled(x, weight, styles)
    grads = torch.autograd.grad(loss, [x, weight, styles])
    leaves = [t.detach().requires_grad_(True) for t in (x, weight, styles)]
    loss_ref = fn(*leaves)
    grads_ref = torch.autograd.grad(loss_ref, leaves)
    assert torch.allclose(loss, loss_ref, rtol=1e-5)
    for g, gr in zip(grads, grads_ref):
        assert torch.allclose(g, gr, rtol=1e-4, atol=1e-4)


def test_bad_inputs_raise_clear_errors():
    x, weight, styles = make()
    mc = ops.modulated_conv2d
    with pytest.raises(ValueError, match=r"styles must be \[N, I\] = \(2, 3\), got shape \(2, 5\)"):
        mc(x, weight, torch.randn(2, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"weight must be 4-D \[O, I, kh, kw\], got shape \(4, "):
        mc(x, weight[:, :, 0, 0], styles)
    with pytest.raises(ValueError, match=r"x must be \[N, I, H, W\] with I = 3, got shape"):
        mc(x[:, :2], weight, styles)
    with pytest.raises(ValueError, match=r"noise must broadcast to the output shape"):
        mc(x, weight, styles, noise=torch.randn(2, 1, 5, 5, dtype=torch.float64), padding=1)
    with pytest.raises(TypeError, match="styles must have the dtype of weight"):
        mc(x, weight, styles.float())
    with pytest.raises(ValueError, match="up must be an int >= 1, got 0"):
        mc(x, weight, styles, up=0)
    # The ops called directly check their arguments in C++ too.
    op = torch.ops.fastgan
    with pytest.raises(RuntimeError, match=r"a must be \[N, I\] with I = 3, got shape \[2, 5\]"):
        op.modconv_weight(weight, torch.randn(2, 5, dtype=torch.float64), None)
    with pytest.raises(RuntimeError, match=r"b must be \[N, O\] = \[2, 4\], got shape \[2, 3\]"):
        op.modconv_weight(weight, styles, styles)
    with pytest.raises(RuntimeError, match="weight must be 4-D"):
        op.modconv_weight(weight[0], styles, None)
    with pytest.raises(RuntimeError, match=r"g must be \[N, O, I, kh, kw\]"):
        op.modconv_weight_grad(weight, weight, styles, None)
    with pytest.raises(RuntimeError, match=r"s must be \[N, C\] = \[2, 3\], got shape \[3\]"):
        op.modconv_scale(x, styles[0], None)
    with pytest.raises(RuntimeError, match="noise must have the shape of x"):
        op.modconv_scale(x, styles, x[:, :1])
    with pytest.raises(RuntimeError, match="s must have the dtype of x"):
        op.modconv_scale(x, styles.float(), None)
