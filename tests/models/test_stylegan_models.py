import pytest
import torch

from fastgan import _native, ops
from fastgan.models.stylegan import Discriminator, Generator
from fastgan.training.recipes.stylegan import StyleGANOptions, StyleGANRecipe

TINY = dict(channel_base=128, channel_max=16)
# The kernels these nets run.
NATIVE_OPS = ("bias_act", "upfirdn2d", "modconv_scale", "modconv_weight", "adain")
native = pytest.mark.skipif(
    not all(_native.has_kernel(torch.device("cpu"), op) for op in NATIVE_OPS),
    reason="native CPU kernels not built")


@pytest.fixture(autouse=True)
def _one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize("resolution", [4, 8, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes(resolution, channels):
    G = Generator(z_dim=8, w_dim=8, resolution=resolution, img_channels=channels,
                  mapping_layers=2, **TINY)
    D = Discriminator(resolution=resolution, img_channels=channels, **TINY)
    img = G(torch.randn(5, 8))
    assert img.shape == (5, channels, resolution, resolution)
    assert D(img).shape == (5,)
    assert G.num_ws == 2 * (resolution.bit_length() - 2)


def test_parameter_count_by_formula():
    # resolution 8, 1 channel, 16 channels, z = w = 8, mapping 2 layers.
    G = Generator(z_dim=8, w_dim=8, resolution=8, img_channels=1, mapping_layers=2, **TINY)
    style = 8 * 32 + 32  # affine to (scale, bias)
    per_layer = 16 + 16 + style  # noise strength, bias, style
    expected = (2 * (8 * 8 + 8)  # mapping
                + 16 * 4 * 4  # const
                + 4 * per_layer + 3 * 16 * 16 * 9  # 4 layers, 3 of them with a conv
                + 16 + 1)  # ToRGB
    assert sum(p.numel() for p in G.parameters()) == expected


def test_truncation_with_cutoff_and_identity():
    G = Generator(z_dim=8, w_dim=8, resolution=8, img_channels=1, **TINY)
    G.train()
    G.mapping(torch.randn(16, 8))
    G.eval()
    z = torch.randn(3, 8)
    torch.testing.assert_close(G(z, psi=1.0, noise_mode="const"), G(z, noise_mode="const"))
    ws = G.mapping(z, psi=0.0, cutoff=2)
    torch.testing.assert_close(ws[:, :2], G.mapping.w_avg.expand(3, 2, 8))


@native
def test_native_and_reference_ops_agree_with_r1():
    o = StyleGANOptions(z_dim=8, w_dim=8, mapping_layers=2, **TINY)
    r = StyleGANRecipe(o, resolution=8, channels=1, num_classes=0, device="cpu", seed=0)
    for layer in r.G.synthesis.layers:
        layer.noise_strength.data.fill_(0.2)
    z, x = torch.randn(4, 8), torch.rand(4, 1, 8, 8) * 2 - 1
    results = {}
    for backend in ("native", "reference"):
        with ops.use(backend):
            img = r.G(z, noise_mode="const")
            loss = torch.nn.functional.softplus(-r.D(img)).mean()
            gg = torch.autograd.grad(loss, list(r.G.parameters()), allow_unused=True)
            real = x.clone().requires_grad_(True)
            (g,) = torch.autograd.grad(r.D(real).sum(), real, create_graph=True)
            gr1 = torch.autograd.grad(g.square().sum(), list(r.D.parameters()),
                                      allow_unused=True)
        results[backend] = (img, [t for t in gg if t is not None],
                            [t for t in gr1 if t is not None])
    a, b = results["native"], results["reference"]
    torch.testing.assert_close(a[0], b[0], rtol=1e-4, atol=1e-5)
    assert len(a[2]) > 0 and len(a[1]) == len(b[1])
    for ga, gb in zip(a[1] + a[2], b[1] + b[2]):
        torch.testing.assert_close(ga, gb, rtol=1e-3, atol=1e-5)


def test_one_step_and_odd_batch():
    o = StyleGANOptions(z_dim=8, w_dim=8, mapping_layers=2, **TINY)
    r = StyleGANRecipe(o, resolution=8, channels=1, num_classes=0, device="cpu", seed=0)
    g = [p.detach().clone() for p in r.G.parameters()]
    d = [p.detach().clone() for p in r.D.parameters()]
    losses = r.step(torch.rand(5, 1, 8, 8) * 2 - 1, torch.zeros(5, dtype=torch.long))
    assert all(torch.isfinite(v) for v in losses.values()) and losses["r1"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(g, r.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d, r.D.parameters()))
