"""Which implementation an op runs: the compiled kernel or the plain-PyTorch reference."""

import contextlib
import warnings
from collections.abc import Iterator

import torch

from fastgan import _native

BACKENDS = ("auto", "native", "reference")

# The backend chosen by the innermost `use(...)` block. Read by every op at call time; changed
# only through `use`, which restores it on exit.
_active = "auto"
_warned: set[tuple[str, str]] = set()


@contextlib.contextmanager
def use(backend: str) -> Iterator[None]:
    """Run every fastgan op inside the block with `backend`.

    "auto" (the default) runs the native kernel where one was compiled for the tensor's device
    and otherwise the reference, with a one-time warning; "native" raises where no kernel
    exists; "reference" always runs the plain-PyTorch reference.
    """
    global _active
    if backend not in BACKENDS:
        raise ValueError(f"use: backend must be one of {BACKENDS}, got {backend!r}")
    previous, _active = _active, backend
    try:
        yield
    finally:
        _active = previous


def current() -> str:
    """The backend in force: "auto", "native" or "reference"."""
    return _active


def native_for(op: str, x: torch.Tensor, kernels: tuple[str, ...] | None = None) -> bool:
    """Whether `op` should run its native kernels (torch.ops.fastgan.<name> for each name in
    `kernels`, default just `op`) on tensors like `x`."""
    if _active == "reference":
        return False
    if all(_native.has_kernel(x.device, k) for k in kernels or (op,)):
        return True
    if _active == "native":
        raise RuntimeError(
            f"{op}: backend 'native' was requested but fastgan has no native kernel for "
            f"device {x.device.type} (build: {_native.native_info()})"
        )
    key = (op, x.device.type)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(
            f"{op}: no native fastgan kernel for device {x.device.type}; running the "
            "plain-PyTorch reference (slower). See fastgan.native_info().",
            RuntimeWarning,
            stacklevel=3,
        )
    return False
