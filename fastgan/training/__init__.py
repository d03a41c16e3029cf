"""Training: the generic loop, the recipes of each model family, checkpoints and evaluation.

    config = resolve_config(preset="cgan-fashion", overrides={"minutes": 2})
    result = train(config, "runs/cgan", progress=True)
    config, recipe, _ = load_trained(result.checkpoint)
"""

from fastgan.training.config import PRESETS, TrainConfig, resolve_config
from fastgan.training.loop import NonFiniteLossError, RunResult, load_trained, train
from fastgan.training.recipe import Recipe
from fastgan.training.recipes import RECIPES, get_recipe

__all__ = [
    "PRESETS",
    "RECIPES",
    "NonFiniteLossError",
    "Recipe",
    "RunResult",
    "TrainConfig",
    "get_recipe",
    "load_trained",
    "resolve_config",
    "train",
]
