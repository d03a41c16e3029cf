"""Writing generated images: grids and single files, grayscale, RGB or RGBA."""

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images [N, C, H, W] in [-1, 1] -> uint8 array [N, H, W, C] (values (x + 1) * 127.5)."""
    if x.dim() != 4 or x.shape[1] not in _MODES:
        raise ValueError(f"x must be [N, C, H, W] with C in 1, 3, 4, got {tuple(x.shape)}")
    x = ((x.detach().float().cpu() + 1) * 127.5).round().clamp(0, 255)
    return x.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def make_grid(x: torch.Tensor, ncol: int, pad: int = 2) -> np.ndarray:
    """Images [N, C, H, W] in [-1, 1] -> one uint8 array [rows * (H + pad) + pad, ..., C],
    ncol images per row, on a black background (transparent for RGBA)."""
    if ncol < 1:
        raise ValueError(f"ncol must be >= 1, got {ncol}")
    images = to_uint8(x)
    n, h, w, c = images.shape
    ncol = min(ncol, n)
    nrow = math.ceil(n / ncol)
    grid = np.zeros((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), dtype=np.uint8)
    for i in range(n):
        top, left = pad + (i // ncol) * (h + pad), pad + (i % ncol) * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def _to_pil(array: np.ndarray) -> Image.Image:
    """uint8 [H, W, C] -> a PIL image of mode L, RGB or RGBA."""
    channels = array.shape[-1]
    image = Image.fromarray(np.ascontiguousarray(array[..., 0] if channels == 1 else array))
    if image.mode != _MODES[channels]:
        raise ValueError(f"expected a {_MODES[channels]} image, got mode {image.mode}")
    return image


def save_grid(x: torch.Tensor, path: str | Path, ncol: int = 8) -> Path:
    """Write images [N, C, H, W] in [-1, 1] as one PNG grid; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _to_pil(make_grid(x, ncol)).save(path)
    return path


def save_images(x: torch.Tensor, folder: str | Path, prefix: str = "img") -> list[Path]:
    """Write each image [C, H, W] of x [N, C, H, W] as its own PNG; returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(to_uint8(x)):
        path = folder / f"{prefix}-{i:05d}.png"
        _to_pil(image).save(path)
        paths.append(path)
    return paths
