"""CycleGAN recipe: unpaired translation between domains A and B, the published recipe.

G_AB: A -> B and G_BA: B -> A, judged by D_B (real B vs G_AB(a)) and D_A (real A vs G_BA(b)).
Per step, on a batch of each domain:

1. G step (D frozen): LSGAN terms mean((D_B(G_AB(a)) - 1)^2) + mean((D_A(G_BA(b)) - 1)^2),
   cycle terms lambda_a * |G_BA(G_AB(a)) - a|_1 + lambda_b * |G_AB(G_BA(b)) - b|_1 and
   identity terms lambda_idt * (lambda_b * |G_AB(b) - b|_1 + lambda_a * |G_BA(a) - a|_1)
   (means over pixels); one Adam step on both generators.
2. D steps: each D's loss is 0.5 * (mean((D(real) - 1)^2) + mean(D(fake)^2)), the fake drawn
   through a 50-image history pool; one Adam step on both discriminators.

Adam(2e-4, betas 0.5, 0.999); the learning rate is constant for the first half of the run and
falls linearly to zero over the second half; batch 1.
"""

import dataclasses
import logging
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from fastgan.models.cyclegan import NORMS, PatchDiscriminator, ResnetGenerator, default_blocks
from fastgan.training.recipe import DataSource, Recipe, build_options

logger = logging.getLogger(__name__)

AUGMENTS = ("paper", "shift", "none")
DIRECTIONS = ("AtoB", "BtoA")
GRID_SEED = 12345  # the fixed real images of the sample grid


