"""Folders, zips, CelebA attributes and the CycleGAN / StarGAN v2 layouts, bad input included."""

import json
import logging
import zipfile

import numpy as np
import pytest
import torch

from fastgan.data import TransformConfig, build_dataset, build_unpaired
from tests.data.builders import save_image, solid, write_corrupt_jpeg

R = dict(resolution=8, channels=3)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_class_folder_skips_corrupt_jpeg_with_one_counted_warning(class_folder, caplog):
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(str(class_folder), **R)
    assert len(ds) == 5 and ds.class_names == ("cat", "dog") and ds.cached
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    messages = _warnings(caplog)
    assert len(messages) == 1
    assert "skipped 1 unreadable of 6" in messages[0] and "broken.jpg" in messages[0]
    x, y = ds[3]
    assert x.shape == (3, 8, 8) and int(y) == 1
    assert x[:, 0, 0].tolist() == [-1.0, 1.0, -1.0]  # dog/a.png is pure green


def test_uncached_folder_replaces_a_bad_file_mid_epoch(class_folder, caplog):
    ds = build_dataset(str(class_folder), cache=False, **R)
    assert len(ds) == 6 and not ds.cached
    broken = [i for i in range(6) if ds.reader.name(i).endswith("broken.jpg")][0]
    with caplog.at_level(logging.WARNING):
        x, y = ds.get_batch([broken, broken, 0])
    assert x.shape == (3, 3, 8, 8) and y.tolist()[2] == 0
    assert len(_warnings(caplog)) == 1 and "broken.jpg" in _warnings(caplog)[0]
    # The replacement is the next file, with its own label.
    x_next, y_next = ds[(broken + 1) % 6]
    assert torch.equal(x[0], x_next) and int(y[0]) == int(y_next)


def test_folder_class_subset_and_errors(class_folder, tmp_path):
    ds = build_dataset(f"{class_folder}:dog", **R)
    assert ds.class_names == ("dog",) and len(ds) == 2 and ds.labels.tolist() == [0, 0]
    with pytest.raises(ValueError, match=r"'bird'.*available classes \('cat', 'dog'\)"):
        build_dataset(f"{class_folder}:bird", **R)
    with pytest.raises(ValueError, match="at least 2"):
        build_dataset(f"{class_folder}:dog", min_classes=2, **R)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        build_dataset(str(tmp_path / "empty"), **R)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_dataset(str(tmp_path / "nowhere"), **R)


def test_empty_class_folder_is_a_warned_gap(class_folder, caplog):
    (class_folder / "emu").mkdir()
    with caplog.at_level(logging.WARNING):
        ds = build_dataset(str(class_folder), **R)
    assert ds.class_names == ("cat", "dog", "emu") and ds.num_classes == 3
    assert any("emu" in m and "gaps" in m for m in _warnings(caplog))


def test_flat_folder_is_unlabeled_and_non_square_follows_policy(tmp_path):
    wide = np.zeros((10, 20, 3), np.uint8)
    wide[:, 5:15] = 255  # the central square is white
    save_image(tmp_path / "flat" / "wide.png", wide)
    save_image(tmp_path / "flat" / "gray.bmp", solid(8, 8, 0, channels=1))
    ds = build_dataset(str(tmp_path / "flat"), **R)
    assert ds.num_classes == 0 and ds.labels is None and ds.class_names == ()
    assert int(ds[0][1]) == -1
    x = ds[1][0]  # wide.png sorts after gray.bmp
    assert x.shape == (3, 8, 8) and (x == 1).all()
    padded = build_dataset(str(tmp_path / "flat"), transform=TransformConfig(square="pad"), **R)
    assert (padded[1][0][:, 0] == -1).all() and (padded[1][0][:, 4, 4] == 1).all()
    with pytest.raises(ValueError, match="onehot"):
        build_dataset(str(tmp_path / "flat"), labels="onehot", **R)
    with pytest.raises(ValueError, match="no labels"):
        build_dataset(f"{tmp_path / 'flat'}:a", **R)


def _zip(path, files: dict, labels=None):
    with zipfile.ZipFile(path, "w") as zf:
        for name, src in files.items():
            zf.write(src, name)
        if labels is not None:
            zf.writestr("dataset.json", json.dumps(labels))
    return path


