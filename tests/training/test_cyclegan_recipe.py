import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from fastgan.training import load_trained, train
from fastgan.training.config import TrainConfig, resolve_config
from fastgan.training.loop import build_recipe
from fastgan.training.recipes.cyclegan import (
    CycleGANOptions,
    ImagePool,
    cycle_loss,
    lr_factor,
    lsgan_loss,
)

TINY = {"ngf": 4, "ndf": 4, "n_blocks": 1}
PAIR = "fashion-mnist:sneaker,ankle-boot"


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a CPU shared with other work, tiny nets run far faster."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def cyclegan_config(root, **values) -> TrainConfig:
    """Tiny CycleGAN nets on the tiny Fashion-MNIST of tests/training/tiny.py."""
    options = {**TINY, **values.pop("options", {})}
    base = dict(model="cyclegan", dataset=PAIR, data_root=str(root), resolution=32,
                channels=1, batch_size=2, steps=4, log_every=2, sample_every=0, ckpt_every=0,
                eval_n=0, grid_size=12)
    return TrainConfig(**{**base, **values, "options": options})


def write_unpaired(root, sizes_a, sizes_b):
    """trainA/ and trainB/ with random RGB PNGs of the given (W, H) sizes."""
    rng = np.random.default_rng(0)
    for domain, sizes in (("A", sizes_a), ("B", sizes_b)):
        folder = root / f"train{domain}"
        folder.mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{domain.lower()}{i}.png")
    return root


def test_lsgan_and_cycle_losses_by_hand():
    logits = torch.tensor([[[[0.5, 2.0]]], [[[-1.0, 1.0]]]])  # [2, 1, 1, 2]
    # real: ((0.5-1)^2 + (2-1)^2 + (-1-1)^2 + 0) / 4 = (0.25 + 1 + 4) / 4
    assert float(lsgan_loss(logits, True)) == pytest.approx(5.25 / 4)
    # fake: (0.25 + 4 + 1 + 1) / 4
    assert float(lsgan_loss(logits, False)) == pytest.approx(6.25 / 4)
    x = torch.tensor([[[[1.0, -1.0], [0.0, 0.5]]]])
    x_rec = torch.tensor([[[[0.5, 0.0], [0.0, -0.5]]]])
    assert float(cycle_loss(x_rec, x)) == pytest.approx((0.5 + 1 + 0 + 1) / 4)


def test_learning_rate_schedule():
    assert [lr_factor(t, 3, 3) for t in range(8)] == [1, 1, 1, 0.75, 0.5, 0.25, 0, 0]
    assert lr_factor(10**6, 2**62, 0) == 1


def test_run_length_splits_the_schedule_in_halves(tiny_root):
    recipe = build_recipe(cyclegan_config(tiny_root), num_classes=0)
    recipe.set_run_length(7)
    assert recipe.schedule() == (4, 3)
    fixed = build_recipe(cyclegan_config(tiny_root, options={"constant_steps": 5,
                                                              "decay_steps": 2}), num_classes=0)
    fixed.set_run_length(100)
    assert fixed.schedule() == (5, 2)


def test_generator_and_discriminator_losses_by_hand(tiny_root):
    recipe = build_recipe(cyclegan_config(tiny_root), num_classes=0)
    before = {name: copy.deepcopy(m) for name, m in recipe.modules().items()}
    x_a, x_b = torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1
    losses = recipe.step(x_a, x_b)
    g_ab, g_ba, d_a, d_b = (before[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))

    # G: the GAN terms, lambda 10 cycles and 0.5 * 10 identities, on the old weights.
    with torch.no_grad():
        fake_b, fake_a = g_ab(x_a), g_ba(x_b)
        mse1 = lambda v: ((v - 1) ** 2).mean()  # noqa: E731
        parts = {"G_AB": mse1(d_b(fake_b)), "G_BA": mse1(d_a(fake_a)),
                 "cycle_A": (g_ba(fake_b) - x_a).abs().mean(),
                 "cycle_B": (g_ab(fake_a) - x_b).abs().mean(),
                 "idt_A": (g_ba(x_a) - x_a).abs().mean(),
                 "idt_B": (g_ab(x_b) - x_b).abs().mean()}
        total = (parts["G_AB"] + parts["G_BA"] + 10 * (parts["cycle_A"] + parts["cycle_B"])
                 + 5 * (parts["idt_A"] + parts["idt_B"]))

        # D: halved, on this step's fakes (the pool is still filling, so it returns them).
        expected_d_b = 0.5 * (mse1(d_b(x_b)) + (d_b(fake_b) ** 2).mean())
        expected_d_a = 0.5 * (mse1(d_a(x_a)) + (d_a(fake_a) ** 2).mean())
    for key, value in parts.items():
        torch.testing.assert_close(losses[key], value, msg=key)
    torch.testing.assert_close(losses["loss_G"], total)
    torch.testing.assert_close(losses["D_A"], expected_d_a)
    torch.testing.assert_close(losses["D_B"], expected_d_b)