@dataclasses.dataclass(frozen=True)
class CycleGANOptions:
    """CycleGAN settings; the defaults are the paper's (ResNet G with 64 filters, 70 x 70
    PatchGAN, instance norm, lambdas 10, identity 0.5, pool 50, Adam 2e-4 (0.5, 0.999)).

    n_blocks: residual blocks of G; 0 picks 6 for resolutions up to 128 and 9 above.
    channels_a, channels_b: image channels of each domain (1, 3 or 4); 0 takes the run's.
    constant_steps, decay_steps: steps at the initial learning rate, then steps of linear
        decay to zero; both 0 splits the run's length (steps or kimg) in halves.
    augment: "paper" loads at 1.125 R (resized), crops R at random and flips; "shift" pads
        to 1.125 R instead of resizing (shifts only, no flip: small centered objects);
        "none" uses the images as they are.
    """

    ngf: int = 64
    ndf: int = 64
    n_blocks: int = 0
    n_layers: int = 3
    norm: str = "instance"
    dropout: float = 0.0
    channels_a: int = 0
    channels_b: int = 0
    lambda_a: float = 10.0
    lambda_b: float = 10.0
    lambda_idt: float = 0.5
    pool_size: int = 50
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    constant_steps: int = 0
    decay_steps: int = 0
    augment: str = "paper"

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}")
        for name in ("channels_a", "channels_b"):
            if getattr(self, name) not in (0, 1, 3, 4):
                raise ValueError(f"{name} must be 0 (the run's), 1, 3 or 4, got "
                                 f"{getattr(self, name)!r}")
        for name in ("ngf", "ndf", "n_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_blocks", "pool_size", "constant_steps", "decay_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lambda_a", "lambda_b", "lambda_idt", "lr"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.channels_a and self.channels_b:
            check_identity(self, self.channels_a, self.channels_b)


def check_identity(options: CycleGANOptions, channels_a: int, channels_b: int) -> None:
    """Refuse the identity loss when the domains' channel counts differ: G_AB(b) needs b to
    have A's channels, so |G_AB(b) - b| cannot be computed."""
    if options.lambda_idt > 0 and channels_a != channels_b:
        raise ValueError(
            f"lambda_idt must be 0 when the domains have different channel counts (A: "
            f"{channels_a}, B: {channels_b}): the identity loss |G_AB(b) - b| needs images of "
            f"the same channels on both sides; got lambda_idt={options.lambda_idt}"
        )


def domain_channels(options: CycleGANOptions, channels: int) -> tuple[int, int]:
    """(channels of A, channels of B) with 0 meaning the run's `channels`; checks identity."""
    channels_a = options.channels_a or channels
    channels_b = options.channels_b or channels
    check_identity(options, channels_a, channels_b)
    return channels_a, channels_b


def augment_transform(augment: str):
    """The TransformConfig of an `augment` option."""
    from fastgan.data import TransformConfig, default_transform

    if augment == "paper":
        return default_transform("cyclegan")
    if augment == "shift":
        return TransformConfig(fit="pad", jitter=0.125, random_crop=True)
    return TransformConfig()


def lsgan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The least-squares GAN loss mean((logits - t)^2), t = 1 for real and 0 for fake;
    logits [N, 1, h, w] of a PatchGAN (every patch counts)."""
    target = 1.0 if real else 0.0
    return F.mse_loss(logits, torch.full_like(logits, target))


def cycle_loss(x_rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The L1 reconstruction loss mean(|x_rec - x|); both [N, C, H, W]."""
    return F.l1_loss(x_rec, x)


def lr_factor(step: int, constant_steps: int, decay_steps: int) -> float:
    """The learning-rate multiplier of step `step` (0-based): 1 for the first
    `constant_steps` steps, then 1 - (step - constant_steps + 1) / (decay_steps + 1), reaching
    1 / (decay_steps + 1) at the last step and 0 after it."""
    if step < constant_steps:
        return 1.0
    return max(0.0, 1.0 - (step - constant_steps + 1) / (decay_steps + 1))


class ImagePool(nn.Module):
    """A history of up to `size` generated images [C, H, W] (Shrivastava et al. 2017).

    `query(x)` for each image of x: while the pool is filling, stores it and returns it;
    once full, with probability 1/2 returns a stored image chosen uniformly and stores the new
    one in its place, else returns the new image. The pool is a buffer (saved with the
    checkpoint); random draws come from the generator given to `query`.
    """

    def __init__(self, size: int, *, channels: int, resolution: int) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(size, channels, resolution, resolution))
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def query(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """x [N, C, H, W] (detached) -> [N, C, H, W], each image new or from the pool."""
        if self.size == 0:
            return x
        if x.shape[1:] != self.images.shape[1:]:
            expected = ", ".join(str(s) for s in self.images.shape[1:])
            raise ValueError(f"ImagePool: x must be [N, {expected}], got {tuple(x.shape)}")
        out = x.clone()
        for i in range(len(x)):
            n = int(self.count)
            if n < self.size:
                self.images[n] = x[i]
                self.count += 1
                continue
            coin, index = torch.rand((), generator=generator, device=generator.device), \
                torch.randint(self.size, (), generator=generator, device=generator.device)
            if coin < 0.5:
                out[i] = self.images[index]
                self.images[index] = x[i]
        return out

    def extra_repr(self) -> str:
        return f"size={self.size}, images={list(self.images.shape[1:])}"


class CycleGANRecipe(Recipe):
    """One G step (both generators) then one D step (both discriminators) per batch pair."""

    Options = CycleGANOptions
    config_defaults = {"dataset": "fashion-mnist:sneaker,ankle-boot", "resolution": 32,
                       "batch_size": 1, "grid_size": 48, "log_every": 100, "eval_n": 1000}

    def __init__(self, options, *, resolution, channels, num_classes, device, seed) -> None:
        super().__init__(
            options, resolution=resolution, channels=channels, num_classes=num_classes,
            device=device, seed=seed,
        )
        o = options
        self.channels_a, self.channels_b = domain_channels(o, channels)
        self.n_blocks = o.n_blocks or default_blocks(resolution)
        torch.manual_seed(seed)  # the weight initialisation
        g = dict(ngf=o.ngf, n_blocks=self.n_blocks, norm=o.norm, dropout=o.dropout)
        self.G_AB = ResnetGenerator(in_channels=self.channels_a, out_channels=self.channels_b,
                                    **g).to(self.device)
        self.G_BA = ResnetGenerator(in_channels=self.channels_b, out_channels=self.channels_a,
                                    **g).to(self.device)
        d = dict(ndf=o.ndf, n_layers=o.n_layers, norm=o.norm)
        self.D_A = PatchDiscriminator(channels=self.channels_a, **d).to(self.device)
        self.D_B = PatchDiscriminator(channels=self.channels_b, **d).to(self.device)
        if resolution < self.D_A.min_size():
            raise ValueError(f"resolution must be >= {self.D_A.min_size()} for n_layers="
                             f"{o.n_layers} (the PatchGAN's smallest input), got {resolution}")
        self.pool_A = ImagePool(o.pool_size, channels=self.channels_a,
                                resolution=resolution).to(self.device)
        self.pool_B = ImagePool(o.pool_size, channels=self.channels_b,
                                resolution=resolution).to(self.device)

        # One Adam over both generators and one over both discriminators.
        betas = (o.beta1, o.beta2)
        g_params = [*self.G_AB.parameters(), *self.G_BA.parameters()]
        d_params = [*self.D_A.parameters(), *self.D_B.parameters()]
        self.opt_G = torch.optim.Adam(g_params, lr=o.lr, betas=betas)
        self.opt_D = torch.optim.Adam(d_params, lr=o.lr, betas=betas)
        self.steps_done = 0
        self.run_steps: int | None = None
        self.grid_inputs: tuple[torch.Tensor, ...] | None = None

    # Data: a batch of each domain per step.
    @classmethod
    def data_source(cls, config, *, start, dataset=None) -> DataSource:
        """Domains A and B of `config.dataset` (build_unpaired), each with its own endless
        sampler resumed at `start`; `dataset` may be a ready (A, B) pair of datasets."""
        from fastgan.data import build_loader, build_unpaired

        options = build_options(cls.Options, config.options, recipe=config.model)
        channels_a, channels_b = domain_channels(options, config.channels)
        if dataset is not None:
            if not isinstance(dataset, (tuple, list)) or len(dataset) != 2:
                raise ValueError("dataset must be a pair (domain A, domain B) for cyclegan, got "
                                 f"{type(dataset).__name__}")
            domains = tuple(dataset)
        else:
            kw = dict(resolution=config.resolution, data_root=config.data_root,
                      transform=augment_transform(options.augment))
            a, b = build_unpaired(config.dataset, channels=channels_a, **kw)
            if channels_b != channels_a:
                b = build_unpaired(config.dataset, channels=channels_b, **kw)[1]
            domains = (a, b)

        # One stream per domain (different seeds: the orders are independent).
        loaders = [iter(build_loader(ds, batch_size=config.batch_size, seed=config.seed + k,
                                     start=start, num_workers=config.num_workers))
                   for k, ds in enumerate(domains)]
        batches = ((xa, xb) for (xa, _), (xb, _) in zip(*loaders))

        # The grid's fixed real images: a seeded choice from each domain.
        rows = max(1, config.grid_size // 6)
        fixed = []
        for ds in domains:
            g = torch.Generator().manual_seed(GRID_SEED)
            indices = torch.randperm(len(ds), generator=g)[: min(rows, len(ds))]
            fixed.append(ds.get_batch(indices, generator=g)[0])
        return DataSource(batches=batches, num_classes=0,
                          description=f"A: {len(domains[0])} images, B: {len(domains[1])} images",
                          grid_inputs=tuple(fixed))

    def set_run_length(self, steps):
        self.run_steps = steps
        o = self.options
        if not (o.constant_steps or o.decay_steps) and steps is None:
            logger.warning("cyclegan: the run's length is set in minutes only, so the learning "
                           "rate stays constant; give --steps (or -o constant_steps=, "
                           "-o decay_steps=) for the published decay")

    def schedule(self) -> tuple[int, int]:
        """(constant_steps, decay_steps) of this run."""
        o = self.options
        if o.constant_steps or o.decay_steps:
            return o.constant_steps, o.decay_steps
        if self.run_steps is None:
            return 2**62, 0
        return self.run_steps - self.run_steps // 2, self.run_steps // 2

    def modules(self):
        return {"G_AB": self.G_AB, "G_BA": self.G_BA, "D_A": self.D_A, "D_B": self.D_B,
                "pool_A": self.pool_A, "pool_B": self.pool_B}

    def optimizers(self):
        return {"G": self.opt_G, "D": self.opt_D}

    def extra_state(self) -> dict[str, Any]:
        return {"steps_done": self.steps_done}

    def load_extra_state(self, state):
        unknown = sorted(set(state) - {"steps_done"})
        if unknown:
            raise ValueError(f"unexpected extra state keys {unknown}")
        self.steps_done = int(state.get("steps_done", 0))

    @property
    def z_dim(self) -> int:
        raise ValueError("cyclegan translates images and has no latent z; use "
                         "`fastgan translate` (or recipe.translate)")

    # Training.
    def step(self, x_a, x_b):
        """One step on x_a [N, C_A, R, R] and x_b [N, C_B, R, R]; returns named losses."""
        o = self.options
        factor = lr_factor(self.steps_done, *self.schedule())
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = o.lr * factor

        # G step: both generators through the frozen discriminators.
        self.D_A.requires_grad_(False)
        self.D_B.requires_grad_(False)
        fake_b = self.G_AB(x_a)
        fake_a = self.G_BA(x_b)
        gan_ab = lsgan_loss(self.D_B(fake_b), True)
        gan_ba = lsgan_loss(self.D_A(fake_a), True)
        cycle_a = cycle_loss(self.G_BA(fake_b), x_a)
        cycle_b = cycle_loss(self.G_AB(fake_a), x_b)
        loss_g = gan_ab + gan_ba + o.lambda_a * cycle_a + o.lambda_b * cycle_b
        losses = {}
        if o.lambda_idt > 0:
            idt_a = cycle_loss(self.G_BA(x_a), x_a)
            idt_b = cycle_loss(self.G_AB(x_b), x_b)
            loss_g = loss_g + o.lambda_idt * (o.lambda_a * idt_a + o.lambda_b * idt_b)
            losses = {"idt_A": idt_a.detach(), "idt_B": idt_b.detach()}
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()
        self.D_A.requires_grad_(True)
        self.D_B.requires_grad_(True)

        # D steps: real vs a fake from the history pool, each loss halved.
        old_a = self.pool_A.query(fake_a.detach(), self.rng)
        old_b = self.pool_B.query(fake_b.detach(), self.rng)
        loss_d_a = 0.5 * (lsgan_loss(self.D_A(x_a), True) + lsgan_loss(self.D_A(old_a), False))
        loss_d_b = 0.5 * (lsgan_loss(self.D_B(x_b), True) + lsgan_loss(self.D_B(old_b), False))
        self.opt_D.zero_grad(set_to_none=True)
        (loss_d_a + loss_d_b).backward()
        self.opt_D.step()
        self.steps_done += 1

        return {
            "loss_G": loss_g.detach(), "G_AB": gan_ab.detach(), "G_BA": gan_ba.detach(),
            "cycle_A": cycle_a.detach(), "cycle_B": cycle_b.detach(), **losses,
            "D_A": loss_d_a.detach(), "D_B": loss_d_b.detach(), "lr": torch.tensor(o.lr * factor),
        }

    # Translation and samples.
    @torch.no_grad()
    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Images x [N, C_in, H, W] in [-1, 1] of any size -> [N, C_out, H, W] through G_AB
        ("AtoB") or G_BA ("BtoA") in eval mode."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        net = self.G_AB if direction == "AtoB" else self.G_BA
        was_training = net.training
        net.eval()
        try:
            return net(x.to(self.device))
        finally:
            net.train(was_training)

    def sample(self, z, c=None):
        raise ValueError("cyclegan translates images and does not sample from z; use "
                         "`fastgan translate` (or recipe.translate)")

    @torch.no_grad()
    def grid(self, n, seed):
        """Rows of [a, G_AB(a), G_BA(G_AB(a)), b, G_BA(b), G_AB(G_BA(b))] for the fixed real
        images (up to n // 6 rows); 6 columns. Gray sides are shown as RGB when the other
        side is RGB."""
        if self.grid_inputs is None:
            raise ValueError("cyclegan: the sample grid needs fixed real images; call "
                             "set_grid_inputs(x_a, x_b) first")
        rows = max(1, min(n // 6, len(self.grid_inputs[0]), len(self.grid_inputs[1])))
        a = self.grid_inputs[0][:rows].to(self.device)
        b = self.grid_inputs[1][:rows].to(self.device)
        ab = self.translate(a, "AtoB")
        ba = self.translate(b, "BtoA")
        columns = [a, ab, self.translate(ab, "BtoA"), b, ba, self.translate(ba, "AtoB")]
        channels = max(c.shape[1] for c in columns)
        columns = [c.expand(-1, channels, -1, -1) if c.shape[1] == 1 else c[:, :channels]
                   for c in columns]
        return torch.stack(columns, dim=1).flatten(0, 1), 6

    # Quality numbers.
    @torch.no_grad()
    def evaluate(self, config, *, n, seed=0):
        """Cycle L1 (mean |G_BA(G_AB(a)) - a| and the same for b) on up to n test images per
        domain and, for the built-in Fashion-MNIST pair, the share of translated images the
        classifier puts in the target class (with its rate on the real images of that class
        as the reference)."""
        from fastgan.data import build_unpaired
        from fastgan.data.build import split_spec

        try:
            kw = dict(resolution=config.resolution, split="test", data_root=config.data_root)
            a = build_unpaired(config.dataset, channels=self.channels_a, **kw)[0]
            b = build_unpaired(config.dataset, channels=self.channels_b, **kw)[1]
        except (FileNotFoundError, ValueError) as error:
            return {"model": config.model, "note": f"no test split to evaluate on: {error}"}
        g = torch.Generator().manual_seed(seed)
        out: dict[str, Any] = {"model": config.model}
        x = {}
        for name, ds in (("A", a), ("B", b)):
            indices = torch.randperm(len(ds), generator=g)[: min(n, len(ds))]
            x[name] = ds.get_batch(indices)[0]
            out[f"n_{name}"] = len(indices)

        # Translations and cycles, in batches.
        def run(images, direction):
            return torch.cat([self.translate(images[i : i + 200], direction).cpu()
                              for i in range(0, len(images), 200)])

        ab, ba = run(x["A"], "AtoB"), run(x["B"], "BtoA")
        out["cycle_l1_A"] = float((run(ab, "BtoA") - x["A"]).abs().mean())
        out["cycle_l1_B"] = float((run(ba, "AtoB") - x["B"]).abs().mean())

        # The classifier's verdict, for Fashion-MNIST class pairs.
        source, names = split_spec(config.dataset)
        if source.lower() != "fashion-mnist" or names is None:
            out["note"] = "target-class rates need the built-in fashion-mnist:CLASS,CLASS pair"
            return out
        out.update(self._class_rates(config, names, x, {"AtoB": ab, "BtoA": ba}))
        return out

    def _class_rates(self, config, names, real, translated) -> dict[str, float]:
        from fastgan.data import FASHION_MNIST_CLASSES
        from fastgan.data.fashion_mnist import parse_classes
        from fastgan.metrics.classifier import classify, load_classifier

        net = load_classifier(device=self.device)
        class_a, class_b = parse_classes(names, FASHION_MNIST_CLASSES)

        def predict(images):
            if images.shape[-1] == 32 and config.resolution == 32:  # the data's 28 -> 32 pad
                images = images[..., 2:30, 2:30]
            return classify(net, images)[1]

        return {
            "target_rate_AtoB": float((predict(translated["AtoB"]) == class_b).float().mean()),
            "target_rate_BtoA": float((predict(translated["BtoA"]) == class_a).float().mean()),
            "real_rate_A": float((predict(real["A"]) == class_a).float().mean()),
            "real_rate_B": float((predict(real["B"]) == class_b).float().mean()),
        }
