"""`evaluate`: FID, KID and precision/recall of a generator against a real data set.

    result = evaluate(generator_fn, dataset, metrics=("fid", "kid", "pr"), num=50000,
                      inception="inception-2015-12-05.pt", device="cuda",
                      cache_dir="~/.cache/fastgan/metrics")
    result["fid"], result["kid"], result["kid_std"], result["precision"], result["recall"]

Real-set features are cached on disk (safetensors + a JSON sidecar), keyed by the data set
(its content hash, or a caller's `data_key`), the number of real images, the extractor with its
weights hash and the preprocessing; a changed key is a new cache file, never a stale hit.
"""

import hashlib
import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from fastgan.metrics.extractors import FeatureExtractor, InceptionExtractor
from fastgan.metrics.frechet import feature_statistics, frechet_distance
from fastgan.metrics.kid import kernel_inception_distance
from fastgan.metrics.precision_recall import precision_recall
from fastgan.metrics.preprocess import quantize_uint8

logger = logging.getLogger(__name__)

METRICS = ("fid", "kid", "pr")
CACHE_FORMAT = 1


def parse_metrics(metrics: str | Sequence[str]) -> tuple[str, ...]:
    """"fid,kid" or ("fid", "kid") -> ("fid", "kid"), checked against METRICS."""
    names = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    names = tuple(n.strip().lower() for n in names if n.strip())
    unknown = [n for n in names if n not in METRICS]
    if not names or unknown:
        raise ValueError(f"metrics must be a non-empty subset of {METRICS}, got {metrics!r}")
    return names


def _real_batch(dataset, start: int, stop: int) -> torch.Tensor:
    """Images [n, C, H, W] of items start..stop-1: `get_batch` when the data set has it, else
    its items (an image tensor, or a tuple whose first element is one) stacked."""
    if hasattr(dataset, "get_batch"):
        images = dataset.get_batch(torch.arange(start, stop))
    else:
        images = [dataset[i] for i in range(start, stop)]
        images = torch.stack([x[0] if isinstance(x, (tuple, list)) else x for x in images])
    if isinstance(images, (tuple, list)):
        images = images[0]
    return torch.as_tensor(images)


def _real_batches(dataset, num: int, batch_size: int):
    """Yields uint8 [n, C, H, W] batches of the first `num` items."""
    for start in range(0, num, batch_size):
        yield quantize_uint8(_real_batch(dataset, start, min(start + batch_size, num)))


def dataset_identity(dataset, num: int, batch_size: int, data_key: str | None) -> dict:
    """What identifies the real images: the caller's key, else a SHA-256 of the uint8 images."""
    identity = {
        "source": str(getattr(dataset, "source", type(dataset).__name__)),
        "resolution": getattr(dataset, "resolution", None),
        "channels": getattr(dataset, "channels", None),
        "num": num,
    }
    if data_key is not None:
        identity["key"] = str(data_key)
        return identity

    # Hash what the extractor would see, batch by batch, shapes included.
    digest = hashlib.sha256()
    for images in _real_batches(dataset, num, batch_size):
        digest.update(str(tuple(images.shape)).encode())
        digest.update(images.contiguous().numpy().tobytes())
    identity["sha256"] = digest.hexdigest()
    return identity


def _cache_paths(cache_dir: Path, key: dict) -> tuple[Path, Path]:
    """(tensors file, JSON sidecar) for a cache key."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    stem = f"real-{key['extractor']['name']}-{digest}"
    return cache_dir / f"{stem}.safetensors", cache_dir / f"{stem}.json"


def _load_cached(cache_dir: Path, key: dict) -> torch.Tensor | None:
    """Cached real features [M, D] for exactly this key, or None."""
    tensors_path, sidecar_path = _cache_paths(cache_dir, key)
    if not (tensors_path.is_file() and sidecar_path.is_file()):
        return None
    if json.loads(sidecar_path.read_text()).get("key") != key:
        logger.warning("cache sidecar %s holds another key; recomputing", sidecar_path)
        return None
    logger.info("real features from cache %s", tensors_path)
    return load_file(str(tensors_path))["features"]


def _save_cached(cache_dir: Path, key: dict, features: torch.Tensor) -> Path:
    """Writes features [M, D] float32 and the key, each to a temp name renamed into place."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    tensors_path, sidecar_path = _cache_paths(cache_dir, key)
    tmp = tensors_path.with_suffix(f".tmp{os.getpid()}")
    save_file({"features": features.contiguous()}, str(tmp))
    os.replace(tmp, tensors_path)
    tmp = sidecar_path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"key": key, "shape": list(features.shape)}, indent=2))
    os.replace(tmp, sidecar_path)
    logger.info("real features cached to %s", tensors_path)
    return tensors_path


def real_features(
    dataset,
    extractor: FeatureExtractor,
    *,
    num: int,
    batch_size: int,
    cache_dir: str | os.PathLike | None,
    data_key: str | None,
    progress: bool,
) -> tuple[torch.Tensor, str | None]:
    """Features [num, D] float32 of the first `num` real images, from the cache when it holds
    them. Returns them and the cache file (None without a cache_dir)."""
    key = None
    if cache_dir is not None:
        cache_dir = Path(cache_dir).expanduser()
        key = {
            "format": CACHE_FORMAT,
            "data": dataset_identity(dataset, num, batch_size, data_key),
            "extractor": extractor.identity(),
        }
        cached = _load_cached(cache_dir, key)
        if cached is not None:
            return cached, str(_cache_paths(cache_dir, key)[0])

    # Extract, batch by batch, with a progress bar.
    chunks = []
    with tqdm(total=num, desc="real images", unit="img", disable=not progress) as bar:
        for images in _real_batches(dataset, num, batch_size):
            chunks.append(extractor(images))
            bar.update(images.shape[0])
    features = torch.cat(chunks)
    if key is None:
        return features, None
    return features, str(_save_cached(cache_dir, key, features))


