"""The CPU kernels of every instruction set this machine runs agree with the references.

The ISA is chosen once per process (FASTGAN_CPU_ISA, read when the extension loads), so each
ISA is checked in its own Python process running CHECK below; it prints, per op, the largest
error against the reference and the bound it must stay within.
"""

import json
import os
import subprocess
import sys

import pytest

from fastgan import native_info

pytestmark = pytest.mark.skipif(not native_info()["native"], reason="native extension not built")

# Runs in a fresh process: native op vs reference, forward and the gradients of a random
# projection of the output, float64 (bound 1e-10 at the output's scale) and float32 (forward
# and gradient, bound: the error torch itself makes in float32 on the same rounded inputs).
CHECK = r"""
import json
import math
import torch
import fastgan
from fastgan import ops
from fastgan.ops import reference
from fastgan.testing import dtype_error_bound, max_error

torch.manual_seed(0)
f4 = ops.setup_filter([1, 3, 3, 1])
f12 = ops.setup_filter(torch.hann_window(14)[1:-1], separable=True)


def modconv(mod, fused, up):
    def fn(x, w, s, noise):
        return mod.modulated_conv2d(x, w, s, noise, up=up, padding=1, resample_filter=f4,
                                    fused_modconv=fused)
    return fn


CASES = {
    "bias_act lrelu clamp": (
        lambda mod: lambda x, b: mod.bias_act(x, b, act="lrelu", clamp=0.7),
        [(3, 37, 5, 7), (37,)]),
    "upfirdn2d up 2, 4x4": (
        lambda mod: lambda x: mod.upfirdn2d(x, f4, up=2, padding=(2, 1, 2, 1), gain=4),
        [(2, 5, 9, 11)]),
    "upfirdn2d down 2, 4x4": (
        lambda mod: lambda x: mod.upfirdn2d(x, f4, down=2, padding=1), [(2, 5, 12, 9)]),
    "upfirdn2d filter, 4x4": (
        lambda mod: lambda x: mod.upfirdn2d(x, f4, padding=(1, 2, 2, 1)), [(2, 5, 13, 35)]),
    "upfirdn2d up 2, 12-tap separable": (
        lambda mod: lambda x: mod.upfirdn2d(x, f12, up=2, padding=(6, 5, 6, 5), gain=4),
        [(1, 3, 10, 21)]),
    "adain": (lambda mod: lambda x, s, b: mod.adain(x, s, b), [(3, 6, 5, 9), (3, 6), (3, 6)]),
    "modulated_conv2d fused up 2": (
        lambda mod: modconv(mod, True, 2), [(2, 6, 5, 5), (7, 6, 3, 3), (2, 6), (2, 1, 10, 10)]),
    "modulated_conv2d non-fused": (
        lambda mod: modconv(mod, False, 1), [(2, 6, 5, 5), (7, 6, 3, 3), (2, 6), (2, 1, 5, 5)]),
    "filtered_lrelu up 2 down 2": (
        lambda mod: lambda x, b: mod.filtered_lrelu(x, f12, f12, b, up=2, down=2, padding=11,
                                                    clamp=1.0),
        [(2, 4, 11, 13), (4,)]),
}


def grads(fn, inputs, seed):
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    y = fn(*leaves)
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return [y] + list(torch.autograd.grad((y * w.to(y.dtype)).sum(), leaves))


report = {"cpu_isa": fastgan.native_info()["cpu_isa"], "cases": {}}
for name, (make, shapes) in CASES.items():
    native, ref = make(ops), make(reference)
    x64 = [torch.randn(s, dtype=torch.float64) for s in shapes]
    exact = grads(ref, x64, 1)
    got = grads(native, x64, 1)
    scale = max(max(t.abs().max().item() for t in exact), 1.0)
    rows = [("float64 " + str(k), max_error(a, b), 1e-10 * scale)
            for k, (a, b) in enumerate(zip(got, exact))]
    x32 = [t.float() for t in x64]
    got32 = grads(native, x32, 1)
    for k in range(len(got32)):
        def part(*xs, k=k):
            return grads(ref, list(xs), 1)[k].detach()
        bound = dtype_error_bound(part, x32, torch.float32)
        rows.append(("float32 " + str(k), max_error(got32[k], exact[k]), 4 * bound))
    report["cases"][name] = rows
print(json.dumps(report))
"""


def run_check(isa: str) -> dict:
    env = {**os.environ, "FASTGAN_CPU_ISA": isa, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_native_info_names_the_isa():
    info = native_info()
    assert info["cpu_isas"][0] == "baseline"
    assert info["cpu_isa"] in info["cpu_isas"]
    # Unset means the best one this build and CPU have.
    if os.environ.get("FASTGAN_CPU_ISA", "auto") in ("", "auto"):
        assert info["cpu_isa"] == info["cpu_isas"][-1]


@pytest.mark.parametrize("isa", native_info().get("cpu_isas", ["baseline"]))
def test_kernels_agree_with_reference_under_every_isa(isa):
    report = run_check(isa)
    assert report["cpu_isa"] == isa
    failures = [(case, part, error, bound)
                for case, rows in report["cases"].items()
                for part, error, bound in rows if not error <= bound]
    assert not failures, failures


@pytest.mark.parametrize("value", ["sse9", "AVX2", "native"])
def test_unknown_isa_is_refused_at_load(value):
    env = {**os.environ, "FASTGAN_CPU_ISA": value}
    done = subprocess.run([sys.executable, "-c", "import fastgan"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert "ValueError: FASTGAN_CPU_ISA must be auto, baseline, avx2 or avx512" in done.stderr
    assert f"got '{value}'" in done.stderr


def test_isa_the_cpu_lacks_is_refused():
    missing = [isa for isa in ("avx2", "avx512") if isa not in native_info()["cpu_isas"]]
    if not missing:
        pytest.skip("this CPU and build run every ISA")
    env = {**os.environ, "FASTGAN_CPU_ISA": missing[0]}
    done = subprocess.run([sys.executable, "-c", "import fastgan"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode != 0
    assert f"FASTGAN_CPU_ISA={missing[0]} names an ISA that this build or CPU lacks" in done.stderr
