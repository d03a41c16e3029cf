"""The table of model families: name -> recipe class. A new family adds one module and one line."""

from fastgan.training.recipe import Recipe
from fastgan.training.recipes.cogan import CoGANRecipe
from fastgan.training.recipes.cyclegan import CycleGANRecipe
from fastgan.training.recipes.dcgan import CGANRecipe, DCGANRecipe

RECIPES: dict[str, type[Recipe]] = {
    "dcgan": DCGANRecipe,
    "cgan": CGANRecipe,
    "cogan": CoGANRecipe,
    "cyclegan": CycleGANRecipe,
}


def get_recipe(name: str) -> type[Recipe]:
    """The recipe class registered as `name`."""
    if name not in RECIPES:
        raise ValueError(f"model must be one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]
