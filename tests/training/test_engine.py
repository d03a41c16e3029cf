import json
import os
import signal

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from fastgan.training import NonFiniteLossError, load_trained, train
from fastgan.training import checkpoint as ckpt
from fastgan.training.loop import build_recipe
from fastgan.training.recipes.dcgan import DCGANRecipe
from tests.training.tiny import tiny_config

MODELS = [
    ("dcgan", {}),
    ("cgan", {}),
    ("cgan", {"condition": "domain", "transform": "edges"}),
    ("cogan", {"transform": "negative"}),
]


@pytest.mark.parametrize("model, options", MODELS)
def test_one_step_changes_weights_with_finite_losses(tiny_root, model, options):
    config = tiny_config(tiny_root, model=model, options=options)
    recipe = build_recipe(config, num_classes=10)
    before = {name: [p.clone() for p in m.parameters()] for name, m in recipe.modules().items()}
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    losses = recipe.step(x, torch.arange(8) % 10)

    assert {"loss_D", "loss_G"} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    for name, module in recipe.modules().items():
        changed = [not torch.equal(a, b) for a, b in zip(before[name], module.parameters())]
        assert all(changed), f"{name}: {changed.count(False)} tensors did not change"


def test_run_writes_its_files(tiny_root, tmp_path):
    config = tiny_config(tiny_root, steps=4, sample_every=2, ckpt_every=2, keep_ckpts=1)
    result = train(config, tmp_path / "run")
    run = tmp_path / "run"

    assert result.step == 4 and not result.interrupted
    saved = json.loads((run / "config.json").read_text())
    assert saved["options"]["lr_g"] == 2e-4 and saved["options"]["g_base"] == 8
    records = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"loss_D", "loss_G", "img_per_sec", "kimg"} <= set(records[0])
    assert "step       4" in (run / "log.txt").read_text()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step-0000002.png", "step-0000004.png"]
    assert Image.open(run / "samples" / "step-0000004.png").mode == "L"
    assert (run / "curves.png").is_file()
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == ["step-0000004.json"]
    assert result.checkpoint == run / "checkpoints" / "step-0000004.json"


@pytest.mark.parametrize("model, options", [MODELS[1], MODELS[3]])
def test_resume_is_exact(tiny_root, tmp_path, model, options):
    # N + M steps in one go, and N steps then a resume to N + M.
    config = tiny_config(tiny_root, model=model, options=options, steps=6)
    whole = train(config, tmp_path / "whole")
    first = train(tiny_config(tiny_root, model=model, options=options, steps=3), tmp_path / "a")
    resumed = train(config, tmp_path / "a", resume=first.checkpoint)

    assert resumed.step == 6
    a = load_file(str(whole.checkpoint.with_suffix(".safetensors")))
    b = load_file(str(resumed.checkpoint.with_suffix(".safetensors")))
    assert a.keys() == b.keys()
    assert any(k.startswith("optim/") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_atomic_checkpoint_survives_a_crash_while_saving(tiny_root, tmp_path, monkeypatch):
    config = tiny_config(tiny_root)
    recipe = build_recipe(config, num_classes=10)
    folder = tmp_path / "ckpts"
    good = ckpt.save_checkpoint(folder, recipe, step=1, config=config.to_dict(),
                                loop_state={"num_classes": 10})
    expected = {k: v.clone() for k, v in recipe.G.state_dict().items()}
    recipe.step(torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8))

    # A crash half-way through writing the tensors ...
    def crash_in_tensors(tensors, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", crash_in_tensors)
    with pytest.raises(OSError, match="disk full"):
        ckpt.save_checkpoint(folder, recipe, step=2, config=config.to_dict(), loop_state={})
    monkeypatch.undo()

    # ... and one between the two renames (tensors in place, sidecar not).
    real_replace = os.replace

    def crash_on_sidecar(src, dst):
        if str(dst).endswith(".json"):
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", crash_on_sidecar)
    with pytest.raises(OSError, match="power cut"):
        ckpt.save_checkpoint(folder, recipe, step=3, config=config.to_dict(), loop_state={})
    monkeypatch.undo()

    assert ckpt.list_checkpoints(folder) == [good]
    assert ckpt.resolve_checkpoint(folder) == good
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    _, restored, sidecar = load_trained(folder)
    assert sidecar["step"] == 1
    for key, value in restored.G.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_keep_last_k(tiny_root, tmp_path):
    config = tiny_config(tiny_root)
    recipe = build_recipe(config, num_classes=10)
    for step in range(1, 6):
        ckpt.save_checkpoint(tmp_path, recipe, step=step, config=config.to_dict(),
                             loop_state={}, keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "step-0000004.json", "step-0000005.json"]
    assert len(list(tmp_path.glob("*.safetensors"))) == 2


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_root, tmp_path,
                                                                  monkeypatch):
    real_step = DCGANRecipe.step
    calls = []

    def step(self, x, c):
        losses = real_step(self, x, c)
        calls.append(1)
        if len(calls) == 3:
            losses["loss_D"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(DCGANRecipe, "step", step)
    config = tiny_config(tiny_root, steps=10, ckpt_every=2)
    with pytest.raises(NonFiniteLossError, match=r"step 3: \{'loss_D': nan\}.*step-0000002"):
        train(config, tmp_path / "run")
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")] == [
        "step-0000002.json"]


def test_ctrl_c_stops_after_the_step_with_a_checkpoint(tiny_root, tmp_path, monkeypatch):
    real_step = DCGANRecipe.step
    calls = []

    def step(self, x, c):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, x, c)

    monkeypatch.setattr(DCGANRecipe, "step", step)
    # The handler in force before (Python's default, or SIG_IGN under nohup) comes back after.
    before = signal.getsignal(signal.SIGINT)
    result = train(tiny_config(tiny_root, steps=10), tmp_path / "run")
    assert result.interrupted and result.step == 2
    assert result.checkpoint.name == "step-0000002.json"
    assert signal.getsignal(signal.SIGINT) is before


def test_length_in_kimg(tiny_root, tmp_path):
    result = train(tiny_config(tiny_root, steps=0, kimg=0.1), tmp_path / "run")
    assert result.step == 13  # the first step with 8 * step >= 100 images


def test_evaluate_a_tiny_checkpoint(tiny_root, tmp_path):
    cgan = train(tiny_config(tiny_root, eval_n=20), tmp_path / "cgan")
    metrics = json.loads(cgan.metrics.read_text())
    assert metrics["n"] == 20 and metrics["n_test"] == 30
    assert metrics["fd"] > 0 and metrics["fd_floor"] > 0
    assert 0 <= metrics["class_accuracy"] <= 1 and len(metrics["class_accuracy_per_class"]) == 10

    cogan = train(tiny_config(tiny_root, model="cogan", eval_n=20,
                              options={"transform": "edges"}), tmp_path / "cogan")
    metrics = json.loads(cogan.metrics.read_text())
    assert metrics["pair_transform"] == "edges" and 0 <= metrics["pair_agreement"] <= 1
    assert "class_accuracy" not in metrics
