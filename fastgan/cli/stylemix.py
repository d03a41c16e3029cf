"""`fastgan style-mix`, and the style-model parts of `fastgan generate` (seeds, truncation,
noise mode, interpolation)."""

from pathlib import Path
from typing import Any

import click
import torch


def parse_seeds(text: str, hint: str) -> list[int]:
    """'0-3,7' -> [0, 1, 2, 3, 7]; ranges are inclusive."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                first, last = int(lo), int(hi)
                if last < first:
                    raise ValueError
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise click.BadParameter(f"expected seeds like 0-63 or 1,5,9-12, got {text!r}",
                                     param_hint=hint) from None
    if any(s < 0 for s in seeds):
        raise click.BadParameter(f"seeds must be >= 0, got {text!r}", param_hint=hint)
    return seeds


def is_style_model(recipe: Any) -> bool:
    """Whether the recipe samples through a mapping to w (StyleGAN, StyleGAN2)."""
    return hasattr(recipe, "mapping") and hasattr(recipe, "synthesize")


def style_options(recipe: Any, *, psi: float | None, cutoff: int | None,
                  noise_mode: str | None, interp: int = 0) -> dict[str, Any]:
    """The keyword arguments of a style recipe's `sample` that the user gave, checked."""
    given = {"--trunc": psi, "--trunc-cutoff": cutoff, "--noise-mode": noise_mode,
             "--interp": interp or None}
    if not is_style_model(recipe):
        for hint, value in given.items():
            if value is not None:
                raise click.BadParameter(f"only style models (stylegan, stylegan2) take it, "
                                         f"this is {type(recipe).__name__}", param_hint=hint)
        return {}
    if cutoff is not None and cutoff > recipe.G_ema.num_ws:
        raise click.BadParameter(f"expected 1..{recipe.G_ema.num_ws}, got {cutoff}",
                                 param_hint="--trunc-cutoff")
    out: dict[str, Any] = {"noise_mode": noise_mode}
    if psi is not None:
        out.update(psi=psi, cutoff=cutoff)
    return out


def interpolation(recipe: Any, z: torch.Tensor, c: torch.Tensor | None, frames: int,
                  **style: Any) -> torch.Tensor:
    """Images [(S - 1) * frames + 1, C, R, R] walking linearly in w from each of the S latents
    z [S, Z] to the next."""
    if len(z) < 2:
        raise click.BadParameter("an interpolation needs at least two seeds",
                                 param_hint="--seeds")
    ws = recipe.mapping(z, None if c is None else c.to(recipe.device),
                        psi=style.get("psi", 1.0), cutoff=style.get("cutoff"))
    t = torch.linspace(0, 1, frames + 1, device=ws.device)[:-1, None, None]
    path = [ws[i].lerp(ws[i + 1], t) for i in range(len(ws) - 1)] + [ws[-1:]]
    return recipe.synthesize(torch.cat(path), style.get("noise_mode"))


def save_image(x: torch.Tensor, path: str | Path) -> Path:
    """One image [C, H, W] in [-1, 1] as a PNG."""
    from PIL import Image

    from fastgan.training.images import to_uint8

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = to_uint8(x[None])[0]
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)
    return path


def save_animation(x: torch.Tensor, path: str | Path, frame_ms: int = 80) -> Path:
    """Images [N, C, H, W] in [-1, 1] as a looping GIF."""
    from PIL import Image

    from fastgan.training.images import to_uint8

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a) for a in to_uint8(x)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return path


