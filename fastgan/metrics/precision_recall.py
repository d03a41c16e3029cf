"""Improved precision and recall (Kynkäänniemi et al., 2019) by k-NN manifolds, k = 3.

The manifold of a feature set A is the union of balls centred on each a in A with radius
r_k(a), the distance from a to its k-th nearest neighbour in A other than itself. Then

    precision = fraction of generated features inside the manifold of the real features
    recall    = fraction of real features inside the manifold of the generated features

where b is inside the manifold of A when ||b - a|| <= r_k(a) for some a in A. Distances are
Euclidean, computed in float64 in row batches.
"""

import logging

import torch

logger = logging.getLogger(__name__)


def _squared_distances(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """[R, D], [C, D] float64 -> [R, C] squared Euclidean distances, clamped at 0."""
    d2 = (rows * rows).sum(1, keepdim=True) + (cols * cols).sum(1)[None] - 2.0 * rows @ cols.T
    return d2.clamp_(min=0.0)


def manifold_radii(manifold: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """[N, D] float64 -> [N] squared k-NN radii: the (k+1)-th smallest squared distance of each
    point to the set, the smallest being the point itself."""
    radii = [
        _squared_distances(batch, manifold).kthvalue(k + 1, dim=1).values
        for batch in manifold.split(batch_size)
    ]
    return torch.cat(radii)


def manifold_coverage(probes: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor,
                      batch_size: int) -> float:
    """Fraction of probes [P, D] within radius (squared radii [N]) of some manifold point."""
    inside = [
        (_squared_distances(batch, manifold) <= radii[None]).any(dim=1)
        for batch in probes.split(batch_size)
    ]
    return float(torch.cat(inside).to(torch.float64).mean())


def precision_recall(
    real,
    fake,
    *,
    k: int = 3,
    batch_size: int = 4096,
    device: str | torch.device = "cpu",
) -> tuple[float, float]:
    """Improved precision and recall of generated features against real ones.

    Args:
        real: [N_r, D] real features (tensor or array), N_r > k.
        fake: [N_f, D] generated features, N_f > k.
        k: neighbourhood size of the manifolds (3 in the paper).
        batch_size: rows per distance batch (memory: batch_size x N float64).
        device: where distances are computed.

    Returns:
        (precision, recall), each in [0, 1].
    """
    device = torch.device(device)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    sets = {}
    for name, x in (("real", real), ("fake", fake)):
        x = torch.as_tensor(x).to(device=device, dtype=torch.float64)
        if x.dim() != 2:
            raise ValueError(f"{name} must be 2-D [N, D], got shape {tuple(x.shape)}")
        if x.shape[0] <= k:
            raise ValueError(f"{name} must have more than k={k} rows, got {x.shape[0]}")
        sets[name] = x
    real, fake = sets["real"], sets["fake"]
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"fake must have {real.shape[1]} features like real, got {fake.shape[1]}")

    # Precision probes the real manifold with fakes; recall the fake manifold with reals.
    precision = manifold_coverage(fake, real, manifold_radii(real, k, batch_size), batch_size)
    recall = manifold_coverage(real, fake, manifold_radii(fake, k, batch_size), batch_size)
    return precision, recall
