"""`fastgan translate`: run a trained translation model over an image or a folder of images.

Each output keeps its input's relative path, file name and size (H x W); the format follows
the file extension; photos are turned upright by their EXIF orientation first. Images are
converted to the input domain's channels (alpha is composited onto white when dropped,
16-bit gray scaled to 8 bits).
"""

from pathlib import Path

import click

_JPEG = {".jpg", ".jpeg"}


def _inputs(path: Path) -> list[tuple[Path, Path]]:
    """(source file, its path relative to the input) for a file or every image in a folder
    (recursively, hidden files and folders skipped), in sorted order."""
    from fastgan.data.sources import is_image_name

    if path.is_file():
        return [(path, Path(path.name))]
    found = []
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path)
        if file.is_file() and is_image_name(file.name) \
                and not any(part.startswith(".") for part in rel.parts):
            found.append((file, rel))
    return found


@click.command()
@click.option("--ckpt", required=True, type=click.Path(exists=True),
              help="A checkpoint (.json or .safetensors) or a run folder (its newest one).")
@click.option("--direction", default="AtoB", show_default=True,
              type=click.Choice(["AtoB", "BtoA"]), help="G_AB (A -> B) or G_BA (B -> A).")
@click.option("--input", "input_", required=True, type=click.Path(exists=True),
              help="An image file or a folder of images.")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="The output folder (created; same names as the inputs).")
@click.option("--device", default=None, help="Default: cpu.")
def translate(ckpt, direction, input_, out, device) -> None:
    """Translate images with a CycleGAN checkpoint, keeping names and sizes."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps

    from fastgan.data.transforms import convert_mode
    from fastgan.training import load_trained
    from fastgan.training.images import to_uint8

    _, recipe, _ = load_trained(ckpt, device=device or "cpu")
    if not hasattr(recipe, "translate"):
        raise click.BadParameter("the checkpoint's model does not translate images",
                                 param_hint="--ckpt")
    channels_in = recipe.channels_a if direction == "AtoB" else recipe.channels_b
    files = _inputs(Path(input_))
    if not files:
        raise click.BadParameter(f"no images in {input_}", param_hint="--input")

    # One image at a time: sizes may all differ.
    out = Path(out)
    for source, rel in files:
        try:
            with Image.open(source) as img:
                img = convert_mode(ImageOps.exif_transpose(img), channels_in)
        except (OSError, ValueError) as error:
            click.echo(f"skipped {source}: {error}", err=True)
            continue
        a = np.asarray(img, dtype=np.float32).reshape(img.height, img.width, -1)
        x = torch.from_numpy(a).permute(2, 0, 1)[None] / 127.5 - 1.0
        y = to_uint8(recipe.translate(x, direction))[0]
        image = Image.fromarray(y[..., 0] if y.shape[-1] == 1 else y)
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() in _JPEG and image.mode == "RGBA":
            image = image.convert("RGB")
        image.save(target, **({"quality": 95} if target.suffix.lower() in _JPEG else {}))
    click.echo(f"translated {len(files)} images {direction} into {out}/")