def mixing_figure(recipe: Any, rows: list[int], cols: list[int], layers: list[int],
                  c: torch.Tensor | None = None, **style: Any) -> torch.Tensor:
    """The style-mixing figure as images [(1 + len(rows)) * (1 + len(cols)), C, R, R]: a blank
    corner, the column seeds' images along the top, the row seeds' images down the left, and
    at (i, j) row i's ws with `layers` taken from column j."""
    seeds = rows + cols
    z = torch.cat([recipe.latents(1, s) for s in seeds])
    labels = None if c is None else c.expand(len(seeds)).to(recipe.device)
    ws = recipe.mapping(z, labels, psi=style.get("psi", 1.0), cutoff=style.get("cutoff"))
    row_ws, col_ws = ws[:len(rows)], ws[len(rows):]
    mask = torch.zeros(ws.shape[1], dtype=torch.bool, device=ws.device)
    mask[layers] = True
    mixed = torch.where(mask[None, None, :, None], col_ws[None], row_ws[:, None])
    noise = style.get("noise_mode")
    singles = recipe.synthesize(ws, noise)
    grid = recipe.synthesize(mixed.flatten(0, 1), noise)
    blank = torch.full_like(singles[:1], -1.0)
    out = [blank, singles[len(rows):]]
    for i in range(len(rows)):
        out += [singles[i:i + 1], grid[i * len(cols):(i + 1) * len(cols)]]
    return torch.cat(out)


@click.command("style-mix")
@click.option("--ckpt", required=True, type=click.Path(exists=True),
              help="A checkpoint (.json or .safetensors) or a run folder (its newest one).")
@click.option("--rows", default="0-5", show_default=True, help="Seeds of the rows.")
@click.option("--cols", default="6-11", show_default=True, help="Seeds of the columns.")
@click.option("--styles", "layers", default=None,
              help="The w layers the columns give, e.g. 0-3 (coarse) or 4-7 (default: the "
                   "first half).")
@click.option("--trunc", "psi", default=1.0, show_default=True, type=float)
@click.option("--noise-mode", default="const", show_default=True,
              type=click.Choice(["random", "const", "none"]))
@click.option("--class", "class_", default=None, type=click.IntRange(min=0),
              help="The class of every image (conditional models).")
@click.option("--out", default="stylemix.png", show_default=True, type=click.Path())
@click.option("--device", default=None, help="Default: cpu.")
def stylemix(ckpt, rows, cols, layers, psi, noise_mode, class_, out, device) -> None:
    """Write the style-mixing figure: row seeds with some layers' styles from column seeds."""
    from fastgan.training import load_trained
    from fastgan.training.images import save_grid

    _, recipe, _ = load_trained(ckpt, device=device or "cpu")
    if not is_style_model(recipe):
        raise click.BadParameter(f"only style models (stylegan, stylegan2) mix styles, this is "
                                 f"{type(recipe).__name__}", param_hint="--ckpt")
    num_ws = recipe.G_ema.num_ws
    layer_list = parse_seeds(layers, "--styles") if layers else list(range(num_ws // 2))
    if max(layer_list) >= num_ws:
        raise click.BadParameter(f"layers must be in 0..{num_ws - 1}, got {layers!r}",
                                 param_hint="--styles")
    c = None
    if recipe.num_classes:
        if class_ is None or class_ >= recipe.num_classes:
            raise click.BadParameter(f"expected a class in 0..{recipe.num_classes - 1}, got "
                                     f"{class_}", param_hint="--class")
        c = torch.tensor([class_])
    elif class_ is not None:
        raise click.BadParameter("this model is unconditional", param_hint="--class")
    row_seeds, col_seeds = parse_seeds(rows, "--rows"), parse_seeds(cols, "--cols")
    images = mixing_figure(recipe, row_seeds, col_seeds, layer_list, c, psi=psi,
                           noise_mode=noise_mode)
    path = save_grid(images, out, ncol=len(col_seeds) + 1)
    click.echo(f"wrote {path} ({len(row_seeds)} x {len(col_seeds)}, layers "
               f"{layer_list[0]}..{layer_list[-1]} of {num_ws} from the columns)")


__all__ = ["interpolation", "mixing_figure", "parse_seeds", "save_animation", "save_image",
           "style_options", "stylemix"]
