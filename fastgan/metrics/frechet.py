"""Fréchet distance between two Gaussians fitted to feature sets, in float64.

    FD = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))

The trace of the matrix square root is computed from the symmetric form

    tr((sigma1 sigma2)^(1/2)) = tr((R sigma2 R)^(1/2)),   R = sigma1^(1/2)

with two symmetric eigen-decompositions. `R sigma2 R` is symmetric positive semi-definite, so
its eigenvalues are real and its square root exists even when either covariance is singular
(fewer samples than feature dimensions), where the general `sqrtm(sigma1 @ sigma2)` of
scipy can return complex or infinite values. A `RuntimeWarning` says when the inputs are not
positive semi-definite beyond rounding, which is the case where the result is not reliable.
"""

import logging
import warnings

import numpy as np
import torch

logger = logging.getLogger(__name__)

# Negative eigenvalues of a covariance smaller than this fraction of its largest eigenvalue are
# float64 rounding (a 2048-d covariance from 50k samples shows about 1e-14); larger ones mean the
# matrix is not a covariance and the distance computed from it is not reliable.
_PSD_RTOL = 1e-9


def _as_float64(x, name: str) -> np.ndarray:
    """A torch tensor or array-like as a float64 numpy array, rejecting non-finite values."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    array = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {int(np.sum(~np.isfinite(array)))} "
                         f"non-finite values of {array.size}")
    return array


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set, in float64.

    Args:
        features: [N, D] tensor or array, N >= 2 samples of D features (any float dtype).

    Returns:
        mu: [D] float64 mean.
        sigma: [D, D] float64 covariance with the unbiased 1 / (N - 1) normalization
            (as `numpy.cov`, which the original FID code uses).
    """
    x = _as_float64(features, "features")
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D [N, D], got shape {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ValueError(f"features must have at least 2 rows (samples), got {x.shape[0]}")

    # Center first, then one matrix product: symmetric up to rounding, symmetrized exactly.
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = xc.T @ xc / (x.shape[0] - 1)
    sigma = 0.5 * (sigma + sigma.T)
    return mu, sigma


def _check_covariance(sigma: np.ndarray, name: str, d: int) -> np.ndarray:
    """A [D, D] float64 covariance, made exactly symmetric; gross asymmetry is an error."""
    if sigma.shape != (d, d):
        raise ValueError(f"{name} must have shape ({d}, {d}) to match the means, "
                         f"got {tuple(sigma.shape)}")
    scale = max(float(np.abs(sigma).max()), np.finfo(np.float64).tiny)
    asymmetry = float(np.abs(sigma - sigma.T).max()) / scale
    if asymmetry > 1e-6:
        raise ValueError(f"{name} must be symmetric, got a relative asymmetry of {asymmetry:.3g}")
    return 0.5 * (sigma + sigma.T)


def _psd_eigh(a: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of a symmetric PSD [D, D] matrix.

    Eigenvalues below D * eps * (largest eigenvalue) cannot be told apart from 0 in float64 and
    are set to 0: their square roots (about 1e-8 of the largest each) would otherwise add up to
    a bias over a large null space. Warns (RuntimeWarning) when an eigenvalue is negative beyond
    rounding, that is when the matrix is not a covariance.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(a)
    largest = max(float(np.abs(eigenvalues).max()), 0.0)
    smallest = float(eigenvalues.min())
    if smallest < -_PSD_RTOL * largest:
        warnings.warn(
            f"frechet_distance: {name} is not positive semi-definite: smallest eigenvalue "
            f"{smallest:.6g} vs largest {largest:.6g} (allowed rounding {_PSD_RTOL:g} of it); "
            "negative eigenvalues were clipped to 0 and the distance is not reliable. "
            "Compute covariances in float64 from at least 2 samples (feature_statistics).",
            RuntimeWarning,
            stacklevel=3,
        )
    floor = a.shape[0] * np.finfo(np.float64).eps * largest
    return np.where(eigenvalues > floor, eigenvalues, 0.0), eigenvectors


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr((sigma1 sigma2)^(1/2)) for symmetric PSD [D, D] float64 matrices.

    Uses tr((R sigma2 R)^(1/2)) with R = sigma1^(1/2): both square roots are of symmetric PSD
    matrices, so this stays real and finite for singular covariances.
    """
    # R = sigma1^(1/2) from its eigen-decomposition.
    lam1, v1 = _psd_eigh(sigma1, "sigma1")
    r = (v1 * np.sqrt(lam1)) @ v1.T

    # The eigenvalues of R sigma2 R are those of sigma1 sigma2; their square roots sum to the trace.
    m = r @ sigma2 @ r
    m = 0.5 * (m + m.T)
    lam, _ = _psd_eigh(m, "sigma1^(1/2) sigma2 sigma1^(1/2)")
    return float(np.sqrt(lam).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

        FD = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))

    Args:
        mu1, mu2: [D] means (tensor or array).
        sigma1, sigma2: [D, D] symmetric positive semi-definite covariances.

    Returns:
        The distance as a Python float, >= 0. Negative results within rounding are returned as
        0; a RuntimeWarning is raised when a covariance is not positive semi-definite.
    """
    mu1 = _as_float64(mu1, "mu1")
    mu2 = _as_float64(mu2, "mu2")
    if mu1.ndim != 1:
        raise ValueError(f"mu1 must be 1-D [D], got shape {tuple(mu1.shape)}")
    if mu2.shape != mu1.shape:
        raise ValueError(f"mu2 must have the shape of mu1 {tuple(mu1.shape)}, "
                         f"got {tuple(mu2.shape)}")
    d = mu1.shape[0]
    sigma1 = _check_covariance(_as_float64(sigma1, "sigma1"), "sigma1", d)
    sigma2 = _check_covariance(_as_float64(sigma2, "sigma2"), "sigma2", d)

    # The three terms; the trace term carries the only rounding worth bounding.
    diff = mu1 - mu2
    mean_term = float(diff @ diff)
    trace_term = float(np.trace(sigma1) + np.trace(sigma2))
    cross_term = 2.0 * trace_sqrt_product(sigma1, sigma2)
    distance = mean_term + trace_term - cross_term

    # Identical inputs cancel to rounding noise around 0 (measured: 4e-9 of the trace for an
    # ill-conditioned 2048-d covariance); clamp that, warn about anything larger.
    tolerance = 1e-6 * (trace_term + mean_term)
    if distance < -tolerance:
        warnings.warn(
            f"frechet_distance: negative result {distance:.6g} beyond rounding ({tolerance:.3g}); "
            "the covariances are not valid and the value was clamped to 0",
            RuntimeWarning,
            stacklevel=2,
        )
    return max(distance, 0.0)


def frechet_distance_features(features1, features2) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets [N1, D] and [N2, D]."""
    mu1, sigma1 = feature_statistics(features1)
    mu2, sigma2 = feature_statistics(features2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"features2 must have {mu1.shape[0]} features like features1, "
                         f"got {mu2.shape[0]}")
    return frechet_distance(mu1, sigma1, mu2, sigma2)
