import pytest
import torch

from fastgan import _native, ops
from fastgan.models.stylegan2 import Discriminator, Generator, channels_at
from fastgan.training.recipes.stylegan2 import StyleGAN2Options, StyleGAN2Recipe, mix_styles

TINY = dict(channel_base=128, channel_max=16)
# The kernels these nets run.
NATIVE_OPS = ("bias_act", "upfirdn2d", "modconv_scale", "modconv_weight", "adain")
native = pytest.mark.skipif(
    not all(_native.has_kernel(torch.device("cpu"), op) for op in NATIVE_OPS),
    reason="native CPU kernels not built")


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny nets: on a shared 2-core CPU one thread is several times faster than two.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("resolution", [4, 8, 16, 32])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("arch", ["skip", "orig", "resnet"])
def test_shapes(resolution, channels, arch):
    G = Generator(z_dim=8, w_dim=8, resolution=resolution, img_channels=channels,
                  mapping_layers=2, architecture=arch, **TINY)
    D = Discriminator(resolution=resolution, img_channels=channels, architecture=arch, **TINY)
    img = G(torch.randn(3, 8))
    assert img.shape == (3, channels, resolution, resolution)
    assert D(img).shape == (3,)
    # Two ws per resolution above 4, one at 4, plus the last ToRGB.
    assert G.num_ws == 2 * (resolution.bit_length() - 3) + 2


def test_generator_parameter_count_of_config_f():
    # StyleGAN2-ADA's 1024x1024 RGB generator (mapping 8, channel base 32768, max 512).
    G = Generator(z_dim=512, w_dim=512, resolution=1024, img_channels=3)
    assert _count(G) == 30_370_060
    assert G.num_ws == 18


def test_parameter_counts_by_formula():
    # resolution 8, 1 channel, channels 16 at 4 and 8, z = w = 8, mapping 2 layers.
    G = Generator(z_dim=8, w_dim=8, resolution=8, img_channels=1, mapping_layers=2,
                  channel_base=128, channel_max=16)
    fc = 8 * 8 + 8
    layer = lambda i, o, k: (8 * i + i) + o * i * k * k + o  # affine, weight, bias
    expected = (2 * fc  # mapping
                + 16 * 16  # const
                + layer(16, 16, 3) + 1 + layer(16, 1, 1)  # 4x4: conv1 + noise strength, torgb
                + 2 * (layer(16, 16, 3) + 1) + layer(16, 1, 1))  # 8x8
    assert _count(G) == expected
    D = Discriminator(resolution=8, img_channels=1, channel_base=128, channel_max=16)
    conv = lambda i, o, k, bias=True: i * o * k * k + (o if bias else 0)
    expected = (conv(1, 16, 1) + conv(16, 16, 3) + conv(16, 16, 3) + conv(16, 16, 1, False)
                + conv(17, 16, 3) + (16 * 16 * 16 + 16) + (16 + 1))
    assert _count(D) == expected
    assert channels_at(8, 128, 16) == 16 and channels_at(32, 128, 16) == 4


def test_conditional_shapes():
    G = Generator(z_dim=8, w_dim=8, resolution=8, img_channels=1, num_classes=10, **TINY)
    D = Discriminator(resolution=8, img_channels=1, num_classes=10, **TINY)
    c = torch.tensor([0, 3, 9])
    assert D(G(torch.randn(3, 8), c), c).shape == (3,)
    with pytest.raises(ValueError, match="c must be"):
        G(torch.randn(3, 8))


def test_noise_modes():
    G = Generator(z_dim=8, w_dim=8, resolution=8, img_channels=1, **TINY).eval()
    for layer in G.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.5)
    z = torch.randn(2, 8)
    torch.testing.assert_close(G(z, noise_mode="const"), G(z, noise_mode="const"))
    assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
    assert not torch.equal(G(z, noise_mode="none"), G(z, noise_mode="const"))
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="fixed")


@pytest.mark.parametrize("batch", [1, 5, 6, 10])
def test_discriminator_any_batch(batch):
    D = Discriminator(resolution=8, img_channels=1, mbstd_group_size=4, **TINY)
    assert D(torch.randn(batch, 1, 8, 8)).shape == (batch,)


def test_truncation_psi_one_is_identity():
    G = Generator(z_dim=8, w_dim=8, resolution=8, img_channels=1, **TINY)
    G.train()
    G.mapping(torch.randn(16, 8))  # a non-zero w_avg
    G.eval()
    z = torch.randn(4, 8)
    torch.testing.assert_close(G(z, psi=1.0, noise_mode="const"), G(z, noise_mode="const"))
    assert not torch.allclose(G(z, psi=0.5, noise_mode="const"), G(z, noise_mode="const"))


def test_style_mixing_is_monotonic_for_any_crossover():
    L, W = 8, 3
    ws, ws2 = torch.zeros(2, L, W), torch.ones(2, L, W)
    for k in range(1, L):
        source = mix_styles(ws, ws2, k)[:, :, 0]  # 0: first z, 1: second z
        assert torch.equal(source, (torch.arange(L) >= k).float().expand(2, L))
        assert (source.diff(dim=1) >= 0).all()


def _recipe(**options):
    base = dict(z_dim=8, w_dim=8, mapping_layers=2, r1_interval=1, pl_interval=1, **TINY)
    o = StyleGAN2Options(**{**base, **options})
    return StyleGAN2Recipe(o, resolution=8, channels=1, num_classes=0, device="cpu", seed=0)


def _grads(loss, params):
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return tuple(torch.zeros_like(p) if g is None else g for p, g in zip(params, grads))


@native
@pytest.mark.parametrize("arch", [("skip", "resnet"), ("orig", "orig"), ("resnet", "skip")])
def test_native_and_reference_ops_agree(arch):
    # The same G and D through the native ops and the references: outputs, loss gradients,
    # and the gradients of the R1 and path-length penalties (second order through the ops).
    r = _recipe(g_architecture=arch[0], d_architecture=arch[1], conv_clamp=0.0)
    for p in r.G.modules():
        if hasattr(p, "noise_strength"):
            p.noise_strength.data.fill_(0.3)
    z = torch.randn(4, 8)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    results = {}
    for backend in ("native", "reference"):
        with ops.use(backend):
            torch.manual_seed(1)
            img = r.G(z)
            logits = r.D(img)
            g_params = list(r.G.parameters())
            d_params = list(r.D.parameters())
            gg = _grads(torch.nn.functional.softplus(-logits).mean(), g_params)
            torch.manual_seed(2)
            r.rng.manual_seed(3)
            r.pl_mean = torch.zeros([])
            gpl = _grads(r.path_length_loss(torch.randn(2, 8), None), g_params)
            gr1 = _grads(r.r1_loss(x, None), d_params)
        results[backend] = (img, logits, gg, gpl, gr1)
    a, b = results["native"], results["reference"]
    torch.testing.assert_close(a[0], b[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a[1], b[1], rtol=1e-4, atol=1e-5)
    for ga, gb in zip(a[2] + a[3] + a[4], b[2] + b[3] + b[4]):
        torch.testing.assert_close(ga, gb, rtol=1e-3, atol=1e-5)
    assert any(g.abs().sum() > 0 for g in a[3]) and any(g.abs().sum() > 0 for g in a[4])
