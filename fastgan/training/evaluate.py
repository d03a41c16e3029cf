"""Quality numbers of a trained recipe (`fastgan eval` and the end of `fastgan train`).

- fd: Fréchet distance between the Fashion-MNIST classifier's features of n generated images
  and of the real test images, both through the run's data pipeline; fd_floor: the same for n
  real training images, the value a perfect generator would reach with n samples.
- class_accuracy (class-conditional models): the share of samples the classifier puts in the
  class they were generated for; real_test_accuracy: the classifier on real test images.
- pair_agreement (CoGAN and the domain-conditional baseline): the CoGAN paper's score.

The classifier numbers need the built-in Fashion-MNIST (`dataset: fashion-mnist`); for other
data they are left out and `note` says so. They are taken at the classifier's own 28 x 28: a
run whose pipeline padded the images (28 -> 32 for StyleGAN2) has its samples cropped back by
that padding and is compared with the real images as stored, so the numbers of models trained
at 28 and at 32 are distances to the same real features. Other resolutions are resized.
"""

import logging
from typing import Any

import torch

from fastgan.models.cogan import pair_agreement
from fastgan.training.config import TrainConfig
from fastgan.training.recipe import Recipe

logger = logging.getLogger(__name__)


@torch.no_grad()
def generate_all(recipe: Recipe, n: int, *, seed: int, batch_size: int = 500) -> dict[str, Any]:
    """n generated images in batches: {"x": [n, C, R, R], "c": labels or None, "x2": the
    second image of each pair or None}. Class-conditional models cycle through the classes."""
    z_all = recipe.latents(n, seed)
    c_all = None
    if recipe.class_conditional:
        c_all = torch.arange(n, device=recipe.device) % recipe.num_classes
    xs, x2s = [], []
    for start in range(0, n, batch_size):
        z = z_all[start : start + batch_size]
        if recipe.pair_transform is not None:
            x1, x2 = recipe.sample_pairs(z)
            xs.append(x1.cpu())
            x2s.append(x2.cpu())
        else:
            c = None if c_all is None else c_all[start : start + batch_size]
            xs.append(recipe.sample(z, c).cpu())
    return {
        "x": torch.cat(xs),
        "c": None if c_all is None else c_all.cpu(),
        "x2": torch.cat(x2s) if x2s else None,
    }


def padding_margin(config: TrainConfig) -> int:
    """The border the data pipeline added around each 28 x 28 Fashion-MNIST image (2 at 32 x
    32, as fastgan.data.transforms pads 28 -> 32), or 0 when it did not pad."""
    from fastgan.metrics.classifier import INPUT_SIZE

    extra = config.resolution - INPUT_SIZE
    if config.dataset != "fashion-mnist" or not 0 < extra <= config.resolution // 8:
        return 0
    return extra // 2


