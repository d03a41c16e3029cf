"""Loads the compiled extension `fastgan._C` if it was built, and says what it holds."""

import logging

import torch

logger = logging.getLogger(__name__)

try:
    from fastgan import _C  # noqa: F401  (registers torch.ops.fastgan.*)

    _LOAD_ERROR: str | None = None
except ImportError as error:  # the package is used from a source tree without a build
    _C = None
    _LOAD_ERROR = str(error)

# What the build holds. Reading it also fixes the instruction set of the CPU kernels, from the
# environment variable FASTGAN_CPU_ISA (auto, baseline, avx2 or avx512; unset means auto, the
# best one the build and the CPU have): a value it cannot honour is a ValueError here, at load.
_BUILD_INFO: dict = {} if _C is None else dict(_C.build_info())


def available() -> bool:
    """True when the compiled extension loaded."""
    return _C is not None


def has_op(name: str) -> bool:
    """True when the loaded extension defines torch.ops.fastgan.<name> (a build older than the
    Python sources may lack newer ops)."""
    return _C is not None and hasattr(torch.ops.fastgan, name)


def has_kernel(device: torch.device, op: str) -> bool:
    """True when a native kernel of `op` was compiled for this kind of device."""
    if not has_op(op):
        return False
    if device.type == "cpu":
        return True
    if device.type == "cuda":
        return bool(_BUILD_INFO["cuda"])
    return False


def native_info() -> dict:
    """What the native build holds: versions, compiled backends, CUDA architectures, and the
    instruction set of the CPU kernels in use ("cpu_isa") among those this CPU runs
    ("cpu_isas", baseline first)."""
    from fastgan import __version__

    info = {
        "version": __version__,
        "torch": torch.__version__,
        "native": _C is not None,
        "cpu": False,
        "cuda": False,
        "cuda_archs": [],
        "cpu_isa": None,
        "cpu_isas": [],
    }
    if _C is None:
        info["load_error"] = _LOAD_ERROR
        return info
    info.update(_BUILD_INFO)
    return info
