"""`build_dataset` and `build_unpaired`: a spec string to datasets.

A spec names a source, optionally followed by `:a,b,...` choosing classes, domains or
attributes in that order:

- `fashion-mnist[:classes]`: the built-in data set (see fastgan.data.fashion_mnist).
- an IDX images file (`...-images-idx3-ubyte[.gz]`), labels from the matching labels file.
- a zip of images, with an optional `dataset.json` of labels.
- a folder: StarGAN v2 layout (`train/<domain>/`, `val/<domain>/`), a CelebA attribute file
  (`list_attr_celeba.txt`), a `dataset.json`, or classes from first-level sub-folders.
- a `list_attr_celeba.txt` file itself; its `:names` choose attributes.
"""

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fastgan.data import fashion_mnist, sources
from fastgan.data.dataset import ImageDataset, build_image_dataset
from fastgan.data.idx import find_label_file, read_idx
from fastgan.data.transforms import CHANNEL_MODES, TransformConfig, prepare_array

logger = logging.getLogger(__name__)

BUILTIN = "fashion-mnist"


def split_spec(spec: str) -> tuple[str, list[str] | None]:
    """(source, selected names or None). A `:` belongs to the source when the whole spec is an
    existing path (or a Windows drive letter), so paths with colons still work."""
    if not isinstance(spec, str) or not spec.strip():
        raise TypeError(f"spec must be a non-empty string, got {spec!r}")
    spec = spec.strip()
    if os.path.exists(spec) or ":" not in spec:
        return spec, None
    head, _, tail = spec.rpartition(":")
    if len(head) == 1 and head.isalpha() and tail.startswith(("\\", "/")):
        return spec, None
    names = [t.strip() for t in tail.split(",") if t.strip()]
    if not names:
        raise ValueError(f"spec {spec!r} has ':' but no names after it")
    return head, names


def _check_shape_args(resolution: int, channels: int) -> None:
    if not isinstance(resolution, int) or resolution <= 0:
        raise ValueError(f"resolution must be a positive int, got {resolution!r}")
    if channels not in CHANNEL_MODES:
        raise ValueError(f"channels must be one of {tuple(CHANNEL_MODES)}, got {channels!r}")


