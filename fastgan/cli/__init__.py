"""The `fastgan` command line. Each area of the package adds its commands in its own module."""

import logging

import click


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """fastgan: train, run and evaluate GANs on fused native ops."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )


@main.command()
def info() -> None:
    """Print what the native build holds."""
    from fastgan import native_info

    for key, value in native_info().items():
        click.echo(f"{key:12s} {value}")


from fastgan.cli.dataset import dataset  # noqa: E402

main.add_command(dataset)
from fastgan.cli.train import train  # noqa: E402

main.add_command(train)
from fastgan.cli.generate import generate  # noqa: E402

main.add_command(generate)
from fastgan.cli.eval import eval_  # noqa: E402

main.add_command(eval_)
from fastgan.cli.translate import translate  # noqa: E402

main.add_command(translate)
from fastgan.cli.stylemix import stylemix  # noqa: E402

main.add_command(stylemix)
