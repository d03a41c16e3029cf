"""IDX files and the built-in Fashion-MNIST (on fake files in a temp dir)."""

import numpy as np
import pytest
import torch

from fastgan.data import (
    FASHION_MNIST_CLASSES, build_dataset, build_unpaired, read_idx, write_idx,
)
from tests.data.builders import fake_fashion_images


@pytest.mark.parametrize("name", ["x-idx3-ubyte", "x-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_idx_round_trip(tmp_path, name, dtype):
    values = (np.arange(2 * 3 * 5) % 120).astype(dtype).reshape(2, 3, 5)
    write_idx(tmp_path / name, values)
    back = read_idx(tmp_path / name)
    assert back.dtype == values.dtype and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, values)


def test_idx_rejects_other_files(tmp_path):
    (tmp_path / "a").write_bytes(b"\x89PNG....")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "a")
    write_idx(tmp_path / "b", np.zeros((4, 4), np.uint8))
    (tmp_path / "b").write_bytes((tmp_path / "b").read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "b")


def test_fashion_mnist_pads_28_to_32(fashion_root):
    ds = build_dataset("fashion-mnist", resolution=32, channels=1, data_root=str(fashion_root))
    images, labels = fake_fashion_images(40, seed=40)
    assert len(ds) == 40 and ds.num_classes == 10 and ds.class_names == FASHION_MNIST_CLASSES
    assert ds.resolution == 32 and ds.channels == 1 and ds.cached
    x, y = ds[3]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.shape == () and int(y) == int(labels[3])

    # The 2-pixel pad is background (-1); the inside is the image scaled to [-1, 1].
    expected = torch.from_numpy(images[3]).double() * (2 / 255) - 1
    torch.testing.assert_close(x[0, 2:30, 2:30].double(), expected, atol=1e-6, rtol=0)
    assert (x[0, :2] == -1).all() and (x[0, 30:] == -1).all() and (x[0, :, :2] == -1).all()
    np.testing.assert_array_equal(ds.labels, labels.astype(np.int64))


def test_fashion_mnist_class_subset_is_relabeled_in_order(fashion_root):
    ds = build_dataset("fashion-mnist:sneaker,t-shirt", resolution=28, channels=1,
                       data_root=str(fashion_root))
    _, raw = fake_fashion_images(40, seed=40)
    assert ds.class_names == ("sneaker", "t-shirt") and ds.num_classes == 2
    assert len(ds) == int(((raw == 7) | (raw == 0)).sum())
    assert set(ds.labels.tolist()) == {0, 1}
    # Source order is kept: image i of the subset is the i-th sneaker or t-shirt.
    kept = np.flatnonzero((raw == 7) | (raw == 0))
    np.testing.assert_array_equal(ds.labels, np.where(raw[kept] == 7, 0, 1))


def test_fashion_mnist_splits_env_and_subfolder(fashion_root, monkeypatch, tmp_path):
    test = build_dataset("fashion-mnist", resolution=28, channels=1, split="test",
                         data_root=str(fashion_root))
    assert len(test) == 20
    monkeypatch.setenv("FASTGAN_DATA", str(fashion_root))
    assert len(build_dataset("fashion-mnist", resolution=28, channels=1)) == 40
    monkeypatch.setenv("FASTGAN_DATA", str(fashion_root.parent))
    fashion_root.rename(fashion_root.parent / "fashion-mnist")
    assert len(build_dataset("fashion-mnist", resolution=28, channels=1)) == 40


def test_fashion_mnist_missing_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTGAN_DATA", raising=False)
    with pytest.raises(FileNotFoundError) as info:
        build_dataset("fashion-mnist", resolution=32, channels=1, data_root=str(tmp_path))
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "--data-root" in message
    assert str(tmp_path) in message
    monkeypatch.setenv("FASTGAN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="FASTGAN_DATA"):
        build_dataset("fashion-mnist", resolution=32, channels=1)


def test_fashion_mnist_bad_arguments(fashion_root):
    root = str(fashion_root)
    with pytest.raises(ValueError, match="available classes"):
        build_dataset("fashion-mnist:sneaker,hat", resolution=32, channels=1, data_root=root)
    with pytest.raises(ValueError, match="must not repeat"):
        build_dataset("fashion-mnist:bag,8", resolution=32, channels=1, data_root=root)
    with pytest.raises(ValueError, match="split"):
        build_dataset("fashion-mnist", resolution=32, channels=1, split="dev", data_root=root)
    with pytest.raises(ValueError, match="channels"):
        build_dataset("fashion-mnist", resolution=32, channels=2, data_root=root)
    with pytest.raises(ValueError, match="resolution"):
        build_dataset("fashion-mnist", resolution=0, channels=1, data_root=root)


def test_fashion_mnist_resized_rgb_and_onehot(fashion_root):
    ds = build_dataset("fashion-mnist:bag,coat", resolution=64, channels=3, labels="onehot",
                       data_root=str(fashion_root))
    x, y = ds[0]
    assert x.shape == (3, 64, 64) and torch.equal(x[0], x[1]) and torch.equal(x[1], x[2])
    assert y.dtype == torch.float32 and y.shape == (2,) and float(y.sum()) == 1
    assert -1 <= float(x.min()) and float(x.max()) <= 1


def test_fashion_mnist_unpaired_domains(fashion_root):
    a, b = build_unpaired("fashion-mnist:sneaker,ankle-boot", resolution=32, channels=1,
                          data_root=str(fashion_root))
    images, labels = fake_fashion_images(40, seed=40)
    assert len(a) == int((labels == 7).sum()) and len(b) == int((labels == 9).sum())
    assert a.num_classes == 0 and a.labels is None and int(a[0][1]) == -1
    first_sneaker = images[np.flatnonzero(labels == 7)[0]]
    expected = torch.from_numpy(first_sneaker).float() * (2 / 255) - 1
    torch.testing.assert_close(a[0][0][0, 2:30, 2:30], expected)
    with pytest.raises(ValueError, match="exactly two"):
        build_unpaired("fashion-mnist:sneaker", resolution=32, channels=1,
                       data_root=str(fashion_root))


def test_idx_file_spec_with_class_filter(fashion_root):
    path = fashion_root / "train-images-idx3-ubyte.gz"
    ds = build_dataset(f"{path}:3,1", resolution=28, channels=1)
    _, labels = fake_fashion_images(40, seed=40)
    assert ds.class_names == ("3", "1")
    assert len(ds) == int(((labels == 3) | (labels == 1)).sum())
    alone = fashion_root / "only-images-idx3-ubyte"
    write_idx(alone, np.zeros((5, 6, 6), np.uint8))
    ds = build_dataset(str(alone), resolution=8, channels=1)
    assert ds.num_classes == 0 and int(ds[0][1]) == -1 and ds[0][0].shape == (1, 8, 8)
    with pytest.raises(ValueError, match="labels file"):
        build_dataset(f"{alone}:1", resolution=8, channels=1)
