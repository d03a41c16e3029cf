import pytest
import torch
from torch import nn
from torch.nn import functional as F

from fastgan.models.cyclegan import (
    ConvBiasAct,
    PatchDiscriminator,
    ResnetGenerator,
    default_blocks,
)

TINY_G = {"ngf": 4, "n_blocks": 1}


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a CPU shared with other work, tiny nets run far faster."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.mark.parametrize("size", [(32, 32), (28, 28), (31, 17), (5, 7), (1, 3), (255, 255)])
@pytest.mark.parametrize("channels", [(1, 1), (1, 3), (3, 1)])
def test_generator_keeps_any_size(size, channels):
    g = ResnetGenerator(in_channels=channels[0], out_channels=channels[1], **TINY_G)
    x = torch.rand(2, channels[0], *size) * 2 - 1
    y = g(x)
    assert y.shape == (2, channels[1], *size)
    assert y.abs().max() <= 1


def test_generator_pads_to_the_stride_and_crops_back():
    # 30 x 21 is padded (edge replication) to 32 x 24, 1 + 1 rows and 1 + 2 columns.
    g = ResnetGenerator(in_channels=1, out_channels=1, **TINY_G).double()
    x = torch.randn(1, 1, 30, 21, dtype=torch.float64)
    padded = F.pad(x, (1, 2, 1, 1), mode="replicate")
    expected = g.to_image(g.body(padded))[:, :, 1:31, 1:22]
    torch.testing.assert_close(g(x), expected, rtol=0, atol=0)

    # A multiple of 4 (and >= 8) is not padded: the network sees the image as it is.
    x = torch.randn(1, 1, 12, 16, dtype=torch.float64)
    torch.testing.assert_close(g(x), g.to_image(g.body(x)), rtol=0, atol=0)


def test_generator_layout_norms_and_dropout():
    g = ResnetGenerator(in_channels=3, out_channels=3, ngf=8, n_blocks=6)
    norms = [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 3 + 2 * 6 + 2  # stem + 2 down, 2 per block, 2 up
    assert all(not m.affine and not m.track_running_stats for m in norms)
    assert not [m for m in g.modules() if isinstance(m, nn.Dropout)]
    assert [m.out_channels for m in g.modules() if isinstance(m, nn.ConvTranspose2d)] == [16, 8]
    assert g.body[0].padding == (3, 3, 3, 3)  # reflection-padded 7x7 stem
    assert isinstance(g.body[0], nn.ReflectionPad2d) and g.body[1].kernel_size == (7, 7)

    g = ResnetGenerator(in_channels=3, out_channels=3, ngf=8, n_blocks=2, norm="batch",
                        dropout=0.5)
    assert len([m for m in g.modules() if isinstance(m, nn.Dropout)]) == 2
    assert not [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert all(m.affine for m in g.modules() if isinstance(m, nn.BatchNorm2d))
    assert (default_blocks(32), default_blocks(128), default_blocks(256)) == (6, 6, 9)


def test_normal_init():
    torch.manual_seed(0)
    g = ResnetGenerator(in_channels=3, out_channels=3, ngf=64, n_blocks=1, norm="batch")
    weights = torch.cat([m.weight.detach().flatten() for m in g.modules()
                         if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(float(weights.mean())) < 1e-3 and abs(float(weights.std()) - 0.02) < 1e-3
    scales = torch.cat([m.weight.detach() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(float(scales.mean()) - 1) < 0.01 and abs(float(scales.std()) - 0.02) < 0.01
    assert float(g.to_image.bias.detach().abs().max()) == 0


@pytest.mark.parametrize("n_layers, size, out", [
    (3, (32, 32), (2, 2)), (3, (70, 70), (6, 6)), (3, (33, 45), (2, 3)),
    (3, (256, 256), (30, 30)), (2, (16, 16), (2, 2)), (1, (7, 9), (1, 2)),
])
def test_discriminator_shapes(n_layers, size, out):
    d = PatchDiscriminator(channels=3, ndf=4, n_layers=n_layers)
    assert d(torch.randn(2, 3, *size)).shape == (2, 1, *out)


def test_discriminator_refuses_too_small_inputs():
    d = PatchDiscriminator(channels=1, ndf=4, n_layers=3)
    with pytest.raises(ValueError, match=r"at least 24 x 24 for n_layers=3, got \(23, 40\)"):
        d(torch.randn(1, 1, 23, 40))
    with pytest.raises(ValueError, match=r"x must be \[N, 1, H, W\], got \(1, 3, 32, 32\)"):
        d(torch.randn(1, 3, 32, 32))


@pytest.mark.parametrize("n_layers, field", [(2, 34), (3, 70)])
def test_each_patch_logit_sees_its_receptive_field(n_layers, field):
    # Batch norm in eval mode is per-pixel, so the gradient of one logit shows what it sees.
    d = PatchDiscriminator(channels=1, ndf=4, n_layers=n_layers, norm="batch").double().eval()
    x = torch.randn(1, 1, 160, 160, dtype=torch.float64, requires_grad=True)
    y = d(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert int(rows.max() - rows.min()) + 1 == field
    assert int(cols.max() - cols.min()) + 1 == field


def test_first_discriminator_layer_is_a_fused_conv_lrelu():
    d = PatchDiscriminator(channels=1, ndf=4, n_layers=3)
    first = d.body[0]
    assert isinstance(first, ConvBiasAct) and first.act == "lrelu" and first.alpha == 0.2
    assert not [m for m in d.modules() if isinstance(m, nn.InstanceNorm2d)][0].affine


@pytest.mark.parametrize("act, alpha, reference", [
    ("tanh", None, torch.tanh),
    ("lrelu", 0.2, lambda v: F.leaky_relu(v, 0.2)),
])
@pytest.mark.parametrize("reflect", [False, True])
def test_conv_bias_act_matches_conv_then_activation(act, alpha, reference, reflect):
    layer = ConvBiasAct(3, 5, kernel=3, stride=2, padding=1, reflect=reflect, act=act,
                        alpha=alpha).double()
    nn.init.normal_(layer.bias)
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect") if reflect else F.pad(x, (1, 1, 1, 1))
    expected = reference(F.conv2d(padded, layer.conv.weight, layer.bias, stride=2))
    torch.testing.assert_close(layer(x), expected)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="norm must be one of"):
        ResnetGenerator(in_channels=1, out_channels=1, norm="layer")
    with pytest.raises(ValueError, match="dropout must be in"):
        ResnetGenerator(in_channels=1, out_channels=1, dropout=1.0)
    with pytest.raises(ValueError, match="in_channels must be an int >= 1, got 0"):
        ResnetGenerator(in_channels=0, out_channels=1)
    with pytest.raises(ValueError, match="n_layers must be an int >= 1, got 0"):
        PatchDiscriminator(channels=1, n_layers=0)
    g = ResnetGenerator(in_channels=3, out_channels=1, **TINY_G)
    with pytest.raises(ValueError, match=r"x must be \[N, 3, H, W\], got \(1, 1, 8, 8\)"):
        g(torch.zeros(1, 1, 8, 8))
