"""bias_act: native kernels against the plain-PyTorch reference."""

import math

import pytest
import torch

from fastgan import native_info, ops
from fastgan.ops import reference
from fastgan.ops.reference import ACTIVATIONS
from fastgan.testing import CUDA, dtype_error_bound, layouts, max_error

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

ACTS = sorted(ACTIVATIONS)
DEVICES = ["cpu"] + (["cuda"] if CUDA else [])


def run_both(x, b, **kw):
    """Native and reference outputs and gradients (for x and b) under the same upstream grad."""
    results = []
    for backend in ("native", "reference"):
        xi = x.detach().clone().requires_grad_(True)
        bi = None if b is None else b.detach().clone().requires_grad_(True)
        with ops.use(backend):
            y = ops.bias_act(xi, bi, **kw)
        dy = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).reshape(y.shape)
        grads = torch.autograd.grad(y, [xi] + ([bi] if bi is not None else []), dy)
        results.append((y, grads))
    return results


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("clamp", [None, 0.7])
def test_matches_reference_float64(device, act, bias, clamp):
    x = torch.randn(3, 5, 7, 9, dtype=torch.float64, device=device) * 3
    b = torch.randn(5, dtype=torch.float64, device=device) if bias else None
    for name, xl in layouts(x):
        (y, g), (y_ref, g_ref) = run_both(xl, b, act=act, clamp=clamp)
        assert max_error(y, y_ref) <= 1e-12, name
        for gn, gr in zip(g, g_ref):
            assert max_error(gn, gr) <= 1e-11, name


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize(
    "dim,shape", [(0, (6, 4)), (2, (1, 3, 5, 2)), (-1, (2, 3, 7)), (1, (1, 11))]
)
def test_other_dims_and_batch_one(act, dim, shape):
    x = torch.randn(shape, dtype=torch.float64) * 2
    b = torch.randn(shape[dim], dtype=torch.float64)
    (y, g), (y_ref, g_ref) = run_both(x, b, dim=dim, act=act, alpha=0.3, gain=1.7, clamp=2.0)
    assert max_error(y, y_ref) <= 1e-12
    assert max_error(g[0], g_ref[0]) <= 1e-11 and max_error(g[1], g_ref[1]) <= 1e-11


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("clamp", [None, 0.9])
def test_gradcheck_and_gradgradcheck(act, clamp):
    x = (torch.randn(2, 3, 3, 5, dtype=torch.float64) * 2).requires_grad_(True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def fn(x, b):
        return ops.bias_act(x, b, act=act, clamp=clamp)

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("act", ["lrelu", "swish", "tanh"])
def test_second_order_matches_reference(act):
    # The R1 pattern: a gradient penalty differentiated again.
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    grads = []
    for backend in ("native", "reference"):
        xi, bi = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        with ops.use(backend):
            y = ops.bias_act(xi, bi, act=act, clamp=1.5)
            (gx,) = torch.autograd.grad(y.square().sum(), xi, create_graph=True)
            grads.append(torch.autograd.grad(gx.square().sum(), [xi, bi]))
    for gn, gr in zip(*grads):
        assert max_error(gn, gr) <= 1e-10


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish", "softplus"])
def test_low_precision_within_dtype_error(device, dtype, act):
    x = torch.randn(2, 8, 6, 6, device=device, dtype=torch.float64) * 2
    b = torch.randn(8, device=device, dtype=torch.float64)
    xl, bl = x.to(dtype), b.to(dtype)
    y = ops.bias_act(xl, bl, act=act, clamp=3.0)
    assert y.dtype == dtype
    exact = reference.bias_act(xl.double(), bl.double(), act=act, clamp=3.0)

    def fn(x, b):
        return reference.bias_act(x, b, act=act, clamp=3.0)

    assert max_error(y, exact) <= dtype_error_bound(fn, [x, b], dtype)


@pytest.mark.skipif(not CUDA, reason="no CUDA device")
@pytest.mark.parametrize("act", ACTS)
def test_cuda_float16(act):
    x = torch.randn(2, 8, 6, 6, device="cuda", dtype=torch.float64)
    b = torch.randn(8, device="cuda", dtype=torch.float64)
    y = ops.bias_act(x.half(), b.half(), act=act)
    exact = reference.bias_act(x.half().double(), b.half().double(), act=act)

    def fn(x, b):
        return reference.bias_act(x, b, act=act)

    assert max_error(y, exact) <= dtype_error_bound(fn, [x, b], torch.float16)


def test_defaults_follow_the_activation_table():
    x = torch.randn(4, 3, dtype=torch.float64)
    assert torch.equal(ops.bias_act(x, act="lrelu"), torch.where(x > 0, x, 0.2 * x) * math.sqrt(2))
    assert max_error(ops.bias_act(x, act="tanh"), torch.tanh(x)) <= 1e-15
    assert torch.equal(ops.bias_act(x), x)


def test_clamp_zero_and_output_layout():
    x = torch.randn(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    assert torch.count_nonzero(ops.bias_act(x, act="relu", clamp=0.0)) == 0
    y = ops.bias_act(x, torch.randn(3), act="relu")
    assert y.is_contiguous(memory_format=torch.channels_last)


def test_empty_tensors():
    for shape in [(0, 3, 4, 4), (2, 3, 0, 4)]:
        x = torch.randn(shape, requires_grad=True)
        b = torch.randn(3, requires_grad=True)
        y = ops.bias_act(x, b, act="lrelu")
        assert y.shape == x.shape
        y.sum().backward()
        assert x.grad.shape == x.shape and torch.equal(b.grad, torch.zeros(3))


def test_opcheck():
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(torch.ops.fastgan.bias_act.default, (x, b, 1, "lrelu", 0.2, 1.4, 0.5))
    torch.library.opcheck(torch.ops.fastgan.bias_act.default, (x, None, 1, "swish", 0.0, 1.0, None))
    dy = torch.randn_like(x)
    torch.library.opcheck(
        torch.ops.fastgan.bias_act_grad.default, (dy, x, b, 1, "tanh", 0.0, 1.0, 0.5, 1)
    )


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile(backend):
    torch._dynamo.reset()
    x = torch.randn(2, 3, 4, 5, requires_grad=True)
    b = torch.randn(3, requires_grad=True)

    def fn(x, b):
        return ops.bias_act(x, b, act="lrelu", clamp=0.8).square().sum()

    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    loss = compiled(x, b)
    gx, gb = torch.autograd.grad(loss, [x, b])
    x2, b2 = x.detach().requires_grad_(True), b.detach().requires_grad_(True)
    loss_ref = fn(x2, b2)
    gx_ref, gb_ref = torch.autograd.grad(loss_ref, [x2, b2])
    assert torch.allclose(loss, loss_ref)
    assert torch.allclose(gx, gx_ref) and torch.allclose(gb, gb_ref)


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(2, 3, 4, 4)
    expected = r"b must be 1-D of length x.shape\[1\] = 3, got shape \(4,\)"
    with pytest.raises(ValueError, match=expected):
        ops.bias_act(x, torch.randn(4))
    with pytest.raises(ValueError, match="act must be one of .* got 'gelu'"):
        ops.bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="clamp must be None or >= 0, got -1"):
        ops.bias_act(x, clamp=-1)
    with pytest.raises(ValueError, match="dim must be in"):
        ops.bias_act(x, torch.randn(3), dim=4)
    with pytest.raises(TypeError, match="b must have the dtype of x"):
        ops.bias_act(x, torch.randn(3, dtype=torch.float64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ops.bias_act([1.0, 2.0])
    # The op called directly checks its arguments in C++ too.
    with pytest.raises(RuntimeError, match="b must be 1-D of length x.shape\\[dim\\] = 3"):
        torch.ops.fastgan.bias_act(x, torch.randn(5), 1, "lrelu", 0.2, 1.0, None)
    with pytest.raises(RuntimeError, match="act must be one of .* got 'gelu'"):
        torch.ops.fastgan.bias_act(x, None, 1, "gelu", 0.2, 1.0, None)
    with pytest.raises(RuntimeError, match="clamp must be None or >= 0, got -2"):
        torch.ops.fastgan.bias_act(x, None, 1, "relu", 0.2, 1.0, -2.0)
    with pytest.raises(RuntimeError, match="x must be float32, float64, bfloat16"):
        torch.ops.fastgan.bias_act(x.int(), None, 1, "relu", 0.2, 1.0, None)


def test_backend_switch():
    x = torch.randn(2, 3)
    with ops.use("reference"):
        assert ops.current() == "reference"
        y = ops.bias_act(x, act="tanh")
    assert ops.current() == "auto"
    assert torch.allclose(y, torch.tanh(x))
    with pytest.raises(ValueError, match="backend must be one of"):
        with ops.use("fast"):
            pass
