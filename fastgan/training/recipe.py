"""The interface between the generic loop and a model family: a `Recipe`.

A recipe builds its networks and optimizers, runs one training step on a batch and returns
its named losses, samples images, and lists everything a checkpoint must hold. It knows
nothing of logging, files or the length of the run.
"""

import copy
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import nn


def build_options(cls: type, values: Mapping[str, Any], *, recipe: str) -> Any:
    """Make the frozen options dataclass `cls` from `values`, naming any unknown key."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"options for model {recipe!r}: unknown key(s) {unknown}; expected some of "
            f"{sorted(known)}"
        )
    # YAML reads 1e-4 as a string: numbers are converted to the type of the field's default.
    converted = dict(values)
    for f in dataclasses.fields(cls):
        value = converted.get(f.name)
        if isinstance(f.default, float) and isinstance(value, (str, int)) \
                and not isinstance(value, bool):
            try:
                converted[f.name] = float(value)
            except ValueError:
                raise ValueError(f"options for model {recipe!r}: {f.name} must be a number, "
                                 f"got {value!r}") from None
    return cls(**converted)


class Ema:
    """An exponential moving average of a module's weights (buffers are copied).

    After `update()`: p_ema = decay * p_ema + (1 - decay) * p for every parameter p.
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.source = module
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self) -> None:
        for p_ema, p in zip(self.module.parameters(), self.source.parameters()):
            p_ema.lerp_(p, 1.0 - self.decay)
        for b_ema, b in zip(self.module.buffers(), self.source.buffers()):
            b_ema.copy_(b)


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A recipe's own training data (see `Recipe.data_source`).

    batches: an endless iterator; each item is the tuple of CPU tensors passed to
        `recipe.step(*item)`, e.g. (x_a [N, C, R, R], x_b [N, C, R, R]).
    num_classes: labels the recipe is built for (0: none).
    description: what the data is, for the log (e.g. "A: 6000 images, B: 6000 images").
    grid_inputs: fixed inputs the sample grid shows (translation models), handed to
        `recipe.set_grid_inputs(*grid_inputs)`; None when the grid needs none.
    """

    batches: Iterator[tuple[torch.Tensor, ...]]
    num_classes: int = 0
    description: str = ""
    grid_inputs: tuple[torch.Tensor, ...] | None = None


class Recipe:
    """Base class of a model family's training recipe.

    Subclasses set `Options` (a frozen dataclass with the family's published defaults) and
    implement `step`, `sample` and `grid`. The constructor receives the data facts
    (resolution, channels, number of classes), the device and the seed.

    Attributes every recipe sets:
        options: the resolved options.
        num_classes: labels `sample` accepts (0: unconditional).
        pair_transform: name of the transform linking the two images of `sample_pairs`
            (None when the recipe does not generate pairs).
        rng: the generator of all the random numbers of `step` (saved in checkpoints).
    """

    Options: ClassVar[type]
    # Loop settings this family defaults to, under any preset, file or flag (e.g. a batch size).
    config_defaults: ClassVar[Mapping[str, Any]] = {}
    num_classes: int = 0
    pair_transform: str | None = None
    class_conditional: bool = False

    def __init__(
        self,
        options: Any,
        *,
        resolution: int,
        channels: int,
        num_classes: int,
        device: torch.device,
        seed: int,
    ) -> None:
        self.options = options
        self.resolution, self.channels = resolution, channels
        self.device = torch.device(device)
        self.rng = torch.Generator(self.device)
        self.rng.manual_seed(seed)

    # What checkpoints hold.
    def modules(self) -> dict[str, nn.Module]:
        """Every module with state, by name (e.g. G, D, G_ema)."""
        raise NotImplementedError

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimizer, by name."""
        raise NotImplementedError

    # Data: by default the loop feeds `step(x, c)` from one dataset.
    @classmethod
    def data_source(cls, config: Any, *, start: int, dataset: Any = None) -> DataSource | None:
        """The recipe's own batches for run `config` (a TrainConfig), with every stream
        resumed at position `start` (= step * batch_size), or None for the loop's default
        (build_dataset(config.dataset) and `step(x, c)`). `dataset` is what the caller of
        `train` gave instead of the configured data, if anything."""
        return None

    def set_grid_inputs(self, *inputs: torch.Tensor) -> None:
        """Keep the fixed inputs of the sample grid (see `DataSource.grid_inputs`)."""
        self.grid_inputs = inputs

    def set_run_length(self, steps: int | None) -> None:
        """Told by the loop before the first step: the run's length in G steps (None when
        only a time limit bounds it). Schedules that span the run use it."""
        self.run_steps = steps

    # Training.
    def step(self, x: torch.Tensor, c: torch.Tensor) -> dict[str, torch.Tensor]:
        """One optimizer step of G (and its D steps) on real images x [N, C, R, R] in [-1, 1]
        and labels c [N]; returns named scalar losses, detached."""
        raise NotImplementedError

    # Sampling: never touches `rng` or training state.
    def latents(self, n: int, seed: int) -> torch.Tensor:
        """z [n, Z] from N(0, I), the same on every device for a given seed."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.z_dim, generator=g).to(self.device)

    @property
    def z_dim(self) -> int:
        return self.options.z_dim

    def sample(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Images [N, C, R, R] in [-1, 1] for z [N, Z] and labels c [N] (conditional only)."""
        raise NotImplementedError

    def sample_pairs(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two images per z [N, Z], one per domain, each [N, C, R, R]."""
        raise ValueError(f"model {type(self).__name__} does not generate image pairs")

    def grid(self, n: int, seed: int) -> tuple[torch.Tensor, int]:
        """Images [M, C, R, R] for a sample grid and its number of columns."""
        z = self.latents(n, seed)
        if self.pair_transform is not None:
            x1, x2 = self.sample_pairs(z[: max(1, n // 2)])
            return torch.stack([x1, x2], dim=1).flatten(0, 1), 8  # pairs side by side
        if self.num_classes:
            n = max(1, n // self.num_classes) * self.num_classes  # whole rows
            c = torch.arange(n, device=self.device) % self.num_classes
            return self.sample(self.latents(n, seed), c), self.num_classes  # a class per column
        return self.sample(z), 8

    # Quality numbers (metrics.json, `fastgan eval`).
    def evaluate(self, config: Any, *, n: int, seed: int = 0) -> dict[str, Any]:
        """JSON-ready metrics of the trained recipe on `n` generated images."""
        from fastgan.training.evaluate import evaluate_recipe

        return evaluate_recipe(self, config, n=n, seed=seed)

    # Extra state beyond modules and optimizers (e.g. loss-schedule counters).
    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        if state:
            raise ValueError(f"unexpected extra state keys {sorted(state)}")


class GDRecipe(Recipe):
    """A recipe with one generator G and one discriminator D, each with its own Adam, and an
    optional EMA of G (DCGAN, the conditional GAN, CoGAN)."""

    def _setup_optimizers(self, options: Any) -> None:
        """opt_G and opt_D from options.lr_g, lr_d, beta1, beta2; ema from options.ema_decay."""
        betas = (options.beta1, options.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=options.lr_g, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=options.lr_d, betas=betas)
        self.ema = Ema(self.G, options.ema_decay) if options.ema_decay > 0 else None

    def modules(self) -> dict[str, nn.Module]:
        out = {"G": self.G, "D": self.D}
        if self.ema is not None:
            out["G_ema"] = self.ema.module
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_G, "D": self.opt_D}
