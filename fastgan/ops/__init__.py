"""fastgan's ops: fused native kernels with plain-PyTorch references (fastgan.ops.reference).

`with fastgan.ops.use("reference"): ...` runs every op through its reference instead.
"""

from fastgan.ops import reference
from fastgan.ops._backend import current, use
from fastgan.ops.bias_act import bias_act
from fastgan.ops.filtered_lrelu import filtered_lrelu

__all__ = ["bias_act", "current", "filtered_lrelu", "reference", "use"]
