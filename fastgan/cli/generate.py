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
def generate(ckpt, n, seed, out, class_, separate, ncol, device) -> None:
    """Generate N images from a checkpoint with a fixed seed."""
    import torch

    from fastgan.training import load_trained
    from fastgan.training.images import save_grid, save_images

    config, recipe, _ = load_trained(ckpt, device=device or "cpu")
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
        images = recipe.sample(z, c.to(recipe.device))
        default_ncol = 8 if k is not None else recipe.num_classes
    else:
        if class_ is not None:
            raise click.BadParameter("this model is unconditional", param_hint="--class")
        images, default_ncol = recipe.sample(z), 8

    if separate:
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
