"""Fréchet distance: closed forms, self-distance and an independent numpy/scipy computation."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from fastgan.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_features,
)


def _random_features(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    """[n, d] correlated Gaussian features."""
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal((n, d)) @ mixing + shift


def _reference_fd(x: np.ndarray, y: np.ndarray) -> float:
    """The textbook computation: np.cov and scipy's general sqrtm of the product."""
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2.0 * np.trace(covmean).real)


def _reference_trace_sqrt_eigvals(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((s1 s2)^(1/2)) as the sum of square roots of the (real, >= 0) eigenvalues of s1 s2."""
    eigenvalues = np.linalg.eigvals(s1 @ s2)
    return float(np.sqrt(np.clip(eigenvalues.real, 0.0, None)).sum())


def test_statistics_match_numpy_cov_in_float64():
    rng = np.random.default_rng(0)
    x = _random_features(rng, 50, 6).astype(np.float32)
    mu, sigma = feature_statistics(torch.from_numpy(x))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    assert mu.shape == (6,) and sigma.shape == (6, 6)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mu, x64.mean(0), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(sigma, np.cov(x64, rowvar=False), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(sigma, sigma.T)


def test_self_distance_is_zero():
    rng = np.random.default_rng(1)
    for n, d in [(200, 16), (20, 64)]:  # full rank, then singular (fewer samples than features)
        x = _random_features(rng, n, d)
        mu, sigma = feature_statistics(x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            value = frechet_distance(mu, sigma, mu, sigma)
        assert 0.0 <= value <= 1e-9 * np.trace(sigma), (n, d, value)


def test_closed_form_diagonal_gaussians():
    # FD = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 for diagonal covariances.
    mu1 = np.array([0.0, 1.0, -2.0, 0.5])
    mu2 = np.array([1.0, 1.0, 0.0, 0.0])
    a = np.array([1.0, 4.0, 0.25, 9.0])
    b = np.array([4.0, 1.0, 0.25, 0.0])  # one zero variance: a singular covariance
    expected = 1.0 + 0.0 + 4.0 + 0.25 + (1.0 + 1.0 + 0.0 + 9.0)
    value = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert value == pytest.approx(expected, rel=1e-12)


def test_closed_form_scaled_covariance():
    # sigma2 = c^2 sigma1 gives (sigma1 sigma2)^(1/2) = c sigma1, so FD = |dmu|^2 + (1-c)^2 tr.
    rng = np.random.default_rng(2)
    q = rng.standard_normal((5, 5))
    sigma = q @ q.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    c = 3.0
    expected = float(((mu1 - mu2) ** 2).sum() + (1.0 - c) ** 2 * np.trace(sigma))
    value = frechet_distance(mu1, sigma, mu2, c * c * sigma)
    assert value == pytest.approx(expected, rel=1e-11)


def test_closed_form_one_dimension():
    # FD of N(m1, s1^2) and N(m2, s2^2) = (m1 - m2)^2 + (s1 - s2)^2.
    value = frechet_distance([2.0], [[9.0]], [-1.0], [[0.25]])
    assert value == pytest.approx(9.0 + 2.5**2, rel=1e-13)


def test_agrees_with_scipy_sqrtm_on_random_features():
    rng = np.random.default_rng(3)
    x = _random_features(rng, 400, 32)
    y = _random_features(rng, 300, 32, shift=0.3) * 1.5
    expected = _reference_fd(x, y)
    value = frechet_distance_features(torch.from_numpy(x), y)
    assert value == pytest.approx(expected, rel=1e-10)


def test_near_singular_covariances_stay_real_and_accurate():
    # Fewer samples than features: both covariances are singular; the eigenvalues of s1 s2 give
    # an independent value of the trace term.
    rng = np.random.default_rng(4)
    x = _random_features(rng, 24, 48)
    y = _random_features(rng, 30, 48, shift=0.1)
    mu1, s1 = feature_statistics(x)
    mu2, s2 = feature_statistics(y)
    expected = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2)
                     - 2.0 * _reference_trace_sqrt_eigvals(s1, s2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-7)


def test_not_positive_semidefinite_warns():
    sigma_bad = np.diag([1.0, -0.5])
    with pytest.warns(RuntimeWarning, match="sigma1 is not positive semi-definite"):
        frechet_distance([0.0, 0.0], sigma_bad, [0.0, 0.0], np.eye(2))


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match=r"features must be 2-D \[N, D\], got shape \(5,\)"):
        feature_statistics(np.zeros(5))
    with pytest.raises(ValueError, match="at least 2 rows"):
        feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="features must be finite"):
        feature_statistics(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"mu2 must have the shape of mu1 \(2,\), got \(3,\)"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(2, 2\)"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
    with pytest.raises(ValueError, match="sigma1 must be symmetric"):
        frechet_distance(np.zeros(2), np.array([[1.0, 1.0], [0.0, 1.0]]), np.zeros(2), np.eye(2))


def test_null_space_adds_no_square_root_noise():
    # tr((S S)^(1/2)) = tr(S) for a covariance S of rank 19 in 256 dimensions: rounding noise in
    # the 237 zero eigenvalues must not add sqrt(eps)-sized terms.
    from fastgan.metrics.frechet import trace_sqrt_product

    rng = np.random.default_rng(5)
    _, sigma = feature_statistics(_random_features(rng, 20, 256))
    assert trace_sqrt_product(sigma, sigma) == pytest.approx(np.trace(sigma), rel=1e-10)
