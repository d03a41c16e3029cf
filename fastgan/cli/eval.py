"""`fastgan eval`: quality numbers of a checkpoint, printed and written as JSON."""

import json
from pathlib import Path

import click


@click.command(name="eval")
@click.option("--ckpt", required=True, type=click.Path(exists=True),
              help="A checkpoint (.json or .safetensors) or a run folder (its newest one).")
@click.option("--n", default=5000, show_default=True, type=click.IntRange(min=2),
              help="Generated images.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="JSON file (default: metrics.json in the run folder).")
@click.option("--device", default=None, help="Default: cpu.")
def eval_(ckpt, n, seed, out, device) -> None:
    """Fréchet distance on classifier features (with its real-vs-real floor), class accuracy
    of conditional models, CoGAN pair agreement."""
    from fastgan.training import load_trained
    from fastgan.training.checkpoint import resolve_checkpoint

    path = resolve_checkpoint(ckpt)
    config, recipe, sidecar = load_trained(path, device=device or "cpu")
    metrics = {"checkpoint": str(path), "step": sidecar["step"],
               **recipe.evaluate(config, n=n, seed=seed)}
    out = Path(out) if out else path.parent.parent / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=1))
    for key, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list):
            value = " ".join(f"{v:.3f}" for v in value)
        click.echo(f"{key:26s} {value}")
    click.echo(f"wrote {out}")