def select_classes(
    labels: np.ndarray, class_names: tuple[str, ...], names: list[str] | None
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Keeps the images of the named classes, relabeled 0..k-1 in the given order.

    labels: int64 [N]. Returns (kept int64 [M] indices, new labels int64 [M], new names).
    """
    if names is None:
        return np.arange(len(labels)), labels, class_names
    chosen = fashion_mnist.parse_classes(names, class_names)
    remap = np.full(len(class_names), -1, np.int64)
    remap[chosen] = np.arange(len(chosen))
    kept = np.flatnonzero(remap[labels] >= 0)
    return kept, remap[labels[kept]], tuple(class_names[c] for c in chosen)


@dataclass(frozen=True)
class ArraySource:
    """Images held as one array: uint8 [N, H, W] or [N, H, W, C], labels int64 [N] or None."""

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    description: str


def _fashion_mnist(names: list[str] | None, split: str, data_root: str | None) -> ArraySource:
    images, labels = fashion_mnist.load_arrays(split, data_root)
    kept, labels, class_names = select_classes(labels, fashion_mnist.FASHION_MNIST_CLASSES, names)
    description = f"fashion-mnist{':' + ','.join(class_names) if names else ''} ({split})"
    return ArraySource(images[kept], labels, class_names, description)


def _idx(path: Path, names: list[str] | None) -> ArraySource:
    images = read_idx(path)
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise ValueError(
            f"IDX images file {str(path)!r} must hold uint8 [N, H, W] or [N, H, W, C], got "
            f"{images.dtype} {list(images.shape)}"
        )
    label_path = find_label_file(path)
    if label_path is None:
        if names is not None:
            raise ValueError(
                f"class filter {names} needs a labels file next to {str(path)!r} "
                f"(same name with labels-idx1 for images-idx3), and there is none"
            )
        return ArraySource(images, None, (), f"IDX {path}")
    labels = read_idx(label_path).astype(np.int64)
    if labels.shape != images.shape[:1]:
        raise ValueError(
            f"labels file {str(label_path)!r} has shape {list(labels.shape)}, but {str(path)!r} "
            f"holds {len(images)} images"
        )
    if labels.min(initial=0) < 0:
        raise ValueError(f"labels in {str(label_path)!r} must be >= 0, got {labels.min()}")
    class_names = tuple(str(c) for c in range(int(labels.max(initial=-1)) + 1))
    sources.warn_label_gaps(labels, class_names, str(label_path))
    kept, labels, class_names = select_classes(labels, class_names, names)
    suffix = f":{','.join(class_names)}" if names else ""
    return ArraySource(images[kept], labels, class_names, f"IDX {path}{suffix}")


def locate(spec: str, *, split: str = "train", data_root: str | None = None
           ) -> ArraySource | sources.Found:
    """The images and labels a spec names, before any transform: an ArraySource for the
    built-in set and IDX files, a sources.Found (a lazy reader) for everything else."""
    source, names = split_spec(spec)
    if source.lower() == BUILTIN:
        return _fashion_mnist(names, split, data_root)
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"spec {spec!r}: {str(path)!r} does not exist and is not "
                                f"{BUILTIN!r}")
    if path.is_file() and sources.is_idx(path):
        return _idx(path, names)
    return sources.find_source(path, names, split=split)


def build_dataset(
    spec: str,
    *,
    resolution: int,
    channels: int,
    split: str = "train",
    data_root: str | None = None,
    labels: str = "index",
    transform: TransformConfig | None = None,
    cache: bool = True,
    min_classes: int = 0,
    progress: Callable[[int], None] | None = None,
) -> ImageDataset:
    """The dataset a spec names (see the module doc), as model inputs.

    resolution, channels: the output x of `ds[i]` is float32 [channels, resolution,
        resolution] in [-1, 1]; channels is 1 (gray), 3 (RGB) or 4 (RGBA).
    split: "train" or "test" ("val" too for folder layouts that have it).
    data_root: where the built-in data sets live (see fastgan.data.fashion_mnist).
    labels: "index" (int64 scalar, -1 when unlabeled), "onehot" (float32 [K]), "multihot"
        (float32 [K], attribute sources always give this) or "none" (always -1).
    transform: the static and random transforms (TransformConfig() by default: no crop or
        flip; 28 -> 32 by padding, other sizes resized with Lanczos).
    cache: decode every image once into an in-memory uint8 tensor (IDX sources always do).
    min_classes: raise ValueError when the dataset has fewer classes (translation models
        need at least 2 domains).
    progress: called with the number of images decoded so far, for progress bars.
    """
    _check_shape_args(resolution, channels)
    transform = TransformConfig() if transform is None else transform
    if not isinstance(transform, TransformConfig):
        raise TypeError(f"transform must be a TransformConfig, got {type(transform).__name__}")
    found = locate(spec, split=split, data_root=data_root)
    common = dict(resolution=resolution, channels=channels, label_mode=labels,
                  transform=transform, labels=found.labels, class_names=found.class_names)

    # Arrays are always cached; files are decoded up front or per batch.
    if isinstance(found, ArraySource):
        if len(found.images) == 0:
            raise ValueError(f"spec {spec!r} selects no images")
        stored = prepare_array(found.images, resolution=resolution, channels=channels,
                               cfg=transform)
        ds = ImageDataset(stored=stored, source=found.description, **common)
    else:
        ds = build_image_dataset(found.reader, cache=cache, source=found.description,
                                 progress=progress, **common)

    if ds.num_classes < min_classes:
        raise ValueError(
            f"spec {spec!r} has {ds.num_classes} classes {ds.class_names}, but at least "
            f"{min_classes} are needed (min_classes)"
        )
    return ds


def build_unpaired(
    spec: str,
    *,
    resolution: int,
    channels: int,
    split: str = "train",
    data_root: str | None = None,
    transform: TransformConfig | None = None,
    cache: bool = True,
) -> tuple[ImageDataset, ImageDataset]:
    """Domains A and B for unpaired translation (CycleGAN), unlabeled.

    spec: a folder with trainA/ trainB/ (testA/ testB/ for split="test"), or any labeled
    spec with exactly two classes selected, e.g. "fashion-mnist:sneaker,ankle-boot" (first
    class = A, second = B).
    """
    _check_shape_args(resolution, channels)
    transform = TransformConfig() if transform is None else transform
    source, names = split_spec(spec)
    path = Path(source).expanduser()
    if source.lower() != BUILTIN and path.is_dir() and names is None and (
        sources.has_unpaired_layout(path)
    ):
        pair = []
        for domain in ("A", "B"):
            found = sources.unpaired_domain(path, split, domain)
            pair.append(build_image_dataset(
                found.reader, labels=None, class_names=(), cache=cache, label_mode="none",
                source=found.description, resolution=resolution, channels=channels,
                transform=transform))
        return pair[0], pair[1]

    if names is None or len(names) != 2:
        raise ValueError(
            f"spec {spec!r} must be a folder with trainA/ and trainB/ or select exactly two "
            f"classes as domains A and B (e.g. 'fashion-mnist:sneaker,ankle-boot'), got "
            f"{names}"
        )
    both = build_dataset(spec, resolution=resolution, channels=channels, split=split,
                         data_root=data_root, transform=transform, cache=cache)
    if both.labels is None or both.labels.ndim != 1:
        raise ValueError(f"spec {spec!r} must choose two classes as domains A and B, but its "
                         f"labels are attributes {both.class_names}")
    pair = []
    for d in range(2):
        keep = np.flatnonzero(both.labels == d)
        if len(keep) == 0:
            raise ValueError(f"domain {'AB'[d]} ({both.class_names[d]!r}) of {spec!r} is empty")
        pair.append(both.subset(keep, drop_labels=True,
                                source=f"{both.source} domain {'AB'[d]}"))
    return pair[0], pair[1]
