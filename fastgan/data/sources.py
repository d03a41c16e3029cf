"""Where images and labels come from: folders, zips, CelebA attribute files, layouts.

Each finder returns a `Found`: a picklable reader of the images (paths or zip members, opened
lazily so `spawn` workers can re-open them), the labels and a one-line description.
"""

import gzip
import io
import json
import logging
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from fastgan.data.dataset import SubsetReader
from fastgan.data.fashion_mnist import parse_classes

logger = logging.getLogger(__name__)

LABELS_JSON = "dataset.json"
CELEBA_ATTRS = "list_attr_celeba.txt"
CELEBA_PARTITION = "list_eval_partition.txt"
CELEBA_SPLITS = {"train": 0, "val": 1, "test": 2}
_SHOWN = 5


def image_extensions() -> frozenset[str]:
    """Lower-case file extensions (with the dot) of every format this Pillow can open."""
    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items()
                     if fmt in Image.OPEN)


def is_image_name(name: str, extensions: frozenset[str] | None = None) -> bool:
    """True for names with an image extension, not hidden and not macOS resource forks."""
    base = name.rsplit("/", 1)[-1]
    if base.startswith(".") or "__MACOSX/" in name:
        return False
    return os.path.splitext(base)[1].lower() in (extensions or image_extensions())


def is_idx(path: Path) -> bool:
    """True when the file starts with an IDX header (00 00 type ndim), gzipped or not."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(4)
        except OSError:
            return False
    return len(head) == 4 and head[0] == 0 and head[1] == 0 and head[2] in (8, 9, 11, 12, 13, 14)


def _shown(items: Sequence[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(repr(i) for i in items[:_SHOWN]) + more


def _loaded_upright(img: Image.Image) -> Image.Image:
    """Decodes the (first frame of the) image and applies its EXIF orientation, as photo
    viewers do."""
    img.load()
    if img.getexif().get(0x0112, 1) != 1:
        ImageOps.exif_transpose(img, in_place=True)
    return img


class FileReader:
    """Images at paths under a root folder."""

    def __init__(self, root: Path, relpaths: Sequence[str]) -> None:
        self.root, self.relpaths = str(root), list(relpaths)

    def __len__(self) -> int:
        return len(self.relpaths)

    def name(self, i: int) -> str:
        return os.path.join(self.root, self.relpaths[i])

    def open(self, i: int) -> Image.Image:
        with Image.open(self.name(i)) as img:
            return _loaded_upright(img)


class ZipReader:
    """Images stored as members of a zip archive; the archive is opened once per process."""

    def __init__(self, path: Path, members: Sequence[str]) -> None:
        self.path, self.members = str(path), list(members)
        self._zip: zipfile.ZipFile | None = None
        self._pid: int | None = None

    def __len__(self) -> int:
        return len(self.members)

    def __getstate__(self) -> dict:
        return {"path": self.path, "members": self.members, "_zip": None, "_pid": None}

    def name(self, i: int) -> str:
        return f"{self.path}:{self.members[i]}"

    def open(self, i: int) -> Image.Image:
        if self._zip is None or self._pid != os.getpid():
            self._zip, self._pid = zipfile.ZipFile(self.path), os.getpid()
        try:
            data = self._zip.read(self.members[i])
        except (zipfile.BadZipFile, KeyError) as error:
            raise OSError(str(error)) from error
        with Image.open(io.BytesIO(data)) as img:
            return _loaded_upright(img)


@dataclass(frozen=True)
class Found:
    """A located source: reader of images, labels (int64 [N], int64 [N, K] or None), the
    names of the K classes or attributes, and a description for messages."""

    reader: FileReader | ZipReader | SubsetReader
    labels: np.ndarray | None
    class_names: tuple[str, ...]
    description: str


def warn_label_gaps(labels: np.ndarray, class_names: Sequence[str], where: str) -> None:
    """Warns when some classes have no images (training can still go on)."""
    counts = np.bincount(labels, minlength=len(class_names))
    empty = [class_names[c] for c in np.flatnonzero(counts == 0)]
    if empty:
        logger.warning("%s: classes %s have no images (labels have gaps)", where, empty)


def _labels_from_dirs(relpaths: list[str]) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Class labels from the first path component, when every image lies in a sub-folder."""
    if not relpaths or any("/" not in p for p in relpaths):
        return None, ()
    names = tuple(sorted({p.split("/", 1)[0] for p in relpaths}))
    index = {name: i for i, name in enumerate(names)}
    return np.asarray([index[p.split("/", 1)[0]] for p in relpaths], np.int64), names


