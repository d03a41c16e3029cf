"""fastgan: GAN training and inference on fused native ops."""

__version__ = "0.1.0"

import importlib  # noqa: E402

import torch  # noqa: E402,F401  (torch must be loaded before the extension)

from fastgan._native import native_info  # noqa: E402

__all__ = ["__version__", "native_info"]

# Subpackages load on first use (`import fastgan; fastgan.ops.adain(...)`), so that importing
# fastgan stays light.
_SUBPACKAGES = ("cli", "data", "metrics", "models", "nn", "ops", "testing", "training")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"fastgan.{name}")
    raise AttributeError(f"module 'fastgan' has no attribute {name!r}")
