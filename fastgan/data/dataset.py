"""`ImageDataset`: images (cached as uint8 in memory, or decoded on demand) plus labels."""

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from fastgan.data.transforms import TransformConfig, augment_batch, prepare_image

logger = logging.getLogger(__name__)

LABEL_MODES = ("index", "onehot", "multihot", "none")
# Above this many stored bytes a cache=True request falls back to decoding on demand.
CACHE_LIMIT_BYTES = 4 << 30
_NAMED_FAILURES = 5
# What Pillow raises for a file it cannot read (truncated, not an image, too large).
READ_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


class ImageReader(Protocol):
    """A picklable list of source images: `len(r)`, `r.name(i)` and `r.open(i)` (a loaded
    Pillow image; raises OSError or ValueError when the file is unreadable)."""

    def __len__(self) -> int: ...

    def name(self, i: int) -> str: ...

    def open(self, i: int) -> Image.Image: ...


class SubsetReader:
    """The images of another reader at the given indices."""

    def __init__(self, reader: ImageReader, indices: np.ndarray) -> None:
        self.reader, self.indices = reader, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def name(self, i: int) -> str:
        return self.reader.name(int(self.indices[i]))

    def open(self, i: int) -> Image.Image:
        return self.reader.open(int(self.indices[i]))


def unreadable_message(failures: Sequence[tuple[str, str]], total: int, what: str) -> str:
    """One line counting unreadable files and naming the first few with their errors."""
    named = "; ".join(f"{name} ({reason})" for name, reason in failures[:_NAMED_FAILURES])
    extra = len(failures) - _NAMED_FAILURES
    more = f"; and {extra} more" if extra > 0 else ""
    return f"skipped {len(failures)} unreadable of {total} {what}: {named}{more}"


