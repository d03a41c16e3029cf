"""upfirdn2d: native op vs the pad + grouped-conv reference, as ratios, on StyleGAN layer shapes.

Targets (2-core CPU, float32): at every case the native op at least 2x faster than the
reference, forward and forward+backward, with a peak memory no higher than the reference's.

Cases: StyleGAN2 16x256x64x64 upsample2d and downsample2d by 2 with the 4-tap [1, 3, 3, 1]
filter (2-D 4x4, as setup_filter makes it); StyleGAN3 4x512x36x36 upsample by 2 with a
12-tap separable low-pass filter. Peak memory is the rise of the resident set of a fresh
process over one call (the inputs already allocated).

    python -m benchmarks.bench_upfirdn2d [--device cpu] [--min-run-time 1] [--json PATH]
"""

import argparse
import json
import resource
import subprocess
import sys

import numpy as np
import torch

from benchmarks.harness import print_table, save_json, seconds
from fastgan import ops

CASES = {
    "sg2 up2 4x4 16x256x64x64": dict(shape=(16, 256, 64, 64), taps=4, mode="up"),
    "sg2 down2 4x4 16x256x64x64": dict(shape=(16, 256, 64, 64), taps=4, mode="down"),
    "sg3 up2 12-tap sep 4x512x36x36": dict(shape=(4, 512, 36, 36), taps=12, mode="up"),
}


def lowpass(taps: int) -> torch.Tensor:
    """A Kaiser-windowed sinc low-pass of `taps` taps at half the sampling rate (StyleGAN3-like)."""
    if taps == 4:
        return ops.setup_filter([1, 3, 3, 1])
    n = np.arange(taps) - (taps - 1) / 2
    return ops.setup_filter(np.sinc(n / 2) * np.kaiser(taps, 4.0), separable=True)


def make(case: str, device: str, dtype: torch.dtype, seed: int = 0):
    """Inputs of a case and the function of (x, backend) that runs it."""
    spec = CASES[case]
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(spec["shape"], generator=gen).to(device=device, dtype=dtype)
    f = lowpass(spec["taps"]).to(device)
    resample = ops.upsample2d if spec["mode"] == "up" else ops.downsample2d

    def call(xi, backend):
        with ops.use(backend):
            return resample(xi, f)

    return x, call


def run(case: str, device: str, dtype: torch.dtype, min_run_time: float) -> dict:
    x, call = make(case, device, dtype)
    xg = x.clone().requires_grad_(True)
    dy = torch.randn_like(call(x, "reference"))

    def forward(backend):
        return lambda: call(x, backend)

    def forward_backward(backend):
        return lambda: torch.autograd.grad(call(xg, backend), xg, dy)

    t = {}
    for backend in ("native", "reference"):
        t[f"fwd {backend}"] = seconds(forward(backend), min_run_time=min_run_time)
        t[f"fwd+bwd {backend}"] = seconds(forward_backward(backend), min_run_time=min_run_time)
    peak = {}
    if device == "cpu":
        for backend in ("native", "reference"):
            for mode in ("fwd", "fwd+bwd"):
                peak[f"{mode} {backend}"] = peak_rss_bytes(case, backend, mode, dtype)
    else:
        for backend in ("native", "reference"):
            for mode, fn in (("fwd", forward(backend)), ("fwd+bwd", forward_backward(backend))):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                base = torch.cuda.memory_allocated()
                fn()
                torch.cuda.synchronize()
                peak[f"{mode} {backend}"] = torch.cuda.max_memory_allocated() - base
    ratios = {
        "fwd: reference / native (>= 2)": t["fwd reference"] / t["fwd native"],
        "fwd+bwd: reference / native (>= 2)": t["fwd+bwd reference"] / t["fwd+bwd native"],
        "fwd peak: native / reference (<= 1)": peak["fwd native"] / peak["fwd reference"],
        "fwd+bwd peak: native / reference (<= 1)": peak["fwd+bwd native"]
        / peak["fwd+bwd reference"],
    }
    return {"case": case, "device": device, "dtype": str(dtype), "s": t, "peak_bytes": peak,
            "ratios": ratios}


def peak_rss_bytes(case: str, backend: str, mode: str, dtype: torch.dtype) -> int:
    """Peak resident-set rise of one call, measured in a fresh process."""
    cmd = [sys.executable, "-m", "benchmarks.bench_upfirdn2d", "--peak-of", case, backend, mode,
           "--dtype", str(dtype).removeprefix("torch.")]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return int(json.loads(out.strip().splitlines()[-1])["peak_bytes"])


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def _measure_peak(case: str, backend: str, mode: str, dtype: torch.dtype) -> None:
    """Child side of peak_rss_bytes: prints {"peak_bytes": ...}."""
    x, call = make(case, "cpu", dtype)
    if mode == "fwd+bwd":
        x.requires_grad_(True)
        dy = torch.randn_like(call(x.detach(), "reference"))
    before = _rss_bytes()
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 > before:
        # Drop what setup left in the high-water mark: re-measure from the current set.
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    if mode == "fwd":
        call(x, backend)
    else:
        torch.autograd.grad(call(x, backend), x, dy)
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    print(json.dumps({"peak_bytes": max(hwm - before, 0)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--json", default="benchmarks/results/upfirdn2d.json")
    parser.add_argument("--peak-of", nargs=3, metavar=("CASE", "BACKEND", "MODE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    if args.peak_of:
        _measure_peak(*args.peak_of, dtype)
        return

    results = [run(c, args.device, dtype, args.min_run_time) for c in args.case or CASES]
    rows = []
    for r in results:
        row = {"case": r["case"]}
        row.update({f"{k} ms": v * 1e3 for k, v in r["s"].items()})
        row.update({f"{k} MB": v / 2**20 for k, v in r["peak_bytes"].items()})
        rows.append(row)
    cols = ["case"] + [k for k in rows[0] if k != "case"]
    print_table(f"upfirdn2d {args.dtype} on {args.device}: times and peak memory", rows, cols)
    ratio_rows = [{"case": r["case"], **r["ratios"]} for r in results]
    print_table("ratios (measured in this run)", ratio_rows, list(ratio_rows[0]))
    save_json(args.json, {"upfirdn2d": results})


if __name__ == "__main__":
    main()
