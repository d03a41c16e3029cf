"""filtered_lrelu: native kernels against the plain-PyTorch composite reference."""

import itertools
import math
import re
from pathlib import Path

import pytest
import torch

from fastgan import native_info, ops
from fastgan.ops import reference
from fastgan.testing import CUDA, dtype_error_bound, layouts, max_error

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

F64 = torch.float64
DEVICES = ["cpu"] + (["cuda"] if CUDA else [])
CONFIGS = Path(__file__).parent / "data" / "stylegan3_layer_configs.txt"


def stylegan3_layers() -> list[tuple[str, dict]]:
    """Distinct filtered_lrelu calls of the StyleGAN3 T and R configs, from the layer table.

    The op's input is the layer's modulated-conv output: in + k - 1 samples per side. Sizes
    beyond 148 are cut to 148 + k - 1 (their geometry is that of the smaller layers; 148 already
    spans two CPU bands of output columns).
    """
    pattern = re.compile(
        r"^(\S+)\s+in=\[(\d+), \d+\] out=\[(\d+), \d+\] C=\S+ k=(\d+) up=(\d+) down=(\d+) "
        r"fu=(\S+) fd=(\(.*?\)|None) pad=\[(.*?)\]"
    )
    cases, seen = [], set()
    config = ""
    for line in CONFIGS.read_text().splitlines():
        if line.startswith("== "):
            config = line[3:]
            continue
        match = pattern.match(line)
        if match is None:
            continue
        name, size, out, k, up, down, fu, fd, pad = match.groups()
        taps_up = None if fu == "None" else int(fu.strip("(,)"))
        fd_shape = None if fd == "None" else tuple(int(v) for v in fd.strip("()").split(",") if v)
        padding = [int(v) for v in pad.split(",")]
        size, k = int(size), int(k)
        in_size = min(size, 148) + k - 1
        key = (in_size, int(up), int(down), taps_up, fd_shape, tuple(padding))
        if key in seen:
            continue
        seen.add(key)
        expected_out = int(out) if size <= 148 else None
        cases.append((f"{config}-{name}", dict(
            size=in_size, up=int(up), down=int(down), taps_up=taps_up, fd_shape=fd_shape,
            padding=padding, expected_out=expected_out,
        )))
    return cases


def lowpass(taps: int, dtype=F64, device="cpu") -> torch.Tensor:
    """A normalized windowed-sinc low-pass filter (what StyleGAN3 designs), [taps]."""
    n = torch.arange(taps, dtype=F64) - (taps - 1) / 2
    f = torch.sinc(n / 2) * torch.hann_window(taps + 2, periodic=False, dtype=F64)[1:-1]
    return (f / f.sum()).to(dtype=dtype, device=device)


def radial(taps: int, dtype=F64, device="cpu") -> torch.Tensor:
    """A normalized radially symmetric 2-D low-pass filter (as config R's fd), [taps, taps]."""
    n = torch.arange(taps, dtype=F64) - (taps - 1) / 2
    r = torch.hypot(n[None, :], n[:, None])
    f = torch.special.bessel_j1(math.pi * r / 2 + 1e-12) / (r + 1e-12) * torch.cos(r / taps)
    return (f / f.sum()).to(dtype=dtype, device=device)


def run_both(x, fu, fd, b, **kw):
    """Native and reference outputs and gradients (x and b) under the same upstream gradient."""
    results = []
    for backend in ("native", "reference"):
        xi = x.detach().clone().requires_grad_(True)
        bi = None if b is None else b.detach().clone().requires_grad_(True)
        with ops.use(backend):
            y = ops.filtered_lrelu(xi, fu, fd, bi, **kw)
        dy = torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).reshape(y.shape)
        grads = torch.autograd.grad(y, [xi] + ([bi] if bi is not None else []), dy)
        results.append((y, grads))
    return results


