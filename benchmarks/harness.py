"""Shared benchmark harness: time candidates side by side in one process, report ratios.

Targets are ratios against a reference measured in the same run, never absolute times, so a
result means the same on a loaded laptop and on CI.
"""

import json
import platform
from collections.abc import Callable
from pathlib import Path

import torch
import torch.utils.benchmark as tbench

import fastgan


def seconds(fn: Callable[[], object], *, min_run_time: float = 1.0) -> float:
    """Median seconds per call of fn, from torch.utils.benchmark's blocked autorange."""
    fn()  # warm up (allocator, lazy initialization)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_run_time).median


def saved_tensor_bytes(fn: Callable[[], torch.Tensor]) -> int:
    """Bytes of the distinct tensors autograd saves for backward while fn runs."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def environment() -> dict:
    """What the numbers were measured on."""
    return {
        "machine": platform.machine(),
        "processor": platform.processor(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "fastgan": fastgan.native_info(),
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def print_table(title: str, rows: list[dict], columns: list[str]) -> None:
    """A fixed-width table of rows (dicts) under a title."""
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print(f"\n{title}")
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(w) for c, w in zip(columns, widths)))


def save_json(path: str | Path, payload: dict) -> None:
    """Write results with the environment they were measured in."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=2) + "\n")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return "" if value is None else str(value)
