"""bias_act: fused native op vs the reference composite and vs x.clone(), as ratios.

Targets (2-core CPU, float32, 64x512x32x32, lrelu with bias and clamp): forward at least 3x
faster than the reference and at least half the speed of clone(); forward+backward at least 2x
faster than the reference.

    python -m benchmarks.bench_bias_act [--shape 64 512 32 32] [--device cpu] [--json PATH]
"""

import argparse

import torch

from benchmarks.harness import print_table, save_json, seconds
from fastgan import ops


def run(shape: list[int], device: str, dtype: torch.dtype, min_run_time: float) -> dict:
    x = torch.randn(shape, device=device, dtype=dtype)
    b = torch.randn(shape[1], device=device, dtype=dtype)
    dy = torch.randn_like(x)
    xg, bg = x.clone().requires_grad_(True), b.clone().requires_grad_(True)
    kw = dict(act="lrelu", clamp=256.0)

    def forward(backend):
        def fn():
            with ops.use(backend):
                return ops.bias_act(x, b, **kw)

        return fn

    def forward_backward(backend):
        def fn():
            with ops.use(backend):
                y = ops.bias_act(xg, bg, **kw)
            return torch.autograd.grad(y, [xg, bg], dy)

        return fn

    t = {
        "clone": seconds(lambda: x.clone(), min_run_time=min_run_time),
        "fwd native": seconds(forward("native"), min_run_time=min_run_time),
        "fwd reference": seconds(forward("reference"), min_run_time=min_run_time),
        "fwd+bwd native": seconds(forward_backward("native"), min_run_time=min_run_time),
        "fwd+bwd reference": seconds(forward_backward("reference"), min_run_time=min_run_time),
    }
    ratios = {
        "fwd: reference / native (>= 3)": t["fwd reference"] / t["fwd native"],
        "fwd: clone / native (>= 0.5)": t["clone"] / t["fwd native"],
        "fwd+bwd: reference / native (>= 2)": t["fwd+bwd reference"] / t["fwd+bwd native"],
    }
    return {"shape": shape, "device": device, "dtype": str(dtype), "ms": t, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[64, 512, 32, 32])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--json", default="benchmarks/results/bias_act.json")
    args = parser.parse_args()

    result = run(args.shape, args.device, getattr(torch, args.dtype), args.min_run_time)
    times = [{"case": k, "ms": v * 1e3} for k, v in result["ms"].items()]
    print_table(f"bias_act {result['shape']} {args.dtype} on {args.device}", times, ["case", "ms"])
    ratios = [{"ratio": k, "value": v} for k, v in result["ratios"].items()]
    print_table("ratios (measured in this run)", ratios, ["ratio", "value"])
    save_json(args.json, {"bias_act": result})


if __name__ == "__main__":
    main()