def assert_close(native, ref, tol, what):
    (y, grads), (y_ref, grads_ref) = native, ref
    assert y.shape == y_ref.shape, what
    scale = max(1.0, y_ref.abs().max().item())
    assert max_error(y, y_ref) <= tol * scale, what
    for g, g_ref in zip(grads, grads_ref):
        assert max_error(g, g_ref) <= tol * max(1.0, g_ref.abs().max().item()), what


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "name,layer", stylegan3_layers(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_stylegan3_layers_match_reference(device, name, layer):
    fu = lowpass(layer["taps_up"], device=device) if layer["taps_up"] else None
    shape = layer["fd_shape"]
    fd = None if shape is None else (
        radial(shape[0], device=device) if len(shape) == 2 else lowpass(shape[0], device=device)
    )
    x = torch.randn(1, 2, layer["size"], layer["size"], dtype=F64, device=device)
    b = torch.randn(2, dtype=F64, device=device)
    kw = dict(up=layer["up"], down=layer["down"], padding=layer["padding"], clamp=1.5)
    native, ref = run_both(x, fu, fd, b, **kw)
    if layer["expected_out"] is not None:
        assert native[0].shape[-2:] == (layer["expected_out"],) * 2, name
    assert_close(native, ref, 1e-12, name)


SWEEP = list(itertools.product(
    [1, 2, 4],                                         # up
    [1, 2, 4],                                         # down
    ["sep", "2d"],                                     # filter kind
))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("up,down,kind", SWEEP)
def test_sweep_matches_reference_float64(device, up, down, kind):
    paddings = [0, [3, 1], [5, -2, 1, 4], [-3, 6, 7, -1]]
    for i in range(12):
        # Every padding form, clamp, slope and flip, each with several of the others.
        padding, clamp, slope = paddings[i % 4], [None, 0.6][i % 2], [0.0, 0.2, 1.0][i % 3]
        flip = i >= 6
        # Filter lengths of StyleGAN3 (6 to 24 taps) and short odd ones, odd input sizes.
        taps_up = [6, 12, 24, 3][i % 4] if up > 1 else [1, 3][i % 2]
        taps_down = [12, 6, 5][i % 3] if down > 1 else [1, 4][i % 2]
        if kind == "sep":
            fu, fd = torch.randn(taps_up, dtype=F64), torch.randn(taps_down, dtype=F64)
        else:
            fu = torch.randn(taps_up, max(1, taps_up - 1), dtype=F64)
            fd = torch.randn(taps_down, taps_down % 3 + 1, dtype=F64)
        size = (taps_up + taps_down) // up + 5
        x = torch.randn(1 + i % 2, 3, size, size + 2, dtype=F64, device=device)
        b = torch.randn(3, dtype=F64, device=device) if i % 3 else None
        kw = dict(up=up, down=down, padding=padding, clamp=clamp, slope=slope, flip_filter=flip,
                  gain=1.3)
        native, ref = run_both(x, fu.to(device), fd.to(device), b, **kw)
        assert_close(native, ref, 1e-12, (padding, clamp, slope, flip, taps_up, taps_down))


@pytest.mark.parametrize("device", DEVICES)
def test_layouts_and_wide_planes(device):
    # Channels-last, strided and transposed inputs; a width of several CPU bands.
    fu, fd = lowpass(12, device=device), lowpass(12, device=device)
    x = torch.randn(2, 3, 9, 300, dtype=F64, device=device)
    b = torch.randn(3, dtype=F64, device=device)
    kw = dict(up=2, down=2, padding=[9, 8, 9, 8], clamp=0.8)
    ref = run_both(x, fu, fd, b, **kw)[1]
    for name, xl in layouts(x):
        native = run_both(xl, fu, fd, b, **kw)[0]
        assert_close(native, ref, 1e-12, name)
    y = ops.filtered_lrelu(x.contiguous(memory_format=torch.channels_last), fu, fd, b, **kw)
    assert y.is_contiguous(memory_format=torch.channels_last)


def test_gradcheck_and_gradgradcheck():
    fu, fd = torch.randn(4, dtype=F64), torch.randn(3, 3, dtype=F64)
    x = torch.randn(1, 2, 4, 5, dtype=F64, requires_grad=True)
    b = torch.randn(2, dtype=F64, requires_grad=True)

    def fn(x, b):
        return ops.filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[2, 1, 1, 2], clamp=0.9)

    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("clamp", [None, 0.5])
def test_second_order_matches_reference(clamp):
    # The R1 pattern: a gradient penalty, differentiated again, through a later nonlinearity.
    fu, fd = lowpass(12), lowpass(12)
    x = torch.randn(2, 3, 8, 7, dtype=F64)
    b = torch.randn(3, dtype=F64)
    grads = []
    for backend in ("native", "reference"):
        xi, bi = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
        with ops.use(backend):
            y = ops.filtered_lrelu(xi, fu, fd, bi, up=2, down=2, padding=[9, 8, 9, 8], clamp=clamp)
            (gx,) = torch.autograd.grad(torch.tanh(y).square().sum(), xi, create_graph=True)
            grads.append(torch.autograd.grad(gx.square().sum() + gx.sum() * bi.sum(), [xi, bi]))
    for g, g_ref in zip(*grads):
        assert max_error(g, g_ref) <= 1e-12 * max(1.0, g_ref.abs().max().item())


