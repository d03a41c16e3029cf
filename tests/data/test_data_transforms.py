"""Mode conversion, the square and fit policies, and the random stage."""

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.data import TransformConfig, default_transform
from fastgan.data.transforms import augment_batch, convert_mode, prepare_array, prepare_image
from tests.data.builders import save_image, solid


def _prep(img, resolution, channels, **cfg):
    return prepare_image(img, resolution=resolution, channels=channels,
                         cfg=TransformConfig(**cfg))


def test_rgba_png_alpha_goes_onto_the_matte(tmp_path):
    rgba = solid(4, 4, (255, 0, 0, 255), channels=4)
    rgba[0, 0] = (0, 255, 0, 0)  # fully transparent green
    rgba[0, 1] = (0, 0, 0, 128)  # half transparent black
    img = Image.open(save_image(tmp_path / "a.png", rgba))
    assert img.mode == "RGBA"
    rgb = _prep(img, 4, 3, matte=255)
    assert rgb.shape == (3, 4, 4)
    assert rgb[:, 0, 0].tolist() == [255, 255, 255]  # the matte, not the hidden green
    assert all(abs(v - 127) <= 1 for v in rgb[:, 0, 1].tolist())
    assert rgb[:, 3, 3].tolist() == [255, 0, 0]
    kept = _prep(img, 4, 4)
    assert kept[:, 0, 0].tolist() == [0, 255, 0, 0]
    gray = _prep(img, 4, 1, matte=0)
    assert gray.shape == (1, 4, 4) and gray[0, 0, 0] == 0


def test_palette_png_with_and_without_transparency(tmp_path):
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.save(tmp_path / "p.png", transparency=0)
    img = Image.open(tmp_path / "p.png")
    assert img.mode == "P" and "transparency" in img.info
    rgb = _prep(img, 4, 3, matte=255)
    assert rgb[:, 0, 0].tolist() == [255, 255, 255] and rgb[:, 1, 1].tolist() == [10, 200, 30]
    rgba = _prep(img, 4, 4)
    assert rgba[3, 0, 0] == 0 and rgba[3, 1, 1] == 255

    pal.save(tmp_path / "q.png")
    rgb = _prep(Image.open(tmp_path / "q.png"), 4, 3)
    assert rgb[:, 0, 0].tolist() == [0, 0, 0] and rgb[:, 1, 1].tolist() == [10, 200, 30]


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    a = np.array([[0, 257 * 100], [65535, 257 * 200]], np.uint16)
    Image.fromarray(a).save(tmp_path / "d.png")
    img = Image.open(tmp_path / "d.png")
    assert img.mode.startswith("I")
    out = _prep(img, 2, 1)
    assert out[0].tolist() == [[0, 100], [255, 200]]
    assert _prep(Image.open(tmp_path / "d.png"), 2, 3)[:, 1, 0].tolist() == [255] * 3


def test_gray_to_rgb_and_rgba():
    img = Image.fromarray(solid(3, 3, 77, channels=1))
    assert (_prep(img, 3, 3) == 77).all()
    rgba = _prep(img, 3, 4)
    assert (rgba[:3] == 77).all() and (rgba[3] == 255).all()
    with pytest.raises(ValueError, match="channels"):
        convert_mode(img, 2)


def test_non_square_policies():
    a = np.zeros((4, 8), np.uint8)  # H=4, W=8: left half 0, right half 200, a marker column
    a[:, 4:] = 200
    a[:, 2] = 50
    img = Image.fromarray(a)
    crop = _prep(img, 4, 1, square="center-crop")[0]
    np.testing.assert_array_equal(crop, a[:, 2:6])
    pad = _prep(img, 8, 1, square="pad", pad_value=9)[0]
    assert (pad[:2] == 9).all() and (pad[6:] == 9).all()
    np.testing.assert_array_equal(pad[2:6], a)
    stretch = _prep(img, 8, 1, square="stretch", filter="nearest")[0]
    np.testing.assert_array_equal(stretch[::2], a)


def test_fit_pads_small_gaps_and_resizes_otherwise():
    img = Image.fromarray(solid(28, 28, 255, channels=1))
    padded = _prep(img, 32, 1, pad_value=0)[0]
    assert padded.shape == (32, 32) and padded[1, 1] == 0 and padded[2, 2] == 255
    resized = _prep(img, 64, 1)[0]
    assert resized.shape == (64, 64) and (resized == 255).all()
    forced = _prep(img, 32, 1, fit="resize")[0]
    assert (forced == 255).all()
    # prepare_array's one-call pad matches image-by-image preparation.
    stack = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    cfg = TransformConfig()
    fast = prepare_array(stack, resolution=32, channels=3, cfg=cfg)
    slow = np.stack([prepare_image(Image.fromarray(s), resolution=32, channels=3, cfg=cfg)
                     for s in stack])
    np.testing.assert_array_equal(fast, slow)


def test_augment_scales_crops_and_flips_deterministically():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).reshape(2, 1, 6, 6)
    plain = augment_batch(x, resolution=6, cfg=TransformConfig(), generator=None)
    torch.testing.assert_close(plain.double(), x.double() * (2 / 255) - 1, atol=1e-6, rtol=0)
    edges = augment_batch(torch.tensor([[[[0, 255], [255, 0]]]], dtype=torch.uint8),
                          resolution=2, cfg=TransformConfig(), generator=None)
    assert edges.flatten().tolist() == [-1.0, 1.0, 1.0, -1.0]

    cfg = TransformConfig(jitter=0.5, random_crop=True, hflip=True)
    runs = [augment_batch(x.repeat(8, 1, 1, 1), resolution=4, cfg=cfg,
                          generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert runs[0].shape == (16, 1, 4, 4) and torch.equal(runs[0], runs[1])
    center = augment_batch(x, resolution=4, cfg=TransformConfig(jitter=0.5), generator=None)
    torch.testing.assert_close(center, x[:, :, 1:5, 1:5].float() * (2 / 255) - 1)
    # Every output is a 4x4 window of its source, possibly mirrored.
    src = (x.repeat(8, 1, 1, 1).float() * (2 / 255) - 1)
    for out, full in zip(runs[0], src):
        windows = [full[:, i:i + 4, j:j + 4] for i in range(3) for j in range(3)]
        assert any(torch.equal(out, w) or torch.equal(out, w.flip(-1)) for w in windows)


def test_transform_config_checks_and_model_defaults():
    with pytest.raises(ValueError, match="square"):
        TransformConfig(square="fill")
    with pytest.raises(ValueError, match="filter"):
        TransformConfig(filter="cubic")
    with pytest.raises(ValueError, match="pad_value"):
        TransformConfig(pad_value=300)
    with pytest.raises(ValueError, match="jitter"):
        TransformConfig(jitter=-0.1)
    cyc = default_transform("cyclegan")
    assert cyc.stored_side(256) == 288 and cyc.random_crop and cyc.hflip and cyc.is_random
    assert not default_transform("dcgan").is_random
    with pytest.raises(ValueError, match="model"):
        default_transform("vae")