def generated_features(generator_fn: Callable[[int], torch.Tensor], extractor: FeatureExtractor,
                       *, num: int, batch_size: int, progress: bool) -> torch.Tensor:
    """Features [num, D] float32 of `num` images from `generator_fn(n) -> [n, C, H, W]`
    (float in [-1, 1] or uint8), requested in batches of at most batch_size."""
    chunks = []
    done = 0
    with tqdm(total=num, desc="generated images", unit="img", disable=not progress) as bar:
        while done < num:
            n = min(batch_size, num - done)
            images = generator_fn(n)
            if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[0] != n:
                got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images)
                raise ValueError(f"generator_fn({n}) must return a tensor [{n}, C, H, W], "
                                 f"got {got}")
            chunks.append(extractor(images.detach()))
            done += n
            bar.update(n)
    return torch.cat(chunks)


def evaluate(
    generator_fn: Callable[[int], torch.Tensor],
    real_dataset,
    *,
    metrics: str | Sequence[str] = METRICS,
    num: int = 50000,
    num_real: int | None = None,
    extractor: FeatureExtractor | None = None,
    inception: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    data_key: str | None = None,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
    pr_k: int = 3,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Computes the chosen metrics of generated images against real ones.

    Args:
        generator_fn: `generator_fn(n)` returns n new images [n, C, H, W], float in [-1, 1]
            (quantized to uint8 first) or uint8; C in {1, 3}. The caller seeds it.
        real_dataset: a map-style data set whose items are images [C, H, W] in [-1, 1] (or
            uint8), or tuples whose first element is one; `get_batch(indices)` is used when
            present. Use it without random augmentation.
        metrics: names from METRICS ("fid", "kid", "pr") or "fid,kid,pr".
        num: generated images.
        num_real: real images (the first num_real items); None: the whole data set.
        extractor: the feature extractor; None builds InceptionExtractor(inception, device).
        inception: Inception weights file when extractor is None; None: $FASTGAN_INCEPTION.
        device: where the extractor and the metric arithmetic run.
        batch_size: images per extractor call.
        cache_dir: folder for cached real features; None: no cache.
        data_key: a string naming the real images for the cache (skips hashing them).
        kid_subsets, kid_subset_size: KID averaging (100 x 1000 as StyleGAN).
        pr_k: precision/recall neighbourhood size.
        seed: seeds the KID subset draws.
        progress: show tqdm progress bars.

    Returns:
        A JSON-ready dict: "fid"; "kid", "kid_std"; "precision", "recall" (those requested);
        "num_fake", "num_real", "extractor" (name, weights file, sha256, preprocessing),
        "variants" (which variant of each metric), "real_cache" (file or None), "seconds".
    """
    names = parse_metrics(metrics)
    for arg, value in (("num", num), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 2:
            raise ValueError(f"{arg} must be an int >= 2, got {value!r}")
    total_real = len(real_dataset)
    num_real = total_real if num_real is None else num_real
    if not isinstance(num_real, int) or not 2 <= num_real <= total_real:
        raise ValueError(f"num_real must be an int in [2, {total_real}], got {num_real!r}")
    is_random = getattr(getattr(real_dataset, "transform", None), "is_random", None)
    if callable(is_random) and is_random():
        warnings.warn(
            "evaluate: real_dataset has a random transform (crop or flip); real features then "
            "change from run to run and never hit the cache. Build the data set for evaluation "
            "without augmentation.",
            RuntimeWarning,
            stacklevel=2,
        )
    start = time.perf_counter()
    if extractor is None:
        extractor = InceptionExtractor(inception, device=device)

    # Features of both sets: real ones through the cache.
    real, cache_file = real_features(real_dataset, extractor, num=num_real,
                                     batch_size=batch_size, cache_dir=cache_dir,
                                     data_key=data_key, progress=progress)
    fake = generated_features(generator_fn, extractor, num=num, batch_size=batch_size,
                              progress=progress)

    # The metrics, each with the exact variant recorded.
    result: dict = {}
    variants = {}
    if "fid" in names:
        mu_real, sigma_real = feature_statistics(real)
        mu_fake, sigma_fake = feature_statistics(fake)
        result["fid"] = frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)
        variants["fid"] = ("Frechet distance of Gaussian fits, float64, covariance 1/(N-1), "
                           "tr sqrt via symmetric eigendecompositions")
    if "kid" in names:
        result["kid"], result["kid_std"] = kernel_inception_distance(
            real, fake, num_subsets=kid_subsets, subset_size=kid_subset_size, seed=seed,
            device=device)
        m = min(kid_subset_size, real.shape[0], fake.shape[0])
        variants["kid"] = (f"unbiased MMD^2, k(x,y)=(x.y/d+1)^3, mean of {kid_subsets} "
                           f"subsets of {m}, std ddof 1, seed {seed}")
    if "pr" in names:
        result["precision"], result["recall"] = precision_recall(real, fake, k=pr_k,
                                                                 device=device)
        variants["pr"] = (f"Kynkaanniemi et al. 2019 k-NN manifolds, k={pr_k}, Euclidean "
                          f"distance on {extractor.name} features")

    result.update({
        "num_fake": int(fake.shape[0]),
        "num_real": int(real.shape[0]),
        "extractor": extractor.identity(),
        "variants": variants,
        "real_cache": cache_file,
        "seconds": round(time.perf_counter() - start, 3),
    })
    logger.info("metrics: %s", {k: result[k] for k in result if k in
                                ("fid", "kid", "kid_std", "precision", "recall")})
    return result

