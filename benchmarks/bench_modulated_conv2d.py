"""modulated_conv2d: native per-sample parts vs StyleGAN2-ADA's composite, as ratios in one run.

Targets (CPU, float32, forward+backward to x, weight and styles): the native op on the path
that `fastgan.ops.modulated_conv2d.prefers_fused` picks for training is at least 1.3x faster
than the faster of the reference's two paths, with a peak of allocated memory no higher than
the lower of theirs. Shapes are StyleGAN2 synthesis layers: 16x512x16x16 with a 3x3 weight,
and 16x256x32x32 with up=2 (output 64x64). Forward-only times of both native paths are listed
too: they are the measurement behind the path rule.

    python -m benchmarks.bench_modulated_conv2d [--device cpu] [--min-run-time 1] [--threads N]
        [--json PATH]
"""

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.harness import print_table, save_json
from fastgan import ops
from fastgan.ops import reference
from fastgan.ops.modulated_conv2d import prefers_fused

# name -> (N, I, O, H, k, up)
LAYERS = {
    "16x512x16x16 3x3": (16, 512, 512, 16, 3, 1),
    "16x256x32x32 3x3 up=2": (16, 256, 256, 32, 3, 2),
}


def peak_bytes(fn: Callable[[], object], device: str) -> int:
    """Peak of the bytes allocated while fn runs, above what was allocated when it started."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    current = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        current += e.nbytes()
        peak = max(peak, current)
    return peak


def interleaved_seconds(cases: dict[str, Callable[[], object]], min_run_time: float) -> dict:
    """Median seconds per call of each case, the cases taking turns call by call.

    Calls of a second or more are timed in rounds over all cases rather than case after case,
    so that a change in the load of a shared machine hits every case alike.
    """
    for fn in cases.values():
        fn()  # warm up
    times: dict[str, list[float]] = {name: [] for name in cases}
    while min(sum(v) for v in times.values()) < min_run_time or min(map(len, times.values())) < 3:
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def run(layer: tuple, device: str, dtype: torch.dtype, min_run_time: float) -> dict:
    N, I, O, H, k, up = layer
    x = torch.randn(N, I, H, H, device=device, dtype=dtype)
    weight = torch.randn(O, I, k, k, device=device, dtype=dtype)
    styles = torch.randn(N, I, device=device, dtype=dtype) + 1
    noise = torch.randn(N, 1, H * up, H * up, device=device, dtype=dtype)
    f = ops.setup_filter([1, 3, 3, 1], device=device) if up > 1 else None
    kw = dict(noise=noise, up=up, padding=k // 2, resample_filter=f, flip_weight=up == 1)
    leaves = [t.clone().requires_grad_(True) for t in (x, weight, styles)]
    dy = torch.randn(N, O, H * up, H * up, device=device, dtype=dtype)

    # The reference is called directly, so that both sides run the same (native) upfirdn2d
    # inside conv2d_resample and the ratio measures modulated_conv2d's own parts.
    impl = {"native": ops.modulated_conv2d, "reference": reference.modulated_conv2d}

    def forward(backend, fused):
        def fn():
            with torch.no_grad():
                return impl[backend](x, weight, styles, fused_modconv=fused, **kw)

        return fn

    def forward_backward(backend, fused):
        def fn():
            y = impl[backend](*leaves, fused_modconv=fused, **kw)
            return torch.autograd.grad(y, leaves, dy)

        return fn

    cases, peak = {}, {}
    for backend in ("native", "reference"):
        for fused in (True, False):
            name = f"{backend} {'fused' if fused else 'non-fused'}"
            cases["fwd+bwd " + name] = forward_backward(backend, fused)
            peak[name] = peak_bytes(forward_backward(backend, fused), device) / 2**20
    for fused in (True, False):
        cases[f"fwd native {'fused' if fused else 'non-fused'}"] = forward("native", fused)
    t = interleaved_seconds(cases, min_run_time)

    chosen = "native fused" if prefers_fused(x, training=True) else "native non-fused"
    best_ref = min(t["fwd+bwd reference fused"], t["fwd+bwd reference non-fused"])
    lowest_ref_peak = min(peak["reference fused"], peak["reference non-fused"])
    ratios = {
        f"fwd+bwd: best reference / {chosen} (>= 1.3)": best_ref / t["fwd+bwd " + chosen],
        f"fwd+bwd: reference fused / {chosen}": t["fwd+bwd reference fused"]
        / t["fwd+bwd " + chosen],
        f"peak MiB: {chosen} / lowest reference (<= 1)": peak[chosen] / lowest_ref_peak,
        "fwd: native non-fused / native fused": t["fwd native non-fused"]
        / t["fwd native fused"],
    }
    return {"layer": layer, "device": device, "dtype": str(dtype), "ms": t, "peak_mib": peak,
            "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a shared 2-core CPU, 1 is steadiest)")
    parser.add_argument("--json", default="benchmarks/results/modulated_conv2d.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    results = {}
    for name, layer in LAYERS.items():
        result = run(layer, args.device, getattr(torch, args.dtype), args.min_run_time)
        results[name] = result
        times = [{"case": k, "ms": v * 1e3} for k, v in result["ms"].items()]
        print_table(f"modulated_conv2d {name} {args.dtype} on {args.device}", times,
                    ["case", "ms"])
        peaks = [{"path (fwd+bwd)": k, "peak MiB": v} for k, v in result["peak_mib"].items()]
        print_table("peak allocated memory", peaks, ["path (fwd+bwd)", "peak MiB"])
        ratios = [{"ratio": k, "value": v} for k, v in result["ratios"].items()]
        print_table("ratios (measured in this run)", ratios, ["ratio", "value"])
    save_json(args.json, {"modulated_conv2d": results})


if __name__ == "__main__":
    main()
