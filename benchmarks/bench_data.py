"""Loader throughput on Fashion-MNIST at 32x32 with the in-memory cache, in images/s.

Also times the floor: indexing the same cached uint8 tensor and scaling it to float by hand,
so the ratio says how much the loader (sampler, DataLoader, labels) adds on top.

    python -m benchmarks.bench_data [--batch-size 64 256] [--seconds 2] [--data-root DIR]
"""

import argparse
import json
import time

import torch

from fastgan.data import TransformConfig, build_dataset, build_loader


def images_per_second(batches, batch_size: int, seconds: float) -> float:
    """Draws batches for about `seconds` (after 3 warm-up batches); returns images/s."""
    it = iter(batches)
    for _ in range(3):
        next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            next(it)
        n += 10
    return n * batch_size / (time.perf_counter() - t0)


def floor_batches(stored: torch.Tensor, batch_size: int):
    """Random batches straight from the cached tensor: uint8 index, then float in [-1, 1]."""
    g = torch.Generator().manual_seed(0)
    while True:
        idx = torch.randint(len(stored), (batch_size,), generator=g)
        yield stored[idx].float().mul_(2 / 255).sub_(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--json", default=None, help="Also write the results here.")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a loader should not need the cores the model uses

    t0 = time.perf_counter()
    ds = build_dataset("fashion-mnist", resolution=32, channels=1, data_root=args.data_root)
    build_s = time.perf_counter() - t0
    flip = build_dataset("fashion-mnist", resolution=32, channels=1, data_root=args.data_root,
                         transform=TransformConfig(hflip=True))
    print(f"built {ds} in {build_s:.2f} s")

    rows = []
    for bs in args.batch_size:
        row = {"batch_size": bs, "build_s": round(build_s, 2)}
        row["loader"] = images_per_second(build_loader(ds, batch_size=bs, seed=0), bs,
                                          args.seconds)
        row["loader_hflip"] = images_per_second(build_loader(flip, batch_size=bs, seed=0), bs,
                                                args.seconds)
        row["floor"] = images_per_second(floor_batches(ds.stored, bs), bs, args.seconds)
        row["loader_vs_floor"] = row["loader"] / row["floor"]
        rows.append(row)
        print(f"batch {bs:4d}: loader {row['loader']:>10,.0f} img/s, with hflip "
              f"{row['loader_hflip']:>10,.0f} img/s, floor {row['floor']:>10,.0f} img/s "
              f"(loader = {row['loader_vs_floor']:.2f} x floor)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": torch.get_num_threads(), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
