"""fastgan.metrics: FID, KID and precision/recall on features of a fixed extractor.

    from fastgan.metrics import evaluate
    result = evaluate(generator_fn, dataset, metrics="fid,kid,pr", num=50000,
                      inception="inception-2015-12-05.pt", device="cuda", cache_dir="cache")

The building blocks work on any [N, D] features: `frechet_distance` (with
`feature_statistics`), `kernel_inception_distance`, `precision_recall`. docs/metrics.md says
exactly which variant of each metric this is.
"""

from fastgan.metrics.evaluate import METRICS, evaluate, parse_metrics
from fastgan.metrics.extractors import (
    INCEPTION_ENV,
    ClassifierExtractor,
    FeatureExtractor,
    InceptionExtractor,
    resolve_inception_path,
)
from fastgan.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_features,
)
from fastgan.metrics.inception import InceptionV3
from fastgan.metrics.kid import kernel_inception_distance
from fastgan.metrics.precision_recall import precision_recall
from fastgan.metrics.preprocess import Preprocessing, prepare, quantize_uint8

__all__ = [
    "INCEPTION_ENV",
    "METRICS",
    "ClassifierExtractor",
    "FeatureExtractor",
    "InceptionExtractor",
    "InceptionV3",
    "Preprocessing",
    "evaluate",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_features",
    "kernel_inception_distance",
    "parse_metrics",
    "precision_recall",
    "prepare",
    "quantize_uint8",
    "resolve_inception_path",
]
