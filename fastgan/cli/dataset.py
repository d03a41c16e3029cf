"""`fastgan dataset info | pack`: look at a data source, or pack it into a zip."""

import functools

import click
from tqdm import tqdm


def _user_errors(command):
    """Shows a bad spec, path or label file as one `Error: ...` line, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (ValueError, FileNotFoundError) as error:
            raise click.ClickException(str(error)) from error

    return wrapper

def _top(counts: dict, k: int = 6) -> str:
    """'a: 3, b: 2, ... (n kinds)' for the k most common keys."""
    items = sorted(counts.items(), key=lambda kv: -kv[1])
    text = ", ".join(f"{key}: {n}" for key, n in items[:k])
    return text + (f", ... ({len(items)} kinds)" if len(items) > k else "")


@click.group()
def dataset() -> None:
    """Inspect and pack data sets."""


@dataset.command()
@click.argument("spec")
@click.option("--split", default="train", show_default=True, help="train, test or val.")
@click.option("--data-root", default=None, help="Folder of the built-in data sets.")
@click.option("--quick", is_flag=True, help="Read headers only (misses truncated files).")
@click.option("--show", default=10, show_default=True, help="Unreadable files to list.")
@_user_errors
def info(spec: str, split: str, data_root: str | None, quick: bool, show: int) -> None:
    """Counts, sizes, channels, labels and unreadable files of SPEC.

    SPEC is fashion-mnist[:classes], a folder, a zip, an IDX images file or a
    list_attr_celeba.txt, optionally followed by :name,name,... to choose classes or
    attributes.
    """
    from fastgan.data.build import ArraySource, locate
    from fastgan.data.tools import summarize

    found = locate(spec, split=split, data_root=data_root)
    total = len(found.images) if isinstance(found, ArraySource) else len(found.reader)
    with tqdm(total=total, unit="img", desc="reading", leave=False) as bar:
        s = summarize(found, split=split, data_root=data_root, verify=not quick,
                      progress=bar.update)

    click.echo(f"source      {s.description}")
    click.echo(f"images      {s.count} ({len(s.unreadable)} unreadable)")
    click.echo(f"sizes       {_top({f'{w}x{h}': n for (w, h), n in s.sizes.items()})}")
    click.echo(f"modes       {_top(s.modes)}")
    if not s.class_names:
        click.echo("labels      none")
    else:
        kind = "attributes (images with each set)" if s.attributes else "classes"
        click.echo(f"labels      {len(s.class_names)} {kind}")
        for name, n in zip(s.class_names, s.class_counts):
            click.echo(f"  {name:24s} {n}")
    for name, reason in s.unreadable[:show]:
        click.echo(f"unreadable  {name}: {reason}")
    if len(s.unreadable) > show:
        click.echo(f"unreadable  ... and {len(s.unreadable) - show} more")


@dataset.command()
@click.argument("spec")
@click.argument("dest", type=click.Path(dir_okay=False))
@click.option("--resolution", "-r", type=int, required=True, help="Side of the packed images.")
@click.option("--channels", type=click.Choice(["1", "3", "4"]), default=None,
              help="Channels of the packed images [default: 1 if the source is gray, else 3].")
@click.option("--split", default="train", show_default=True, help="train, test or val.")
@click.option("--data-root", default=None, help="Folder of the built-in data sets.")
@click.option("--square", type=click.Choice(["center-crop", "pad", "stretch"]),
              default="center-crop", show_default=True, help="Policy for non-square images.")
@click.option("--filter", "filter_", default="lanczos", show_default=True,
              type=click.Choice(["nearest", "box", "bilinear", "hamming", "bicubic", "lanczos"]),
              help="Resampling filter.")
@_user_errors
def pack(spec: str, dest: str, resolution: int, channels: str | None, split: str,
         data_root: str | None, square: str, filter_: str) -> None:
    """Pack SPEC into DEST.zip: PNGs at RESOLUTION plus dataset.json of labels.

    SPEC is as for `fastgan dataset info`; unreadable files are left out.
    """
    from fastgan.data.build import ArraySource, locate
    from fastgan.data.tools import pack as pack_zip
    from fastgan.data.transforms import TransformConfig

    found = locate(spec, split=split, data_root=data_root)
    total = len(found.images) if isinstance(found, ArraySource) else len(found.reader)
    with tqdm(total=total, unit="img", desc="packing") as bar:
        result = pack_zip(found, dest, resolution=resolution,
                          channels=None if channels is None else int(channels), split=split,
                          data_root=data_root, transform=TransformConfig(square=square,
                                                                         filter=filter_),
                          progress=bar.update)
    click.echo(f"wrote {result['images']} images ({result['channels']} channel(s), "
               f"{resolution}x{resolution}) to {result['dest']}; "
               f"{result['unreadable']} unreadable skipped")
