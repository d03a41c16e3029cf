"""Inception-v3 as FID defines it: the TF graph `inception-2015-12-05`, in PyTorch.

`InceptionV3` has the parameter names of torchvision's `Inception3(num_classes=1008,
aux_logits=False)`, so the state dict that pytorch-fid publishes
(`pt_inception-2015-12-05-6726825d.pth`) loads into it with `strict=True`. It also has the
behaviour in which that TF graph differs from torchvision's network:

- the average-pool branches of the Mixed_5*, Mixed_6b-e and Mixed_7b blocks leave the zero
  padding out of the average (`count_include_pad=False`);
- the pool branch of the last block, Mixed_7c, takes a 3x3 max pool instead of an average;
- batch norm uses eps = 1e-3;
- input is float RGB in [0, 255], normalized inside as (x - 128) / 128, like NVlabs'
  TorchScript translation of the same graph.

The 2048-d FID features are the global average pool of Mixed_7c ("pool3"); `logits` maps them
to the graph's 1008 classes.
"""

import torch
import torch.nn.functional as F
from torch import nn

FEATURE_DIM = 2048
NUM_CLASSES = 1008


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU. [N, I, H, W] -> [N, O, H', W']."""

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size, stride=1,
                 padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average over valid pixels only, as TF's SAME-padded average pool."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """Mixed_5b/c/d: [N, I, 35, 35] -> [N, 224 + pool_features, 35, 35]."""

    def __init__(self, in_channels: int, *, pool_features: int) -> None:
        super().__init__()
        self.pool_features = pool_features
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def extra_repr(self) -> str:
        return f"pool_features={self.pool_features}, avg pool excludes padding"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([a, b, c, d], dim=1)


class InceptionB(nn.Module):
    """Mixed_6a, a grid reduction: [N, I, 35, 35] -> [N, 480 + I, 17, 17]."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], dim=1)


class InceptionC(nn.Module):
    """Mixed_6b/c/d/e, factorized 7x7: [N, 768, 17, 17] -> [N, 768, 17, 17]."""

    def __init__(self, in_channels: int, *, channels_7x7: int) -> None:
        super().__init__()
        c7 = self.channels_7x7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def extra_repr(self) -> str:
        return f"channels_7x7={self.channels_7x7}, avg pool excludes padding"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        c = self.branch7x7dbl_3(self.branch7x7dbl_2(c))
        c = self.branch7x7dbl_5(self.branch7x7dbl_4(c))
        d = self.branch_pool(_avg_pool_3x3(x))
        return torch.cat([a, b, c, d], dim=1)


class InceptionD(nn.Module):
    """Mixed_7a, a grid reduction: [N, 768, 17, 17] -> [N, 1280, 8, 8]."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(b))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], dim=1)


class InceptionE(nn.Module):
    """Mixed_7b/c, expanded filter bank: [N, I, 8, 8] -> [N, 2048, 8, 8].

    pool: "avg" (Mixed_7b) or "max" (Mixed_7c, where the FID graph has a max pool).
    """

    def __init__(self, in_channels: int, *, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def extra_repr(self) -> str:
        detail = "3x3 max" if self.pool == "max" else "3x3 avg excluding padding"
        return f"pool={self.pool} ({detail})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], dim=1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], dim=1)
        if self.pool == "max":
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        else:
            pooled = _avg_pool_3x3(x)
        d = self.branch_pool(pooled)
        return torch.cat([a, b, c, d], dim=1)


class InceptionV3(nn.Module):
    """The FID Inception-v3: images [N, 3, H, W] in [0, 255] -> pool3 features [N, 2048].

    H and W are 299 for FID (the extractor resizes); any size >= 75 runs. Built with random
    weights; load real ones with `load_state_dict(torch.load(path, weights_only=True))`.
    """

    def __init__(self) -> None:
        super().__init__()
        # Stem: [N, 3, 299, 299] -> [N, 192, 35, 35].
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)

        # Inception blocks: 35x35 -> 17x17 -> 8x8.
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")

        # Classifier over the pooled features (only for `logits`; FID uses the features).
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [N, 3, H, W] float in [0, 255]. Returns pool3 features [N, 2048] float."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must be [N, 3, H, W], got shape {tuple(x.shape)}")
        x = (x - 128.0) / 128.0

        # Stem, with two 3x3 stride-2 max pools.
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)

        # Mixed blocks, then the global average pool: [N, 2048, 8, 8] -> [N, 2048].
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                      self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return x.mean(dim=(2, 3))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """features: [N, 2048] from `forward`. Returns class logits [N, 1008]."""
        return self.fc(features)
