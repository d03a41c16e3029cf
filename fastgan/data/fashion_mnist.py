"""The built-in Fashion-MNIST: 70,000 gray 28 x 28 images of 10 clothing classes (IDX files).

Its files are found, in this order, under the `data_root` argument (the CLI's --data-root), the
$FASTGAN_DATA environment variable, then /usr/share/datasets/fashion-mnist (the Debian package
`dataset-fashion-mnist`). Each place may hold the files directly or in a `fashion-mnist/`
sub-folder. Nothing is ever downloaded.
"""

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fastgan.data.idx import read_idx

logger = logging.getLogger(__name__)

FASHION_MNIST_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle-boot",
)
DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
ENV_VAR = "FASTGAN_DATA"
SPLITS = {"train": "train", "test": "t10k"}
# Other spellings users type for the class names.
_ALIASES = {"tshirt": "t-shirt", "t-shirt/top": "t-shirt", "top": "t-shirt",
            "ankle boot": "ankle-boot", "ankleboot": "ankle-boot", "boot": "ankle-boot"}


def _files(folder: Path, split: str) -> tuple[Path, Path] | None:
    """(images, labels) of a split in `folder`, gzipped or not; None if either is missing."""
    prefix = SPLITS[split]
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        names = (f"{prefix}-{kind}-ubyte.gz", f"{prefix}-{kind}-ubyte")
        paths = [folder / n for n in names if (folder / n).is_file()]
        if not paths:
            return None
        found.append(paths[0])
    return found[0], found[1]


def find_files(split: str = "train", data_root: str | os.PathLike | None = None
               ) -> tuple[Path, Path]:
    """The (images, labels) IDX paths of a split, from the first place given (see module doc).

    Raises FileNotFoundError, saying where it looked and how to get the data, when they are
    not there.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {tuple(SPLITS)} for fashion-mnist, got {split!r}")
    if data_root is not None:
        root, origin = Path(data_root), "data_root (--data-root)"
    elif os.environ.get(ENV_VAR):
        root, origin = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        root, origin = Path(DEFAULT_ROOT), "the default location"
    for folder in (root, root / "fashion-mnist"):
        files = _files(folder, split)
        if files is not None:
            return files
    prefix = SPLITS[split]
    raise FileNotFoundError(
        f"Fashion-MNIST {split} files ({prefix}-images-idx3-ubyte[.gz], "
        f"{prefix}-labels-idx1-ubyte[.gz]) not found in {origin} = {str(root)!r} or its "
        f"fashion-mnist/ sub-folder. Install them with `apt-get install dataset-fashion-mnist` "
        f"(to {DEFAULT_ROOT}), or pass --data-root DIR (data_root=DIR) or set ${ENV_VAR} to a "
        f"folder holding them."
    )


def parse_classes(names: Sequence[str], available: Sequence[str]) -> list[int]:
    """Class indices of `names` (names or index numbers, in the order given, no repeats)."""
    lookup = {name.lower(): i for i, name in enumerate(available)}
    indices = []
    for name in names:
        key = _ALIASES.get(name.strip().lower(), name.strip().lower())
        if key in lookup:
            indices.append(lookup[key])
        elif key.isdigit() and int(key) < len(available):
            indices.append(int(key))
        else:
            raise ValueError(
                f"class {name!r} is not one of the available classes {tuple(available)} "
                f"(names or indices 0..{len(available) - 1})"
            )
    if len(set(indices)) != len(indices):
        raise ValueError(f"classes must not repeat, got {list(names)}")
    return indices


def load_arrays(split: str = "train", data_root: str | os.PathLike | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] and labels int64 [N] of a Fashion-MNIST split."""
    images_path, labels_path = find_files(split, data_root)
    images, labels = read_idx(images_path), read_idx(labels_path).astype(np.int64)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"Fashion-MNIST files disagree: images {list(images.shape)} from {images_path}, "
            f"labels {list(labels.shape)} from {labels_path}"
        )
    logger.debug("read %d Fashion-MNIST %s images from %s", len(images), split, images_path)
    return images, labels