def _parse_labels_json(data: dict, relpaths: list[str], where: str
                       ) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Labels from a StyleGAN-style {"labels": [[relative_path, label], ...]} (label an int
    class, a list of 0/1 attributes, or null); optional "class_names"."""
    entries = data.get("labels") if isinstance(data, dict) else None
    if entries is None:
        return None, ()
    if not isinstance(entries, list):
        raise ValueError(f"{where}: 'labels' must be a list of [path, label], got "
                         f"{type(entries).__name__}")
    table = {}
    for k, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise ValueError(f"{where}: labels[{k}] must be [relative_path, label], got {entry!r}")
        table[entry[0].replace("\\", "/").removeprefix("./")] = entry[1]

    # Every named file must exist and every image must have a label.
    present = set(relpaths)
    missing = sorted(p for p in table if p not in present)
    if missing:
        raise ValueError(f"{where} names {len(missing)} files that do not exist: "
                         f"{_shown(missing)}")
    unlabeled = [p for p in relpaths if p not in table]
    if unlabeled:
        raise ValueError(f"{where} has no label for {len(unlabeled)} of {len(relpaths)} "
                         f"images: {_shown(unlabeled)}")

    # Int classes or 0/1 attribute vectors, all of one kind.
    values = [table[p] for p in relpaths]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        labels = np.asarray(values, np.int64)
        if labels.min(initial=0) < 0:
            raise ValueError(f"{where}: class labels must be >= 0, got {labels.min()}")
        k = int(labels.max(initial=-1)) + 1
    elif all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
        labels = np.asarray(values)
        if not np.isin(labels, (0, 1)).all():
            raise ValueError(f"{where}: attribute labels must be lists of 0/1")
        labels, k = labels.astype(np.int64), labels.shape[1]
    else:
        raise ValueError(f"{where}: labels must be all ints (classes) or all equal-length "
                         f"0/1 lists (attributes), got e.g. {values[:3]}")
    names = data.get("class_names")
    if names is None:
        names = [str(c) for c in range(k)]
    if not isinstance(names, list) or len(names) < k:
        raise ValueError(f"{where}: class_names must list at least {k} names, got {names!r}")
    return labels, tuple(str(n) for n in names)


def _finish(reader, labels, class_names, names, description) -> Found:
    """Applies a class selection (class labels only) and checks for gaps."""
    if labels is not None and labels.ndim == 1:
        if len(class_names) < int(labels.max(initial=-1)) + 1:
            raise ValueError(f"{description}: labels go up to {labels.max()} but only "
                             f"{len(class_names)} class names are given")
        warn_label_gaps(labels, class_names, description)
    if names is None:
        return Found(reader, labels, class_names, description)
    if labels is None:
        raise ValueError(f"{description} has no labels, so classes {names} cannot be chosen")
    if labels.ndim == 2:
        chosen = _check_attributes(names, class_names, description)
        return Found(reader, labels[:, chosen], tuple(names), description)
    chosen = parse_classes(names, class_names)
    remap = np.full(len(class_names), -1, np.int64)
    remap[chosen] = np.arange(len(chosen))
    keep = np.flatnonzero(remap[labels] >= 0)
    return Found(SubsetReader(reader, keep), remap[labels[keep]],
                 tuple(class_names[c] for c in chosen), f"{description}:{','.join(names)}")


def folder_source(root: Path, names: list[str] | None) -> Found:
    """Every image under `root`, recursively; labels from dataset.json, or from first-level
    sub-folder names when every image lies in one."""
    extensions = image_extensions()
    relpaths, seen = [], set()
    for dirpath, dirnames, files in os.walk(root, followlinks=True):
        # Follow linked folders, but each real folder once (a link cycle would never end).
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames.clear()
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root)
        relpaths += [(rel / f).as_posix() for f in files if is_image_name(f, extensions)]
    relpaths.sort()
    if not relpaths:
        raise ValueError(f"folder {str(root)!r} holds no images (looked recursively for "
                         f"{', '.join(sorted(extensions)[:12])}, ...)")
    labels_file = root / LABELS_JSON
    if labels_file.is_file():
        data = json.loads(labels_file.read_text())
        labels, class_names = _parse_labels_json(data, relpaths, str(labels_file))
    else:
        labels, class_names = _labels_from_dirs(relpaths)
        if labels is not None:
            # Include empty class folders, so their absence is reported as a gap.
            subdirs = sorted(d.name for d in root.iterdir() if d.is_dir()
                             and not d.name.startswith("."))
            if set(subdirs) != set(class_names):
                index = {n: i for i, n in enumerate(subdirs)}
                labels = np.asarray([index[class_names[c]] for c in labels], np.int64)
                class_names = tuple(subdirs)
    return _finish(FileReader(root, relpaths), labels, class_names, names, f"folder {root}")


def zip_source(path: Path, names: list[str] | None) -> Found:
    """Images in a zip; labels from its dataset.json, or from top-level folders."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.namelist()
            data = json.loads(zf.read(LABELS_JSON)) if LABELS_JSON in members else None
    except zipfile.BadZipFile as error:
        raise ValueError(f"{str(path)!r} is not a readable zip: {error}") from error
    extensions = image_extensions()
    relpaths = sorted(m for m in members if not m.endswith("/") and is_image_name(m, extensions))
    if not relpaths:
        raise ValueError(f"zip {str(path)!r} holds no images ({len(members)} members)")
    if data is not None:
        labels, class_names = _parse_labels_json(data, relpaths, f"{path}:{LABELS_JSON}")
    else:
        labels, class_names = _labels_from_dirs(relpaths)
    return _finish(ZipReader(path, relpaths), labels, class_names, names, f"zip {path}")


