import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from fastgan.cli import main
from fastgan.cli.stylemix import parse_seeds


@pytest.fixture(autouse=True)
def _one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture
def trained(tiny_root, tmp_path):
    # The command of the docs, `fastgan train stylegan2 --preset small32`, sized down.
    args = ["train", "stylegan2", "--preset", "small32", "--data-root", str(tiny_root),
            "--resolution", "16", "--batch-size", "4", "--steps", "2", "--eval-n", "0", "--sample-every", "0",
            "--grid-size", "4", "--no-progress", "--runs-dir", str(tmp_path / "runs"),
            "--name", "sg2", "--ops", "reference"]
    for option in ("z_dim=8", "w_dim=8", "mapping_layers=2", "channel_base=64",
                   "channel_max=8"):
        args += ["-o", option]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "sg2"


def test_generate_seeds_truncation_noise_and_interpolation(trained, tmp_path):
    runner = CliRunner()
    grid = tmp_path / "grid.png"
    result = runner.invoke(main, ["generate", "--ckpt", str(trained), "--seeds", "0-3,7",
                                  "--trunc", "0.7", "--noise-mode", "const", "--out", str(grid)])
    assert result.exit_code == 0, result.output
    assert Image.open(grid).size == (5 * 18 + 2, 20)

    folder = tmp_path / "single"
    result = runner.invoke(main, ["generate", "--ckpt", str(trained), "--seeds", "3,5",
                                  "--separate", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == ["seed0003.png", "seed0005.png"]
    assert Image.open(folder / "seed0003.png").size == (16, 16)

    gif = tmp_path / "walk.gif"
    result = runner.invoke(main, ["generate", "--ckpt", str(trained), "--seeds", "0-2",
                                  "--interp", "4", "--out", str(gif)])
    assert result.exit_code == 0, result.output
    assert Image.open(gif).n_frames == 9

    # The same seed gives the same image, as a grid or alone.
    a = runner.invoke(main, ["generate", "--ckpt", str(trained), "--seeds", "3",
                             "--out", str(tmp_path / "a.png")])
    assert a.exit_code == 0
    crop = np.asarray(Image.open(tmp_path / "a.png").crop((2, 2, 18, 18)))
    assert np.array_equal(crop, np.asarray(Image.open(folder / "seed0003.png")))

    bad = runner.invoke(main, ["generate", "--ckpt", str(trained), "--seeds", "5-2"])
    assert bad.exit_code != 0 and "--seeds" in bad.output


def test_style_mix(trained, tmp_path):
    out = tmp_path / "mix.png"
    result = CliRunner().invoke(main, ["style-mix", "--ckpt", str(trained), "--rows", "0-2",
                                       "--cols", "3-4", "--styles", "0-2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (3 * 18 + 2, 4 * 18 + 2)
    bad = CliRunner().invoke(main, ["style-mix", "--ckpt", str(trained), "--styles", "0-99"])
    assert bad.exit_code != 0 and "--styles" in bad.output


def test_parse_seeds():
    assert parse_seeds("0-3,7, 9", "--seeds") == [0, 1, 2, 3, 7, 9]
    for bad in ("a", "3-1", "-2", ""):
        with pytest.raises(Exception, match="seeds"):
            parse_seeds(bad, "--seeds")
