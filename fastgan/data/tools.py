"""What `fastgan dataset info` and `fastgan dataset pack` do, as library functions."""

import io
import json
import logging
import os
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from fastgan.data.build import ArraySource, locate
from fastgan.data.dataset import READ_ERRORS, SubsetReader, unreadable_message
from fastgan.data.sources import LABELS_JSON, FileReader, Found
from fastgan.data.transforms import TransformConfig, prepare_array, prepare_image

logger = logging.getLogger(__name__)

_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass(frozen=True)
class DatasetSummary:
    """Counts of a source as found on disk, before any transform.

    sizes: (width, height) -> images; modes: Pillow mode -> images; class_counts: images per
    class or, for attributes, images with the attribute set; unreadable: (name, reason).
    """

    description: str
    count: int
    sizes: dict[tuple[int, int], int]
    modes: dict[str, int]
    class_names: tuple[str, ...]
    class_counts: tuple[int, ...]
    attributes: bool
    unreadable: list[tuple[str, str]] = field(default_factory=list)


def _located(spec, split: str, data_root: str | None) -> ArraySource | Found:
    """A spec string located, or an already located source passed through."""
    if isinstance(spec, (ArraySource, Found)):
        return spec
    return locate(spec, split=split, data_root=data_root)


def summarize(spec: "str | ArraySource | Found", *, split: str = "train",
              data_root: str | None = None,
              verify: bool = True, progress: Callable[[int], None] | None = None
              ) -> DatasetSummary:
    """Counts, sizes, modes, labels and unreadable files of a spec (or a located source).

    verify: decode every image fully (finds truncated files); False reads headers only.
    """
    found = _located(spec, split, data_root)
    labels = found.labels
    if labels is None:
        class_counts = ()
    elif labels.ndim == 2:
        class_counts = tuple(int(c) for c in labels.sum(0))
    else:
        class_counts = tuple(int(c) for c in np.bincount(labels, minlength=len(found.class_names)))
    common = dict(class_names=found.class_names, class_counts=class_counts,
                  attributes=labels is not None and labels.ndim == 2)

    # Arrays: one size and mode for all.
    if isinstance(found, ArraySource):
        n, h, w = found.images.shape[:3]
        c = 1 if found.images.ndim == 3 else found.images.shape[3]
        mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(c, f"{c}-channel")
        if progress is not None:
            progress(n)
        return DatasetSummary(found.description, n, {(w, h): n} if n else {},
                              {mode: n} if n else {}, **common)

    # Files: open each (headers only unless verify).
    sizes, modes, unreadable = Counter(), Counter(), []
    reader = found.reader
    for i in range(len(reader)):
        try:
            size, mode = _header(reader, i) if not verify else _loaded(reader, i)
            sizes[size] += 1
            modes[mode] += 1
        except READ_ERRORS as error:
            unreadable.append((reader.name(i), f"{type(error).__name__}: {error}"))
        if progress is not None:
            progress(1)
    return DatasetSummary(found.description, len(reader), dict(sizes), dict(modes),
                          unreadable=unreadable, **common)


def _loaded(reader, i: int) -> tuple[tuple[int, int], str]:
    """(size, mode) of image i, decoded in full (so truncated files fail here)."""
    img = reader.open(i)
    return img.size, img.mode


def _header(reader, i: int) -> tuple[tuple[int, int], str]:
    """(size, mode) of image i from its header only, where the reader allows it."""
    if isinstance(reader, SubsetReader):
        return _header(reader.reader, int(reader.indices[i]))
    if isinstance(reader, FileReader):
        with Image.open(reader.name(i)) as img:
            return img.size, img.mode
    return _loaded(reader, i)


def guess_channels(spec: "str | ArraySource | Found", *, split: str = "train",
                   data_root: str | None = None,
                   sample: int = 64) -> int:
    """1 when the first `sample` readable images are all gray, else 3."""
    found = _located(spec, split, data_root)
    if isinstance(found, ArraySource):
        return 1 if found.images.ndim == 3 else found.images.shape[3]
    seen = 0
    for i in range(len(found.reader)):
        try:
            mode = _header(found.reader, i)[1]
        except READ_ERRORS:
            continue
        if mode not in _GRAY_MODES:
            return 3
        seen += 1
        if seen >= sample:
            break
    return 1


def pack(spec: "str | ArraySource | Found", dest: str | os.PathLike, *, resolution: int,
         channels: int | None = None,
         split: str = "train", data_root: str | None = None,
         transform: TransformConfig | None = None,
         progress: Callable[[int], None] | None = None) -> dict:
    """Writes the images of a spec, prepared at resolution x resolution, as PNGs in a zip with
    a dataset.json of labels (the StyleGAN layout, plus "class_names"). Unreadable files are
    left out with one warning. The zip is written to a temporary name, then renamed.

    Returns {"images": written, "unreadable": skipped, "channels": C, "dest": path}.
    """
    if not isinstance(resolution, int) or resolution <= 0:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    dest = Path(dest)
    if dest.suffix.lower() != ".zip":
        raise ValueError(f"dest must end in .zip, got {str(dest)!r}")
    transform = TransformConfig() if transform is None else transform
    if transform.jitter != 0:
        raise ValueError(f"transform.jitter must be 0 for packing, got {transform.jitter}")
    found = _located(spec, split, data_root)
    channels = guess_channels(found) if channels is None else channels
    kwargs = dict(resolution=resolution, channels=channels, cfg=transform)
    n = len(found.images) if isinstance(found, ArraySource) else len(found.reader)

    entries, failures = [], []
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for start in range(0, n, 1024):
            # Prepare a chunk: arrays in one call, files one by one (skipping bad ones).
            stop = min(start + 1024, n)
            if isinstance(found, ArraySource):
                chunk = list(zip(range(start, stop), prepare_array(found.images[start:stop],
                                                                   **kwargs)))
            else:
                chunk = []
                for i in range(start, stop):
                    try:
                        chunk.append((i, prepare_image(found.reader.open(i), **kwargs)))
                    except READ_ERRORS as error:
                        failures.append((found.reader.name(i), f"{type(error).__name__}: {error}"))

            # Write each as PNG; the label goes to dataset.json.
            for i, a in chunk:
                name = f"{len(entries) // 1000:05d}/img{len(entries):08d}.png"
                buf = io.BytesIO()
                Image.fromarray(a[0] if channels == 1 else a.transpose(1, 2, 0)).save(
                    buf, format="PNG", compress_level=6)
                zf.writestr(name, buf.getvalue())
                label = None if found.labels is None else found.labels[i].tolist()
                entries.append([name, label])
            if progress is not None:
                progress(stop - start)

        meta = {"labels": entries if found.labels is not None else None,
                "class_names": list(found.class_names), "resolution": resolution,
                "channels": channels, "source": found.description}
        zf.writestr(LABELS_JSON, json.dumps(meta))
    os.replace(tmp, dest)
    if failures:
        logger.warning(unreadable_message(failures, n, f"images in {found.description}"))
    return {"images": len(entries), "unreadable": len(failures), "channels": channels,
            "dest": str(dest)}
