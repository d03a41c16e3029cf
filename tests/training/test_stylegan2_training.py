import json

import pytest
import torch
from safetensors.torch import load_file

from fastgan.training import load_trained, train
from fastgan.training.config import TrainConfig, resolve_config
from fastgan.training.loop import build_recipe
from fastgan.training.recipes.stylegan2 import StyleGAN2Options, StyleGAN2Recipe, lazy_adam

TINY = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "channel_base": 64, "channel_max": 8}
# The kernels these nets run.
NATIVE_OPS = ("bias_act", "upfirdn2d", "modconv_scale", "modconv_weight", "adain")


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny nets: on a shared 2-core CPU one thread is several times faster than two.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def tiny_config(root, **values) -> TrainConfig:
    options = {**TINY, **values.pop("options", {})}
    base = dict(model="stylegan2", data_root=str(root), resolution=16, batch_size=4, steps=4,
                log_every=2, sample_every=0, ckpt_every=0, eval_n=0, grid_size=8)
    return TrainConfig(**{**base, **values, "options": options})


def _recipe(num_classes=0, **options):
    o = StyleGAN2Options(**{**TINY, **options})
    return StyleGAN2Recipe(o, resolution=8, channels=1, num_classes=num_classes, device="cpu",
                           seed=0)


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _changed(before, module):
    return sum(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_each_loss_phase_steps_its_net():
    # Intervals 1: Gmain, Greg (path length), Dmain and Dreg (R1) all run in the first step.
    r = _recipe(r1_interval=1, pl_interval=1, num_classes=3, condition="class")
    g, d = _snapshot(r.G), _snapshot(r.D)
    x, c = torch.rand(4, 1, 8, 8) * 2 - 1, torch.tensor([0, 1, 2, 0])
    losses = r.step(x, c)
    assert set(losses) == {"loss_G", "loss_D", "r1", "pl", "D_real", "D_fake"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["r1"] > 0 and losses["pl"] > 0
    assert float(r.pl_mean) > 0
    assert _changed(g, r.G) > 0 and _changed(d, r.D) > 0
    assert r.opt_G.state_dict()["state"][0]["step"] == 2  # Gmain + Greg
    assert r.opt_D.state_dict()["state"][0]["step"] == 2  # Dmain + Dreg


def test_lazy_schedule():
    r = _recipe(r1_interval=4, pl_interval=2, pl_weight=2.0)
    x, c = torch.rand(4, 1, 8, 8) * 2 - 1, torch.zeros(4, dtype=torch.long)
    steps_g, steps_d = [], []
    for _ in range(4):
        r.step(x, c)
        steps_g.append(int(r.opt_G.state_dict()["state"][0]["step"]))
        steps_d.append(int(r.opt_D.state_dict()["state"][0]["step"]))
    assert steps_g == [2, 3, 5, 6]  # regularized at batches 0 and 2
    assert steps_d == [2, 3, 4, 5]  # regularized at batch 0


def test_lazy_adam_rescaling():
    opt = lazy_adam([torch.nn.Parameter(torch.zeros(1))], 0.0025, (0.0, 0.99), 16)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(0.0025 * 16 / 17)
    assert group["betas"] == (0.0, pytest.approx(0.99 ** (16 / 17)))


def test_non_finite_gradients_are_zeroed():
    r = _recipe(r1_interval=1, pl_interval=1)
    w = r.D.epilogue.out.weight
    w.register_hook(lambda g: torch.full_like(g, float("nan")))
    before = w.detach().clone()
    r.step(torch.rand(4, 1, 8, 8) * 2 - 1, torch.zeros(4, dtype=torch.long))
    assert torch.isfinite(r.D.epilogue.out.weight).all()
    torch.testing.assert_close(r.D.epilogue.out.weight, before)  # zero grads, Adam beta1 0


def test_ema_ramp_up_and_half_life():
    r = _recipe(ema_kimg=0.004, ema_rampup=0.0)
    x, c = torch.rand(4, 1, 8, 8) * 2 - 1, torch.zeros(4, dtype=torch.long)
    ema = _snapshot(r.G_ema)
    r.step(x, c)
    # Half-life 4 images, batch 4: beta = 0.5, G_ema = (G + G_ema_before) / 2.
    for e, p, e_new in zip(ema, r.G.parameters(), r.G_ema.parameters()):
        torch.testing.assert_close(e_new, (p + e) / 2)
    r = _recipe(ema_rampup=0.05)
    r.step(x, c)  # no images seen before: the ramp-up makes G_ema a copy of G
    for p, e in zip(r.G.parameters(), r.G_ema.parameters()):
        torch.testing.assert_close(e, p)


@pytest.mark.parametrize("batch", [1, 5])
def test_odd_batches_train(batch):
    r = _recipe(r1_interval=1, pl_interval=1)
    losses = r.step(torch.rand(batch, 1, 8, 8) * 2 - 1, torch.zeros(batch, dtype=torch.long))
    assert all(torch.isfinite(v) for v in losses.values())


def test_reference_ops_option_trains():
    r = _recipe(r1_interval=1, pl_interval=1, ops="reference")
    losses = r.step(torch.rand(4, 1, 8, 8) * 2 - 1, torch.zeros(4, dtype=torch.long))
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("outer, option, expected", [
    ("reference", "auto", True), ("auto", "reference", True), ("reference", "native", False),
])
def test_ops_option_and_outer_switch(monkeypatch, outer, option, expected):
    from fastgan import _native, ops
    from fastgan.ops import reference

    if not all(_native.has_kernel(torch.device("cpu"), op) for op in NATIVE_OPS):
        pytest.skip("native CPU kernels not built")
    calls = []
    original = reference.modulated_conv2d
    monkeypatch.setattr(reference, "modulated_conv2d",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    r = _recipe(ops=option)
    with ops.use(outer):
        r.step(torch.rand(2, 1, 8, 8) * 2 - 1, torch.zeros(2, dtype=torch.long))
        r.sample(r.latents(2, 0))
    assert bool(calls) == expected


def test_bad_options():
    with pytest.raises(ValueError, match="g_architecture"):
        StyleGAN2Options(g_architecture="unet")
    with pytest.raises(ValueError, match="ops"):
        StyleGAN2Options(ops="cuda")
    with pytest.raises(ValueError, match="resolution"):
        StyleGAN2Recipe(StyleGAN2Options(**TINY), resolution=28, channels=1, num_classes=0,
                        device="cpu", seed=0)


def test_presets_resolve():
    for name in ("stylegan2-small32", "stylegan2-cifar", "stylegan2-paper256"):
        config = resolve_config(preset=name, overrides={"steps": 1})
        assert config.model == "stylegan2"
        StyleGAN2Options(**config.options)
    assert resolve_config(overrides={"model": "stylegan2"}).resolution == 32


def test_resume_is_exact_and_checkpoint_round_trips(tiny_root, tmp_path):
    options = {"r1_interval": 2, "pl_interval": 2}
    config = tiny_config(tiny_root, steps=4, options=options)
    whole = train(config, tmp_path / "whole")
    first = train(tiny_config(tiny_root, steps=2, options=options), tmp_path / "a")
    resumed = train(config, tmp_path / "a", resume=first.checkpoint)
    assert resumed.step == 4
    a = load_file(str(whole.checkpoint.with_suffix(".safetensors")))
    b = load_file(str(resumed.checkpoint.with_suffix(".safetensors")))
    assert a.keys() == b.keys()
    assert any(k.startswith("module/G_ema/") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    side_a = json.loads(whole.checkpoint.read_text())
    side_b = json.loads(resumed.checkpoint.read_text())
    assert side_a["extra"] == side_b["extra"]

    # Loading gives the same G_ema samples.
    _, recipe, _ = load_trained(whole.checkpoint)
    z = recipe.latents(3, 0)
    fresh = build_recipe(config, num_classes=10)
    assert not torch.equal(fresh.sample(z), recipe.sample(z))
    _, again, _ = load_trained(whole.checkpoint)
    torch.testing.assert_close(again.sample(z), recipe.sample(z))
    torch.testing.assert_close(recipe.sample(z, psi=1.0), recipe.sample(z))
