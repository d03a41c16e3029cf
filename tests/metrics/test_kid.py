"""KID: exact values on point masses, an independent numpy computation, identical and shifted
sets."""

import numpy as np
import pytest
import torch

from fastgan.metrics.kid import kernel_inception_distance, polynomial_mmd2


def _reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic kernel, by explicit loops over pairs."""
    m, d = x.shape

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (m * m)


def test_matches_pairwise_loops():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 5)) + 0.4
    expected = _reference_mmd2(x, y)
    value = float(polynomial_mmd2(torch.from_numpy(x), torch.from_numpy(y)))
    assert value == pytest.approx(expected, rel=1e-12)

    # With subset_size >= N every subset is the whole set: mean is that value, std 0.
    mean, std = kernel_inception_distance(x, y, num_subsets=3, subset_size=50)
    assert mean == pytest.approx(expected, rel=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_point_masses_give_the_closed_form():
    # X all at 0, Y all at c * 1: k(0, 0) = 1, k(b, b) = (c^2 + 1)^3, k(0, b) = 1.
    d, c = 8, 0.5
    zeros, shifted = torch.zeros(40, d), torch.full((40, d), c)
    mean, std = kernel_inception_distance(zeros, shifted, num_subsets=5, subset_size=10)
    assert mean == pytest.approx((c * c + 1.0) ** 3 - 1.0, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)
    assert kernel_inception_distance(shifted, shifted, num_subsets=5, subset_size=10) == (0.0, 0.0)


def test_identical_and_shifted_distributions():
    torch.manual_seed(0)
    d = 16
    a, b = torch.randn(600, d), torch.randn(600, d)
    same_mean, same_std = kernel_inception_distance(a, b, num_subsets=40, subset_size=200)
    shift_mean, shift_std = kernel_inception_distance(a, b + 0.5, num_subsets=40,
                                                      subset_size=200)
    # Same distribution: the unbiased estimate is within its standard error of 0.
    assert abs(same_mean) < 4.0 * same_std / np.sqrt(40)
    # Shifted by 0.5 per feature: far above the noise, and larger for a larger shift.
    assert shift_mean > 20.0 * shift_std / np.sqrt(40)
    bigger, _ = kernel_inception_distance(a, b + 1.0, num_subsets=40, subset_size=200)
    assert bigger > shift_mean > 0.0


def test_seeded_and_arguments_checked():
    x, y = torch.randn(30, 4), torch.randn(30, 4)
    first = kernel_inception_distance(x, y, num_subsets=4, subset_size=10, seed=3)
    assert first == kernel_inception_distance(x, y, num_subsets=4, subset_size=10, seed=3)
    assert first != kernel_inception_distance(x, y, num_subsets=4, subset_size=10, seed=4)
    with pytest.raises(ValueError, match="features2 must have 4 features like features1, got 3"):
        kernel_inception_distance(x, torch.randn(30, 3))
    with pytest.raises(ValueError, match="must be >= 2, got 1"):
        kernel_inception_distance(x[:1], y)
