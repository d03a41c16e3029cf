"""DCGAN and conditional-GAN recipes: non-saturating BCE loss, Adam(2e-4, betas 0.5, 0.999).

The conditional GAN gives the label to G (an embedding joined to z) and to D (projection).
Its condition is either the dataset's class, or, as the CoGAN paper's baseline, a domain:
half of each batch is passed through a fixed transform and labelled domain 1, and a pair is
two images from one z with domain labels 0 and 1.
"""

import dataclasses

import torch
from torch.nn import functional as F

from fastgan.models.cogan import TRANSFORMS, domain_transform
from fastgan.models.dcgan import Discriminator, Generator
from fastgan.training.recipe import GDRecipe


@dataclasses.dataclass(frozen=True)
class DCGANOptions:
    """DCGAN settings; the defaults are the paper's (z 100, Adam 2e-4, betas 0.5, 0.999)."""

    z_dim: int = 100
    g_base: int = 64  # channels of G's largest feature map (doubling per halving of size)
    d_base: int = 64  # channels of D's largest feature map
    max_channels: int = 512
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema_decay: float = 0.0  # 0: no EMA copy of G
    condition: str = "none"  # none | class | domain
    embed_dim: int = 50  # size of G's label embedding (conditional only)
    transform: str = "negative"  # second domain (condition == "domain" only)

    def __post_init__(self) -> None:
        if self.condition not in ("none", "class", "domain"):
            raise ValueError(f"condition must be none, class or domain, got {self.condition!r}")
        if self.condition == "domain" and self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")


@dataclasses.dataclass(frozen=True)
class CGANOptions(DCGANOptions):
    """The conditional GAN: DCGAN with `condition` defaulting to the class label."""

    condition: str = "class"


def bce_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(real) - log(1 - sigmoid(fake)), averaged; logits [N]."""
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def bce_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss -log sigmoid(fake), averaged; logits [N]."""
    return F.softplus(-fake).mean()


class DCGANRecipe(GDRecipe):
    """One D step and one G step per batch, on the same generated images."""

    Options = DCGANOptions

    def __init__(self, options, *, resolution, channels, num_classes, device, seed) -> None:
        super().__init__(
            options, resolution=resolution, channels=channels, num_classes=num_classes,
            device=device, seed=seed,
        )
        o = options
        if o.condition == "class":
            if num_classes < 2:
                raise ValueError(f"a class-conditional GAN needs >= 2 classes, got {num_classes}")
            self.num_classes, self.class_conditional = num_classes, True
        elif o.condition == "domain":
            self.num_classes, self.pair_transform = 2, o.transform
        torch.manual_seed(seed)  # the weight initialisation
        self.G = Generator(
            z_dim=o.z_dim, resolution=resolution, channels=channels, base=o.g_base,
            max_channels=o.max_channels, num_classes=self.num_classes, embed_dim=o.embed_dim,
        ).to(self.device)
        self.D = Discriminator(
            resolution=resolution, channels=channels, base=o.d_base,
            max_channels=o.max_channels, num_classes=self.num_classes,
        ).to(self.device)
        self._setup_optimizers(o)

    def _labels(self, x: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch and labels the nets see: class labels, none, or domains 0/1 by halves."""
        if self.options.condition == "domain":
            half = len(x) // 2
            x = torch.cat([x[:half], domain_transform(self.options.transform, x[half:])])
            c = (torch.arange(len(x), device=x.device) >= half).long()
            return x, c
        return x, c

    def step(self, x, c):
        x, c = self._labels(x, c)
        c = c if self.num_classes else None
        z = torch.randn(len(x), self.z_dim, device=self.device, generator=self.rng)

        # D step: real images up, generated images down (same labels as the real batch).
        fake = self.G(z, c)
        real_logits = self.D(x, c)
        fake_logits = self.D(fake.detach(), c)
        loss_d = bce_d_loss(real_logits, fake_logits)
        self.opt_D.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_D.step()

        # G step: the non-saturating loss through the updated D, whose weights stay fixed.
        self.D.requires_grad_(False)
        loss_g = bce_g_loss(self.D(fake, c))
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        self.D.requires_grad_(True)
        if self.ema is not None:
            self.ema.update()

        return {
            "loss_D": loss_d.detach(),
            "loss_G": loss_g.detach(),
            "D_real": torch.sigmoid(real_logits.detach()).mean(),
            "D_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }

    @torch.no_grad()
    def sample(self, z, c=None):
        if self.num_classes and c is None:
            raise ValueError(f"c must be given for a model with {self.num_classes} classes")
        net = self.ema.module if self.ema is not None else self.G
        was_training = net.training
        net.eval()
        x = net(z, c if self.num_classes else None)
        net.train(was_training)
        return x

    def sample_pairs(self, z):
        if self.pair_transform is None:
            return super().sample_pairs(z)
        zeros = torch.zeros(len(z), dtype=torch.long, device=z.device)
        return self.sample(z, zeros), self.sample(z, zeros + 1)


class CGANRecipe(DCGANRecipe):
    """The conditional GAN; `condition: domain` makes it the CoGAN baseline."""

    Options = CGANOptions
