"""Improved precision/recall: identical sets, disjoint clusters, a hand case, brute force."""

import numpy as np
import pytest
import torch

from fastgan.metrics.precision_recall import precision_recall


def _reference_coverage(probes: np.ndarray, manifold: np.ndarray, k: int) -> float:
    """Fraction of probes inside the k-NN manifold, by explicit loops."""
    radii = []
    for a in manifold:
        others = sorted(float(np.linalg.norm(a - b)) for b in manifold)
        radii.append(others[k])  # others[0] is the point itself
    inside = [
        any(np.linalg.norm(p - a) <= r for a, r in zip(manifold, radii)) for p in probes
    ]
    return float(np.mean(inside))


def test_identical_sets_are_one_one():
    torch.manual_seed(0)
    x = torch.randn(50, 8)
    assert precision_recall(x, x.clone()) == (1.0, 1.0)


def test_disjoint_clusters_are_zero_zero():
    torch.manual_seed(1)
    real = torch.randn(40, 8)
    fake = torch.randn(30, 8) + 100.0
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_hand_computed_precision_on_a_line():
    # Real points 0..9 on a line: the 3-NN radius of 9 is 3 and of 8 is 2. Fake 10.5 lies
    # within 1.5 of 9; 13 is 4 from 9 and 5 from 8; 20 and 30 are far: precision 1/4.
    real = torch.arange(10, dtype=torch.float64)[:, None]
    fake = torch.tensor([[10.5], [13.0], [20.0], [30.0]], dtype=torch.float64)
    precision, _ = precision_recall(real, fake, k=3)
    assert precision == pytest.approx(1.0 / 4.0)


def test_matches_brute_force_on_overlapping_sets():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((60, 5))
    fake = rng.standard_normal((45, 5)) * 0.7 + 0.8
    precision, recall = precision_recall(real, fake, k=3, batch_size=16)
    assert precision == _reference_coverage(fake, real, 3)
    assert recall == _reference_coverage(real, fake, 3)
    assert 0.0 < precision < 1.0 and 0.0 < recall < 1.0


def test_arguments_checked():
    with pytest.raises(ValueError, match="real must have more than k=3 rows, got 3"):
        precision_recall(torch.zeros(3, 2), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="fake must have 2 features like real, got 3"):
        precision_recall(torch.zeros(5, 2), torch.zeros(5, 3))
