"""filtered_lrelu: fused native op vs the reference composite, as ratios, on StyleGAN3 layers.

Targets (2-core CPU, float32, bias and clamp as StyleGAN3 uses them): forward and
forward+backward at least 2x faster than the composite (bias_act, upfirdn2d, leaky ReLU,
upfirdn2d), and the bytes autograd saves for backward at most 1/8 of the composite's. Also
reported: the peak memory of one forward+backward, as the rise of a fresh process's resident
set over the inputs (CPU), or torch.cuda.max_memory_allocated (CUDA).

Cases: a 36x36 synthesis layer (4x512x38x38, up 2, down 2, 12-tap filters, config T), config
R's 36x36 layer with a non-separable 12x12 down filter, and the high-resolution end (up 4 with
24 taps at 148x148, up 2 at 276x276) with channels cut to fit a 2-core, 24 GB machine.

    python -m benchmarks.bench_filtered_lrelu [--device cpu] [--min-run-time 1] [--json PATH]
"""

import argparse
import json
import math
import subprocess
import sys

import torch

from benchmarks.harness import print_table, save_json, saved_tensor_bytes, seconds
from fastgan import ops

# name -> input shape, up, down, fu taps, fd shape, padding (as in StyleGAN3's layer table; the
# input is the modulated conv's output, in + k - 1 samples).
CASES = {
    "T 36 up2 4x512x38x38": ((4, 512, 38, 38), 2, 2, 12, (12,), [9, 8, 9, 8]),
    "R 36 up2 fd 12x12 4x512x36x36": ((4, 512, 36, 36), 2, 2, 12, (12, 12), [11, 10, 11, 10]),
    "T 148 up4 2x32x150x150": ((2, 32, 150, 150), 4, 2, 24, (12,), [-6, -9, -6, -9]),
    "T 276 up2 1x32x278x278": ((1, 32, 278, 278), 2, 2, 12, (12,), [9, 8, 9, 8]),
}


def lowpass(taps: int) -> torch.Tensor:
    """A normalized Hann-windowed sinc at half the sampling rate, [taps]."""
    n = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    f = torch.sinc(n / 2) * torch.hann_window(taps + 2, periodic=False, dtype=torch.float64)[1:-1]
    return (f / f.sum()).float()


def make(case: str, device: str, dtype: torch.dtype):
    """Inputs of a case and the function of (x, b, backend) that runs it."""
    shape, up, down, taps_up, fd_shape, padding = CASES[case]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(shape[1], generator=gen).to(device=device, dtype=dtype)
    fu = lowpass(taps_up).to(device)
    fd = lowpass(fd_shape[0]).to(device)
    if len(fd_shape) == 2:
        fd = torch.outer(fd, fd)
    kw = dict(up=up, down=down, padding=padding, gain=math.sqrt(2), slope=0.2, clamp=256.0)

    def call(xi, bi, backend):
        with ops.use(backend):
            return ops.filtered_lrelu(xi, fu, fd, bi, **kw)

    return x, b, call


def run(case: str, device: str, dtype: torch.dtype, min_run_time: float) -> dict:
    x, b, call = make(case, device, dtype)
    xg, bg = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
    dy = torch.randn_like(call(x, b, "native"))

    def forward(backend):
        return lambda: call(x, b, backend)

    def forward_backward(backend):
        return lambda: torch.autograd.grad(call(xg, bg, backend), [xg, bg], dy)

    t, saved, peak = {}, {}, {}
    for backend in ("native", "reference"):
        t[f"fwd {backend}"] = seconds(forward(backend), min_run_time=min_run_time)
        t[f"fwd+bwd {backend}"] = seconds(forward_backward(backend), min_run_time=min_run_time)
        saved[backend] = saved_tensor_bytes(lambda: call(xg, bg, backend))
        peak[backend] = peak_bytes(case, backend, device, dtype)
    ratios = {
        "fwd: reference / native (>= 2)": t["fwd reference"] / t["fwd native"],
        "fwd+bwd: reference / native (>= 2)": t["fwd+bwd reference"] / t["fwd+bwd native"],
        "saved for backward: native / reference (<= 0.125)": saved["native"] / saved["reference"],
    }
    return {"case": case, "device": device, "dtype": str(dtype), "seconds": t,
            "saved_bytes": saved, "peak_fwd_bwd_bytes": peak, "ratios": ratios}


def peak_bytes(case: str, backend: str, device: str, dtype: torch.dtype) -> int:
    """Peak memory of one forward+backward beyond its inputs."""
    if device != "cpu":
        x, b, call = make(case, device, dtype)
        xg, bg = x.requires_grad_(True), b.requires_grad_(True)
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        y = call(xg, bg, backend)
        torch.autograd.grad(y, [xg, bg], torch.ones_like(y))
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    # On the CPU: a fresh process, so that the resident-set high-water mark is this call's.
    command = [sys.executable, "-m", "benchmarks.bench_filtered_lrelu", "--peak-of", case,
               backend, str(dtype).removeprefix("torch.")]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return int(json.loads(result.stdout.strip().splitlines()[-1])["peak"])


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: resident now, VmHWM: its high-water mark)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _peak_in_this_process(case: str, backend: str, dtype: torch.dtype) -> None:
    x, b, call = make(case, "cpu", dtype)
    xg, bg = x.requires_grad_(True), b.requires_grad_(True)
    with torch.no_grad():
        call(x[:1, :1], b[:1], backend)  # load kernels and libraries before the baseline
    # Reset the high-water mark (a child starts with its parent's; see proc(5), clear_refs).
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    base = _status_kib("VmRSS")
    y = call(xg, bg, backend)
    torch.autograd.grad(y, [xg, bg], torch.ones_like(y))
    print(json.dumps({"peak": (_status_kib("VmHWM") - base) * 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--json", default="benchmarks/results/filtered_lrelu.json")
    parser.add_argument("--peak-of", nargs=3, metavar=("CASE", "BACKEND", "DTYPE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_of:
        case, backend, dtype = args.peak_of
        return _peak_in_this_process(case, backend, getattr(torch, dtype))

    results = []
    for case in args.cases:
        result = run(case, args.device, getattr(torch, args.dtype), args.min_run_time)
        results.append(result)
        rows = [{"case": k, "ms": v * 1e3} for k, v in result["seconds"].items()]
        for backend in ("native", "reference"):
            rows.append({"case": f"saved for backward {backend}",
                         "MiB": result["saved_bytes"][backend] / 2**20})
            rows.append({"case": f"peak fwd+bwd {backend}",
                         "MiB": result["peak_fwd_bwd_bytes"][backend] / 2**20})
        print_table(f"filtered_lrelu {case} {args.dtype} on {args.device}", rows,
                    ["case", "ms", "MiB"])
        ratios = [{"ratio": k, "value": v} for k, v in result["ratios"].items()]
        print_table("ratios (measured in this run)", ratios, ["ratio", "value"])
    save_json(args.json, {"filtered_lrelu": results})


if __name__ == "__main__":
    main()