def test_saves_two_bits_per_upsampled_sample():
    fu, fd = lowpass(12), lowpass(12)
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = ops.filtered_lrelu(x, fu, fd, up=2, down=2, padding=[9, 8, 9, 8])
    signs = [t for t in saved if t.dtype == torch.uint8]
    assert len(signs) == 1 and not any(t.shape == x.shape for t in saved)
    # Upsampled samples the output reads: (out - 1) * down + taps along each axis.
    mid = (y.shape[-1] - 1) * 2 + 12
    assert signs[0].shape == (2, 3, mid, math.ceil(mid / 4))
    with torch.no_grad():
        _, s = torch.ops.fastgan.filtered_lrelu(x, fu, fd, None, 2, 2, [9, 8, 9, 8], 1.0, 0.2,
                                                None, False, False)
    assert s.numel() == 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_within_dtype_error(device, dtype):
    fu, fd = lowpass(12, device=device), radial(12, device=device)
    x = torch.randn(2, 4, 11, 10, dtype=F64, device=device) * 2
    b = torch.randn(4, dtype=F64, device=device)
    kw = dict(up=2, down=2, padding=[11, 10, 11, 10], clamp=2.0)

    def fn(x, b):
        return reference.filtered_lrelu(x, fu, fd, b, **kw)

    xl, bl = x.to(dtype), b.to(dtype)
    y = ops.filtered_lrelu(xl, fu, fd, bl, **kw)
    assert y.dtype == dtype
    exact = fn(xl.double(), bl.double())
    assert max_error(y, exact) <= dtype_error_bound(fn, [x, b], dtype)


def test_empty_batch_and_identity_filters():
    x = torch.randn(0, 3, 6, 6, requires_grad=True)
    b = torch.randn(3, requires_grad=True)
    y = ops.filtered_lrelu(x, lowpass(6, torch.float32), None, b, up=2, padding=[3, 2, 3, 2])
    assert y.shape == (0, 3, 12, 12)
    y.sum().backward()
    assert torch.equal(b.grad, torch.zeros(3))
    # No filters, no resampling: a plain leaky ReLU with gain.
    x = torch.randn(2, 3, 5, 4, dtype=F64)
    expected = torch.where(x > 0, x, 0.2 * x) * math.sqrt(2)
    assert max_error(ops.filtered_lrelu(x), expected) <= 1e-15