def test_one_step_changes_every_network(tiny_root):
    recipe = build_recipe(cyclegan_config(tiny_root), num_classes=0)
    nets = ("G_AB", "G_BA", "D_A", "D_B")
    before = {k: [p.clone() for p in recipe.modules()[k].parameters()] for k in nets}
    losses = recipe.step(torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 1, 32, 32) * 2 - 1)
    assert all(torch.isfinite(v) for v in losses.values())
    for k in nets:
        after = recipe.modules()[k].parameters()
        changed = [not torch.equal(a, b) for a, b in zip(before[k], after)]
        assert all(changed), f"{k}: {changed.count(False)} tensors did not change"
    assert int(recipe.pool_A.count) == 2 and int(recipe.pool_B.count) == 2


def test_image_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(3, channels=1, resolution=2)
    g = torch.Generator().manual_seed(0)

    # Filling: every image is stored and handed back.
    first = torch.arange(4 * 3, dtype=torch.float32).view(3, 1, 2, 2)
    assert torch.equal(pool.query(first, g), first)
    assert int(pool.count) == 3 and torch.equal(pool.images, first)

    # Full: each query returns either its new image or a stored one that it then replaces.
    swaps = 0
    for k in range(200):
        x = torch.full((1, 1, 2, 2), 100.0 + k)
        stored = pool.images.clone()
        out = pool.query(x, g)
        if torch.equal(out, x):
            assert torch.equal(pool.images, stored)
        else:
            swaps += 1
            index = [i for i in range(3) if torch.equal(stored[i], out[0])]
            assert len(index) == 1 and torch.equal(pool.images[index[0]], x[0])
    assert 70 <= swaps <= 130  # about half of 200
    assert int(pool.count) == 3

    # A zero-size pool is a pass-through.
    assert torch.equal(ImagePool(0, channels=1, resolution=2).query(first, g), first)
    with pytest.raises(ValueError, match=r"x must be \[N, 1, 2, 2\], got \(1, 3, 2, 2\)"):
        pool.query(torch.zeros(1, 3, 2, 2), g)


