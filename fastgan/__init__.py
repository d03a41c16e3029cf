"""fastgan: GAN training and inference on fused native ops."""

__version__ = "0.1.0"

import torch  # noqa: E402,F401  (torch must be loaded before the extension)

from fastgan._native import native_info  # noqa: E402

__all__ = ["__version__", "native_info"]
