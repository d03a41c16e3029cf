"""`fastgan dataset info` and `fastgan dataset pack`."""

import json
import zipfile

import numpy as np
from click.testing import CliRunner

from fastgan.cli import main
from fastgan.data import build_dataset
from tests.data.builders import fake_fashion_images, save_image


def _run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_info_lists_counts_labels_and_unreadable(class_folder):
    save_image(class_folder / "cat" / "wide.png", np.zeros((4, 10, 4), np.uint8))
    out = _run("dataset", "info", str(class_folder))
    assert "images      7 (1 unreadable)" in out
    assert "8x8: 5" in out and "10x4: 1" in out and "RGBA: 1" in out
    assert "2 classes" in out and "cat" in out and "broken.jpg" in out
    quick = _run("dataset", "info", str(class_folder), "--quick")
    assert "(0 unreadable)" in quick  # headers alone do not find the truncation


def test_info_on_fashion_mnist(fashion_root):
    out = _run("dataset", "info", "fashion-mnist:bag,sneaker", "--data-root", str(fashion_root),
               "--split", "test")
    assert "images      4 (0 unreadable)" in out and "28x28: 4" in out and "L: 4" in out
    assert "bag" in out and "sneaker" in out


def test_pack_folder_then_load_the_zip(class_folder, tmp_path):
    dest = tmp_path / "packed.zip"
    out = _run("dataset", "pack", str(class_folder), str(dest), "--resolution", "4")
    assert "wrote 5 images (3 channel(s), 4x4)" in out and "1 unreadable" in out
    with zipfile.ZipFile(dest) as zf:
        meta = json.loads(zf.read("dataset.json"))
    assert meta["class_names"] == ["cat", "dog"] and len(meta["labels"]) == 5
    ds = build_dataset(str(dest), resolution=4, channels=3)
    assert len(ds) == 5 and ds.class_names == ("cat", "dog")
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    source = build_dataset(str(class_folder), resolution=4, channels=3)
    for i in range(5):
        assert (ds[i][0] == source[i][0]).all()


def test_pack_fashion_mnist_keeps_pixels_and_labels(fashion_root, tmp_path):
    dest = tmp_path / "f.zip"
    _run("dataset", "pack", "fashion-mnist", str(dest), "-r", "28",
         "--data-root", str(fashion_root))
    images, labels = fake_fashion_images(40, seed=40)
    ds = build_dataset(str(dest), resolution=28, channels=1)
    assert ds.channels == 1 and ds.labels.tolist() == labels.tolist()
    expected = images[7].astype(np.float64) * (2 / 255) - 1
    assert np.abs(ds[7][0][0].double().numpy() - expected).max() < 1e-6


def test_bad_input_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTGAN_DATA", raising=False)
    result = CliRunner().invoke(main, ["dataset", "info", "fashion-mnist", "--data-root",
                                       str(tmp_path)])
    assert result.exit_code == 1 and "Error:" in result.output
    assert "apt-get install dataset-fashion-mnist" in result.output
    result = CliRunner().invoke(main, ["dataset", "pack", str(tmp_path), str(tmp_path / "o.zip"),
                                       "-r", "8"])
    assert result.exit_code == 1 and "holds no images" in result.output
