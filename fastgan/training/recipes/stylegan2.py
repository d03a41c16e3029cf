"""The StyleGAN2 recipe: the loss and schedule of StyleGAN2-ADA.

Per batch, in this order (each phase its own optimizer step):
  Gmain  non-saturating logistic loss softplus(-D(G(z))), with style mixing;
  Greg   every `pl_interval` batches: path-length regularization on N / pl_batch_shrink
         samples, weight pl_weight, running mean with decay pl_decay, loss scaled by the interval;
  Dmain  softplus(D(G(z))) + softplus(-D(x));
  Dreg   every `r1_interval` batches: R1 = gamma / 2 * |grad_x D(x)|^2, scaled by the interval.
Adam with betas (0, 0.99); the optimizers of lazily regularized nets use lr * k / (k + 1) and
betas ** (k / (k + 1)) for interval k. Non-finite gradients are zeroed before each step. G_ema
follows G with a half-life of ema_kimg thousand images, ramped up as ema_rampup * images seen.
R1 and path length differentiate through the fused ops twice, with their own second-order
gradients. `ops: reference` runs every fused op as its plain-PyTorch reference instead.
"""

import contextlib
import dataclasses
import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from fastgan import ops
from fastgan.models.stylegan2 import ARCHITECTURES, Discriminator, Generator
from fastgan.nn.style import check_noise_mode
from fastgan.training.recipe import Recipe

OPS_BACKENDS = ("auto", "native", "reference")


@dataclasses.dataclass(frozen=True)
class StyleGAN2Options:
    """StyleGAN2 settings; the defaults are StyleGAN2-ADA's (config F networks at 32768/512)."""

    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    w_avg_beta: float = 0.995
    channel_base: int = 32768  # channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 512
    g_architecture: str = "skip"
    d_architecture: str = "resnet"
    conv_clamp: float = 256.0  # 0: no clamping
    num_fp16_res: int = 0  # highest resolutions in float16 (CUDA only)
    mbstd_group_size: int = 4
    mbstd_channels: int = 1
    condition: str = "none"  # none | class (label embedding in G, projection in D)
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float = 10.0
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float = 0.05  # 0: no ramp-up
    sample_noise: str = "const"  # noise mode of sample grids and `sample`
    # The backend of the fused ops: native | reference, or auto (whatever `fastgan.ops.use`
    # block is in force, e.g. `fastgan train --ops`; else native where it was built).
    ops: str = "auto"

    def __post_init__(self) -> None:
        for name in ("g_architecture", "d_architecture"):
            if getattr(self, name) not in ARCHITECTURES:
                raise ValueError(f"{name} must be one of {ARCHITECTURES}, got "
                                 f"{getattr(self, name)!r}")
        if self.condition not in ("none", "class"):
            raise ValueError(f"condition must be none or class, got {self.condition!r}")
        if self.ops not in OPS_BACKENDS:
            raise ValueError(f"ops must be one of {OPS_BACKENDS}, got {self.ops!r}")
        check_noise_mode(self.sample_noise)
        for name in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max",
                     "r1_interval", "pl_interval", "pl_batch_shrink", "mbstd_group_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("r1_gamma", "pl_weight", "ema_kimg", "ema_rampup", "conv_clamp",
                     "num_fp16_res", "mbstd_channels"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 <= self.style_mixing <= 1.0:
            raise ValueError(f"style_mixing must be in [0, 1], got {self.style_mixing}")


def zero_nonfinite_grads(module: nn.Module) -> None:
    """Replace NaN and +-inf entries of every gradient of `module` by 0, in place."""
    for p in module.parameters():
        if p.grad is not None:
            torch.nan_to_num(p.grad, nan=0.0, posinf=0.0, neginf=0.0, out=p.grad)


def lazy_adam(params, lr: float, betas: tuple[float, float], interval: int
              ) -> torch.optim.Adam:
    """Adam for a net regularized every `interval` steps: lr and betas rescaled by k / (k + 1)."""
    ratio = interval / (interval + 1)
    return torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio),
                            eps=1e-8)


