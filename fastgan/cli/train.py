"""`fastgan train`: train a GAN; config = defaults <- --preset <- --config file <- flags."""

from pathlib import Path

import click

from fastgan.training.config import PRESETS, parse_option, preset_name, resolve_config
from fastgan.training.recipes import RECIPES


def _fresh_dir(root: Path, name: str) -> Path:
    """root/name, or root/name-2, -3, ... if that one already holds a run."""
    path, k = root / name, 1
    while (path / "config.json").exists():
        k += 1
        path = root / f"{name}-{k}"
    return path


@click.command()
@click.argument("model_name", metavar="[MODEL]", required=False,
                type=click.Choice(sorted(RECIPES)))
@click.option("--preset", metavar="NAME",
              help=f"A named set of values: {', '.join(sorted(PRESETS))}; with MODEL also "
                   "the part after 'MODEL-' (`fastgan train stylegan2 --preset small32`).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A YAML or JSON file of config values (applied after the preset).")
@click.option("--model", type=click.Choice(sorted(RECIPES)), help="Model family.")
@click.option("--data", "dataset", help="Dataset spec (default fashion-mnist).")
@click.option("--data-root", help="Where the built-in data sets are.")
@click.option("--resolution", type=int)
@click.option("--channels", type=int)
@click.option("--batch-size", type=int)
@click.option("--steps", type=int, help="Stop after this many steps.")
@click.option("--kimg", type=float, help="Stop after this many thousand real images.")
@click.option("--minutes", type=float, help="Stop after this much training time.")
@click.option("--seed", type=int)
@click.option("--device", help="cpu, cuda, cuda:1, ...")
@click.option("--deterministic/--no-deterministic", default=None,
              help="Use only deterministic torch algorithms.")
@click.option("--log-every", type=int)
@click.option("--sample-every", type=int)
@click.option("--ckpt-every", type=int)
@click.option("--keep-ckpts", type=int)
@click.option("--grid-size", type=int)
@click.option("--eval-n", type=int, help="Generated images for metrics.json (0: none).")
@click.option("--eval-every", type=int,
              help="Also evaluate every N steps, logged to stats.jsonl (0: only at the end).")
@click.option("--eval-metrics", help="classifier (default), fid, kid, pr; comma-separated.")
@click.option("--inception", type=click.Path(dir_okay=False),
              help="Inception-v3 weights for fid/kid/pr (default $FASTGAN_INCEPTION).")
@click.option("--num-workers", type=int)
@click.option("--tensorboard/--no-tensorboard", default=None)
@click.option("-o", "--option", "options", multiple=True,
              help="A model option key=value (e.g. -o lr_g=1e-4); repeatable.")
@click.option("--name", help="Run name: the run goes to RUNS_DIR/NAME (default: preset/model).")
@click.option("--runs-dir", default="runs", show_default=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=False, flag_value="latest", default=None,
              help="Continue a run: --resume alone takes the newest checkpoint of RUNS_DIR/NAME; "
                   "--resume PATH a given checkpoint or run folder.")
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads of torch (default: torch's choice). On a CPU shared with other "
                   "work, 1 thread can be several times faster than 2.")
@click.option("--ops", "ops_backend", type=click.Choice(["auto", "native", "reference"]),
              default="auto", show_default=True,
              help="Run the fused ops natively or as their plain-PyTorch references "
                   "(fastgan.ops.use), e.g. to compare both on the same model.")
def train(model_name, preset, config_file, options, name, runs_dir, resume, progress, threads,
          ops_backend, **flags) -> None:
    """Train a GAN and write samples, curves, checkpoints and metrics under RUNS_DIR/NAME.

    MODEL (or --model) is the model family, e.g. `fastgan train cyclegan --data PATH`."""
    if model_name is not None:
        if flags.get("model") not in (None, model_name):
            raise click.UsageError(f"MODEL is {model_name!r} but --model is {flags['model']!r}")
        flags["model"] = model_name
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    from fastgan import ops
    from fastgan.training import NonFiniteLossError
    from fastgan.training import train as run_training
    from fastgan.training.checkpoint import resolve_checkpoint

    # The config, and the run folder.
    overrides = dict(flags)
    if options:
        try:
            overrides["options"] = dict(parse_option(o) for o in options)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--option") from error
    try:
        config = resolve_config(preset=preset, file=config_file, overrides=overrides)
    except (ValueError, TypeError) as error:
        raise click.UsageError(str(error)) from error
    name = name or (preset_name(preset, config.model) if preset else config.model)
    if resume == "latest":
        run_dir = Path(runs_dir) / name
        resume = resolve_checkpoint(run_dir)
    elif resume is not None:
        resume = resolve_checkpoint(resume)
        run_dir = resume.parent.parent
    else:
        run_dir = _fresh_dir(Path(runs_dir), name)
    click.echo(f"run folder: {run_dir}")

    # Train.
    try:
        with ops.use(ops_backend):
            result = run_training(config, run_dir, resume=resume, progress=progress)
    except NonFiniteLossError as error:
        raise click.ClickException(str(error)) from error
    except ValueError as error:  # a configuration the model refuses, e.g. identity loss
        raise click.ClickException(f"{type(error).__name__}: {error}") from error

    # Where everything is.
    click.echo(f"{'interrupted' if result.interrupted else 'finished'} at step {result.step} "
               f"({result.kimg:.1f} kimg, {result.seconds / 60:.1f} min)")
    for label, path in (("config", run_dir / "config.json"), ("log", run_dir / "log.txt"),
                        ("stats", run_dir / "stats.jsonl"), ("samples", result.samples),
                        ("curves", result.curves), ("checkpoint", result.checkpoint),
                        ("metrics", result.metrics)):
        if path is not None:
            click.echo(f"  {label:10s} {path}")
    if result.metrics is not None:
        click.echo(result.metrics.read_text())
