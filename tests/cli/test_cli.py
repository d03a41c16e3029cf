import json

from click.testing import CliRunner
from PIL import Image

from fastgan.cli import main

TINY = ["-o", "z_dim=8", "-o", "g_base=8", "-o", "d_base=8", "-o", "embed_dim=4"]


def run(args):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result


def test_train_generate_eval_end_to_end(tiny_root, tmp_path):
    runs = tmp_path / "runs"
    common = ["--data-root", str(tiny_root), "--runs-dir", str(runs), "--batch-size", "8",
              "--log-every", "2", "--eval-n", "20", "--no-progress", *TINY]
    result = run(["train", "--model", "cgan", "--steps", "4", "--name", "t", *common])
    assert result.exit_code == 0, result.output
    folder = runs / "t"
    for name in ("config.json", "log.txt", "stats.jsonl", "curves.png", "metrics.json"):
        assert (folder / name).is_file(), name
        assert str(folder / name) in result.output
    assert "finished at step 4" in result.output

    # Resume the same run to step 6; a second fresh run gets its own folder.
    result = run(["train", "--model", "cgan", "--steps", "6", "--name", "t", "--resume",
                  *common])
    assert result.exit_code == 0, result.output
    assert "finished at step 6" in result.output
    assert json.loads((folder / "metrics.json").read_text())["step"] == 6
    result = run(["train", "--model", "cgan", "--steps", "2", "--name", "t", *common])
    assert (runs / "t-2" / "config.json").is_file()

    # generate: a grid, one class, separate files.
    grid = tmp_path / "grid.png"
    result = run(["generate", "--ckpt", str(folder), "--n", "20", "--out", str(grid)])
    assert result.exit_code == 0, result.output
    assert Image.open(grid).mode == "L" and Image.open(grid).size == (10 * 30 + 2, 2 * 30 + 2)
    result = run(["generate", "--ckpt", str(folder), "--n", "3", "--class", "trouser",
                  "--separate", "--out", str(tmp_path / "single")])
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "single").glob("*.png"))) == 3
    result = run(["generate", "--ckpt", str(folder), "--class", "12"])
    assert result.exit_code != 0 and "expected 0..9, got 12" in result.output

    # eval: printed and written.
    out = tmp_path / "m.json"
    result = run(["eval", "--ckpt", str(folder), "--n", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    assert metrics["step"] == 6 and "class_accuracy" in metrics and "fd_floor" in metrics
    assert "class_accuracy" in result.output


def test_cogan_generate_pairs(tiny_root, tmp_path):
    result = run(["train", "--preset", "cogan-edges", "--minutes", "0", "--steps", "2",
                  "--data-root", str(tiny_root), "--runs-dir", str(tmp_path), "--batch-size",
                  "8", "--eval-n", "0", "--no-progress", "-o", "z_dim=8", "-o", "g_base=8"])
    assert result.exit_code == 0, result.output
    grid = tmp_path / "pairs.png"
    result = run(["generate", "--ckpt", str(tmp_path / "cogan-edges"), "--n", "4",
                  "--out", str(grid)])
    assert result.exit_code == 0, result.output
    assert Image.open(grid).size == (8 * 30 + 2, 30 + 2)


def test_bad_flags_are_named(tmp_path):
    result = CliRunner().invoke(main, ["train", "-o", "lr_g", "--runs-dir", str(tmp_path)])
    assert result.exit_code != 0 and "key=value" in result.output
    result = CliRunner().invoke(main, ["train", "--batch-size", "0", "--runs-dir",
                                       str(tmp_path)])
    assert result.exit_code != 0 and "batch_size must be an int >= 1, got 0" in result.output


def test_eval_fid_kid_pr_with_an_inception_file(tiny_root, tmp_path, monkeypatch):
    import torch

    from fastgan.metrics import InceptionV3

    runs = tmp_path / "runs"
    result = run(["train", "--model", "dcgan", "--steps", "1", "--name", "d",
                  "--data-root", str(tiny_root), "--runs-dir", str(runs), "--batch-size", "4",
                  "--eval-n", "0", "--no-progress", "-o", "z_dim=8", "-o", "g_base=8",
                  "-o", "d_base=8"])
    assert result.exit_code == 0, result.output

    # Without weights: the stated error, nothing downloaded.
    monkeypatch.delenv("FASTGAN_INCEPTION", raising=False)
    result = run(["eval", "--ckpt", str(runs / "d"), "--metrics", "fid", "--num", "4",
                  "--num-real", "4", "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code != 0 and "FASTGAN_INCEPTION" in result.output

    # A state-dict file of random weights stands in for the published one.
    torch.manual_seed(0)
    weights = tmp_path / "pt_inception.pth"
    torch.save(InceptionV3().state_dict(), weights)
    out = tmp_path / "fid.json"
    result = run(["eval", "--ckpt", str(runs / "d"), "--metrics", "fid,kid,pr", "--num", "6",
                  "--num-real", "6", "--inception", str(weights), "--batch", "6",
                  "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads(out.read_text())
    for key in ("fid", "kid", "precision", "recall"):
        assert isinstance(metrics[key], float), key
    assert metrics["fid"] >= 0 and 0 <= metrics["precision"] <= 1
    assert "fd" not in metrics  # the classifier metrics only when asked for

    result = run(["eval", "--ckpt", str(runs / "d"), "--metrics", "fid,bogus"])
    assert result.exit_code != 0 and "--metrics" in result.output


def test_model_as_positional_argument(tiny_root, tmp_path):
    common = ["--data-root", str(tiny_root), "--runs-dir", str(tmp_path), "--batch-size", "4",
              "--eval-n", "0", "--no-progress", "--steps", "1", "-o", "z_dim=8",
              "-o", "g_base=8", "-o", "d_base=8"]
    result = run(["train", "dcgan", "--name", "p", *common])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "p" / "config.json").read_text())["model"] == "dcgan"
    result = run(["train", "dcgan", "--model", "cgan", *common])
    assert result.exit_code != 0 and "MODEL is 'dcgan' but --model is 'cgan'" in result.output


def test_metrics_every_n_steps_go_to_stats(tiny_root, tmp_path):
    result = run(["train", "cgan", "--name", "e", "--data-root", str(tiny_root), "--runs-dir",
                  str(tmp_path), "--batch-size", "4", "--steps", "4", "--eval-every", "2",
                  "--eval-n", "20", "--log-every", "2", "--no-progress", *TINY])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (tmp_path / "e" / "stats.jsonl").open()]
    evaluated = [r["step"] for r in records if "metric/fd" in r]
    assert evaluated == [2, 4]
    assert all(0 <= r["metric/class_accuracy"] <= 1 for r in records if "metric/fd" in r)
