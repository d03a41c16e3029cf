"""CoGAN recipe: two coupled GANs trained on unpaired batches of two domains.

Each batch of N real images is split in halves: the first half is domain 1, the second half
passed through the fixed transform is domain 2, so no image is seen in both domains. The loss
of each GAN is the non-saturating BCE loss of DCGAN; the coupled loss is their sum.
"""

import dataclasses

import torch

from fastgan.models.cogan import TRANSFORMS, CoupledDiscriminator, CoupledGenerator
from fastgan.models.cogan import domain_transform
from fastgan.training.recipe import GDRecipe
from fastgan.training.recipes.dcgan import bce_d_loss, bce_g_loss


@dataclasses.dataclass(frozen=True)
class CoGANOptions:
    """CoGAN settings: the paper's Adam (2e-4, betas 0.5, 0.999) on DCGAN-style nets."""

    z_dim: int = 100
    g_base: int = 64
    d_base: int = 64
    max_channels: int = 512
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.0
    transform: str = "negative"  # negative | edges: how domain 2 is made from domain 1

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


class CoGANRecipe(GDRecipe):
    """One coupled D step and one coupled G step per batch."""

    Options = CoGANOptions

    def __init__(self, options, *, resolution, channels, num_classes, device, seed) -> None:
        super().__init__(
            options, resolution=resolution, channels=channels, num_classes=num_classes,
            device=device, seed=seed,
        )
        o = options
        self.pair_transform = o.transform
        torch.manual_seed(seed)  # the weight initialisation
        self.G = CoupledGenerator(
            z_dim=o.z_dim, resolution=resolution, channels=channels, base=o.g_base,
            max_channels=o.max_channels,
        ).to(self.device)
        self.D = CoupledDiscriminator(
            resolution=resolution, channels=channels, base=o.d_base, max_channels=o.max_channels
        ).to(self.device)
        self._setup_optimizers(o)

    def step(self, x, c):
        if len(x) < 2:
            raise ValueError(f"CoGAN needs a batch of >= 2 images (two domains), got {len(x)}")
        half = len(x) // 2
        x1, x2 = x[:half], domain_transform(self.options.transform, x[half : 2 * half])
        z = torch.randn(half, self.z_dim, device=self.device, generator=self.rng)

        # D step on both domains at once.
        f1, f2 = self.G(z)
        r1, r2 = self.D(x1, x2)
        g1, g2 = self.D(f1.detach(), f2.detach())
        loss_d = bce_d_loss(r1, g1) + bce_d_loss(r2, g2)
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_D.step()

        # G step through the updated, frozen D.
        self.D.requires_grad_(False)
        g1_new, g2_new = self.D(f1, f2)
        loss_g = bce_g_loss(g1_new) + bce_g_loss(g2_new)
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        self.D.requires_grad_(True)
        if self.ema is not None:
            self.ema.update()

        return {
            "loss_D": loss_d.detach(),
            "loss_G": loss_g.detach(),
            "D_real": torch.sigmoid(torch.cat([r1, r2]).detach()).mean(),
            "D_fake": torch.sigmoid(torch.cat([g1, g2]).detach()).mean(),
        }

    @torch.no_grad()
    def sample_pairs(self, z):
        net = self.ema.module if self.ema is not None else self.G
        was_training = net.training
        net.eval()
        x1, x2 = net(z)
        net.train(was_training)
        return x1, x2

    def sample(self, z, c=None):
        """Images of domain 1 (labels are not used)."""
        if c is not None:
            raise ValueError("c must be None for CoGAN, which is unconditional")
        return self.sample_pairs(z)[0]
