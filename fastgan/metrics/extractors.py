"""Feature extractors: images in, one feature vector per image out.

Every extractor applies the fixed `Preprocessing` (uint8 quantization, gray to RGB, resize) and
says who it is (`identity()`) so that results and cached real-set statistics record exactly
which network, weights file and preprocessing produced them.

`InceptionExtractor` reads one of two local files, never downloading anything:

- `inception-2015-12-05.pt`: NVlabs' TorchScript translation of the TF FID graph, used by the
  StyleGAN2-ADA / StyleGAN3 metrics. Call convention: `net(img, return_features=True)` with
  img float or uint8 [N, 3, H, W] in [0, 255]; it resizes to 299 x 299 itself with TF1
  bilinear (grid_sample with a shifted affine grid), normalizes (x - 128) / 128 and returns the
  pool3 features [N, 2048] float32 (without return_features: softmax probabilities [N, 1008]).
  We hand it images already resized to 299, where its own resize is the identity.
- `pt_inception-2015-12-05-6726825d.pth`: pytorch-fid's state dict, loaded into our
  `InceptionV3` with `torch.load(weights_only=True)` and `strict=True`.
"""

import hashlib
import logging
import os
import warnings
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path

import torch

from fastgan.metrics.inception import FEATURE_DIM, InceptionV3
from fastgan.metrics.preprocess import Preprocessing, prepare, quantize_uint8

logger = logging.getLogger(__name__)

INCEPTION_ENV = "FASTGAN_INCEPTION"
INCEPTION_FILES = (
    "inception-2015-12-05.pt (TorchScript, NVlabs stylegan2-ada-pytorch / stylegan3 metrics)",
    "pt_inception-2015-12-05-6726825d.pth (state dict, pytorch-fid release 'fid_weights')",
)