def test_zip_with_dataset_json(tmp_path):
    a = save_image(tmp_path / "a.png", solid(8, 8, (255, 0, 0)))
    b = save_image(tmp_path / "b.png", solid(8, 8, (0, 0, 255)))
    files = {"x/a.png": a, "x/b.png": b, "c.png": b}
    z = _zip(tmp_path / "d.zip", files,
             {"labels": [["x/a.png", 2], ["x/b.png", 0], ["c.png", 0]]})
    ds = build_dataset(str(z), **R)
    assert ds.labels.tolist() == [0, 2, 0] and ds.class_names == ("0", "1", "2")  # sorted paths
    assert ds[1][0][:, 0, 0].tolist() == [1.0, -1.0, -1.0]

    multi = _zip(tmp_path / "m.zip", files, {"labels": [["x/a.png", [1, 0]], ["x/b.png", [1, 1]],
                                                         ["c.png", [0, 0]]]})
    ds = build_dataset(str(multi), **R)
    assert ds.labels.tolist() == [[0, 0], [1, 0], [1, 1]] and ds.label_mode == "multihot"
    assert ds[2][1].tolist() == [1.0, 1.0]

    folders = _zip(tmp_path / "f.zip", {"cat/a.png": a, "dog/b.png": b})
    assert build_dataset(str(folders), cache=False, **R).class_names == ("cat", "dog")
    unlabeled = _zip(tmp_path / "u.zip", files, {"labels": None})
    assert build_dataset(str(unlabeled), **R).num_classes == 0


def test_zip_label_file_errors(tmp_path):
    a = save_image(tmp_path / "a.png", solid(8, 8, 9))
    ghost = _zip(tmp_path / "g.zip", {"a.png": a}, {"labels": [["a.png", 0], ["gone.png", 1]]})
    with pytest.raises(ValueError, match="names 1 files that do not exist: 'gone.png'"):
        build_dataset(str(ghost), **R)
    partial = _zip(tmp_path / "p.zip", {"a.png": a, "b.png": a}, {"labels": [["a.png", 0]]})
    with pytest.raises(ValueError, match="no label for 1 of 2 images: 'b.png'"):
        build_dataset(str(partial), **R)
    mixed = _zip(tmp_path / "x.zip", {"a.png": a, "b.png": a},
                 {"labels": [["a.png", 0], ["b.png", [1]]]})
    with pytest.raises(ValueError, match="all ints"):
        build_dataset(str(mixed), **R)
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError):
        build_dataset(str(tmp_path / "bad.zip"), **R)


def _celeba(root, rows, header=("Bald", "Male", "Smiling"), count=None, images=True):
    root.mkdir(parents=True, exist_ok=True)
    lines = [str(len(rows) if count is None else count), " ".join(header)]
    lines += [f"{name} " + " ".join(f"{v:2d}" for v in values) for name, values in rows]
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    if images:
        for k, (name, _) in enumerate(rows):
            save_image(root / "img_align_celeba" / name, solid(12, 10, 20 * k))
    return root


ROWS = [("000001.jpg", (-1, 1, 1)), ("000002.jpg", (1, -1, -1)), ("000003.jpg", (-1, -1, 1))]


def test_celeba_attribute_subset(tmp_path):
    root = _celeba(tmp_path / "celeba", ROWS)
    ds = build_dataset(f"{root}:Smiling,Male", **R)
    assert ds.class_names == ("Smiling", "Male") and ds.num_classes == 2
    assert ds.labels.tolist() == [[1, 1], [0, 0], [1, 0]] and ds.label_mode == "multihot"
    assert ds[0][1].dtype == torch.float32 and ds[0][1].tolist() == [1.0, 1.0]
    whole = build_dataset(str(root / "list_attr_celeba.txt"), **R)
    assert whole.class_names == ("Bald", "Male", "Smiling")
    with pytest.raises(ValueError, match="Hat.*available: Bald, Male, Smiling"):
        build_dataset(f"{root}:Hat,Male", **R)
    with pytest.raises(ValueError, match="labels are attributes"):
        build_unpaired(f"{root}:Male,Smiling", **R)