def _check_attributes(names: Sequence[str], available: Sequence[str], where: str) -> list[int]:
    """Indices of the chosen attribute names; the error lists the available ones."""
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"attributes {unknown} are not in {where}; available: "
                         f"{', '.join(available)}")
    if len(set(names)) != len(names):
        raise ValueError(f"attributes must not repeat, got {list(names)}")
    return [list(available).index(n) for n in names]


def read_celeba_attributes(path: Path) -> tuple[list[str], tuple[str, ...], np.ndarray]:
    """Parses a list_attr_celeba.txt: a count line, a header of attribute names, then
    `filename v1 v2 ...` rows of -1/1 (0 read as -1). Returns (filenames, attribute names,
    int64 [N, K] of 0/1)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise ValueError(f"{str(path)!r} must start with a count line and a header line of "
                         f"attribute names, got {lines[:2]}")
    count, header = int(lines[0]), tuple(lines[1].split())
    rows = [ln.split() for ln in lines[2:]]
    if len(rows) != count:
        raise ValueError(f"{str(path)!r} says it has {count} rows, found {len(rows)}")
    files, values = [], np.empty((len(rows), len(header)), np.int64)
    for r, parts in enumerate(rows):
        if len(parts) != len(header) + 1:
            raise ValueError(f"{str(path)!r} line {r + 3} must hold a file name and "
                             f"{len(header)} values, got {len(parts)} fields")
        try:
            v = [int(p) for p in parts[1:]]
        except ValueError as error:
            raise ValueError(f"{str(path)!r} line {r + 3}: values must be -1 or 1") from error
        if any(x not in (-1, 0, 1) for x in v):
            raise ValueError(f"{str(path)!r} line {r + 3}: values must be -1 or 1, got {v}")
        files.append(parts[0])
        values[r] = np.asarray(v) > 0
    return files, header, values


def celeba_source(path: Path, names: list[str] | None, split: str) -> Found:
    """CelebA-style attributes: `path` is the attribute file (or its folder); images in
    img_align_celeba/ beside it (or beside the file); split from list_eval_partition.txt."""
    attr_file = path / CELEBA_ATTRS if path.is_dir() else path
    files, header, values = read_celeba_attributes(attr_file)
    chosen = _check_attributes(names, header, str(attr_file)) if names else list(range(len(header)))
    folder = attr_file.parent
    image_dir = folder / "img_align_celeba" if (folder / "img_align_celeba").is_dir() else folder

    # The split, when a partition file says which images belong to it.
    partition_file = folder / CELEBA_PARTITION
    if partition_file.is_file():
        if split not in CELEBA_SPLITS:
            raise ValueError(f"split must be one of {tuple(CELEBA_SPLITS)}, got {split!r}")
        part = dict(ln.split()[:2] for ln in partition_file.read_text().splitlines()
                    if ln.strip())
        keep = [i for i, f in enumerate(files) if part.get(f) == str(CELEBA_SPLITS[split])]
    elif split == "train":
        keep = list(range(len(files)))
    else:
        raise ValueError(f"split {split!r} needs {CELEBA_PARTITION} next to {str(attr_file)!r}; "
                         f"without it only split='train' (all images) is available")

    missing = [files[i] for i in keep if not (image_dir / files[i]).is_file()]
    if missing:
        raise ValueError(f"{str(attr_file)!r} names {len(missing)} files that do not exist in "
                         f"{str(image_dir)!r}: {_shown(missing)}")
    if not keep:
        raise ValueError(f"{str(attr_file)!r} has no images in split {split!r}")
    return Found(FileReader(image_dir, [files[i] for i in keep]),
                 values[keep][:, chosen], tuple(header[c] for c in chosen),
                 f"attributes {attr_file} ({split})")


def _split_dir(root: Path, split: str) -> Path | None:
    """root/<split>, with "test" and "val" standing in for each other."""
    for name in {"train": ("train",), "test": ("test", "val"), "val": ("val", "test")}.get(
        split, (split,)
    ):
        if (root / name).is_dir():
            return root / name
    return None


def has_domain_layout(root: Path) -> bool:
    """StarGAN v2 layout: train/<domain>/ folders."""
    train = root / "train"
    return train.is_dir() and any(d.is_dir() for d in train.iterdir()) and not any(
        f.is_file() and is_image_name(f.name) for f in train.iterdir()
    )


def has_unpaired_layout(root: Path) -> bool:
    """CycleGAN layout: trainA/ and trainB/ (or testA/ and testB/)."""
    return any((root / f"{s}A").is_dir() or (root / f"{s}B").is_dir() for s in ("train", "test"))


def unpaired_domain(root: Path, split: str, domain: str) -> Found:
    """Domain A or B of a CycleGAN folder, for a split ("train" or "test")."""
    folder = root / f"{split}{domain}"
    if not folder.is_dir():
        present = sorted(d.name for d in root.iterdir() if d.is_dir())
        raise ValueError(f"unpaired folder {str(root)!r} has no {split}{domain}/ for domain "
                         f"{domain} (split={split!r}); it has {present}")
    found = folder_source(folder, None)
    return Found(found.reader, None, (), f"domain {domain} {folder}")


def find_source(path: Path, names: list[str] | None, *, split: str) -> Found:
    """The source at a path that is not an IDX file (see fastgan.data.build)."""
    if path.is_file():
        if zipfile.is_zipfile(path):
            return zip_source(path, names)
        if path.suffix == ".txt":
            return celeba_source(path, names, split)
        raise ValueError(f"{str(path)!r} is not a folder, zip, IDX or attribute file")
    if (path / CELEBA_ATTRS).is_file():
        return celeba_source(path, names, split)

    # StarGAN v2 train/<domain>: classes are domains; a missing chosen domain is an error.
    if has_domain_layout(path):
        folder = _split_dir(path, split)
        if folder is None:
            raise ValueError(f"folder {str(path)!r} has no {split}/ split (it has "
                             f"{sorted(d.name for d in path.iterdir() if d.is_dir())})")
        domains = {d.name for d in (path / "train").iterdir() if d.is_dir()}
        here = {d.name for d in folder.iterdir() if d.is_dir()}
        if names is None and here != domains:
            # Domain indices follow sorted names, so a split with other domains would
            # silently shift every label.
            raise ValueError(
                f"{str(folder)!r} must hold the domains of train/ {sorted(domains)}; missing "
                f"{sorted(domains - here)}, extra {sorted(here - domains)}"
            )
        found = folder_source(folder, names)
        if found.labels is None:
            raise ValueError(f"{str(folder)!r} must hold one sub-folder per domain")
        return found
    if split != "train":
        folder = _split_dir(path, split)
        if folder is None:
            raise ValueError(f"folder {str(path)!r} has no {split}/ sub-folder for "
                             f"split={split!r}")
        return folder_source(folder, names)
    return folder_source(path, names)
