"""`evaluate` end to end with a tiny extractor: values, recorded variants, the real-set cache."""

import json

import pytest
import torch
import torch.nn.functional as F

from fastgan.metrics.evaluate import evaluate, parse_metrics
from fastgan.metrics.extractors import FeatureExtractor
from fastgan.metrics.frechet import frechet_distance_features
from fastgan.metrics.kid import kernel_inception_distance
from fastgan.metrics.precision_recall import precision_recall
from fastgan.metrics.preprocess import Preprocessing


class TinyExtractor(FeatureExtractor):
    """4 x 4 average-pooled RGB at 8 x 8 input: 48 features. Counts the images it sees."""

    name = "tiny"
    feature_dim = 48

    def __init__(self, resize: str = "tf1-bilinear") -> None:
        super().__init__(preprocessing=Preprocessing(size=8, resize=resize), device="cpu")
        self.seen = 0

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += x.shape[0]
        return F.avg_pool2d(x / 255.0, 2).flatten(1)

    def identity(self) -> dict:
        return {"name": self.name, "preprocessing": self.preprocessing.describe()}


class ImageList(torch.utils.data.Dataset):
    """Items (image [1, 16, 16] in [-1, 1], label), like fastgan's ImageDataset."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], 0


def _images(n: int, seed: int, brightness: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 1, 16, 16, generator=g) * 1.6 - 0.8 + brightness
    return base.clamp(-1, 1)


def _generator(images: torch.Tensor):
    """generator_fn handing out the given images in order."""
    state = {"next": 0}

    def generate(n: int) -> torch.Tensor:
        out = images[state["next"]:state["next"] + n]
        state["next"] += n
        return out

    return generate


def test_values_match_the_metric_functions_on_extracted_features():
    real, fake = _images(120, 0), _images(100, 1, brightness=0.3)
    extractor = TinyExtractor()
    result = evaluate(_generator(fake), ImageList(real), num=100, extractor=extractor,
                      batch_size=32, kid_subsets=10, kid_subset_size=50, progress=False)

    real_f, fake_f = extractor(real), extractor(fake)
    assert result["fid"] == pytest.approx(frechet_distance_features(real_f, fake_f), rel=1e-12)
    kid = kernel_inception_distance(real_f, fake_f, num_subsets=10, subset_size=50)
    assert (result["kid"], result["kid_std"]) == pytest.approx(kid, rel=1e-12)
    assert (result["precision"], result["recall"]) == precision_recall(real_f, fake_f)
    assert result["num_fake"] == 100 and result["num_real"] == 120
    assert result["extractor"]["preprocessing"]["resize"] == "tf1-bilinear"
    assert set(result["variants"]) == {"fid", "kid", "pr"}
    assert "10 subsets of 50" in result["variants"]["kid"]
    assert result["fid"] > 0.0 and result["kid"] > 0.0
    json.dumps(result)  # JSON-ready


def test_same_images_give_zero_fid_and_full_precision_recall():
    real = _images(64, 2)
    result = evaluate(_generator(real), ImageList(real), metrics="fid,pr", num=64,
                      extractor=TinyExtractor(), batch_size=16, progress=False)
    assert result["fid"] == pytest.approx(0.0, abs=1e-9)
    assert (result["precision"], result["recall"]) == (1.0, 1.0)
    assert "kid" not in result


def test_real_features_are_cached_by_data_extractor_and_preprocessing(tmp_path):
    real, fake = _images(80, 3), _images(40, 4)
    kwargs = dict(metrics=("fid",), num=40, batch_size=20, cache_dir=tmp_path, progress=False)

    first = TinyExtractor()
    a = evaluate(_generator(fake), ImageList(real), extractor=first, **kwargs)
    assert first.seen == 80 + 40 and a["real_cache"] is not None
    assert len(list(tmp_path.glob("*.safetensors"))) == 1

    # Same data and extractor: real features come from the cache, the value is identical.
    second = TinyExtractor()
    b = evaluate(_generator(fake), ImageList(real), extractor=second, **kwargs)
    assert second.seen == 40 and b["fid"] == a["fid"] and b["real_cache"] == a["real_cache"]

    # Another resize filter, other real images, or fewer of them: new entries.
    other = TinyExtractor(resize="torch-bilinear")
    evaluate(_generator(fake), ImageList(real), extractor=other, **kwargs)
    assert other.seen == 120
    changed = real.clone()
    changed[5, 0, 3, 3] = -changed[5, 0, 3, 3]
    evaluate(_generator(fake), ImageList(changed), extractor=TinyExtractor(), **kwargs)
    evaluate(_generator(fake), ImageList(real), extractor=TinyExtractor(), num_real=60, **kwargs)
    assert len(list(tmp_path.glob("*.safetensors"))) == 4
    sidecar = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert {"data", "extractor", "format"} <= set(sidecar["key"])


def test_bad_arguments():
    real = ImageList(_images(10, 5))
    with pytest.raises(ValueError, match="metrics must be a non-empty subset"):
        parse_metrics("fid,is")
    with pytest.raises(ValueError, match=r"num_real must be an int in \[2, 10\], got 11"):
        evaluate(_generator(real.images), real, num=4, num_real=11, extractor=TinyExtractor(),
                 progress=False)
    with pytest.raises(ValueError, match=r"generator_fn\(4\) must return a tensor \[4, C, H, W\]"):
        evaluate(lambda n: torch.zeros(n, 16, 16), real, num=4, extractor=TinyExtractor(),
                 progress=False)


def test_default_extractor_needs_the_inception_file(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTGAN_INCEPTION", raising=False)
    real = ImageList(_images(10, 6))
    with pytest.raises(FileNotFoundError, match="no Inception weights file given"):
        evaluate(_generator(real.images), real, num=4, progress=False)


def test_classifier_extractor_quantizes_then_uses_the_classifier_input_step():
    from fastgan.metrics import classifier
    from fastgan.metrics.extractors import ClassifierExtractor

    torch.manual_seed(7)
    net = classifier.FashionClassifier().eval()
    extractor = ClassifierExtractor(net=net)
    images = torch.rand(6, 3, 32, 32) * 2 - 1
    features = extractor(images)

    quantized = torch.floor((images + 1) * 127.5 + 0.5).clamp(0, 255) / 127.5 - 1
    with torch.no_grad():
        expected = net.features(classifier.prepare(quantized))
    assert features.shape == (6, 128)
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-6)

    real, fake = _images(40, 8), _images(30, 9, brightness=0.4)
    result = evaluate(_generator(fake), ImageList(real), metrics="fid", num=30,
                      extractor=extractor, batch_size=16, progress=False)
    assert result["fid"] > 0.0 and result["extractor"]["name"] == "fashion-mnist-classifier"


def test_random_augmentation_of_the_real_set_warns():
    class Flipping:
        def is_random(self) -> bool:
            return True

    real = ImageList(_images(10, 10))
    real.transform = Flipping()
    with pytest.warns(RuntimeWarning, match="real_dataset has a random transform"):
        evaluate(_generator(real.images), real, metrics="fid", num=4, extractor=TinyExtractor(),
                 progress=False)
