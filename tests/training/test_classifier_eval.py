"""The classifier metrics of fastgan.training.evaluate on tiny Fashion-MNIST-shaped data."""

import types

import pytest
import torch

from fastgan.data import build_dataset
from fastgan.training.evaluate import evaluate_recipe, padding_margin
from tests.training.tiny import tiny_config


@pytest.mark.parametrize("dataset,resolution,margin", [
    ("fashion-mnist", 32, 2), ("fashion-mnist", 28, 0), ("fashion-mnist", 64, 0),
    ("some/folder", 32, 0),
])
def test_padding_margin(tiny_root, dataset, resolution, margin):
    config = tiny_config(tiny_root, dataset=dataset, resolution=resolution)
    assert padding_margin(config) == margin


def real_test_as_recipe(root, resolution: int, border: float):
    """A stand-in recipe whose samples are the real test images at `resolution`, with the
    pipeline's padding overwritten by `border`."""
    ds = build_dataset("fashion-mnist", resolution=resolution, channels=1, split="test",
                       data_root=str(root))
    x, _ = ds.get_batch(torch.arange(len(ds)), generator=torch.Generator().manual_seed(0))
    m = (resolution - 28) // 2
    inner = x[..., m : resolution - m, m : resolution - m].clone()
    x[:] = border
    x[..., m : resolution - m, m : resolution - m] = inner

    def sample(z, c=None):
        return x[: len(z)]

    return types.SimpleNamespace(
        latents=lambda n, seed: torch.zeros(n, 1), sample=sample, class_conditional=False,
        pair_transform=None, device=torch.device("cpu"), num_classes=0), len(ds)


def test_padded_samples_are_cropped_back_to_the_real_images(tiny_root, monkeypatch):
    # 32 x 32 samples that are the real test set inside a border no real image has: cropped
    # back to 28 x 28 they are the real test set, so their distance to it is zero.
    recipe, n = real_test_as_recipe(tiny_root, 32, border=1.0)
    config = tiny_config(tiny_root, model="stylegan2", resolution=32, options={})
    out = evaluate_recipe(recipe, config, n=n)
    assert out["n_test"] == n
    assert abs(out["fd"]) < 1e-6

    # Seen whole (resized to 28 x 28 with their border) the same samples are far from it.
    monkeypatch.setattr("fastgan.training.evaluate.padding_margin", lambda config: 0)
    assert evaluate_recipe(recipe, config, n=n)["fd"] > 1.0
