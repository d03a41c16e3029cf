"""Image transforms: mode conversion, square policy, resize or pad, and batch augmentation.

A source image goes through two stages. The *static* stage (`prepare_image`) runs once per
image, and its uint8 result is what the in-memory cache holds: mode conversion to the model's
channel count, making the image square, then resizing or padding it to the stored side
`S = R + jitter_pixels(R)`. The *random* stage (`augment_batch`) runs per batch: crop `R x R`
out of `S x S` (random or centered), horizontal flip, and scaling to float in [-1, 1].
"""

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
SQUARE_POLICIES = ("center-crop", "pad", "stretch")
FIT_POLICIES = ("auto", "resize", "pad")
CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


@dataclass(frozen=True)
class TransformConfig:
    """How source images become model inputs.

    square: how a non-square image becomes square. "center-crop" keeps the central square,
        "pad" centers it on a square of `pad_value`, "stretch" resizes it to a square.
    fit: how the square image of side s reaches the stored side S. "resize" always resamples
        with `filter`; "pad" centers it on `pad_value` when s <= S (resamples when s > S);
        "auto" pads when S - s is in (0, S / 8] (28 -> 32) and resamples otherwise.
    filter: the Pillow resampling filter used for every resize ("lanczos" by default).
    jitter: the stored side is R + round(jitter * R); each batch then crops R x R out of it.
    random_crop: crop at a random offset (training); False crops the center.
    hflip: flip each image horizontally with probability 1/2.
    pad_value: the uint8 gray level used for padding (0 becomes -1.0 after scaling).
    matte: the uint8 gray level that transparent pixels are composited onto whenever an
        alpha channel is dropped (RGBA or palette with transparency to 1 or 3 channels).
    """

    square: str = "center-crop"
    fit: str = "auto"
    filter: str = "lanczos"
    jitter: float = 0.0
    random_crop: bool = False
    hflip: bool = False
    pad_value: int = 0
    matte: int = 255

    def __post_init__(self) -> None:
        if self.square not in SQUARE_POLICIES:
            raise ValueError(f"square must be one of {SQUARE_POLICIES}, got {self.square!r}")
        if self.fit not in FIT_POLICIES:
            raise ValueError(f"fit must be one of {FIT_POLICIES}, got {self.fit!r}")
        if self.filter not in FILTERS:
            raise ValueError(f"filter must be one of {tuple(FILTERS)}, got {self.filter!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")
        for name in ("pad_value", "matte"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 255:
                raise ValueError(f"{name} must be an int in [0, 255], got {value!r}")

    def stored_side(self, resolution: int) -> int:
        """The side S of the cached square image for output resolution R."""
        return resolution + int(round(self.jitter * resolution))

    @property
    def is_random(self) -> bool:
        """True when batches of the same indices can differ (random crop or flip)."""
        return self.hflip or (self.random_crop and self.jitter > 0)


_MODEL_DEFAULTS = {
    "plain": TransformConfig(),
    "dcgan": TransformConfig(),
    "wgan": TransformConfig(),
    "stylegan": TransformConfig(hflip=True),
    "cyclegan": TransformConfig(jitter=0.125, random_crop=True, hflip=True),
    "stargan": TransformConfig(hflip=True),
    "stargan2": TransformConfig(jitter=0.125, random_crop=True, hflip=True),
}


def default_transform(model: str) -> TransformConfig:
    """The training transform each model family expects (CycleGAN: load 1.125 R, random crop
    R and flip, as in its paper's 286 -> 256; generators: no crop)."""
    if model not in _MODEL_DEFAULTS:
        raise ValueError(f"model must be one of {tuple(_MODEL_DEFAULTS)}, got {model!r}")
    return _MODEL_DEFAULTS[model]


def _sixteen_bit_to_8(img: Image.Image) -> Image.Image:
    """Scales a 16/32-bit integer or float gray image to 8 bits by its full range."""
    a = np.asarray(img)
    if img.mode == "F":
        a = np.clip(a, 0.0, 1.0) * 255.0 if a.max(initial=0.0) <= 1.0 else np.clip(a, 0, 255)
    else:
        a = a.astype(np.float64) / 257.0 if a.max(initial=0) > 255 else a.astype(np.float64)
    return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8), mode="L")


