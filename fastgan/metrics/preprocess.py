"""The fixed image preprocessing in front of every feature extractor.

Steps, in this order, for real and generated images alike:

1. Quantize to uint8 as images are stored: float images in [-1, 1] map to
   `floor((x + 1) * 127.5 + 0.5)` clamped to [0, 255] (round half up; -1 -> 0, 1 -> 255).
   uint8 input passes unchanged. Generated images thus carry no precision real ones lack.
2. Grayscale to RGB by repeating the channel 3 times; 3-channel images pass unchanged.
3. Resize to `size` x `size` with `resize`:
   - "tf1-bilinear" (default): bilinear with source coordinate `o * in / out` and the last
     row/column repeated at the border: TensorFlow 1's `resize_bilinear` (align_corners=False),
     which the original TF FID graph and NVlabs' `inception-2015-12-05.pt` apply.
   - "torch-bilinear": `torch.nn.functional.interpolate(mode="bilinear", align_corners=False,
     antialias=False)` with half-pixel centres, as pytorch-fid applies.
   Neither filter antialiases; the extractor then sees float32 values in [0, 255].
"""

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

RESIZE_FILTERS = ("tf1-bilinear", "torch-bilinear")


@dataclass(frozen=True)
class Preprocessing:
    """How images become extractor input. Recorded with every metric result.

    Attributes:
        size: output side in pixels (299 for Inception-v3).
        resize: one of RESIZE_FILTERS.
        quantize: fixed "uint8-round-half-up" (the only variant; recorded for the record).
        gray_to_rgb: fixed "repeat" (the only variant; recorded for the record).
    """

    size: int = 299
    resize: str = "tf1-bilinear"
    quantize: str = "uint8-round-half-up"
    gray_to_rgb: str = "repeat"

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"size must be a positive int, got {self.size!r}")
        if self.resize not in RESIZE_FILTERS:
            raise ValueError(f"resize must be one of {RESIZE_FILTERS}, got {self.resize!r}")
        if self.quantize != "uint8-round-half-up":
            raise ValueError(f"quantize must be 'uint8-round-half-up', got {self.quantize!r}")
        if self.gray_to_rgb != "repeat":
            raise ValueError(f"gray_to_rgb must be 'repeat', got {self.gray_to_rgb!r}")

    def describe(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def quantize_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [-1, 1] to uint8 by round-half-up; uint8 input is returned unchanged.

    Args:
        images: [N, C, H, W] float (any dtype) in [-1, 1], or uint8.

    Returns:
        [N, C, H, W] uint8, `floor((x + 1) * 127.5 + 0.5)` clamped to [0, 255].
    """
    if images.dtype == torch.uint8:
        return images
    if not images.dtype.is_floating_point:
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    scaled = torch.floor((images.to(torch.float32) + 1.0) * 127.5 + 0.5)
    return scaled.clamp_(0.0, 255.0).to(torch.uint8)


def _tf1_bilinear_matrix(n_in: int, n_out: int, device: torch.device) -> torch.Tensor:
    """[n_out, n_in] float64 weights of TF1 bilinear resize along one axis.

    Output index o samples source coordinate s = o * n_in / n_out between rows floor(s) and
    min(floor(s) + 1, n_in - 1) with weights 1 - frac(s) and frac(s).
    """
    s = torch.arange(n_out, dtype=torch.float64) * (n_in / n_out)
    i0 = torch.floor(s).to(torch.int64).clamp_(max=n_in - 1)
    i1 = (i0 + 1).clamp_(max=n_in - 1)
    frac = s - i0.to(torch.float64)

    weights = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    weights.index_put_((rows, i0), 1.0 - frac, accumulate=True)
    weights.index_put_((rows, i1), frac, accumulate=True)
    return weights.to(device)


def resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Resize float [N, C, H, W] to [N, C, size, size] with one of RESIZE_FILTERS."""
    if mode == "torch-bilinear":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                             antialias=False)
    if mode != "tf1-bilinear":
        raise ValueError(f"mode must be one of {RESIZE_FILTERS}, got {mode!r}")

    # Separable: y = A_h x A_w^T with the per-axis weight matrices, in x's dtype.
    a_h = _tf1_bilinear_matrix(x.shape[2], size, x.device).to(x.dtype)
    a_w = _tf1_bilinear_matrix(x.shape[3], size, x.device).to(x.dtype)
    return torch.einsum("oh,nchw,pw->ncop", a_h, x, a_w)


def prepare(images: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """Quantize, make RGB and resize a batch for an extractor.

    Args:
        images: [N, C, H, W] with C in {1, 3}, uint8 or float in [-1, 1].
        preprocessing: the fixed steps to apply.

    Returns:
        [N, 3, S, S] float32 in [0, 255], S = preprocessing.size.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
        raise ValueError(f"images must be a 4-D tensor [N, C, H, W], got {shape}")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got {images.shape[1]}")

    # Quantize first, then repeat gray to RGB, then resize in float32.
    x = quantize_uint8(images)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    x = x.to(torch.float32)
    if x.shape[2] == preprocessing.size and x.shape[3] == preprocessing.size:
        return x
    return resize(x, preprocessing.size, preprocessing.resize)
