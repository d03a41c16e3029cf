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
@click.option("--metrics", default="classifier", show_default=True,
              help="Comma-separated: classifier (the Fashion-MNIST classifier numbers), "
                   "fid, kid, pr (on Inception-v3 features; need --inception).")
@click.option("--num", default=50000, show_default=True, type=click.IntRange(min=2),
              help="Generated images for fid/kid/pr.")
@click.option("--num-real", default=None, type=click.IntRange(min=2),
              help="Real images for fid/kid/pr (default: the whole training set).")
@click.option("--inception", default=None, type=click.Path(dir_okay=False),
              help="Inception-v3 weights (NVlabs TorchScript .pt or pytorch-fid state dict "
                   ".pth); default $FASTGAN_INCEPTION.")
@click.option("--cache-dir", default=str(Path.home() / ".cache" / "fastgan" / "metrics"),
              show_default=True, help="Cache of real-image features.")
@click.option("--batch", default=64, show_default=True, type=click.IntRange(min=1))
def eval_(ckpt, n, seed, out, device, metrics, num, num_real, inception, cache_dir,
          batch) -> None:
    """Quality numbers of a checkpoint: the Fashion-MNIST classifier's Fréchet distance (with
    its real-vs-real floor), class accuracy of conditional models, CoGAN pair agreement; and
    FID, KID, precision/recall with standard Inception-v3 weights (docs/metrics.md)."""
    from fastgan.metrics import parse_metrics
    from fastgan.training import load_trained
    from fastgan.training.checkpoint import resolve_checkpoint
    from fastgan.training.evaluate import evaluate_feature_metrics

    names = [m.strip().lower() for m in metrics.split(",") if m.strip()]
    feature_metrics = [m for m in names if m != "classifier"]
    try:
        if feature_metrics:
            parse_metrics(feature_metrics)
    except ValueError as error:
        raise click.BadParameter(f"{error} (or 'classifier')", param_hint="--metrics") from None

    path = resolve_checkpoint(ckpt)
    config, recipe, sidecar = load_trained(path, device=device or "cpu")
    results = {"checkpoint": str(path), "step": sidecar["step"]}
    if "classifier" in names:
        results.update(recipe.evaluate(config, n=n, seed=seed))
    if feature_metrics:
        try:
            scores = evaluate_feature_metrics(
                recipe, config, metrics=",".join(feature_metrics), num=num, num_real=num_real,
                inception=inception, cache_dir=cache_dir, batch_size=batch, seed=seed)
        except FileNotFoundError as error:
            raise click.ClickException(str(error)) from None
        results.update({k: v for k, v in scores.items() if k != "variants"})
        results["variants"] = scores.get("variants")

    out = Path(out) if out else path.parent.parent / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    for key, value in results.items():
        if isinstance(value, float):
            value = f"{value:.4f}"
        elif isinstance(value, list) and all(isinstance(v, float) for v in value):
            value = " ".join(f"{v:.3f}" for v in value)
        click.echo(f"{key:26s} {value}")
    click.echo(f"wrote {out}")
