"""A small Fashion-MNIST classifier, the feature extractor of fastgan's quality numbers.

Its weights (fastgan/metrics/weights/fashion_mnist_classifier.safetensors, ~0.4 MB, with a
JSON sidecar giving its test accuracy and how it was trained) come from
scripts/train_classifier.py with a fixed seed. From it:
- `features` [N, 128]: the penultimate activations, for a Fréchet distance between generated
  and real images (fastgan.metrics.frechet);
- `predict` [N]: the class, for the share of a conditional model's samples classified as the
  class they were asked for.
"""

import json
import logging
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

logger = logging.getLogger(__name__)

WEIGHTS = Path(__file__).parent / "weights" / "fashion_mnist_classifier.safetensors"
INPUT_SIZE = 28
FEATURES = 128


class FashionClassifier(nn.Module):
    """Images [N, 1, 28, 28] in [-1, 1] -> logits [N, 10]; `features` gives [N, 128].

    Three 3x3 conv stages (32, 64, 128 channels) with batch norm, ReLU and 2x2 max pooling
    (28 -> 14 -> 7 -> 3), a 128-unit linear layer with ReLU (the features), dropout, and a
    linear layer to the classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        layers = []
        for ci, co in ((1, 32), (32, 64), (64, 128)):
            layers += [nn.Conv2d(ci, co, 3, padding=1, bias=False), nn.BatchNorm2d(co),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(128 * 3 * 3, FEATURES)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 1, 28, 28] in [-1, 1] -> features [N, 128] (after ReLU)."""
        return F.relu(self.fc(self.conv(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))


def prepare(x: torch.Tensor) -> torch.Tensor:
    """Any images [N, C, H, W] in [-1, 1] -> the classifier's input [N, 1, 28, 28].

    RGB(A) becomes gray (ITU-R 601 luma of the RGB channels, alpha dropped); other sizes are
    resized with bilinear antialiasing.
    """
    if x.dim() != 4 or x.shape[1] not in (1, 3, 4):
        raise ValueError(f"x must be [N, C, H, W] with C in 1, 3, 4, got {tuple(x.shape)}")
    x = x.float()
    if x.shape[1] > 1:
        luma = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        x = (x[:, :3] * luma).sum(dim=1, keepdim=True)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True,
                          align_corners=False)
    return x


def load_classifier(path: str | Path = WEIGHTS, *, device: str | torch.device = "cpu"
                    ) -> FashionClassifier:
    """The trained classifier in eval mode on `device`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"classifier weights: expected {path}; make them with scripts/train_classifier.py"
        )
    net = FashionClassifier()
    net.load_state_dict(load_file(str(path)))
    return net.to(device).eval().requires_grad_(False)


def classifier_info(path: str | Path = WEIGHTS) -> dict:
    """The JSON sidecar of the weights (test accuracy, seed, epochs, sha256)."""
    return json.loads(Path(path).with_suffix(".json").read_text())


@torch.no_grad()
def classify(net: FashionClassifier, x: torch.Tensor, *, batch_size: int = 500
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """(features [N, 128] float64, predicted class [N] int64) of images x [N, C, H, W]."""
    device = next(net.parameters()).device
    feats, preds = [], []
    for start in range(0, len(x), batch_size):
        xb = prepare(x[start : start + batch_size].to(device))
        f = net.features(xb)
        feats.append(f.double().cpu())
        preds.append(net.head(f).argmax(dim=1).cpu())
    if not feats:
        return torch.zeros(0, FEATURES, dtype=torch.float64), torch.zeros(0, dtype=torch.long)
    return torch.cat(feats), torch.cat(preds)