def test_identity_loss_is_refused_for_mismatched_channels(tiny_root):
    with pytest.raises(ValueError, match=r"lambda_idt must be 0 .* \(A: 1, B: 3\)"):
        CycleGANOptions(channels_a=1, channels_b=3)
    # With one side taken from the run's channels: refused when the run is configured.
    config = cyclegan_config(tiny_root, options={"channels_b": 3})
    with pytest.raises(ValueError, match=r"lambda_idt must be 0 .* \(A: 1, B: 3\)"):
        build_recipe(config, num_classes=0)

    # Without the identity term, gray A and RGB B train; the grid shows both as RGB.
    config = cyclegan_config(tiny_root, options={"channels_b": 3, "lambda_idt": 0.0})
    recipe = build_recipe(config, num_classes=0)
    losses = recipe.step(torch.rand(2, 1, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1)
    assert "idt_A" not in losses and torch.isfinite(losses["loss_G"])
    recipe.set_grid_inputs(torch.zeros(2, 1, 32, 32), torch.zeros(2, 3, 32, 32))
    images, ncol = recipe.grid(12, 0)
    assert images.shape == (12, 3, 32, 32) and ncol == 6


def test_config_defaults_batch_one(tiny_root):
    config = resolve_config(overrides={"model": "cyclegan"})
    assert config.batch_size == 1 and config.dataset == PAIR and config.resolution == 32
    assert resolve_config(overrides={"model": "cyclegan", "batch_size": 4}).batch_size == 4
    assert resolve_config(overrides={"model": "cgan"}).batch_size == 64


def test_train_on_the_builtin_pair_writes_a_grid(tiny_root, tmp_path):
    result = train(cyclegan_config(tiny_root, steps=2, eval_n=10), tmp_path / "run")
    assert result.step == 2
    grid = Image.open(result.samples)
    assert grid.mode == "L" and grid.size == (6 * 34 + 2, 2 * 34 + 2)  # 2 rows of 6 columns
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "A: 4 images, B: 4 images" in log  # 4 sneakers and 4 boots in the tiny set
    metrics = json.loads(result.metrics.read_text())
    assert metrics["n_A"] == 3 and metrics["n_B"] == 3  # the tiny test split
    for key in ("target_rate_AtoB", "target_rate_BtoA", "real_rate_A", "real_rate_B"):
        assert 0 <= metrics[key] <= 1, key
    assert metrics["cycle_l1_A"] > 0 and metrics["cycle_l1_B"] > 0


def test_train_on_a_folder_of_odd_sizes(tmp_path):
    data = write_unpaired(tmp_path / "data", [(20, 24), (31, 17), (16, 16)],
                          [(18, 18), (25, 40)])
    config = TrainConfig(model="cyclegan", dataset=str(data), resolution=16, channels=3,
                         batch_size=1, steps=3, log_every=1, sample_every=0, ckpt_every=0,
                         eval_n=5, grid_size=6, options={**TINY, "n_layers": 2})
    result = train(config, tmp_path / "run")
    assert result.step == 3
    assert Image.open(result.samples).mode == "RGB"
    metrics = json.loads(result.metrics.read_text())
    assert metrics["note"].startswith("no test split") and "cycle_l1_A" not in metrics
    records = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").open()]
    assert [r["step"] for r in records] == [1, 2, 3]


def test_resume_is_exact_with_the_pool(tiny_root, tmp_path):
    # 6 steps in one go, or 3 then a resume to 6: same weights, optimizers, pools, RNG.
    options = {"constant_steps": 3, "decay_steps": 3, "pool_size": 5}
    whole = train(cyclegan_config(tiny_root, steps=6, options=options), tmp_path / "whole")
    first = train(cyclegan_config(tiny_root, steps=3, options=options), tmp_path / "a")
    halfway = load_file(str(first.checkpoint.with_suffix(".safetensors")))
    assert int(halfway["module/pool_A/count"]) == 5  # 3 steps of 2 images filled it
    resumed = train(cyclegan_config(tiny_root, steps=6, options=options), tmp_path / "a",
                    resume=first.checkpoint)

    assert resumed.step == 6
    a = load_file(str(whole.checkpoint.with_suffix(".safetensors")))
    b = load_file(str(resumed.checkpoint.with_suffix(".safetensors")))
    assert a.keys() == b.keys()
    assert {"module/pool_A/images", "module/pool_B/images", "optim/G/0/exp_avg"} <= set(a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["module/pool_B/images"], halfway["module/pool_B/images"])

    # The restored pool is the saved one.
    _, recipe, sidecar = load_trained(resumed.checkpoint)
    assert torch.equal(recipe.pool_B.images, b["module/pool_B/images"])
    assert sidecar["extra"] == {"steps_done": 6}
    assert sidecar["optimizers"]["G"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.25)


def test_translate_keeps_sizes_and_refuses_sampling(tiny_root):
    recipe = build_recipe(cyclegan_config(tiny_root), num_classes=0)
    assert recipe.translate(torch.zeros(1, 1, 13, 29), "BtoA").shape == (1, 1, 13, 29)
    with pytest.raises(ValueError, match="direction must be one of"):
        recipe.translate(torch.zeros(1, 1, 8, 8), "AtoC")
    with pytest.raises(ValueError, match="fastgan translate"):
        recipe.latents(4, 0)
