import pytest
import torch

from fastgan.models.cogan import (
    CoupledDiscriminator,
    CoupledGenerator,
    domain_transform,
    pair_agreement,
)
from fastgan.models.dcgan import Discriminator, Generator, stage_channels, stage_plan


@pytest.mark.parametrize(
    "resolution, plan", [(28, (7, 2)), (32, (4, 3)), (48, (6, 3)), (64, (4, 4)), (128, (4, 5))]
)
def test_stage_plan(resolution, plan):
    assert stage_plan(resolution) == plan


@pytest.mark.parametrize("resolution", [3, 7, 9, 30, 100])
def test_stage_plan_rejects(resolution):
    with pytest.raises(ValueError, match=f"got {resolution}"):
        stage_plan(resolution)


def test_stage_channels_double_per_halving_up_to_the_cap():
    assert stage_channels(4, 16, 64) == [64, 64, 32, 16]


@pytest.mark.parametrize("resolution, channels", [(16, 1), (28, 1), (32, 3), (64, 4)])
@pytest.mark.parametrize("num_classes", [0, 5])
def test_generator_and_discriminator_shapes(resolution, channels, num_classes):
    G = Generator(z_dim=8, resolution=resolution, channels=channels, base=4, max_channels=32,
                  num_classes=num_classes, embed_dim=3)
    D = Discriminator(resolution=resolution, channels=channels, base=4, max_channels=32,
                      num_classes=num_classes)
    z = torch.randn(3, 8)
    c = torch.tensor([0, 4, 2]) if num_classes else None
    x = G(z, c)
    assert x.shape == (3, channels, resolution, resolution)
    assert x.abs().max() <= 1
    assert D(x, c).shape == (3,)


def test_number_of_blocks_follows_the_resolution():
    for resolution, blocks in ((28, 1), (32, 2), (64, 3), (128, 4)):
        G = Generator(z_dim=4, resolution=resolution, channels=1, base=2)
        D = Discriminator(resolution=resolution, channels=1, base=2)
        assert len(G.body.blocks) == blocks and len(D.body.blocks) == blocks


def test_label_checks():
    G = Generator(z_dim=4, resolution=16, channels=1, base=2, num_classes=3, embed_dim=2)
    with pytest.raises(ValueError, match="label tensor"):
        G(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"int64 of shape \(2,\)"):
        G(torch.randn(2, 4), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="must be None"):
        Generator(z_dim=4, resolution=16, channels=1, base=2)(torch.randn(2, 4), torch.zeros(2))


@pytest.mark.parametrize("resolution, channels", [(28, 1), (32, 3)])
def test_cogan_shapes_and_sharing(resolution, channels):
    G = CoupledGenerator(z_dim=8, resolution=resolution, channels=channels, base=4)
    D = CoupledDiscriminator(resolution=resolution, channels=channels, base=4)
    x1, x2 = G(torch.randn(5, 8))
    assert x1.shape == x2.shape == (5, channels, resolution, resolution)
    l1, l2 = D(x1, x2[:3])
    assert l1.shape == (5,) and l2.shape == (3,)

    # The second domain's loss reaches the shared layers but not the first domain's head
    # (in eval mode: in training, batch norm over both domains links them on purpose).
    D.eval()
    G.eval()
    x1, x2 = G(torch.randn(5, 8))
    D(x1.detach(), x2)[1].sum().backward()
    assert D.body.out.weight.grad.abs().sum() > 0
    assert not D.from_image[0].conv.weight.grad.any()
    assert G.body.stem.weight.grad.abs().sum() > 0
    assert G.to_image[0].conv.weight.grad is None


def test_domain_transforms():
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    assert torch.equal(domain_transform("negative", domain_transform("negative", x)), x)

    # Edges: nothing in a flat image, a bright band along a step.
    flat = torch.full((1, 1, 8, 8), 0.3)
    assert torch.equal(domain_transform("edges", flat), torch.full_like(flat, -1))
    step = -torch.ones(1, 1, 8, 8)
    step[..., 4:] = 1
    edges = domain_transform("edges", step)
    assert torch.equal(edges[0, 0, 0], torch.tensor([-1.0, -1, -1, 1, 1, -1, -1, -1]))
    with pytest.raises(ValueError, match="transform must be one of"):
        domain_transform("blur", x)


def test_pair_agreement():
    x = torch.rand(4, 1, 8, 8) * 2 - 1 + 0.01  # no exact zeros
    assert pair_agreement(x, -x, "negative") == 1.0
    assert pair_agreement(x, x, "negative") == 0.0
    half = -x.clone()
    half[:, :, :4] = x[:, :, :4]
    assert pair_agreement(x, half, "negative") == pytest.approx(0.5)
