"""The generic training loop: it runs any recipe and knows nothing of models.

A run directory holds config.json, log.txt, stats.jsonl, samples/, checkpoints/, curves.png
and metrics.json. The loop: batch -> recipe.step -> (every log_every) a log line and a stats
record -> (every sample_every) a grid from fixed latents -> (every ckpt_every) a checkpoint.
It stops at the first of steps / kimg / minutes, on Ctrl-C (after the current step, with a
checkpoint), or on a non-finite loss (without one: the last good checkpoint is kept).
"""

import contextlib
import dataclasses
import json
import logging
import math
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from fastgan.training import checkpoint as ckpt
from fastgan.training.config import TrainConfig
from fastgan.training.evaluate import evaluate_chosen
from fastgan.training.images import save_grid
from fastgan.training.logs import StatsWriter, plot_curves
from fastgan.training.recipe import DataSource, Recipe, build_options
from fastgan.training.recipes import get_recipe

logger = logging.getLogger(__name__)
ticks = logging.getLogger("fastgan.training.ticks")  # one line per tick, to log.txt

GRID_SEED = 12345  # the fixed latents of every sample grid


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the message names it and the last good checkpoint."""


@dataclasses.dataclass(frozen=True)
class RunResult:
    """Where a finished run left its files, and how far it got."""

    run_dir: Path
    step: int
    kimg: float
    seconds: float
    interrupted: bool
    checkpoint: Path | None
    samples: Path | None
    curves: Path | None
    metrics: Path | None


def resolve_options(config: TrainConfig) -> TrainConfig:
    """The config with `options` completed by the recipe's defaults (and checked)."""
    options = build_options(get_recipe(config.model).Options, config.options, recipe=config.model)
    return dataclasses.replace(config, options=dataclasses.asdict(options))


def build_recipe(config: TrainConfig, *, num_classes: int, device: str | None = None) -> Recipe:
    """The recipe of `config.model` with its options, on `device` (default: config.device)."""
    cls = get_recipe(config.model)
    options = build_options(cls.Options, config.options, recipe=config.model)
    return cls(
        options, resolution=config.resolution, channels=config.channels,
        num_classes=num_classes, device=torch.device(device or config.device), seed=config.seed,
    )


def run_length(config: TrainConfig) -> int | None:
    """The number of steps the run is planned for: the stricter of `steps` and `kimg`, or
    None when only `minutes` bounds it."""
    limits = []
    if config.steps:
        limits.append(config.steps)
    if config.kimg:
        limits.append(math.ceil(config.kimg * 1000 / config.batch_size))
    return min(limits) if limits else None


def load_trained(path: str | Path, *, device: str | None = None
                 ) -> tuple[TrainConfig, Recipe, dict[str, Any]]:
    """(config, recipe with the checkpoint's weights, sidecar) of a checkpoint file or folder."""
    sidecar, tensors = ckpt.read_checkpoint(path)
    config = TrainConfig(**sidecar["config"])
    if device is not None:
        config = dataclasses.replace(config, device=device)
    recipe = build_recipe(config, num_classes=sidecar["loop"]["num_classes"])
    ckpt.load_into_recipe(recipe, sidecar, tensors, weights_only=True)
    return config, recipe, sidecar


@contextlib.contextmanager
def deterministic_mode(enabled: bool) -> Iterator[None]:
    """Inside: torch's deterministic algorithms (and no cuDNN autotuning) when `enabled`."""
    if not enabled:
        yield
        return
    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.benchmark = saved[1]


