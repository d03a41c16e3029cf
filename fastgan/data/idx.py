"""IDX files, the MNIST / Fashion-MNIST container, gzipped or not.

Layout: two zero bytes, a type code, the number of dimensions d, then d big-endian uint32
sizes, then the values in row-major order, big-endian.
"""

import gzip
import os
from pathlib import Path

import numpy as np

_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(t).newbyteorder("="): code for code, t in _TYPES.items()}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file. Returns an array of its shape and type, in native byte order."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise ValueError(
            f"path {str(path)!r} is not an IDX file: expected bytes 00 00 <type in "
            f"{[hex(c) for c in _TYPES]}>, got {data[:3].hex(' ')}"
        )
    dtype, ndim = _TYPES[data[2]], data[3]
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(
            f"IDX file {str(path)!r} of shape {list(shape)} needs {expected} data bytes, "
            f"got {len(data) - offset} (truncated or corrupt)"
        )
    values = np.frombuffer(data, dtype, offset=offset).reshape(shape)
    return values.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, values: np.ndarray, *, compress: bool | None = None) -> None:
    """Writes an array as an IDX file; gzipped when `compress` or the name ends in .gz."""
    path = Path(path)
    values = np.asarray(values)
    code = _CODES.get(values.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(
            f"values dtype must be one of {sorted(str(t) for t in _CODES)}, got {values.dtype}"
        )
    header = bytes([0, 0, code, values.ndim]) + np.asarray(values.shape, ">u4").tobytes()
    data = header + values.astype(_TYPES[code]).tobytes()
    if compress or (compress is None and path.suffix == ".gz"):
        data = gzip.compress(data, compresslevel=6)
    path.write_bytes(data)


def find_label_file(images_path: str | os.PathLike) -> Path | None:
    """The labels file that pairs with an images file by name (`images-idx3` -> `labels-idx1`),
    gzipped or not; None when there is none."""
    images_path = Path(images_path)
    name = images_path.name
    if "images-idx3" not in name:
        return None
    stem = name.replace("images-idx3", "labels-idx1").removesuffix(".gz")
    for candidate in (stem, stem + ".gz"):
        if (images_path.parent / candidate).is_file():
            return images_path.parent / candidate
    return None
