"""Checkpoints: one safetensors file with every tensor plus a JSON sidecar with the rest.

Tensor keys: `module/<name>/<param or buffer>`, `optim/<name>/<param index>/<state key>`,
`rng/<name>`. The sidecar holds the config, the step, the optimizers' hyper-parameters and
non-tensor state, the recipe's extra state, the loop's state (sampler position, elapsed time)
and the size of the tensor file. Both files are written under temporary names, flushed to
disk and renamed, the sidecar last: a checkpoint exists once its sidecar does, so a crash
while saving leaves the previous checkpoints as they were.
"""

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fastgan.training.recipe import Recipe

logger = logging.getLogger(__name__)

FORMAT = "fastgan-checkpoint-1"
_NAME = re.compile(r"^step-(\d+)\.json$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:07d}"


def recipe_tensors(recipe: Recipe) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split a recipe's state into tensors (for safetensors) and JSON-ready values."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"optimizers": {}}

    # Modules: parameters and buffers.
    for name, module in recipe.modules().items():
        for key, value in module.state_dict().items():
            tensors[f"module/{name}/{key}"] = value.detach()

    # Optimizers: tensor state to the file, the rest (param groups, plain numbers) to JSON.
    for name, opt in recipe.optimizers().items():
        state = opt.state_dict()
        plain: dict[str, dict[str, Any]] = {}
        for index, entries in state["state"].items():
            for key, value in entries.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim/{name}/{index}/{key}"] = value.detach()
                else:
                    plain.setdefault(str(index), {})[key] = value
        meta["optimizers"][name] = {"param_groups": state["param_groups"], "plain": plain}

    # Random number generators: the recipe's and torch's global ones.
    tensors["rng/recipe"] = recipe.rng.get_state()
    tensors["rng/torch_cpu"] = torch.get_rng_state()
    if recipe.device.type == "cuda":
        tensors["rng/torch_cuda"] = torch.cuda.get_rng_state(recipe.device)
    meta["extra"] = recipe.extra_state()
    return {k: v.contiguous().cpu() for k, v in tensors.items()}, meta


def _write_atomic(path: Path, write) -> None:
    """Call write(tmp_path), flush the file to disk, then rename it to `path`."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_checkpoint(
    directory: str | Path,
    recipe: Recipe,
    *,
    step: int,
    config: Mapping[str, Any],
    loop_state: Mapping[str, Any],
    keep: int = 0,
) -> Path:
    """Write checkpoint `step` into `directory`; keep the newest `keep` (0: all). -> JSON path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors, meta = recipe_tensors(recipe)
    name = checkpoint_name(step)
    tensor_path, json_path = directory / f"{name}.safetensors", directory / f"{name}.json"

    # The tensors first; the sidecar that names them last.
    _write_atomic(tensor_path, lambda p: save_file(tensors, str(p), metadata={"format": FORMAT}))
    sidecar = {
        "format": FORMAT,
        "step": step,
        "tensors": tensor_path.name,
        "tensor_bytes": tensor_path.stat().st_size,
        "config": dict(config),
        "loop": dict(loop_state),
        **meta,
    }
    _write_atomic(json_path, lambda p: p.write_text(json.dumps(sidecar, indent=1)))
    logger.debug("saved checkpoint %s", json_path)

    if keep > 0:
        for old in list_checkpoints(directory)[:-keep]:
            old.with_suffix(".safetensors").unlink(missing_ok=True)
            old.unlink()
    return json_path


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Sidecar paths of the complete checkpoints in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.with_suffix(".safetensors").is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint's sidecar path from itself, its .safetensors file, or a folder (the newest
    checkpoint in it, or in its checkpoints/ subfolder)."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path) or list_checkpoints(path / "checkpoints")
        if not found:
            raise FileNotFoundError(f"ckpt: no checkpoint in {path} or {path / 'checkpoints'}")
        return found[-1]
    if path.suffix == ".safetensors":
        path = path.with_suffix(".json")
    if not path.is_file() or not path.with_suffix(".safetensors").is_file():
        raise FileNotFoundError(f"ckpt: expected a checkpoint (.json + .safetensors), got {path}")
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(sidecar, tensors) of a checkpoint given as in `resolve_checkpoint`."""
    json_path = resolve_checkpoint(path)
    sidecar = json.loads(json_path.read_text())
    if sidecar.get("format") != FORMAT:
        raise ValueError(f"ckpt: expected format {FORMAT}, got {sidecar.get('format')!r}")
    tensor_path = json_path.with_name(sidecar["tensors"])
    size = tensor_path.stat().st_size
    if size != sidecar["tensor_bytes"]:
        raise ValueError(
            f"ckpt: {tensor_path} has {size} bytes, its sidecar expects {sidecar['tensor_bytes']}"
        )
    return sidecar, load_file(str(tensor_path))


def load_into_recipe(
    recipe: Recipe, sidecar: Mapping[str, Any], tensors: Mapping[str, torch.Tensor],
    *, weights_only: bool = False,
) -> None:
    """Restore a recipe's modules (and unless `weights_only`, optimizers, RNG, extra state)."""
    # Modules.
    for name, module in recipe.modules().items():
        prefix = f"module/{name}/"
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f"ckpt: no weights for module {name!r} in the checkpoint")
        module.load_state_dict(state)
    if weights_only:
        return

    # Optimizers: rebuild each state dict from the tensors and the sidecar.
    for name, opt in recipe.optimizers().items():
        saved = sidecar["optimizers"][name]
        per_param: dict[int, dict[str, Any]] = {}
        prefix = f"optim/{name}/"
        for key, value in tensors.items():
            if key.startswith(prefix):
                index, field = key[len(prefix):].split("/", 1)
                per_param.setdefault(int(index), {})[field] = value  # moved by the optimizer
        for index, entries in saved["plain"].items():
            per_param.setdefault(int(index), {}).update(entries)
        opt.load_state_dict({"state": per_param, "param_groups": saved["param_groups"]})

    # Random number generators and extra state.
    recipe.rng.set_state(tensors["rng/recipe"])
    torch.set_rng_state(tensors["rng/torch_cpu"])
    if recipe.device.type == "cuda" and "rng/torch_cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng/torch_cuda"], recipe.device)
    recipe.load_extra_state(sidecar.get("extra", {}))
