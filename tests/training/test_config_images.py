import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.training.config import TrainConfig, parse_option, resolve_config
from fastgan.training.images import make_grid, save_grid, save_images
from fastgan.training.loop import resolve_options


def test_config_layers(tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text("batch_size: 32\nsteps: 50\noptions:\n  lr_g: 0.001\n  g_base: 16\n")
    config = resolve_config(preset="cgan-negative", file=file,
                            overrides={"steps": 70, "seed": None, "options": {"g_base": 8}})
    assert config.model == "cgan" and config.batch_size == 32 and config.steps == 70
    assert config.seed == 0  # None means "not given"
    assert dict(config.options) == {"condition": "domain", "transform": "negative", "d_base": 32,
                                    "lr_g": 0.001, "g_base": 8}
    assert resolve_options(config).options["beta1"] == 0.5


def test_short_preset_names():
    short = resolve_config(preset="small32", overrides={"model": "stylegan2"})
    assert short == resolve_config(preset="stylegan2-small32")
    assert short.model == "stylegan2" and short.resolution == 32


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown config key 'stepz'"):
        resolve_config(overrides={"stepz": 3})
    with pytest.raises(ValueError, match="preset must be one of"):
        resolve_config(preset="nope")
    with pytest.raises(ValueError, match=r"for model stylegan2, one of \['cifar', 'paper256', "
                                         r"'small32'\]\), got 'nope'"):
        resolve_config(preset="nope", overrides={"model": "stylegan2"})
    with pytest.raises(ValueError, match="is for model 'stylegan2', but the model is 'dcgan'"):
        resolve_config(preset="stylegan2-small32", overrides={"model": "dcgan"})
    with pytest.raises(ValueError, match="batch_size must be an int >= 1, got 0"):
        TrainConfig(steps=1, batch_size=0)
    with pytest.raises(ValueError, match="one of steps, kimg or minutes"):
        TrainConfig()
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['lr'\]"):
        resolve_options(TrainConfig(steps=1, options={"lr": 1}))
    assert parse_option("lr_g=1e-4") == ("lr_g", 1e-4)
    with pytest.raises(ValueError, match="key=value"):
        parse_option("lr_g")


@pytest.mark.parametrize("channels, mode", [(1, "L"), (3, "RGB"), (4, "RGBA")])
def test_images_keep_their_channels(tmp_path, channels, mode):
    x = torch.rand(5, channels, 6, 6) * 2 - 1
    path = save_grid(x, tmp_path / "grid.png", ncol=3)
    grid = Image.open(path)
    assert grid.mode == mode and grid.size == (3 * 8 + 2, 2 * 8 + 2)
    paths = save_images(x, tmp_path / "single")
    assert len(paths) == 5
    one = np.asarray(Image.open(paths[1]))
    expected = ((x[1] + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert np.array_equal(one.reshape(6, 6, channels), expected)


def test_grid_layout():
    x = -torch.ones(3, 1, 2, 2)
    x[1] = 1
    grid = make_grid(x, ncol=2, pad=1)
    assert grid.shape == (7, 7, 1)
    assert grid[1:3, 4:6].min() == 255 and grid[1:3, 1:3].max() == 0