class FeatureExtractor(ABC):
    """Base of all extractors: preprocess a batch, run the network, return features.

    Subclasses set `name` and `feature_dim`, implement `_features` on prepared input and
    `identity`; `preprocessing` is a frozen `Preprocessing` applied by `_prepare`, or None for
    an extractor that overrides `_prepare` with its own fixed steps.
    """

    name: str = ""
    feature_dim: int = 0

    def __init__(self, *, preprocessing: Preprocessing | None, device: str | torch.device
                 ) -> None:
        if preprocessing is not None and not isinstance(preprocessing, Preprocessing):
            raise TypeError(f"preprocessing must be a Preprocessing, got {type(preprocessing)}")
        self.preprocessing = preprocessing
        self.device = torch.device(device)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        """images on self.device -> network input (default: `prepare` with preprocessing)."""
        return prepare(images, self.preprocessing)

    @abstractmethod
    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """x: the output of `_prepare` ([N, 3, S, S] float32 in [0, 255] by default).
        Returns [N, D]."""

    @abstractmethod
    def identity(self) -> dict:
        """JSON-ready description: name, weights and their hash, preprocessing."""

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: [N, C, H, W] uint8 or float in [-1, 1], C in {1, 3}.

        Returns [N, feature_dim] float32 features on the CPU.
        """
        features = self._features(self._prepare(images.to(self.device)))
        expected = (images.shape[0], self.feature_dim)
        if tuple(features.shape) != expected:
            raise RuntimeError(f"{self.name} returned features of shape {tuple(features.shape)}, "
                               f"expected {expected}")
        return features.to(device="cpu", dtype=torch.float32)


def resolve_inception_path(path: str | os.PathLike | None = None) -> Path:
    """The Inception weights file: `path` if given, else $FASTGAN_INCEPTION.

    Raises FileNotFoundError naming the files that work and how to supply one.
    """
    source = "the inception argument"
    if path is None or str(path) == "":
        path = os.environ.get(INCEPTION_ENV) or None
        source = f"${INCEPTION_ENV}"
    if path is not None and Path(path).expanduser().is_file():
        return Path(path).expanduser()

    # Say what is missing, which files work and where to put one; nothing is downloaded.
    if path is None:
        problem = f"no Inception weights file given (neither --inception PATH nor ${INCEPTION_ENV})"
    else:
        problem = f"Inception weights file {str(path)!r} from {source} does not exist"
    files = "\n  - ".join(INCEPTION_FILES)
    raise FileNotFoundError(
        f"{problem}. FID, KID and precision/recall need one of these files:\n  - {files}\n"
        f"Download one yourself (fastgan downloads nothing), then pass --inception PATH "
        f"(or inception=PATH in Python), or set {INCEPTION_ENV}=PATH."
    )


def is_torchscript_file(path: str | os.PathLike) -> bool:
    """True for a TorchScript archive (a zip with code/ and constants.pkl), False otherwise."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_inception_state_dict(path: str | os.PathLike) -> InceptionV3:
    """Our InceptionV3 with a pytorch-fid style state dict loaded strictly (weights_only)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{os.fspath(path)!r} must hold a state dict, got {type(state).__name__}")
    net = InceptionV3()
    net.load_state_dict(state, strict=True)
    return net.eval()


class InceptionExtractor(FeatureExtractor):
    """FID Inception-v3 pool3 features [N, 2048] from a local TorchScript or state-dict file.

    Args:
        path: weights file; None reads $FASTGAN_INCEPTION. Missing: FileNotFoundError.
        device: where the network runs.
        preprocessing: defaults to 299 x 299, TF1 bilinear (the TF FID / StyleGAN protocol).
    """

    name = "inception-v3-fid"
    feature_dim = FEATURE_DIM

    def __init__(self, path: str | os.PathLike | None = None, *, device: str | torch.device = "cpu",
                 preprocessing: Preprocessing | None = None) -> None:
        super().__init__(preprocessing=preprocessing or Preprocessing(), device=device)
        if self.preprocessing.size != 299:
            raise ValueError(f"preprocessing.size must be 299 for Inception-v3, "
                             f"got {self.preprocessing.size}")
        self.path = resolve_inception_path(path)
        self.sha256 = file_sha256(self.path)

        # TorchScript runs as compiled; a state dict goes into our own module.
        if is_torchscript_file(self.path):
            self.format = "torchscript"
            with warnings.catch_warnings():
                # The published file is TorchScript; torch's deprecation notice is no news here.
                warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated",
                                        FutureWarning)
                self.net = torch.jit.load(str(self.path), map_location="cpu").eval()
        else:
            self.format = "state_dict"
            self.net = load_inception_state_dict(self.path)
        self.net = self.net.to(self.device)
        logger.info("Inception weights: %s (%s, sha256 %s)", self.path, self.format,
                    self.sha256[:12])

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.format == "torchscript":
            return self.net(x, return_features=True).reshape(x.shape[0], -1)
        return self.net(x)

    def identity(self) -> dict:
        return {
            "name": self.name,
            "format": self.format,
            "file": self.path.name,
            "sha256": self.sha256,
            "preprocessing": self.preprocessing.describe(),
        }


class ClassifierExtractor(FeatureExtractor):
    """The Fashion-MNIST classifier's penultimate features [N, 128]; its weights ship with
    fastgan, so this works without any download.

    Preprocessing: uint8 quantization (as for Inception), back to [-1, 1] by x / 127.5 - 1,
    then the classifier's own input step: RGB to gray by ITU-R 601 luma, bilinear resize with
    antialiasing to 28 x 28 when the size differs.

    Args:
        path: classifier weights; None: the file shipped in fastgan/metrics/weights.
        device: where the network runs.
        net: an already built classifier (tests); overrides path.
    """

    name = "fashion-mnist-classifier"

    def __init__(self, path: str | os.PathLike | None = None, *,
                 device: str | torch.device = "cpu", net: torch.nn.Module | None = None) -> None:
        from fastgan.metrics import classifier

        super().__init__(preprocessing=None, device=device)
        self._classifier = classifier
        self.feature_dim = classifier.FEATURES
        if net is None:
            self.path = Path(path) if path is not None else classifier.WEIGHTS
            self.net = classifier.load_classifier(self.path, device=self.device)
            self.sha256 = file_sha256(self.path)
        else:
            self.path, self.sha256 = None, None
            self.net = net.to(self.device).eval()

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        x = quantize_uint8(images).to(torch.float32) / 127.5 - 1.0
        return self._classifier.prepare(x)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)

    def identity(self) -> dict:
        return {
            "name": self.name,
            "file": self.path.name if self.path is not None else None,
            "sha256": self.sha256,
            "preprocessing": {
                "quantize": "uint8-round-half-up",
                "to_gray": "ITU-R 601 luma of RGB",
                "resize": "bilinear, antialias, to 28 x 28 when the size differs",
            },
        }
