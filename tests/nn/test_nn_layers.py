import math

import pytest
import torch

from fastgan.nn import (
    Conv2d,
    FullyConnected,
    MappingNetwork,
    MinibatchStd,
    mbstd_group_size,
    normalize_2nd_moment,
)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny nets: on a shared 2-core CPU one thread is several times faster than two.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def test_fully_connected_is_equalized():
    # Weights stored as N(0, 1) / lr_mul, scaled by lr_mul / sqrt(I): outputs of unit-variance
    # inputs have about unit variance whatever the multiplier.
    torch.manual_seed(0)
    for lr_mul in (1.0, 0.01):
        fc = FullyConnected(256, 256, lr_multiplier=lr_mul)
        assert fc.weight.std().item() == pytest.approx(1 / lr_mul, rel=0.05)
        y = fc(torch.randn(512, 256))
        assert y.std().item() == pytest.approx(1.0, rel=0.1)


def test_fully_connected_matches_formula():
    fc = FullyConnected(5, 3, bias_init=1.0, lr_multiplier=0.1, activation="lrelu")
    x = torch.randn(4, 5, dtype=torch.float64)
    fc = fc.double()
    pre = x @ (fc.weight * 0.1 / math.sqrt(5)).t() + fc.bias * 0.1
    expected = torch.nn.functional.leaky_relu(pre, 0.2) * math.sqrt(2)
    torch.testing.assert_close(fc(x), expected)
    torch.testing.assert_close(fc.bias * 0.1, torch.ones(3, dtype=torch.float64))


def test_conv2d_shapes_and_formula():
    conv = Conv2d(3, 4, 3, activation="lrelu").double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    w = conv.weight / math.sqrt(3 * 9)
    pre = torch.nn.functional.conv2d(x, w, conv.bias, padding=1)
    torch.testing.assert_close(conv(x), torch.nn.functional.leaky_relu(pre, 0.2) * math.sqrt(2))
    assert Conv2d(3, 4, 3, up=2)(x.float()).shape == (2, 4, 16, 16)
    assert Conv2d(3, 4, 3, down=2)(x.float()).shape == (2, 4, 4, 4)
    y = Conv2d(3, 4, 3, activation="lrelu", conv_clamp=0.5)(x.float() * 100)
    assert y.abs().max() <= 0.5


@pytest.mark.parametrize("batch, expected", [(1, 1), (2, 2), (4, 4), (5, 5), (6, 3), (8, 4),
                                             (10, 5), (7, 7), (9, 3)])
def test_mbstd_group_size_is_a_divisor(batch, expected):
    assert mbstd_group_size(batch, 4) == expected
    assert batch % mbstd_group_size(batch, 4) == 0


@pytest.mark.parametrize("batch", [1, 5, 6, 10])
def test_minibatch_std_odd_batches(batch):
    x = torch.randn(batch, 6, 4, 4, dtype=torch.float64)
    y = MinibatchStd(group_size=4, num_channels=2)(x)
    assert y.shape == (batch, 8, 4, 4)
    torch.testing.assert_close(y[:, :6], x)

    # Sample n is in group n mod (N / G); the feature is the mean std over its members.
    G = mbstd_group_size(batch, 4)
    M = batch // G
    for n in range(batch):
        members = x[n % M::M]
        for f in range(2):
            part = members[:, 3 * f:3 * f + 3]
            std = ((part - part.mean(0)).square().mean(0) + 1e-8).sqrt().mean()
            torch.testing.assert_close(y[n, 6 + f], std.expand(4, 4))


def test_normalize_2nd_moment():
    x = torch.randn(3, 7) * 5
    y = normalize_2nd_moment(x)
    torch.testing.assert_close(y.square().mean(1), torch.ones(3), rtol=1e-5, atol=1e-5)


def test_mapping_truncation_psi_one_is_identity_and_psi_zero_is_w_avg():
    torch.manual_seed(0)
    m = MappingNetwork(z_dim=8, w_dim=8, num_ws=6, num_layers=2)
    z = torch.randn(5, 8)
    m.train()
    m(z)  # moves w_avg away from zero
    m(torch.randn(5, 8))
    m.eval()
    w_avg = m.w_avg.clone()
    assert w_avg.abs().sum() > 0
    ws = m(z)
    torch.testing.assert_close(m(z, psi=1.0), ws)
    torch.testing.assert_close(m.w_avg, w_avg)  # eval mode: not updated
    w0 = m(z, psi=0.0, cutoff=4)
    torch.testing.assert_close(w0[:, :4], w_avg.expand(5, 4, 8))
    torch.testing.assert_close(w0[:, 4:], ws[:, 4:])
    half = m(z, psi=0.5)
    torch.testing.assert_close(half, (ws + w_avg) / 2)


def test_mapping_w_avg_update():
    m = MappingNetwork(z_dim=4, w_dim=4, num_ws=2, num_layers=1, w_avg_beta=0.9).train()
    z = torch.randn(3, 4)
    w = m(z)[:, 0].mean(0)
    torch.testing.assert_close(m.w_avg, 0.1 * w)
    m(z, update_w_avg=False)
    torch.testing.assert_close(m.w_avg, 0.1 * w)


def test_mapping_labels():
    m = MappingNetwork(z_dim=4, w_dim=6, num_ws=3, num_classes=5)
    w = m(torch.randn(2, 4), torch.tensor([0, 4]))
    assert w.shape == (2, 3, 6)
    with pytest.raises(ValueError, match="c must be"):
        m(torch.randn(2, 4))
    with pytest.raises(ValueError, match="c must be None"):
        MappingNetwork(z_dim=4, w_dim=6, num_ws=3)(torch.randn(2, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="z must be"):
        m(torch.randn(2, 5), torch.tensor([0, 1]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        FullyConnected(2, 2, activation="gelu")
    with pytest.raises(ValueError, match="kernel_size"):
        Conv2d(2, 2, 0)
    with pytest.raises(ValueError, match="num_channels"):
        MinibatchStd(num_channels=4)(torch.randn(2, 6, 4, 4))