def _real_images(config: TrainConfig, split: str, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Up to n real images [n, C, R, R] and labels [n] of a split, a seeded random choice;
    R is 28 when the pipeline pads (see `padding_margin`)."""
    from fastgan.data import build_dataset
    from fastgan.metrics.classifier import INPUT_SIZE

    resolution = INPUT_SIZE if padding_margin(config) else config.resolution
    ds = build_dataset(config.dataset, resolution=resolution, channels=config.channels,
                       split=split, data_root=config.data_root)
    g = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(ds), generator=g)[: min(n, len(ds))]
    return ds.get_batch(indices, generator=g)


def evaluate_recipe(recipe: Recipe, config: TrainConfig, *, n: int = 5000, seed: int = 0,
                    device: str | torch.device | None = None) -> dict[str, Any]:
    """The metrics of the module doc as a JSON-ready dict."""
    from fastgan.metrics.classifier import classify, load_classifier
    from fastgan.metrics.frechet import frechet_distance_features

    if n < 2:
        raise ValueError(f"n must be >= 2 generated images, got {n}")
    out: dict[str, Any] = {"n": n, "model": config.model}
    generated = generate_all(recipe, n, seed=seed)
    if generated["x2"] is not None:
        out["pair_transform"] = recipe.pair_transform
        out["pair_agreement"] = pair_agreement(generated["x"], generated["x2"],
                                               recipe.pair_transform)
    if config.dataset != "fashion-mnist":
        out["note"] = f"classifier metrics need dataset fashion-mnist, got {config.dataset!r}"
        return out

    # Classifier features of generated (padding cropped), real test and real training images.
    net = load_classifier(device=device or recipe.device)
    m, size = padding_margin(config), config.resolution
    x_gen = generated["x"][..., m : size - m, m : size - m]
    f_gen, p_gen = classify(net, x_gen)
    x_test, y_test = _real_images(config, "test", 10_000, seed)
    f_test, p_test = classify(net, x_test)
    x_train, _ = _real_images(config, "train", n, seed + 1)
    f_train, _ = classify(net, x_train)

    # The numbers.
    out["fd"] = frechet_distance_features(f_gen, f_test)
    out["fd_floor"] = frechet_distance_features(f_train, f_test)
    out["n_test"] = len(x_test)
    out["real_test_accuracy"] = float((p_test == y_test).float().mean())
    if generated["c"] is not None:
        out["class_accuracy"] = float((p_gen == generated["c"]).float().mean())
        per_class = [float((p_gen[generated["c"] == k] == k).float().mean())
                     for k in range(recipe.num_classes)]
        out["class_accuracy_per_class"] = per_class
    return out


def evaluate_feature_metrics(
    recipe: Recipe,
    config: TrainConfig,
    *,
    metrics: str,
    num: int,
    num_real: int | None,
    inception: str | None,
    cache_dir: str | None,
    batch_size: int,
    seed: int,
) -> dict[str, Any]:
    """FID / KID / precision-recall (fastgan.metrics.evaluate) of a trained recipe: `num`
    samples from latents of `seed` against the run's real training images, without random
    augmentation. Class-conditional models cycle through the classes."""
    from fastgan.data import TransformConfig, build_dataset
    from fastgan.metrics import evaluate

    real = build_dataset(
        config.dataset,
        resolution=config.resolution,
        channels=config.channels,
        split="train",
        data_root=config.data_root,
        transform=TransformConfig(),
    )
    z_all = recipe.latents(num, seed)
    done = 0

    @torch.no_grad()
    def generator_fn(n: int) -> torch.Tensor:
        nonlocal done
        z = z_all[done : done + n]
        c = None
        if recipe.class_conditional:
            c = torch.arange(done, done + len(z), device=recipe.device) % recipe.num_classes
        done += len(z)
        if recipe.pair_transform is not None:
            return recipe.sample_pairs(z)[0]
        return recipe.sample(z, c)

    return evaluate(
        generator_fn,
        real,
        metrics=metrics,
        num=num,
        num_real=num_real,
        inception=inception,
        device=recipe.device,
        batch_size=batch_size,
        cache_dir=cache_dir,
        data_key=f"{config.dataset}:train:{config.resolution}:{config.channels}",
        seed=seed,
        progress=True,
    )


def evaluate_chosen(recipe: Recipe, config: TrainConfig, *, n: int, seed: int = 0
                    ) -> dict[str, Any]:
    """The metrics named by config.eval_metrics on n generated images: "classifier" (the
    recipe's own numbers) and any of fid, kid, pr (Inception features, config.inception)."""
    from fastgan.metrics import parse_metrics

    names = [m.strip().lower() for m in config.eval_metrics.split(",") if m.strip()]
    feature = [m for m in names if m != "classifier"]
    results: dict[str, Any] = {}
    if "classifier" in names:
        results.update(recipe.evaluate(config, n=n, seed=seed))
    if feature:
        scores = evaluate_feature_metrics(
            recipe, config, metrics=",".join(parse_metrics(feature)), num=n, num_real=None,
            inception=config.inception, cache_dir=None, batch_size=64, seed=seed)
        results.update(scores)
    return results
