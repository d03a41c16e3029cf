"""fastgan's ops: fused native kernels with plain-PyTorch references (fastgan.ops.reference).

`with fastgan.ops.use("reference"): ...` runs every op through its reference instead.
"""

from fastgan.ops import reference
from fastgan.ops._backend import current, use
from fastgan.ops.adain import adain
from fastgan.ops.bias_act import bias_act
from fastgan.ops.conv2d_resample import conv2d_resample
from fastgan.ops.filtered_lrelu import filtered_lrelu
from fastgan.ops.modulated_conv2d import modulated_conv2d
from fastgan.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "adain",
    "bias_act",
    "conv2d_resample",
    "current",
    "downsample2d",
    "filter2d",
    "filtered_lrelu",
    "modulated_conv2d",
    "reference",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
    "use",
]