def test_opcheck():
    x = torch.randn(1, 2, 6, 7, dtype=F64, requires_grad=True)
    b = torch.randn(2, dtype=F64, requires_grad=True)
    fu, fd = lowpass(6), radial(4)
    pad = [3, 2, 2, 3]
    torch.library.opcheck(
        torch.ops.fastgan.filtered_lrelu.default,
        (x, fu, fd, b, 2, 2, pad, 1.4, 0.2, 0.5, False, True),
    )
    torch.library.opcheck(
        torch.ops.fastgan.filtered_lrelu.default,
        (x.detach(), fu, fd, None, 2, 1, pad, 1.0, 0.1, None, True, False),
    )
    y, s = torch.ops.fastgan.filtered_lrelu(x, fu, fd, b, 2, 2, pad, 1.4, 0.2, 0.5, False, True)
    dy = torch.randn_like(y, requires_grad=True)
    torch.library.opcheck(
        torch.ops.fastgan.filtered_lrelu_stored.default,
        (dy, s, fu, fd, 2, 2, pad, 1.4, 0.2, False, [6, 7], True),
    )
    torch.library.opcheck(
        torch.ops.fastgan.filtered_lrelu_stored.default,
        (x, s, fu, fd, 2, 2, pad, 1.4, 0.2, False, [6, 7], False),
    )


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile(backend):
    torch._dynamo.reset()
    fu, fd = lowpass(12, torch.float32), lowpass(12, torch.float32)
    x = torch.randn(2, 3, 10, 10, requires_grad=True)
    b = torch.randn(3, requires_grad=True)

    def fn(x, b):
        y = ops.filtered_lrelu(x, fu, fd, b, up=2, down=2, padding=[9, 8, 9, 8], clamp=0.8)
        return y.square().sum()

    compiled = torch.compile(fn, backend=backend, fullgraph=True)
    loss = compiled(x, b)
    gx, gb = torch.autograd.grad(loss, [x, b])
    x2, b2 = x.detach().requires_grad_(True), b.detach().requires_grad_(True)
    loss_ref = fn(x2, b2)
    gx_ref, gb_ref = torch.autograd.grad(loss_ref, [x2, b2])
    assert torch.allclose(loss, loss_ref) and torch.allclose(gx, gx_ref)
    assert torch.allclose(gb, gb_ref, atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(2, 3, 8, 8)
    f = lowpass(4, torch.float32)
    with pytest.raises(ValueError, match=r"b must be 1-D of length x.shape\[1\] = 3, got \(4,\)"):
        ops.filtered_lrelu(x, f, f, torch.randn(4))
    with pytest.raises(TypeError, match="b must have the dtype of x"):
        ops.filtered_lrelu(x, f, f, torch.randn(3, dtype=F64))
    with pytest.raises(ValueError, match="x must be 4-D"):
        ops.filtered_lrelu(x[0], f, f)
    with pytest.raises(TypeError, match="x must be float32, float64, float16 or bfloat16"):
        ops.filtered_lrelu(x.int(), f, f)
    with pytest.raises(ValueError, match="fu must be a non-empty 1-D .* got shape \\(1, 2, 2\\)"):
        ops.filtered_lrelu(x, torch.ones(1, 2, 2), f)
    with pytest.raises(ValueError, match="up must be an int >= 1, got 0"):
        ops.filtered_lrelu(x, f, f, up=0)
    with pytest.raises(ValueError, match="padding must be an int"):
        ops.filtered_lrelu(x, f, f, padding=[1, 2, 3])
    with pytest.raises(ValueError, match="clamp must be None or >= 0, got -1"):
        ops.filtered_lrelu(x, f, f, clamp=-1)
    with pytest.raises(ValueError, match="along W, the upsampled, padded input"):
        ops.filtered_lrelu(x, f, f, padding=[-4, -2, 0, 0])
    with pytest.raises(ValueError, match="fd must not require grad"):
        ops.filtered_lrelu(x, f, f.clone().requires_grad_(True))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ops.filtered_lrelu([1.0])
    # The ops called directly check their arguments in C++ too.
    op, stored = torch.ops.fastgan.filtered_lrelu, torch.ops.fastgan.filtered_lrelu_stored
    with pytest.raises(RuntimeError, match="b must be 1-D of length x.shape\\[1\\] = 3"):
        op(x, f, f, torch.randn(5), 1, 1, [0, 0, 0, 0], 1.0, 0.2, None, False, False)
    with pytest.raises(RuntimeError, match="padding must be \\[px0, px1, py0, py1\\]"):
        op(x, f, f, None, 1, 1, [0, 0], 1.0, 0.2, None, False, False)
    with pytest.raises(RuntimeError, match="down must be >= 1, got 0"):
        op(x, f, f, None, 1, 0, [0, 0, 0, 0], 1.0, 0.2, None, False, False)
    with pytest.raises(RuntimeError, match="clamp must be None or >= 0, got -2"):
        op(x, f, f, None, 1, 1, [0, 0, 0, 0], 1.0, 0.2, -2.0, False, False)
    with pytest.raises(RuntimeError, match="x must be float32, float64, float16 or bfloat16"):
        op(x.int(), f, f, None, 1, 1, [0, 0, 0, 0], 1.0, 0.2, None, False, False)
    with pytest.raises(RuntimeError, match="must be at least as large as fu and fd together"):
        op(x, f, f, None, 1, 1, [-3, -3, 0, 0], 1.0, 0.2, None, False, False)
    y, s = op(x, f, f, None, 2, 2, [2, 1, 2, 1], 1.0, 0.2, None, False, True)
    with pytest.raises(RuntimeError, match="signs must be a contiguous uint8 tensor of shape"):
        stored(y, s[:, :, 1:], f, f, 2, 2, [2, 1, 2, 1], 1.0, 0.2, False, [8, 8], True)
    with pytest.raises(RuntimeError, match="g must be \\[N, C, 8, 8\\]"):
        stored(y, s, f, f, 2, 2, [2, 1, 2, 1], 1.0, 0.2, False, [8, 8], False)
