"""Tiny Fashion-MNIST-shaped data and configs for fast training tests."""

import numpy as np
import pytest

from fastgan.data import write_idx
from fastgan.training.config import TrainConfig

# Small nets: one step takes milliseconds.
TINY_OPTIONS = {"z_dim": 8, "g_base": 8, "d_base": 8, "embed_dim": 4}


def write_fashion(root, *, n_train: int = 40, n_test: int = 30, seed: int = 0) -> None:
    """IDX files of random 28 x 28 images, 10 classes, in the Fashion-MNIST file names."""
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(root / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte.gz", labels)


@pytest.fixture
def tiny_root(tmp_path):
    root = tmp_path / "fashion"
    root.mkdir()
    write_fashion(root)
    return root


def tiny_config(root, **values) -> TrainConfig:
    """A config of tiny nets on the tiny data; `values` override (options merge)."""
    options = {**TINY_OPTIONS, **values.pop("options", {})}
    if values.get("model") == "cogan":
        options.pop("embed_dim")
    base = dict(model="cgan", data_root=str(root), batch_size=8, steps=4, log_every=2,
                sample_every=0, ckpt_every=0, eval_n=0, grid_size=20)
    return TrainConfig(**{**base, **values, "options": options})
