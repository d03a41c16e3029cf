"""Infinite samplers, exact resume, domain balance and spawn-started workers."""

import itertools
import logging
import zipfile

import numpy as np
import pytest
import torch

from fastgan.data import (
    DomainBalancedSampler, InfiniteSampler, TransformConfig, build_dataset, build_loader,
)
from tests.data.builders import save_image


def _take(iterable, n):
    return list(itertools.islice(iter(iterable), n))


def test_infinite_sampler_epochs_and_start():
    s = InfiniteSampler(7, seed=5)
    stream = _take(s, 21)
    for e in range(3):
        expected = torch.randperm(7, generator=torch.Generator().manual_seed(5 + e)).tolist()
        assert stream[7 * e : 7 * e + 7] == expected
    for start in (0, 3, 7, 12):
        assert _take(InfiniteSampler(7, seed=5, start=start), 21 - start) == stream[start:]
    assert s.take(5, 12).tolist() == stream[5:17] and s.take(14, 7).tolist() == stream[14:]
    assert _take(InfiniteSampler(3, seed=0, shuffle=False, start=2), 4) == [2, 0, 1, 2]
    for bad in (dict(n=0, seed=0), dict(n=3, seed=-1), dict(n=3, seed=0, start=-2)):
        with pytest.raises(ValueError):
            InfiniteSampler(bad.pop("n"), **bad)


@pytest.fixture
def tiny(tmp_path):
    """12 distinct 6x6 gray images in two class folders (7 + 5)."""
    for i in range(12):
        a = np.full((6, 6), 20 * i, np.uint8)
        a[0, 0] = 255  # an asymmetric mark, so flips show
        save_image(tmp_path / "tiny" / ("a" if i < 7 else "b") / f"{i:02d}.png", a)
    return tmp_path / "tiny"


def test_loader_resume_matches_uninterrupted_run(tiny):
    cfg = TransformConfig(jitter=0.5, random_crop=True, hflip=True)
    ds = build_dataset(str(tiny), resolution=4, channels=1, transform=cfg)
    full = _take(build_loader(ds, batch_size=5, seed=3), 6)
    assert full[0][0].shape == (5, 1, 4, 4) and full[0][1].shape == (5,)
    for step in (1, 4):
        resumed = _take(build_loader(ds, batch_size=5, seed=3, start=step * 5), 6 - step)
        for (x0, y0), (x1, y1) in zip(full[step:], resumed):
            assert torch.equal(x0, x1) and torch.equal(y0, y1)
    other = _take(build_loader(ds, batch_size=5, seed=4), 1)[0][0]
    assert not torch.equal(other, full[0][0])


def test_loader_labels_follow_images(tiny):
    ds = build_dataset(str(tiny), resolution=6, channels=1, labels="onehot")
    x, y = _take(build_loader(ds, batch_size=12, seed=0, shuffle=False), 1)[0]
    assert y.shape == (12, 2) and y[:, 1].tolist() == [0.0] * 7 + [1.0] * 5
    means = ((x[:, 0, 1:, 1:] + 1) * 127.5).mean((1, 2)).round()
    assert means.tolist() == [20.0 * i for i in range(12)]


def test_domain_balanced_sampler(caplog):
    labels = np.array([0] * 90 + [2] * 10)
    with caplog.at_level(logging.WARNING):
        s = DomainBalancedSampler(labels, seed=1, num_domains=3)
    assert any("[1]" in r.getMessage() for r in caplog.records)
    draws = np.asarray(_take(s, 4000))
    counts = np.bincount(labels[draws], minlength=3)
    assert counts[1] == 0 and abs(counts[0] - 2000) < 200 and abs(counts[2] - 2000) < 200
    assert set(draws[labels[draws] == 2].tolist()) == set(range(90, 100))
    assert _take(DomainBalancedSampler(labels, seed=1, start=150), 50) == draws[150:200].tolist()
    assert s.take(90, 130).tolist() == draws[90:220].tolist()
    with pytest.raises(ValueError, match="labels"):
        DomainBalancedSampler(np.zeros((3, 2), np.int64), seed=0)


def test_balanced_loader_needs_class_labels(tiny, tmp_path):
    ds = build_dataset(str(tiny), resolution=6, channels=1)
    _, y = _take(build_loader(ds, batch_size=400, seed=0, balance=True), 1)[0]
    assert abs(int((y == 1).sum()) - 200) < 40
    flat = build_dataset(str(tiny / "a"), resolution=6, channels=1)
    with pytest.raises(ValueError, match="balance=True"):
        build_loader(flat, batch_size=4, seed=0, balance=True)
    with pytest.raises(ValueError, match="batch_size"):
        build_loader(ds, batch_size=0, seed=0)


def test_plain_torch_dataset_in_the_loader():
    ds = torch.utils.data.TensorDataset(torch.arange(10.0)[:, None], torch.arange(10))
    x, y = _take(build_loader(ds, batch_size=4, seed=0, shuffle=False), 3)[2]
    assert x.flatten().tolist() == [8.0, 9.0, 0.0, 1.0] and y.tolist() == [8, 9, 0, 1]


def test_spawn_workers_read_a_zip_lazily(tiny, tmp_path):
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as zf:
        for path in sorted(tiny.rglob("*.png")):
            zf.write(path, path.relative_to(tiny).as_posix())
    cfg = TransformConfig(hflip=True)
    ds = build_dataset(str(tmp_path / "t.zip"), resolution=6, channels=3, cache=False,
                       transform=cfg)
    main = _take(build_loader(ds, batch_size=4, seed=2), 4)
    spawned = _take(build_loader(ds, batch_size=4, seed=2, num_workers=1,
                                 multiprocessing_context="spawn"), 4)
    for (x0, y0), (x1, y1) in zip(main, spawned):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)
