import pytest
import torch
from safetensors.torch import load_file

from fastgan.training import load_trained, train
from fastgan.training.config import TrainConfig, resolve_config

TINY = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8}


@pytest.fixture(autouse=True)
def _one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def tiny_config(root, **values) -> TrainConfig:
    base = dict(model="stylegan", data_root=str(root), resolution=16, batch_size=4, steps=4,
                log_every=2, sample_every=0, ckpt_every=0, eval_n=0, grid_size=8,
                options=TINY)
    return TrainConfig(**{**base, **values})


def test_resume_is_exact_and_samples_load(tiny_root, tmp_path):
    whole = train(tiny_config(tiny_root, steps=4), tmp_path / "whole")
    first = train(tiny_config(tiny_root, steps=2), tmp_path / "a")
    resumed = train(tiny_config(tiny_root, steps=4), tmp_path / "a", resume=first.checkpoint)
    a = load_file(str(whole.checkpoint.with_suffix(".safetensors")))
    b = load_file(str(resumed.checkpoint.with_suffix(".safetensors")))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    _, recipe, _ = load_trained(whole.checkpoint)
    z = recipe.latents(2, 0)
    torch.testing.assert_close(recipe.sample(z, psi=0.7, cutoff=4), recipe.sample(z, psi=0.7,
                                                                                 cutoff=4))


def test_preset():
    config = resolve_config(preset="stylegan-small32", overrides={"steps": 1})
    assert config.model == "stylegan" and config.resolution == 32