class StyleGAN2Recipe(Recipe):
    """StyleGAN2 with lazy R1 and path-length regularization, style mixing and G EMA."""

    Options = StyleGAN2Options
    config_defaults = {"resolution": 32}  # a power of two (Fashion-MNIST is padded)

    def __init__(self, options, *, resolution, channels, num_classes, device, seed) -> None:
        super().__init__(
            options, resolution=resolution, channels=channels, num_classes=num_classes,
            device=device, seed=seed,
        )
        o = options
        if o.condition == "class":
            if num_classes < 2:
                raise ValueError(f"condition 'class' needs >= 2 classes, got {num_classes}")
            self.num_classes, self.class_conditional = num_classes, True
        torch.manual_seed(seed)  # the weight initialisation
        self._build(o, resolution, channels)
        self.pl_mean = torch.zeros([], device=self.device)
        self.batches = 0  # batches trained so far (the lazy schedule's clock)
        self.images = 0  # real images seen so far (the EMA ramp-up's clock)
        self.latest = {"r1": 0.0, "pl": 0.0}  # the last value of each lazy penalty

    def _build(self, options, resolution: int, channels: int) -> None:
        """G, D, G_ema and the two optimizers."""
        o = options
        clamp = o.conv_clamp or None

        def generator() -> Generator:
            return Generator(
                z_dim=o.z_dim, w_dim=o.w_dim, resolution=resolution, img_channels=channels,
                num_classes=self.num_classes, mapping_layers=o.mapping_layers,
                mapping_lr_multiplier=o.mapping_lr_multiplier, w_avg_beta=o.w_avg_beta,
                channel_base=o.channel_base, channel_max=o.channel_max,
                architecture=o.g_architecture, num_fp16_res=o.num_fp16_res, conv_clamp=clamp,
            ).to(self.device)

        self.G = generator()
        self.D = Discriminator(
            resolution=resolution, img_channels=channels, num_classes=self.num_classes,
            channel_base=o.channel_base, channel_max=o.channel_max,
            architecture=o.d_architecture, num_fp16_res=o.num_fp16_res, conv_clamp=clamp,
            mbstd_group_size=o.mbstd_group_size, mbstd_channels=o.mbstd_channels,
        ).to(self.device)
        self.G_ema = generator().eval().requires_grad_(False)
        self.G_ema.load_state_dict(self.G.state_dict())
        betas = (o.beta1, o.beta2)
        self.opt_G = lazy_adam(self.G.parameters(), o.lr_g, betas, o.pl_interval)
        self.opt_D = lazy_adam(self.D.parameters(), o.lr_d, betas, o.r1_interval)

    def modules(self):
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema}

    def optimizers(self):
        return {"G": self.opt_G, "D": self.opt_D}

    def extra_state(self) -> dict[str, Any]:
        return {"pl_mean": float(self.pl_mean), "batches": self.batches, "images": self.images,
                "latest": dict(self.latest)}

    def load_extra_state(self, state) -> None:
        expected = {"pl_mean", "batches", "images", "latest"}
        if set(state) != expected:
            raise ValueError(f"StyleGAN2 extra state must have keys {sorted(expected)}, got "
                             f"{sorted(state)}")
        self.pl_mean = torch.tensor(float(state["pl_mean"]), device=self.device)
        self.batches, self.images = int(state["batches"]), int(state["images"])
        self.latest = {k: float(v) for k, v in state["latest"].items()}

    # The generator as the loss runs it: fresh noise, style mixing.
    def _z(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.z_dim, device=self.device, generator=self.rng)

    def _fake_labels(self, c: torch.Tensor) -> torch.Tensor | None:
        return c if self.num_classes else None

    def ops_backend(self) -> contextlib.AbstractContextManager:
        """The `ops` option in force (nothing to change for "auto")."""
        if self.options.ops == "auto":
            return contextlib.nullcontext()
        return ops.use(self.options.ops)

    def run_G(self, z: torch.Tensor, c: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """(images [N, C, R, R], ws [N, L, W]) with style mixing: with probability
        style_mixing, the layers from a random crossover k in 1..L-1 take a second z's w."""
        ws = self.G.mapping(z, c)
        if self.options.style_mixing > 0:
            L = ws.shape[1]
            k = int(torch.randint(1, L, [], device=self.device, generator=self.rng))
            mix = float(torch.rand([], device=self.device, generator=self.rng))
            if mix < self.options.style_mixing:
                ws2 = self.G.mapping(self._z(len(z)), c, update_w_avg=False)
                ws = mix_styles(ws, ws2, k)
        return self.G.synthesis(ws), ws

    def step(self, x, c):
        o = self.options
        c = self._fake_labels(c)
        N = len(x)
        with self.ops_backend():
            losses = self._step(x, c, N)
        self.batches += 1
        self.images += N
        self._update_ema(N)
        return losses

    def _step(self, x, c, N):
        o = self.options
        do_pl = o.pl_weight > 0 and self.batches % o.pl_interval == 0
        do_r1 = o.r1_gamma > 0 and self.batches % o.r1_interval == 0

        # Gmain: the non-saturating loss through D, whose weights stay fixed.
        self.D.requires_grad_(False)
        fake, _ = self.run_G(self._z(N), c)
        loss_g = F.softplus(-self.D(fake, c)).mean()
        self._optimize(self.G, self.opt_G, loss_g)

        # Greg: path-length regularization on part of the batch.
        if do_pl:
            n = max(1, N // o.pl_batch_shrink)
            c_pl = None if c is None else c[:n]
            self._optimize(self.G, self.opt_G, self.path_length_loss(self._z(n), c_pl))
        self.D.requires_grad_(True)

        # Dmain: generated images down, real images up.
        with torch.no_grad():
            fake, _ = self.run_G(self._z(N), c)
        fake_logits, real_logits = self.D(fake, c), self.D(x, c)
        loss_d = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        self._optimize(self.D, self.opt_D, loss_d)

        # Dreg: R1 on the real batch.
        if do_r1:
            self._optimize(self.D, self.opt_D, self.r1_loss(x, c))

        return {
            "loss_G": loss_g.detach(),
            "loss_D": loss_d.detach(),
            "r1": torch.tensor(self.latest["r1"]),
            "pl": torch.tensor(self.latest["pl"]),
            "D_real": torch.sigmoid(real_logits.detach()).mean(),
            "D_fake": torch.sigmoid(fake_logits.detach()).mean(),
        }

    def path_length_loss(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """pl_weight * (|J_w^T y| - a)^2, averaged and scaled by pl_interval, where y is image
        noise / sqrt(H W) and a the running mean of the lengths (updated here)."""
        o = self.options
        img, ws = self.run_G(z, c)
        noise = torch.randn(img.shape, device=self.device, generator=self.rng) \
            / math.sqrt(img.shape[2] * img.shape[3])
        (grads,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grads.square().sum(dim=2).mean(dim=1).sqrt()  # [n]
        pl_mean = self.pl_mean.lerp(lengths.mean(), o.pl_decay)
        self.pl_mean = pl_mean.detach()
        penalty = (lengths - pl_mean).square()
        self.latest["pl"] = float(penalty.detach().mean())
        return (penalty * o.pl_weight).mean() * o.pl_interval

    def r1_loss(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        """gamma / 2 * |grad_x sum D(x)|^2, averaged and scaled by r1_interval."""
        o = self.options
        x = x.detach().requires_grad_(True)
        (grads,) = torch.autograd.grad(self.D(x, c).sum(), x, create_graph=True)
        penalty = grads.square().sum(dim=[1, 2, 3])
        self.latest["r1"] = float(penalty.detach().mean())
        return (penalty * (o.r1_gamma / 2)).mean() * o.r1_interval

    @staticmethod
    def _optimize(net: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        zero_nonfinite_grads(net)
        opt.step()

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        """G_ema = lerp(G, G_ema, beta), beta = 0.5 ** (batch / half-life in images)."""
        o = self.options
        half_life = o.ema_kimg * 1000
        if o.ema_rampup > 0:
            half_life = min(half_life, (self.images - batch) * o.ema_rampup)
        beta = 0.5 ** (batch / max(half_life, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # Sampling from G_ema.
    @torch.no_grad()
    def sample(self, z, c=None, *, psi: float = 1.0, cutoff: int | None = None,
               noise_mode: str | None = None):
        """Images [N, C, R, R] from G_ema; psi < 1 truncates towards the average w."""
        if self.num_classes and c is None:
            raise ValueError(f"c must be given for a model with {self.num_classes} classes")
        ws = self.mapping(z, c, psi=psi, cutoff=cutoff)
        return self.synthesize(ws, noise_mode)

    @torch.no_grad()
    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None, *, psi: float = 1.0,
                cutoff: int | None = None) -> torch.Tensor:
        """ws [N, L, W] of G_ema for z [N, Z] (labels c [N] for a conditional model)."""
        with self.ops_backend():
            return self.G_ema.mapping(z, c if self.num_classes else None, psi=psi,
                                      cutoff=cutoff)

    @torch.no_grad()
    def synthesize(self, ws: torch.Tensor, noise_mode: str | None = None) -> torch.Tensor:
        """Images [N, C, R, R] of G_ema for ws [N, L, W]."""
        with self.ops_backend():
            return self.G_ema.synthesis(ws, noise_mode or self.options.sample_noise)


def mix_styles(ws: torch.Tensor, ws2: torch.Tensor, k: int) -> torch.Tensor:
    """ws [N, L, W] with layers k.. taken from ws2 [N, L, W] (the style-mixing crossover)."""
    return torch.cat([ws[:, :k], ws2[:, k:]], dim=1)
