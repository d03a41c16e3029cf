"""The StyleGAN (v1) recipe: non-saturating logistic loss with R1 (gamma 10) at every D step,
style mixing 0.9, Adam(0.001, betas 0, 0.99), G EMA with a 10 kimg half-life.

The networks train at their final resolution (no progressive growing). Sampling, truncation,
style mixing and checkpoints work as for StyleGAN2 (`StyleGAN2Recipe`).
"""

import dataclasses

import torch
from torch.nn import functional as F

from fastgan.models.stylegan import Discriminator, Generator
from fastgan.nn.style import check_noise_mode
from fastgan.training.recipes.stylegan2 import OPS_BACKENDS, StyleGAN2Recipe


@dataclasses.dataclass(frozen=True)
class StyleGANOptions:
    """StyleGAN settings; the defaults are the paper's (channels min(16384 / r, 512))."""

    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995
    channel_base: int = 16384
    channel_max: int = 512
    mbstd_group_size: int = 4
    condition: str = "none"  # none | class
    lr_g: float = 0.001
    lr_d: float = 0.001
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float = 10.0
    style_mixing: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float = 0.0  # 0: no ramp-up
    sample_noise: str = "const"
    ops: str = "auto"

    def __post_init__(self) -> None:
        if self.condition not in ("none", "class"):
            raise ValueError(f"condition must be none or class, got {self.condition!r}")
        if self.ops not in OPS_BACKENDS:
            raise ValueError(f"ops must be one of {OPS_BACKENDS}, got {self.ops!r}")
        check_noise_mode(self.sample_noise)
        for name in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                     "mbstd_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("r1_gamma", "ema_kimg", "ema_rampup"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.style_mixing <= 1.0:
            raise ValueError(f"style_mixing must be in [0, 1], got {self.style_mixing}")


class StyleGANRecipe(StyleGAN2Recipe):
    """StyleGAN v1: one G step and one D step (logistic loss + R1) per batch."""

    Options = StyleGANOptions
    config_defaults = {"resolution": 32}

    def _build(self, options, resolution: int, channels: int) -> None:
        o = options

        def generator() -> Generator:
            return Generator(
                z_dim=o.z_dim, w_dim=o.w_dim, resolution=resolution, img_channels=channels,
                num_classes=self.num_classes, mapping_layers=o.mapping_layers,
                mapping_lr_multiplier=o.mapping_lr_multiplier, w_avg_beta=o.w_avg_beta,
                channel_base=o.channel_base, channel_max=o.channel_max,
            ).to(self.device)

        self.G = generator()
        self.D = Discriminator(
            resolution=resolution, img_channels=channels, num_classes=self.num_classes,
            channel_base=o.channel_base, channel_max=o.channel_max,
            mbstd_group_size=o.mbstd_group_size,
        ).to(self.device)
        self.G_ema = generator().eval().requires_grad_(False)
        self.G_ema.load_state_dict(self.G.state_dict())
        betas = (o.beta1, o.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=o.lr_g, betas=betas, eps=1e-8)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=o.lr_d, betas=betas, eps=1e-8)

    def _step(self, x, c, N):
        o = self.options

        # G: the non-saturating loss through D, whose weights stay fixed.
        self.D.requires_grad_(False)
        fake, _ = self.run_G(self._z(N), c)
        loss_g = F.softplus(-self.D(fake, c)).mean()
        self._optimize(self.G, self.opt_G, loss_g)
        self.D.requires_grad_(True)

        # D: generated images down, real images up, and R1 on the real ones, in one step.
        with torch.no_grad():
            fake, _ = self.run_G(self._z(N), c)
        fake_logits = self.D(fake, c)
        real = x.detach().requires_grad_(o.r1_gamma > 0)
        real_logits = self.D(real, c)
        loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        total = loss_d
        if o.r1_gamma > 0:
            (grads,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            penalty = grads.square().sum(dim=[1, 2, 3])
            self.latest["r1"] = float(penalty.detach().mean())
            total = loss_d + (penalty * (o.r1_gamma / 2)).mean()
        self._optimize(self.D, self.opt_D, total)

        return {
            "loss_G": loss_g.detach(),
            "loss_D": loss_d.detach(),
            "r1": torch.tensor(self.latest["r1"]),
            "D_real": torch.sigmoid(real_logits.detach()).mean(),
            "D_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }


__all__ = ["StyleGANOptions", "StyleGANRecipe"]