def test_celeba_errors_and_partition(tmp_path):
    missing = _celeba(tmp_path / "m", ROWS, images=False)
    with pytest.raises(ValueError, match="names 3 files that do not exist"):
        build_dataset(str(missing), **R)
    wrong = _celeba(tmp_path / "w", ROWS, count=5)
    with pytest.raises(ValueError, match="says it has 5 rows, found 3"):
        build_dataset(str(wrong), **R)
    plain = _celeba(tmp_path / "n", ROWS)
    with pytest.raises(ValueError, match="list_eval_partition"):
        build_dataset(str(plain / "list_attr_celeba.txt"), split="test", **R)
    root = _celeba(tmp_path / "p", ROWS)
    (root / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 2\n000003.jpg 0\n")
    assert len(build_dataset(str(root), split="train", **R)) == 2
    assert build_dataset(str(root), split="test", **R).labels.tolist() == [[1, 0, 0]]


def test_cyclegan_folder(tmp_path):
    for split in ("train", "test"):
        for d, color in (("A", (255, 0, 0)), ("B", (0, 0, 255))):
            for i in range(2 if split == "train" else 1):
                save_image(tmp_path / "h2z" / f"{split}{d}" / f"{i}.jpg", solid(9, 9, color),
                           quality=95)
    a, b = build_unpaired(str(tmp_path / "h2z"), **R)
    assert len(a) == 2 and len(b) == 2 and a.num_classes == 0
    assert float(a[0][0][0].mean()) > 0.9 and float(b[0][0][2].mean()) > 0.9
    ta, tb = build_unpaired(str(tmp_path / "h2z"), split="test", **R)
    assert len(ta) == 1 and len(tb) == 1

    for f in (tmp_path / "h2z" / "trainB").iterdir():
        f.unlink()
    with pytest.raises(ValueError, match="holds no images"):
        build_unpaired(str(tmp_path / "h2z"), **R)
    (tmp_path / "h2z" / "trainB").rmdir()
    with pytest.raises(ValueError, match=r"no trainB/.*'testA', 'testB', 'trainA'"):
        build_unpaired(str(tmp_path / "h2z"), **R)


def test_stargan2_domain_folders(tmp_path):
    root = tmp_path / "afhq"
    for split, n in (("train", 3), ("val", 1)):
        for d in ("cat", "dog", "wild"):
            for i in range(n if d != "wild" else 1):
                save_image(root / split / d / f"{i}.png", solid(8, 8, 0))
    train = build_dataset(str(root), **R)
    assert train.class_names == ("cat", "dog", "wild") and len(train) == 7
    assert np.bincount(train.labels).tolist() == [3, 3, 1]
    val = build_dataset(str(root), split="val", **R)
    assert len(val) == 3
    assert len(build_dataset(str(root), split="test", **R)) == 3  # val stands in for test
    sub = build_dataset(f"{root}:wild,cat", **R)
    assert sub.class_names == ("wild", "cat") and sub.labels.tolist() == [1, 1, 1, 0]
    with pytest.raises(ValueError, match="'fox'"):
        build_dataset(f"{root}:fox,cat", split="val", **R)
    for f in (root / "val" / "dog").iterdir():
        f.unlink()
    (root / "val" / "dog").rmdir()
    with pytest.raises(ValueError, match=r"domains of train/.*missing \['dog'\]"):
        build_dataset(str(root), split="val", **R)
    assert len(build_dataset(f"{root}:cat,wild", split="val", **R)) == 2


def test_write_corrupt_jpeg_really_is_unreadable(tmp_path):
    from PIL import Image
    path = write_corrupt_jpeg(tmp_path / "c.jpg")
    with Image.open(path) as img:
        assert img.size == (64, 64)
        with pytest.raises(OSError):
            img.load()


def test_link_cycle_hidden_folders_and_exif_rotation(tmp_path):
    root = tmp_path / "photos"
    tall = np.zeros((6, 4, 3), np.uint8)
    tall[0] = 255  # white top row
    from PIL import Image
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: viewers rotate 90 degrees clockwise
    save_image(root / "p.jpg", tall, exif=exif, quality=100)
    save_image(root / ".cache" / "skip.png", solid(4, 4, 0))
    (root / "loop").symlink_to(root, target_is_directory=True)
    ds = build_dataset(str(root), resolution=4, channels=1,
                       transform=TransformConfig(square="stretch", filter="nearest"))
    assert len(ds) == 1 and ds.reader is None
    x = ds[0][0][0]
    # Rotated clockwise, the white top row becomes the right column.
    assert float(x[:, -1].mean()) > 0.9 and float(x[:, 0].mean()) < -0.9
