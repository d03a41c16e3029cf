"""Train fastgan's Fashion-MNIST classifier (fastgan/metrics/classifier.py) reproducibly.

    .venv/bin/python scripts/train_classifier.py [--epochs 6] [--seed 0] [--data-root DIR]

Writes fastgan/metrics/weights/fashion_mnist_classifier.safetensors and a .json sidecar
(test accuracy, seed, epochs, sha256). Deterministic on the CPU for a given seed and torch
version. Light augmentation (random 2-pixel shifts, horizontal flips) keeps it from
overfitting, so its features stay meaningful for generated images.
"""

import argparse
import hashlib
import json
import time

import numpy as np
import torch
from safetensors.torch import save_file
from torch.nn import functional as F

from fastgan.data.fashion_mnist import load_arrays
from fastgan.metrics.classifier import WEIGHTS, FashionClassifier


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, 28, 28] -> float32 [N, 1, 28, 28] in [-1, 1]."""
    return torch.from_numpy(images).float().div(127.5).sub(1).unsqueeze(1)


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (zero = black padding) and horizontal flips."""
    n = len(x)
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dy, dx = torch.randint(0, 5, (2,), generator=g).tolist()  # one shift per batch: fast
    x = padded[:, :, dy : dy + 28, dx : dx + 28]
    flip = torch.rand(n, generator=g) < 0.5
    return torch.where(flip.view(n, 1, 1, 1), x.flip(-1), x)


@torch.no_grad()
def accuracy(net, x, y) -> float:
    net.eval()
    correct = sum((net(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum().item()
                  for i in range(0, len(x), 1000))
    net.train()
    return correct / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", default=str(WEIGHTS))
    args = parser.parse_args()

    # Data and a seeded, deterministic setup.
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    train_images, train_labels = load_arrays("train", args.data_root)
    test_images, test_labels = load_arrays("test", args.data_root)
    x, y = to_tensor(train_images), torch.from_numpy(train_labels)
    x_test, y_test = to_tensor(test_images), torch.from_numpy(test_labels)

    # Adam with a one-cycle learning rate over all steps.
    net = FashionClassifier()
    steps_per_epoch = len(x) // args.batch_size
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3,
                                                total_steps=args.epochs * steps_per_epoch)
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(steps_per_epoch):
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            loss = F.cross_entropy(net(augment(x[idx], g)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(net, x_test, y_test)
        print(f"epoch {epoch + 1}/{args.epochs}  loss {loss.item():.4f}  test accuracy {acc:.4f}"
              f"  ({time.time() - t0:.0f} s)", flush=True)

    # Weights + sidecar.
    net.eval()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, args.out)
    digest = hashlib.sha256(open(args.out, "rb").read()).hexdigest()
    info = {"test_accuracy": acc, "train_accuracy": accuracy(net, x, y), "seed": args.seed,
            "epochs": args.epochs, "batch_size": args.batch_size, "torch": torch.__version__,
            "sha256": digest, "script": "scripts/train_classifier.py"}
    with open(str(args.out).rsplit(".", 1)[0] + ".json", "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