def decode_all(
    reader: ImageReader,
    *,
    resolution: int,
    channels: int,
    transform: TransformConfig,
    progress: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decodes and prepares every image of `reader`.

    Returns (stored uint8 [M, C, S, S], kept int64 [M] source indices, failures as
    (name, reason)); unreadable images are left out, never raised.
    """
    side = transform.stored_side(resolution)
    stored = np.empty((len(reader), channels, side, side), np.uint8)
    kept: list[int] = []
    failures: list[tuple[str, str]] = []

    def load(i: int) -> np.ndarray | str:
        try:
            return prepare_image(reader.open(i), resolution=resolution, channels=channels,
                                 cfg=transform)
        except READ_ERRORS as error:
            return f"{type(error).__name__}: {error}"

    # Pillow decodes without the GIL, so threads overlap; map keeps the order.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        for i, a in enumerate(pool.map(load, range(len(reader)))):
            if isinstance(a, str):
                failures.append((reader.name(i), a))
            else:
                stored[len(kept)] = a
                kept.append(i)
            if progress is not None:
                progress(1)
    return stored[: len(kept)], np.asarray(kept, np.int64), failures


class ImageDataset(torch.utils.data.Dataset):
    """Images and labels, ready for a model.

    `ds[i]` is (x float32 [C, R, R] in [-1, 1], label), the label being an int64 scalar (-1
    when unlabeled or labels="none"), a float32 one-hot [K] or a float32 multi-hot [K].
    `ds.get_batch(indices)` returns the same for many indices at once: x [N, C, R, R] and
    labels [N] or [N, K]; with the cache this is one tensor index, which is why it is fast.

    Attributes: num_classes (K, 0 when unlabeled), class_names (K names), resolution (R),
    channels (C), labels (int64 [N] class indices, int64 [N, K] 0/1 attributes, or None),
    label_mode, transform, cached (bool), source (a description of where the images came from).
    """

    def __init__(
        self,
        *,
        resolution: int,
        channels: int,
        transform: TransformConfig,
        labels: np.ndarray | None,
        class_names: Sequence[str],
        label_mode: str = "index",
        stored: np.ndarray | torch.Tensor | None = None,
        reader: ImageReader | None = None,
        source: str = "",
    ) -> None:
        if (stored is None) == (reader is None):
            raise ValueError(
                f"exactly one of stored and reader must be given, got stored "
                f"{'None' if stored is None else 'set'} and reader {reader!r}"
            )
        if label_mode not in LABEL_MODES:
            raise ValueError(f"labels must be one of {LABEL_MODES}, got {label_mode!r}")
        self.resolution, self.channels, self.transform = resolution, channels, transform
        self.source = source
        self.stored = torch.as_tensor(stored) if stored is not None else None
        self.reader = reader
        side = transform.stored_side(resolution)
        if self.stored is not None and (self.stored.dtype != torch.uint8 or self.stored.dim() != 4
                                        or tuple(self.stored.shape[1:]) != (channels, side, side)):
            raise ValueError(
                f"stored must be uint8 [N, {channels}, {side}, {side}], got {self.stored.dtype} "
                f"{list(self.stored.shape)}"
            )
        n = len(self.stored) if self.stored is not None else len(reader)

        # Labels: class indices [N] or 0/1 attributes [N, K].
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.ndim not in (1, 2) or labels.shape[0] != n:
                raise ValueError(
                    f"labels must have shape [{n}] or [{n}, K], got {list(labels.shape)}"
                )
            if labels.ndim == 2 and labels.shape[1] != len(class_names):
                raise ValueError(
                    f"class_names must name the {labels.shape[1]} attributes, got "
                    f"{len(class_names)} names"
                )
            if labels.ndim == 1 and len(labels) and not 0 <= labels.min() <= labels.max() < len(
                class_names
            ):
                raise ValueError(
                    f"labels must be class indices in [0, {len(class_names)}), got "
                    f"[{labels.min()}, {labels.max()}]"
                )
        self.labels = labels
        self.class_names = tuple(class_names) if labels is not None else ()
        self.num_classes = len(self.class_names)
        self.label_mode = self._resolve_label_mode(label_mode)
        self._label_table = self._make_label_table()
        self._warned_pid: int | None = None

    def _resolve_label_mode(self, mode: str) -> str:
        """Checks the label mode against the labels; attributes always give multi-hot."""
        if mode == "none":
            return mode
        if self.labels is None:
            if mode in ("onehot", "multihot"):
                raise ValueError(
                    f"labels={mode!r} needs a labeled dataset, but {self.source} has no labels"
                )
            return mode
        if self.labels.ndim == 2:
            if mode == "onehot":
                raise ValueError(
                    f"labels='onehot' needs one class per image, but {self.source} has "
                    f"{self.num_classes} attributes per image; use labels='multihot'"
                )
            return "multihot"
        if mode == "multihot":
            raise ValueError(
                f"labels='multihot' needs attribute labels, but {self.source} has one class "
                f"per image; use labels='onehot' or 'index'"
            )
        return mode

    def _make_label_table(self) -> torch.Tensor:
        """Per-image label rows: int64 [N] or float32 [N, K]."""
        n = len(self)
        if self.label_mode == "none" or self.labels is None:
            return torch.full((n,), -1, dtype=torch.int64)
        labels = torch.from_numpy(self.labels)
        if self.label_mode == "multihot":
            return labels.float()
        if self.label_mode == "onehot":
            return torch.nn.functional.one_hot(labels, self.num_classes).float()
        return labels

    @property
    def cached(self) -> bool:
        return self.stored is not None

    def __len__(self) -> int:
        return len(self.stored) if self.stored is not None else len(self.reader)

    def __repr__(self) -> str:
        return (
            f"ImageDataset({self.source}, n={len(self)}, resolution={self.resolution}, "
            f"channels={self.channels}, num_classes={self.num_classes}, "
            f"labels={self.label_mode!r}, cached={self.cached})"
        )

    def __getstate__(self) -> dict:
        # Workers started with `spawn` get a copy; the one-time warning state is per process.
        state = self.__dict__.copy()
        state["_warned_pid"] = None
        return state

    def subset(self, indices: Sequence[int] | np.ndarray, *, drop_labels: bool = False,
               source: str | None = None) -> "ImageDataset":
        """A dataset of the images at `indices` (int64 [M]), sharing this one's settings."""
        indices = np.asarray(indices, dtype=np.int64)
        labels = None if drop_labels or self.labels is None else self.labels[indices]
        mode = "none" if drop_labels else self.label_mode
        images = dict(stored=self.stored[torch.from_numpy(indices)]) if self.cached else dict(
            reader=SubsetReader(self.reader, indices)
        )
        return ImageDataset(resolution=self.resolution, channels=self.channels,
                            transform=self.transform, labels=labels,
                            class_names=self.class_names, label_mode=mode,
                            source=self.source if source is None else source, **images)

    def _load_one(self, i: int) -> tuple[np.ndarray, int]:
        """uint8 [C, S, S] of image i and its index; an unreadable file is replaced by the next
        readable one (warned once per process), so a bad file never stops an epoch."""
        n = len(self)
        for k in range(n):
            j = (i + k) % n
            try:
                return prepare_image(self.reader.open(j), resolution=self.resolution,
                                     channels=self.channels, cfg=self.transform), j
            except READ_ERRORS as error:
                if self._warned_pid != os.getpid():
                    self._warned_pid = os.getpid()
                    logger.warning(
                        "unreadable image %s (%s: %s) replaced by the next one; run "
                        "`fastgan dataset info` to list all unreadable files",
                        self.reader.name(j), type(error).__name__, error,
                    )
        raise RuntimeError(f"no image of {self.source} could be read ({n} tried)")

    def stored_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 [N, C, S, S] before the random stage, and the int64 [N] indices actually
        loaded (different from `indices` only where an unreadable file was replaced)."""
        if self.stored is not None:
            return self.stored[indices], indices
        loaded = [self._load_one(int(i)) for i in indices]
        x = torch.from_numpy(np.stack([a for a, _ in loaded]))
        return x, torch.tensor([j for _, j in loaded], dtype=torch.int64)

    def get_batch(
        self, indices: Sequence[int] | torch.Tensor, *, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x float32 [N, C, R, R] in [-1, 1] and labels int64 [N] or float32 [N, K].

        generator: drives random crops and flips (the global RNG when None).
        """
        indices = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
        x, indices = self.stored_batch(indices)
        x = augment_batch(x, resolution=self.resolution, cfg=self.transform, generator=generator)
        return x, self._label_table[indices]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self)
        if not -n <= int(i) < n:
            raise IndexError(f"index must be in [{-n}, {n}), got {i}")
        x, y = self.get_batch([int(i) % n])
        return x[0], y[0]


