import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from fastgan.cli import main

TINY = ["-o", "ngf=4", "-o", "ndf=4", "-o", "n_blocks=1", "-o", "n_layers=2"]


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a CPU shared with other work, tiny nets run far faster."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def run(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def write_images(folder, specs):
    """PNG/JPEG files of random pixels: specs are (relative name, mode, (W, H))."""
    rng = np.random.default_rng(0)
    for name, mode, (w, h) in specs:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
        pixels = rng.integers(0, 256, size=(h, w, channels), dtype=np.uint8)
        Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A 2-step CycleGAN run on a trainA/trainB folder: RGB A, gray B (no identity loss)."""
    data = tmp_path / "data"
    write_images(data, [("trainA/a0.png", "RGB", (20, 20)), ("trainA/a1.png", "RGB", (16, 18)),
                        ("trainB/b0.png", "L", (17, 17)), ("trainB/b1.png", "L", (30, 20))])
    result = run(["train", "--model", "cyclegan", "--data", str(data), "--resolution", "16",
                  "--channels", "3", "--steps", "2", "--runs-dir", str(tmp_path / "runs"),
                  "--name", "cg", "--eval-n", "0", "--no-progress", "-o", "channels_b=1",
                  "-o", "lambda_idt=0", *TINY])
    assert result.exit_code == 0, result.output
    assert "finished at step 2" in result.output
    return tmp_path / "runs" / "cg"


def test_translate_a_folder_keeps_names_and_sizes(tiny_checkpoint, tmp_path):
    inputs = tmp_path / "in"
    specs = [("x.png", "RGB", (255, 255)), ("odd.png", "RGBA", (13, 9)),
             ("sub/photo.jpg", "RGB", (64, 48)), ("gray.png", "L", (7, 31))]
    write_images(inputs, specs)
    (inputs / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = run(["translate", "--ckpt", str(tiny_checkpoint), "--direction", "AtoB",
                  "--input", str(inputs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "translated 4 images AtoB" in result.output
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["gray.png", "odd.png", "sub/photo.jpg", "x.png"]
    for name, _, size in specs:
        image = Image.open(out / name)
        assert image.size == size, name
        assert image.mode == "L", name  # B is gray
    assert Image.open(out / "sub/photo.jpg").format == "JPEG"


def test_translate_one_file_backwards(tiny_checkpoint, tmp_path):
    write_images(tmp_path, [("one.png", "RGB", (21, 11))])
    out = tmp_path / "out"
    result = run(["translate", "--ckpt", str(tiny_checkpoint), "--direction", "BtoA",
                  "--input", str(tmp_path / "one.png"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["one.png"]
    image = Image.open(out / "one.png")
    assert image.size == (21, 11) and image.mode == "RGB"  # A is RGB


def test_translate_refuses_bad_input(tiny_checkpoint, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["translate", "--ckpt", str(tiny_checkpoint), "--input",
                                       str(empty), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "no images in" in result.output
    result = CliRunner().invoke(main, ["translate", "--ckpt", str(tiny_checkpoint), "--input",
                                       str(empty), "--out", str(tmp_path / "o"), "--direction",
                                       "AtoC"])
    assert result.exit_code != 0 and "AtoC" in result.output