def convert_mode(img: Image.Image, channels: int, matte: int = 255) -> Image.Image:
    """Converts any Pillow image to mode L (1 channel), RGB (3) or RGBA (4).

    16-bit gray is scaled to 8 bits (not clipped); palette images keep their transparency;
    alpha is composited onto gray level `matte` when the target has no alpha channel.
    """
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {tuple(CHANNEL_MODES)}, got {channels}")

    # Bring every mode to one of L, LA, RGB, RGBA.
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _sixteen_bit_to_8(img)
    elif img.mode in ("P", "PA"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
    elif img.mode not in ("L", "LA", "RGB", "RGBA"):
        img = img.convert("RGBA" if "A" in img.mode else "RGB")

    # Drop alpha onto the matte when the target has none.
    if img.mode in ("LA", "RGBA") and channels != 4:
        base = Image.new(img.mode[:-1], img.size, matte if img.mode == "LA" else (matte,) * 3)
        base.paste(img.convert(img.mode[:-1]), mask=img.getchannel("A"))
        img = base
    target = CHANNEL_MODES[channels]
    return img if img.mode == target else img.convert(target)


def _pad_to(img: Image.Image, side: int, value: int) -> Image.Image:
    """Centers `img` on a side x side canvas filled with `value`."""
    fill = value if len(img.getbands()) == 1 else (value,) * len(img.getbands())
    canvas = Image.new(img.mode, (side, side), fill)
    canvas.paste(img, ((side - img.width) // 2, (side - img.height) // 2))
    return canvas


def make_square(img: Image.Image, cfg: TransformConfig) -> Image.Image:
    """Applies the non-square policy `cfg.square`; square images pass unchanged."""
    w, h = img.size
    if w == h:
        return img
    if cfg.square == "center-crop":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        return img.crop((left, top, left + s, top + s))
    if cfg.square == "pad":
        return _pad_to(img, max(w, h), cfg.pad_value)
    s = max(w, h)
    return img.resize((s, s), FILTERS[cfg.filter])


def fit_side(img: Image.Image, side: int, cfg: TransformConfig) -> Image.Image:
    """Brings a square image to side x side by padding or resizing, per `cfg.fit`."""
    s = img.width
    if s == side:
        return img
    pad = cfg.fit == "pad" or (cfg.fit == "auto" and 0 < side - s <= side // 8)
    if pad and s < side:
        return _pad_to(img, side, cfg.pad_value)
    return img.resize((side, side), FILTERS[cfg.filter])


def prepare_image(
    img: Image.Image, *, resolution: int, channels: int, cfg: TransformConfig
) -> np.ndarray:
    """The static stage: returns uint8 [C, S, S] with S = cfg.stored_side(resolution)."""
    img = convert_mode(img, channels, cfg.matte)
    img = fit_side(make_square(img, cfg), cfg.stored_side(resolution), cfg)
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else np.ascontiguousarray(a.transpose(2, 0, 1))


def prepare_array(
    images: np.ndarray, *, resolution: int, channels: int, cfg: TransformConfig
) -> np.ndarray:
    """The static stage for a stack of equal-size gray or color images.

    images: uint8 [N, H, W] or [N, H, W, C]. Returns uint8 [N, C', S, S]. Square gray input that
    only needs padding is handled in one numpy call; anything else goes image by image.
    """
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(
            f"images must be uint8 [N, H, W] or [N, H, W, C], got {images.dtype} "
            f"{list(images.shape)}"
        )
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {tuple(CHANNEL_MODES)}, got {channels}")
    side = cfg.stored_side(resolution)
    n, h, w = images.shape[:3]
    fast_pad = cfg.fit == "pad" or (cfg.fit == "auto" and 0 <= side - h <= side // 8)
    if images.ndim == 3 and h == w and h <= side and fast_pad:
        lo = (side - h) // 2
        out = np.full((n, side, side), cfg.pad_value, dtype=np.uint8)
        out[:, lo : lo + h, lo : lo + w] = images
        out = out[:, None]
        if channels == 3:
            out = np.repeat(out, 3, axis=1)
        elif channels == 4:
            out = np.concatenate([np.repeat(out, 3, axis=1), np.full_like(out, 255)], axis=1)
        return out
    if n == 0:
        return np.zeros((0, channels, side, side), np.uint8)
    return np.stack(
        [
            prepare_image(Image.fromarray(a), resolution=resolution, channels=channels, cfg=cfg)
            for a in images
        ]
    )


def augment_batch(
    x: torch.Tensor, *, resolution: int, cfg: TransformConfig, generator: torch.Generator | None
) -> torch.Tensor:
    """The random stage: crop, flip and scale a batch of stored images.

    x: uint8 [N, C, S, S]. Returns float32 [N, C, R, R] in [-1, 1] (0 -> -1, 255 -> 1).
    """
    n, _, side, _ = x.shape
    margin = side - resolution

    # Crop R x R: per-image random offsets, or the center.
    if margin > 0:
        if cfg.random_crop:
            offsets = torch.randint(0, margin + 1, (n, 2), generator=generator).tolist()
        else:
            offsets = [(margin // 2, margin // 2)] * n
        x = torch.stack(
            [x[i, :, oy : oy + resolution, ox : ox + resolution] for i, (oy, ox) in
             enumerate(offsets)]
        )

    # Scale, then flip the chosen half (assigning a masked subset beats flipping them all).
    y = x.float().mul_(2.0 / 255.0).sub_(1.0)
    if cfg.hflip:
        flip = torch.rand(n, generator=generator) < 0.5
        y[flip] = y[flip].flip(-1)
    return y