def build_image_dataset(
    reader: ImageReader,
    *,
    resolution: int,
    channels: int,
    transform: TransformConfig,
    labels: np.ndarray | None,
    class_names: Sequence[str],
    label_mode: str,
    cache: bool,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> ImageDataset:
    """An ImageDataset over files: decoded up front into the cache (unreadable files left out,
    with one warning) or, without cache or above CACHE_LIMIT_BYTES, decoded per batch."""
    side = transform.stored_side(resolution)
    size = len(reader) * channels * side * side
    if cache and size > CACHE_LIMIT_BYTES:
        logger.info("%s needs %.1f GiB cached; decoding per batch instead", source, size / 2**30)
        cache = False
    if not cache:
        return ImageDataset(resolution=resolution, channels=channels, transform=transform,
                            labels=labels, class_names=class_names, label_mode=label_mode,
                            reader=reader, source=source)

    stored, kept, failures = decode_all(reader, resolution=resolution, channels=channels,
                                        transform=transform, progress=progress)
    if failures:
        logger.warning(unreadable_message(failures, len(reader), f"images in {source}"))
    if len(kept) == 0:
        raise ValueError(f"{source}: none of its {len(reader)} images could be read")
    return ImageDataset(resolution=resolution, channels=channels, transform=transform,
                        labels=None if labels is None else labels[kept], class_names=class_names,
                        label_mode=label_mode, stored=stored, source=source)