@contextlib.contextmanager
def stop_on_sigint() -> Iterator[dict[str, bool]]:
    """Inside: the first Ctrl-C sets flag["stop"] (the loop then ends after its step); a second
    one interrupts at once. Outside the main thread the handler is left alone."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True
        logger.warning("Ctrl-C: stopping after this step and saving a checkpoint "
                       "(press again to quit at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def run_log(run_dir: Path, *, console_ticks: bool) -> Iterator[None]:
    """Inside: fastgan's log records are also written to run_dir/log.txt; the tick lines reach
    the console only when `console_ticks` (not under a progress bar)."""
    handler = logging.FileHandler(run_dir / "log.txt")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    package = logging.getLogger("fastgan")
    saved = (package.level, ticks.level, ticks.propagate)
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    package.addHandler(handler)
    ticks.setLevel(logging.INFO)
    if not console_ticks:  # straight to the file, not up to the console
        ticks.addHandler(handler)
        ticks.propagate = False
    try:
        yield
    finally:
        package.removeHandler(handler)
        ticks.removeHandler(handler)
        package.setLevel(saved[0])
        ticks.setLevel(saved[1])
        ticks.propagate = saved[2]
        handler.close()


def _progress_bar(enabled: bool, config: TrainConfig, start: int):
    if not enabled:
        return None
    from tqdm import tqdm

    total = config.steps or None
    if total is None and config.kimg:
        total = math.ceil(config.kimg * 1000 / config.batch_size)
    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, leave=True)


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: str | Path | None = None,
    dataset: Any = None,
    progress: bool = False,
) -> RunResult:
    """Train `config.model` and write the run into `run_dir`.

    resume: a checkpoint (file or folder) to continue from; its config is used, with the
        length, logging and device fields of `config` on top.
    dataset: a ready dataset (x [C, R, R] in [-1, 1], int64 label) instead of
        build_dataset(config.dataset, ...).
    progress: show a tqdm bar with step, images/s, ETA and the latest losses.
    """
    run_dir = Path(run_dir)
    (run_dir / "samples").mkdir(parents=True, exist_ok=True)
    ckpt_dir = run_dir / "checkpoints"
    config = resolve_options(config)

    # Resume: the saved config, with this call's length / logging / device fields on top.
    sidecar, tensors, start_step, loop_state = None, None, 0, {}
    if resume is not None:
        sidecar, tensors = ckpt.read_checkpoint(resume)
        saved = TrainConfig(**sidecar["config"])
        keep = {f: getattr(config, f) for f in (
            "steps", "kimg", "minutes", "device", "log_every", "sample_every", "ckpt_every",
            "keep_ckpts", "tensorboard", "eval_n", "eval_every", "eval_metrics", "inception",
            "num_workers", "grid_size")}
        config = dataclasses.replace(saved, **keep)
        start_step, loop_state = sidecar["step"], sidecar["loop"]
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1))

    with (
        run_log(run_dir, console_ticks=not progress),
        deterministic_mode(config.deterministic),
        stop_on_sigint() as sigint,
    ):
        return _run(config, run_dir, ckpt_dir, dataset, sidecar, tensors, start_step,
                    loop_state, sigint, progress)


def _run(config, run_dir, ckpt_dir, dataset, sidecar, tensors, start_step, loop_state, sigint,
         progress) -> RunResult:
    from fastgan.data import build_dataset, build_loader

    # Data (the recipe's own, or one dataset giving (x, c)), recipe, a resumed run's state.
    torch.manual_seed(config.seed)
    start = start_step * config.batch_size
    source = get_recipe(config.model).data_source(config, start=start, dataset=dataset)
    if source is None:
        if dataset is None:
            dataset = build_dataset(config.dataset, resolution=config.resolution,
                                    channels=config.channels, data_root=config.data_root)
        loader = build_loader(dataset, batch_size=config.batch_size, seed=config.seed,
                              start=start, num_workers=config.num_workers)
        source = DataSource(  # iter() draws from torch's global RNG: before it is restored
            batches=iter(loader), num_classes=int(getattr(dataset, "num_classes", 0)),
            description=f"{len(dataset)} images")
    num_classes = source.num_classes
    recipe = build_recipe(config, num_classes=num_classes)
    recipe.set_run_length(run_length(config))
    if source.grid_inputs is not None:
        recipe.set_grid_inputs(*source.grid_inputs)
    if sidecar is not None:
        ckpt.load_into_recipe(recipe, sidecar, tensors)
        logger.info("resumed from step %d", start_step)
    logger.info("run %s: model %s, %s, %d classes, device %s", run_dir, config.model,
                source.description, recipe.num_classes, recipe.device)

    stats = StatsWriter(run_dir, tensorboard=config.tensorboard)
    bar = _progress_bar(progress, config, start_step)
    step, prior_seconds = start_step, float(loop_state.get("seconds", 0.0))
    last_ckpt = ckpt.list_checkpoints(ckpt_dir)[-1] if ckpt.list_checkpoints(ckpt_dir) else None
    t_start = time.perf_counter()
    t_tick, step_tick = t_start, step
    sums: dict[str, float] = {}
    samples_path = None

    def elapsed() -> float:
        return prior_seconds + time.perf_counter() - t_start

    def done() -> bool:
        return (
            (config.steps and step >= config.steps)
            or (config.kimg and step * config.batch_size >= config.kimg * 1000)
            or (config.minutes and elapsed() >= config.minutes * 60)
        )

    def save() -> Path:
        return ckpt.save_checkpoint(
            ckpt_dir, recipe, step=step, config=config.to_dict(),
            loop_state={"seconds": elapsed(), "images": step * config.batch_size,
                        "num_classes": num_classes},
            keep=config.keep_ckpts,
        )

    try:
        for batch in source.batches:
            if done() or sigint["stop"]:
                break

            # One step; a non-finite loss ends the run before anything is saved.
            losses = recipe.step(*(t.to(recipe.device, non_blocking=True) for t in batch))
            step += 1
            values = {k: float(v) for k, v in losses.items()}
            bad = {k: v for k, v in values.items() if not math.isfinite(v)}
            if bad:
                raise NonFiniteLossError(
                    f"non-finite loss at step {step}: {bad}; stopped without saving. The last "
                    f"good checkpoint is {last_ckpt or 'none (no checkpoint was written yet)'}"
                )
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v

            # A tick: the mean losses since the last one, to the log, stats and the bar.
            if step % config.log_every == 0 or done():
                now = time.perf_counter()
                n = step - step_tick
                means = {k: v / n for k, v in sums.items()}
                ips = n * config.batch_size / max(now - t_tick, 1e-9)
                record = {"step": step, "kimg": step * config.batch_size / 1000,
                          "sec": round(elapsed(), 3), "img_per_sec": round(ips, 1), **means}
                stats.write(record)
                ticks.info("step %7d  kimg %8.2f  time %8.1fs  img/s %7.1f  %s", step,
                            record["kimg"], record["sec"], ips,
                            "  ".join(f"{k} {v:.4f}" for k, v in means.items()))
                if bar is not None:
                    bar.set_postfix_str(f"img/s {ips:.0f} " + " ".join(
                        f"{k} {v:.3f}" for k, v in means.items()) + _eta(config, step, elapsed()))
                sums, t_tick, step_tick = {}, now, step
            if bar is not None:
                bar.update(1)

            if config.sample_every and step % config.sample_every == 0:
                samples_path = _save_samples(recipe, config, run_dir, step)
            if config.ckpt_every and step % config.ckpt_every == 0:
                last_ckpt = save()
            if config.eval_every and config.eval_n and step % config.eval_every == 0:
                scores = evaluate_chosen(recipe, config, n=config.eval_n)
                stats.write({"step": step, **{f"metric/{k}": v for k, v in scores.items()
                                              if isinstance(v, float)}})
                logger.info("step %d metrics: %s", step, json.dumps(scores))
    except KeyboardInterrupt:
        logger.warning("interrupted at step %d", step)
        sigint["stop"] = True
    finally:
        if bar is not None:
            bar.close()
        stats.close()

    # The end: checkpoint (unless this step already has one), samples, curves.
    if last_ckpt is None or last_ckpt.name != f"{ckpt.checkpoint_name(step)}.json":
        last_ckpt = save()
    samples_path = _save_samples(recipe, config, run_dir, step)
    curves = plot_curves(run_dir / "stats.jsonl", run_dir / "curves.png")
    metrics_path = None
    if config.eval_n > 0 and not sigint["stop"]:
        metrics = evaluate_chosen(recipe, config, n=config.eval_n)
        metrics_path = run_dir / "metrics.json"
        metrics_path.write_text(json.dumps({"step": step, **metrics}, indent=1))
        logger.info("metrics: %s", json.dumps(metrics))
    logger.info("stopped at step %d (%.1f kimg, %.0f s)", step, step * config.batch_size / 1000,
                elapsed())
    return RunResult(
        run_dir=run_dir, step=step, kimg=step * config.batch_size / 1000, seconds=elapsed(),
        interrupted=sigint["stop"], checkpoint=last_ckpt, samples=samples_path,
        curves=curves, metrics=metrics_path,
    )


def _eta(config: TrainConfig, step: int, seconds: float) -> str:
    """' ETA 12m34s' from the strictest of the length limits, or '' before the first step."""
    if step == 0:
        return ""
    per_step = seconds / step
    remaining = []
    if config.steps:
        remaining.append((config.steps - step) * per_step)
    if config.kimg:
        remaining.append((config.kimg * 1000 / config.batch_size - step) * per_step)
    if config.minutes:
        remaining.append(config.minutes * 60 - seconds)
    left = max(0.0, min(remaining)) if remaining else 0.0
    return f" ETA {int(left // 60)}m{int(left % 60):02d}s"


def _save_samples(recipe: Recipe, config: TrainConfig, run_dir: Path, step: int) -> Path:
    images, ncol = recipe.grid(config.grid_size, GRID_SEED)
    return save_grid(images, run_dir / "samples" / f"step-{step:07d}.png", ncol=ncol)
