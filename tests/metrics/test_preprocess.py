"""Preprocessing: uint8 quantization, gray to RGB, and the TF1 bilinear resize."""

import pytest
import torch
import torch.nn.functional as F

from fastgan.metrics.preprocess import Preprocessing, prepare, quantize_uint8, resize


def _nvlabs_style_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize as NVlabs' inception-2015-12-05.pt does it: grid_sample on an affine grid whose
    translation is shifted by 1/in - 1/out (normalized units), border padding."""
    n, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype).unsqueeze(0).repeat(n, 1, 1)
    theta[:, 0, 2] += 1.0 / w - 1.0 / size
    theta[:, 1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@pytest.mark.parametrize("side_in", [28, 64, 512])
def test_tf1_bilinear_matches_the_torchscript_resize(side_in):
    # float64 on both sides, so only the formula can differ, not float32 rounding.
    torch.manual_seed(side_in)
    x = torch.rand(2, 3, side_in, side_in + 3, dtype=torch.float64) * 255
    ours = resize(x, 299, "tf1-bilinear")
    theirs = _nvlabs_style_resize(x, 299)
    assert ours.shape == (2, 3, 299, 299)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-9)


def test_torch_bilinear_is_interpolate_with_half_pixel_centres():
    x = torch.rand(1, 3, 28, 28) * 255
    expected = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    torch.testing.assert_close(resize(x, 299, "torch-bilinear"), expected, rtol=0, atol=0)
    assert not torch.allclose(resize(x, 299, "tf1-bilinear"), expected, atol=1e-2)


def test_quantization_rounds_half_up_and_clamps():
    x = torch.tensor([-1.5, -1.0, -1.0 + 0.5 / 127.5, 0.0, 0.999, 1.0, 2.0])
    q = quantize_uint8(x.view(1, 1, 1, -1)).flatten().tolist()
    assert q == [0, 0, 1, 128, 255, 255, 255]
    u = torch.randint(0, 256, (2, 1, 4, 4), dtype=torch.uint8)
    assert quantize_uint8(u) is u
    # A stored uint8 image survives the trip through [-1, 1] floats exactly.
    assert torch.equal(quantize_uint8(u.float() / 127.5 - 1.0), u)


def test_prepare_quantizes_before_resizing_and_repeats_gray():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    out = prepare(x, Preprocessing())
    assert out.shape == (2, 3, 299, 299) and out.dtype == torch.float32
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    expected = resize(quantize_uint8(x).float().repeat(1, 3, 1, 1), 299, "tf1-bilinear")
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert out.min() >= 0 and out.max() <= 255


def test_bad_preprocessing_arguments():
    with pytest.raises(ValueError, match="resize must be one of"):
        Preprocessing(resize="bicubic")
    with pytest.raises(ValueError, match="images must have 1 or 3 channels, got 2"):
        prepare(torch.zeros(1, 2, 8, 8), Preprocessing())
    with pytest.raises(TypeError, match="images must be uint8 or floating point"):
        quantize_uint8(torch.zeros(1, 1, 2, 2, dtype=torch.int32))
