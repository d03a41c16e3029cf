"""StyleGAN2 training speed with the native fused ops vs their plain-PyTorch references.

Two recipes with the same weights and the `stylegan2-small32` network (32x32, 1 channel) train
on the same random batches in one process, in alternating rounds of 16 steps each, so every
round covers the lazy schedule once (R1 at step 0 of 16, path length every 4 steps) and both
backends see the same load. Reported: images/s of each backend (median over rounds), their
ratio (target >= 1.5 on a 2-core CPU), and memory: the bytes autograd keeps for backward in
each loss phase (the largest phase is the peak), and on CUDA the peak allocated memory of a
round.

The preset trains without path length and style mixing (as StyleGAN2-ADA's cifar config);
the benchmark turns both on (weight 2, probability 0.9) so that every lazy regularizer is
timed, unless `--as-preset` is given.

    python -m benchmarks.bench_stylegan2_train [--device cpu] [--rounds 3] [--batch 32]
        [--threads 1] [--as-preset] [--json PATH]
"""

import argparse
import statistics
import time

import torch

from benchmarks.harness import print_table, save_json, saved_tensor_bytes
from fastgan import ops
from fastgan.training.config import PRESETS
from fastgan.training.recipes.stylegan2 import StyleGAN2Options, StyleGAN2Recipe

PRESET = "stylegan2-small32"
CYCLE = 16  # steps per round: one R1 step and four path-length steps
# StyleGAN2's path length and style mixing, as the options' defaults have them.
REGULARIZERS = {name: getattr(StyleGAN2Options(), name) for name in ("pl_weight", "style_mixing")}


def build(device: str, backend: str, as_preset: bool = False) -> StyleGAN2Recipe:
    preset = PRESETS[PRESET]
    extra = {} if as_preset else REGULARIZERS
    options = StyleGAN2Options(**{**preset["options"], **extra, "ops": backend})
    return StyleGAN2Recipe(options, resolution=preset["resolution"],
                           channels=preset["channels"], num_classes=0, device=device, seed=0)


def phase_bytes(recipe: StyleGAN2Recipe, x: torch.Tensor) -> dict[str, int]:
    """Saved-for-backward bytes of each loss phase's graph (nothing is stepped)."""
    n = len(x)
    saved = recipe.pl_mean
    with ops.use(recipe.options.ops):
        out = {
            "Gmain": saved_tensor_bytes(lambda: recipe.D(recipe.run_G(recipe._z(n), None)[0])),
            "Greg": saved_tensor_bytes(
                lambda: recipe.path_length_loss(recipe._z(n // 2), None)),
            "Dmain": saved_tensor_bytes(lambda: recipe.D(x)),
            "Dreg": saved_tensor_bytes(lambda: recipe.r1_loss(x, None)),
        }
    recipe.pl_mean = saved
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a shared 2-core CPU, 1 is fastest)")
    parser.add_argument("--min-run-time", type=float, default=None,
                        help="accepted for benchmarks/gpu_check.sh; rounds set the length")
    parser.add_argument("--as-preset", action="store_true",
                        help="train with the preset's regularizers only (R1; no path length, "
                             "no style mixing)")
    parser.add_argument("--json", default="benchmarks/results/stylegan2_train.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # Two identical recipes and a fixed stream of batches in [-1, 1].
    recipes = {name: build(args.device, name, args.as_preset) for name in ("native", "reference")}
    g = torch.Generator().manual_seed(0)
    res = PRESETS[PRESET]["resolution"]
    batches = [(torch.rand(args.batch, 1, res, res, generator=g) * 2 - 1).to(args.device)
               for _ in range(CYCLE)]
    labels = torch.zeros(args.batch, dtype=torch.long, device=args.device)

    # Memory per phase, before training (same weights for both).
    memory = {name: phase_bytes(r, batches[0]) for name, r in recipes.items()}

    # Alternating rounds of one lazy cycle each; the first round of each warms up.
    rates: dict[str, list[float]] = {name: [] for name in recipes}
    peaks: dict[str, int] = {}
    for k in range(args.rounds + 1):
        for name, recipe in recipes.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            for x in batches:
                recipe.step(x, labels)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
                peaks[name] = torch.cuda.max_memory_allocated()
            if k > 0:
                rates[name].append(CYCLE * args.batch / (time.perf_counter() - t0))

    # Table and JSON.
    rows = []
    for name in recipes:
        row = {"ops": name, "img/s": statistics.median(rates[name]),
               "rounds": " ".join(f"{r:.1f}" for r in rates[name]),
               **{f"{p} MiB": b / 2**20 for p, b in memory[name].items()},
               "peak phase MiB": max(memory[name].values()) / 2**20}
        if name in peaks:
            row["cuda peak MiB"] = peaks[name] / 2**20
        rows.append(row)
    speedup = rows[0]["img/s"] / rows[1]["img/s"]
    columns = ["ops", "img/s", "rounds", "Gmain MiB", "Greg MiB", "Dmain MiB", "Dreg MiB",
               "peak phase MiB"] + (["cuda peak MiB"] if peaks else [])
    regs = "preset's regularizers" if args.as_preset else "R1 + path length + style mixing"
    print_table(f"StyleGAN2 {PRESET} training ({regs}), batch {args.batch}, {args.device}, "
                f"threads {torch.get_num_threads()}: native / reference = {speedup:.2f}x",
                rows, columns)
    save_json(args.json, {"preset": PRESET, "as_preset": args.as_preset, "batch": args.batch,
                          "device": args.device,
                          "rows": rows, "speedup": speedup})


if __name__ == "__main__":
    main()
