"""Small data sets built in temp dirs: fake Fashion-MNIST, image folders with bad files."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fastgan.data import write_idx


def fake_fashion_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint8 [n, 28, 28] with a black border (like Fashion-MNIST) and labels [n] = i % 10."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 4:24, 4:24] = rng.integers(1, 256, (n, 20, 20))
    return images, np.arange(n, dtype=np.uint8) % 10


@pytest.fixture
def fashion_root(tmp_path: Path) -> Path:
    """A folder laid out like /usr/share/datasets/fashion-mnist, 40 train and 20 test images."""
    root = tmp_path / "fmnist"
    root.mkdir()
    for prefix, n in (("train", 40), ("t10k", 20)):
        images, labels = fake_fashion_images(n, seed=n)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return root


def save_image(path: Path, array: np.ndarray, **kwargs) -> Path:
    """Saves uint8 [H, W] or [H, W, C] (mode from the shape) and returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def solid(h: int, w: int, value, channels: int = 3) -> np.ndarray:
    """uint8 [H, W, C] (or [H, W] when channels == 1) of one color."""
    shape = (h, w) if channels == 1 else (h, w, channels)
    return np.broadcast_to(np.asarray(value, np.uint8), shape).copy()


def write_corrupt_jpeg(path: Path) -> Path:
    """A noisy JPEG cut in half: its header reads, its pixels do not."""
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    save_image(path, noise, format="JPEG", quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """root/{cat,dog}/ with 3 + 2 RGB 8x8 images, a nested one, and a corrupt JPEG."""
    root = tmp_path / "classes"
    for i in range(3):
        save_image(root / "cat" / f"{i}.png", solid(8, 8, (10 * i, 0, 0)))
    save_image(root / "dog" / "a.png", solid(8, 8, (0, 255, 0)))
    save_image(root / "dog" / "deep" / "b.png", solid(8, 8, (0, 0, 255)))
    write_corrupt_jpeg(root / "dog" / "broken.jpg")
    (root / "dog" / "notes.txt").write_text("not an image")
    return root
