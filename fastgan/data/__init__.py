"""fastgan.data: datasets and loaders for every model, with Fashion-MNIST built in.

    ds = build_dataset("fashion-mnist", resolution=32, channels=1)
    x, label = ds[0]                      # float32 [1, 32, 32] in [-1, 1], int64 scalar
    loader = build_loader(ds, batch_size=64, seed=0, start=step * 64)
    x, labels = next(iter(loader))        # [64, 1, 32, 32], [64]
    a, b = build_unpaired("fashion-mnist:sneaker,ankle-boot", resolution=32, channels=1)
"""

from fastgan.data.build import build_dataset, build_unpaired, split_spec
from fastgan.data.dataset import ImageDataset
from fastgan.data.fashion_mnist import FASHION_MNIST_CLASSES
from fastgan.data.idx import read_idx, write_idx
from fastgan.data.sampling import DomainBalancedSampler, InfiniteSampler, build_loader
from fastgan.data.transforms import TransformConfig, default_transform

__all__ = [
    "FASHION_MNIST_CLASSES",
    "DomainBalancedSampler",
    "ImageDataset",
    "InfiniteSampler",
    "TransformConfig",
    "build_dataset",
    "build_loader",
    "build_unpaired",
    "default_transform",
    "read_idx",
    "split_spec",
    "write_idx",
]
