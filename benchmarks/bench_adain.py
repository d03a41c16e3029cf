"""adain: fused native op vs instance_norm + affine, as ratios measured in one run.

Targets (CPU, float32): forward and forward+backward at least 2x faster than
`F.instance_norm(x) * scale + bias` on a StarGAN v2-like shape (8x512x32x32) and a
StyleGAN-like shape (16x256x64x64).

    python -m benchmarks.bench_adain [--device cpu] [--min-run-time 1] [--json PATH]
"""

import argparse

import torch
import torch.nn.functional as F

from benchmarks.harness import print_table, save_json, seconds
from fastgan import ops

SHAPES = {"stargan2 8x512x32x32": [8, 512, 32, 32], "stylegan 16x256x64x64": [16, 256, 64, 64]}


def instance_norm_affine(x, scale, bias, eps=1e-5):
    return F.instance_norm(x, eps=eps) * scale[:, :, None, None] + bias[:, :, None, None]


def run(shape: list[int], device: str, dtype: torch.dtype, min_run_time: float) -> dict:
    x = torch.randn(shape, device=device, dtype=dtype)
    scale = torch.randn(shape[:2], device=device, dtype=dtype) + 1
    bias = torch.randn(shape[:2], device=device, dtype=dtype)
    dy = torch.randn_like(x)
    leaves = [t.clone().requires_grad_(True) for t in (x, scale, bias)]

    def forward(fn):
        return lambda: fn(x, scale, bias)

    def forward_backward(fn):
        return lambda: torch.autograd.grad(fn(*leaves), leaves, dy)

    t = {
        "fwd native": seconds(forward(ops.adain), min_run_time=min_run_time),
        "fwd instance_norm": seconds(forward(instance_norm_affine), min_run_time=min_run_time),
        "fwd+bwd native": seconds(forward_backward(ops.adain), min_run_time=min_run_time),
        "fwd+bwd instance_norm": seconds(
            forward_backward(instance_norm_affine), min_run_time=min_run_time
        ),
    }
    ratios = {
        "fwd: instance_norm / native (>= 2)": t["fwd instance_norm"] / t["fwd native"],
        "fwd+bwd: instance_norm / native (>= 2)": t["fwd+bwd instance_norm"] / t["fwd+bwd native"],
    }
    return {"shape": shape, "device": device, "dtype": str(dtype), "ms": t, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--min-run-time", type=float, default=1.0)
    parser.add_argument("--json", default="benchmarks/results/adain.json")
    args = parser.parse_args()

    results = {}
    for name, shape in SHAPES.items():
        result = run(shape, args.device, getattr(torch, args.dtype), args.min_run_time)
        results[name] = result
        times = [{"case": k, "ms": v * 1e3} for k, v in result["ms"].items()]
        print_table(f"adain {name} {args.dtype} on {args.device}", times, ["case", "ms"])
        ratios = [{"ratio": k, "value": v} for k, v in result["ratios"].items()]
        print_table("ratios (measured in this run)", ratios, ["ratio", "value"])
    save_json(args.json, {"adain": results})


if __name__ == "__main__":
    main()
