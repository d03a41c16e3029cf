"""The training configuration: defaults <- preset <- YAML/JSON file <- command-line flags.

`TrainConfig` holds what the generic loop needs (data, length, logging, checkpoints) and
`options`, the model family's own settings, which its recipe checks against its own frozen
options dataclass (see `fastgan.training.recipes`). The resolved config is saved with every run
as config.json and in every checkpoint.
"""

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs; `options` are the recipe's settings (model widths, lr, ...)."""

    model: str = "cgan"  # recipe name, see fastgan.training.recipes.RECIPES
    dataset: str = "fashion-mnist"  # a dataset spec for fastgan.data.build_dataset
    data_root: str | None = None
    resolution: int = 28
    channels: int = 1
    batch_size: int = 64

    # Length: the run stops at the first limit reached; 0 means no limit of that kind.
    steps: int = 0
    kimg: float = 0.0
    minutes: float = 0.0

    seed: int = 0
    device: str = "cpu"
    deterministic: bool = False
    num_workers: int = 0

    # Logging, samples, checkpoints and the final evaluation.
    log_every: int = 50  # steps between lines of log.txt / stats.jsonl
    sample_every: int = 500  # steps between sample grids; 0: only at the end
    ckpt_every: int = 1000  # steps between checkpoints; 0: only at the end
    keep_ckpts: int = 3
    grid_size: int = 64  # images in each sample grid
    tensorboard: bool = False
    eval_n: int = 5000  # generated images for metrics.json at the end; 0: no evaluation
    eval_every: int = 0  # steps between evaluations logged to stats.jsonl; 0: only at the end
    eval_metrics: str = "classifier"  # comma-separated: classifier, fid, kid, pr
    inception: str | None = None  # Inception-v3 weights for fid/kid/pr ($FASTGAN_INCEPTION)

    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        positive = ("resolution", "channels", "batch_size", "log_every", "keep_ckpts", "grid_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        non_negative = ("steps", "kimg", "minutes", "sample_every", "ckpt_every", "eval_n",
                        "eval_every", "num_workers")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.steps == 0 and self.kimg == 0 and self.minutes == 0:
            raise ValueError("one of steps, kimg or minutes must be > 0, got all three 0")
        if not isinstance(self.options, Mapping):
            raise TypeError(f"options must be a mapping, got {type(self.options).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        out = dataclasses.asdict(self)
        out["options"] = dict(self.options)
        return out


# Named sets of values; the Fashion-MNIST ones are the runs of docs/training.md. Their nets are
# half the usual DCGAN width (32 channels at 14 x 14, 64 at 7 x 7): 2.3 times more steps in
# the same CPU time (measured on the 2-core CPU of docs/training.md).
FASHION = {"g_base": 32, "d_base": 32}
PRESETS: dict[str, dict[str, Any]] = {
    "dcgan-fashion": {"model": "dcgan", "minutes": 10.0, "options": FASHION},
    "cgan-fashion": {"model": "cgan", "minutes": 10.0, "options": FASHION},
    "cogan-negative": {
        "model": "cogan", "minutes": 10.0, "options": {**FASHION, "transform": "negative"},
    },
    "cogan-edges": {
        "model": "cogan", "minutes": 10.0, "options": {**FASHION, "transform": "edges"},
    },
    "cgan-negative": {
        "model": "cgan", "minutes": 10.0,
        "options": {**FASHION, "condition": "domain", "transform": "negative"},
    },
    "cgan-edges": {
        "model": "cgan", "minutes": 10.0,
        "options": {**FASHION, "condition": "domain", "transform": "edges"},
    },
    # StyleGAN2 (docs/stylegan.md): StyleGAN2-ADA's paper256 and cifar configurations, and a
    # net sized for 32 x 32 Fashion-MNIST on a CPU.
    "stylegan2-small32": {
        "model": "stylegan2", "resolution": 32, "channels": 1, "batch_size": 32,
        "minutes": 30.0,
        # Like StyleGAN2-ADA's cifar config (no path length, no style mixing, D "orig"),
        # 64 channels at 4x4 and 8x8, 32 at 16x16, 16 at 32x32. Learning rate 0.01 (4x the
        # published 0.0025): the best of three in 30 CPU minutes (docs/stylegan.md).
        "options": {"z_dim": 64, "w_dim": 64, "mapping_layers": 2, "channel_base": 512,
                    "channel_max": 64, "r1_gamma": 0.01, "pl_weight": 0.0, "style_mixing": 0.0,
                    "d_architecture": "orig", "lr_g": 0.01, "lr_d": 0.01},
    },
    "stylegan-small32": {
        "model": "stylegan", "resolution": 32, "channels": 1, "batch_size": 32,
        "minutes": 30.0,
        "options": {"z_dim": 64, "w_dim": 64, "mapping_layers": 2, "channel_base": 1024,
                    "channel_max": 32},
    },
    "stylegan2-cifar": {
        "model": "stylegan2", "resolution": 32, "channels": 3, "batch_size": 64,
        "options": {"mapping_layers": 2, "channel_base": 32768, "channel_max": 512,
                    "mbstd_group_size": 32, "r1_gamma": 0.01, "ema_kimg": 500.0,
                    "pl_weight": 0.0, "style_mixing": 0.0, "d_architecture": "orig",
                    "num_fp16_res": 4},
    },
    "stylegan2-paper256": {
        "model": "stylegan2", "resolution": 256, "channels": 3, "batch_size": 64,
        "options": {"mapping_layers": 8, "channel_base": 16384, "channel_max": 512,
                    "mbstd_group_size": 8, "r1_gamma": 1.0, "ema_kimg": 20.0,
                    "ema_rampup": 0.0, "num_fp16_res": 4},
    },
}

_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or JSON file of config values into a dict."""
    path = Path(path)
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def merge(base: Mapping[str, Any], update: Mapping[str, Any], *, source: str) -> dict[str, Any]:
    """`base` with the values of `update` on top; `options` are merged key by key.

    `source` names where `update` came from, for the error on an unknown key.
    """
    out = dict(base)
    for key, value in update.items():
        if key not in _FIELDS:
            raise ValueError(f"{source}: unknown config key {key!r}; expected one of "
                             f"{sorted(_FIELDS)}")
        if key == "options":
            if not isinstance(value, Mapping):
                raise ValueError(f"{source}: options must be a mapping, got {value!r}")
            out["options"] = {**out.get("options", {}), **value}
        else:
            out[key] = value
    return out


def resolve_config(
    *,
    preset: str | None = None,
    file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """Build a config from `base` (default: the dataclass defaults), a preset, a file, overrides.

    Overrides are typically the command-line flags that were given (None values are skipped).
    """
    values: dict[str, Any] = dict(base) if base is not None else {}
    if preset is not None:
        model = (overrides or {}).get("model") or values.get("model")
        preset = preset_name(preset, model)
        values = merge(values, PRESETS[preset], source=f"preset {preset}")
    if file is not None:
        values = merge(values, read_config_file(file), source=str(file))
    if overrides:
        given = {k: v for k, v in overrides.items() if v is not None}
        values = merge(values, given, source="command line")
    values = _with_recipe_defaults(values)
    if values.get("steps", 0) == 0 and values.get("kimg", 0) == 0 and not values.get("minutes"):
        values["steps"] = 1000
    return TrainConfig(**values)


def preset_name(preset: str, model: str | None = None) -> str:
    """The full name of a preset: `preset` itself, or `MODEL-preset` ('small32' for stylegan2).

    A preset of another model family than `model` is refused."""
    full = preset if preset in PRESETS else f"{model}-{preset}" if model else preset
    if full not in PRESETS:
        short = sorted(p.split("-", 1)[1] for p in PRESETS if p.startswith(f"{model}-"))
        hint = f" (or, for model {model}, one of {short})" if short else ""
        raise ValueError(f"preset must be one of {sorted(PRESETS)}{hint}, got {preset!r}")
    if model is not None and PRESETS[full]["model"] != model:
        raise ValueError(f"preset {full!r} is for model {PRESETS[full]['model']!r}, but the "
                         f"model is {model!r}")
    return full


def _with_recipe_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` on top of the `config_defaults` of the model they name (if it is known)."""
    from fastgan.training.recipes import RECIPES

    model = values.get("model", TrainConfig.model)
    if model not in RECIPES or not RECIPES[model].config_defaults:
        return dict(values)
    return merge(RECIPES[model].config_defaults, values, source=f"model {model}")


def parse_option(text: str) -> tuple[str, Any]:
    """'key=value' -> (key, value), the value read as a number, else as YAML (true, [1, 2])."""
    if "=" not in text:
        raise ValueError(f"option must look like key=value, got {text!r}")
    key, raw = text.split("=", 1)
    for kind in (int, float):
        try:
            return key.strip(), kind(raw)
        except ValueError:
            pass
    return key.strip(), yaml.safe_load(raw)
