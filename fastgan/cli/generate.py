"""`fastgan generate`: images from a checkpoint, as one grid or one file each."""

from pathlib import Path

import click


@click.command()
@click.option("--ckpt", required=True, type=click.Path(exists=True),
              help="A checkpoint (.json or .safetensors) or a run folder (its newest one).")
@click.option("--n", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default="grid.png", show_default=True, type=click.Path(),
              help="The grid PNG; with --separate, the folder of single images.")
@click.option("--class", "class_", default=None,
              help="Class index or name (conditional models); default: all classes in turn.")
@click.option("--separate", is_flag=True, help="Write one PNG per image into the folder --out.")
@click.option("--ncol", default=None, type=click.IntRange(min=1), help="Images per grid row.")
@click.option("--device", default=None, help="Default: cpu.")
@click.option("--seeds", default=None,
              help="One image per seed, e.g. 0-63 or 1,5,9-12 (instead of --n and --seed).")
@click.option("--trunc", "psi", default=None, type=float,
              help="Truncation psi (style models): 1 none, 0 the average image.")
@click.option("--trunc-cutoff", default=None, type=click.IntRange(min=1),
              help="Truncate only the first K layers' w (style models; default: all).")
@click.option("--noise-mode", default=None, type=click.Choice(["random", "const", "none"]),
              help="Per-pixel noise of style models (default: const).")
@click.option("--interp", default=0, type=click.IntRange(min=0),
              help="Style models: this many frames from each seed to the next, interpolated in "
                   "w, as one strip (or an animation if --out ends in .gif).")
def generate(ckpt, n, seed, out, class_, separate, ncol, device, seeds, psi, trunc_cutoff,
             noise_mode, interp) -> None:
    """Generate N images from a checkpoint with a fixed seed."""
    import torch

    from fastgan.cli.stylemix import (
        interpolation,
        parse_seeds,
        save_animation,
        save_image,
        style_options,
    )
    from fastgan.training import load_trained
    from fastgan.training.images import save_grid, save_images

    config, recipe, _ = load_trained(ckpt, device=device or "cpu")
    style = style_options(recipe, psi=psi, cutoff=trunc_cutoff, noise_mode=noise_mode,
                          interp=interp)
    if seeds is not None:
        seed_list = parse_seeds(seeds, "--seeds")
        z = torch.cat([recipe.latents(1, s) for s in seed_list])
        n = len(seed_list)
    else:
        z = recipe.latents(n, seed)

    # Labels: one class, or all in turn; pairs for the two-domain models.
    if recipe.pair_transform is not None:
        if class_ is not None:
            raise click.BadParameter("this model generates pairs and takes no class",
                                     param_hint="--class")
        x1, x2 = recipe.sample_pairs(z)
        images, default_ncol = torch.stack([x1, x2], dim=1).flatten(0, 1), 8
    elif recipe.num_classes:
        k = _class_index(class_, recipe.num_classes, config.dataset)
        c = (torch.full((n,), k) if k is not None else torch.arange(n) % recipe.num_classes)
        images = recipe.sample(z, c.to(recipe.device), **style)
        default_ncol = 8 if k is not None else recipe.num_classes
    else:
        if class_ is not None:
            raise click.BadParameter("this model is unconditional", param_hint="--class")
        images, default_ncol = recipe.sample(z, **style), 8

    if interp:
        c = torch.full((n,), k) if recipe.num_classes and k is not None else None
        if recipe.num_classes and c is None:
            raise click.BadParameter("an interpolation of a conditional model needs one class",
                                     param_hint="--class")
        frames = interpolation(recipe, z, c, interp, **style)
        if str(out).endswith(".gif"):
            click.echo(f"wrote {save_animation(frames, out)}")
        else:
            click.echo(f"wrote {save_grid(frames, out, ncol=ncol or interp)}")
        return
    if separate and seeds is not None:
        paths = [save_image(image, Path(out) / f"seed{s:04d}.png")
                 for s, image in zip(seed_list, images)]
        click.echo(f"wrote {len(paths)} images to {Path(out)}/")
    elif separate:
        paths = save_images(images, out)
        click.echo(f"wrote {len(paths)} images to {Path(out)}/")
    else:
        click.echo(f"wrote {save_grid(images, out, ncol=ncol or default_ncol)}")


def _class_index(value: str | None, num_classes: int, dataset: str) -> int | None:
    """--class as an index, or as a Fashion-MNIST class name."""
    if value is None:
        return None
    if value.isdigit():
        k = int(value)
    else:
        from fastgan.data import FASHION_MNIST_CLASSES

        names = list(FASHION_MNIST_CLASSES) if dataset == "fashion-mnist" else []
        if value not in names:
            raise click.BadParameter(f"expected an index 0..{num_classes - 1} or a class name "
                                     f"{names}, got {value!r}", param_hint="--class")
        k = names.index(value)
    if not 0 <= k < num_classes:
        raise click.BadParameter(f"expected 0..{num_classes - 1}, got {k}", param_hint="--class")
    return k
