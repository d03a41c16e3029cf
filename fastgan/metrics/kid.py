"""Kernel Inception Distance (Bińkowski et al., 2018): unbiased MMD^2, cubic polynomial kernel.

    k(x, y) = (x . y / D + 1)^3

For one pair of subsets X, Y of m feature vectors each,

    MMD_u^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

KID is its mean over `num_subsets` random subset pairs (drawn without replacement within a
subset, independently between subsets), reported with the sample standard deviation over the
subsets. This is the estimator of the KID paper's code and of StyleGAN2-ADA / StyleGAN3
(100 subsets of 1000). Computed in float64.
"""

import logging

import torch

logger = logging.getLogger(__name__)


def _as_features(x, name: str, device: torch.device) -> torch.Tensor:
    """A [N, D] float64 tensor on `device`, rejecting other shapes and non-finite values."""
    x = torch.as_tensor(x).to(device=device, dtype=torch.float64)
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite")
    return x


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2 of two equal-size sets with k(a, b) = (a . b / D + 1)^3.

    Args:
        x, y: [m, D] float64, m >= 2.

    Returns:
        A float64 scalar tensor.
    """
    m, d = x.shape
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return within - 2.0 * kxy.sum() / (m * m)


def kernel_inception_distance(
    features1,
    features2,
    *,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[float, float]:
    """KID between two feature sets, with its standard deviation over subsets.

    Args:
        features1: [N1, D] (e.g. real) features, tensor or array.
        features2: [N2, D] (e.g. generated) features.
        num_subsets: how many subset pairs to average (>= 1).
        subset_size: m, capped at min(N1, N2); m must end up >= 2.
        seed: seeds the subset draws, so results repeat.
        device: where the kernel matrices are computed.

    Returns:
        (mean, std): the mean MMD_u^2 and its sample standard deviation (ddof 1; 0.0 for a
        single subset). Commonly reported multiplied by 1000.
    """
    device = torch.device(device)
    x = _as_features(features1, "features1", device)
    y = _as_features(features2, "features2", device)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"features2 must have {x.shape[1]} features like features1, "
                         f"got {y.shape[1]}")
    if not isinstance(num_subsets, int) or num_subsets < 1:
        raise ValueError(f"num_subsets must be an int >= 1, got {num_subsets!r}")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError(f"subset size min(subset_size, N1, N2) must be >= 2, got {m} "
                         f"(subset_size={subset_size}, N1={x.shape[0]}, N2={y.shape[0]})")

    # One value per subset pair; draws come from a CPU generator so every device agrees.
    generator = torch.Generator().manual_seed(seed)
    values = torch.empty(num_subsets, dtype=torch.float64)
    for s in range(num_subsets):
        ix = torch.randperm(x.shape[0], generator=generator)[:m].to(device)
        iy = torch.randperm(y.shape[0], generator=generator)[:m].to(device)
        values[s] = polynomial_mmd2(x[ix], y[iy]).cpu()

    std = float(values.std(correction=1)) if num_subsets > 1 else 0.0
    return float(values.mean()), std
