"""Helpers for testing native ops against their references (used by fastgan's own tests)."""

from collections.abc import Callable, Iterator, Sequence

import torch

CUDA = torch.cuda.is_available()


def layouts(x: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
    """The same values as x in several memory layouts: (name, tensor) pairs.

    contiguous; channels-last (4-D x); non-contiguous (a strided view into a larger tensor);
    transposed (last two dims swapped in memory, a dense but permuted layout).
    """
    yield "contiguous", x.contiguous()
    if x.ndim == 4:
        yield "channels_last", x.contiguous(memory_format=torch.channels_last)
    if x.ndim >= 1:
        wide = torch.zeros(*x.shape[:-1], x.shape[-1] * 2, dtype=x.dtype, device=x.device)
        wide[..., ::2] = x
        yield "strided", wide[..., ::2]
    if x.ndim >= 2:
        yield "transposed", x.transpose(-1, -2).contiguous().transpose(-1, -2)


def dtype_error_bound(
    fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor], dtype: torch.dtype
) -> float:
    """The error torch itself makes computing fn in `dtype`, as a bound for a native kernel.

    Runs fn (the reference) on the inputs rounded to `dtype` and in float64 on the same rounded
    values; returns the largest absolute difference, plus one unit of `dtype` at the output's
    scale, so that kernels are judged against the precision the dtype allows.
    """
    low = [t.to(dtype) for t in inputs]
    exact = fn(*[t.double() for t in low])
    approx = fn(*low).double()
    scale = exact.abs().max().item() if exact.numel() else 0.0
    return (approx - exact).abs().max().item() + torch.finfo(dtype).eps * max(scale, 1.0)


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference of a and b, in float64."""
    if a.numel() == 0:
        return 0.0
    return (a.double() - b.double()).abs().max().item()
