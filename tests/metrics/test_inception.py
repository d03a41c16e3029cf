"""The FID Inception-v3: shapes, parameter layout, FID-specific pools, and both file formats."""

import pytest
import torch
import torch.nn.functional as F

from fastgan.metrics.extractors import (
    INCEPTION_ENV,
    InceptionExtractor,
    is_torchscript_file,
    resolve_inception_path,
)
from fastgan.metrics.inception import InceptionE, InceptionV3, _avg_pool_3x3
from fastgan.metrics.preprocess import Preprocessing, prepare


@pytest.fixture(scope="module")
def net() -> InceptionV3:
    torch.manual_seed(0)
    return InceptionV3().eval()


def test_documented_output_shapes(net):
    x = torch.rand(1, 3, 299, 299) * 255
    with torch.no_grad():
        features = net(x)
        logits = net.logits(features)
    assert features.shape == (1, 2048) and logits.shape == (1, 1008)
    assert torch.isfinite(features).all() and (features >= 0).all()  # pooled ReLU outputs


def test_parameter_layout_is_that_of_the_pytorch_fid_file(net):
    # torchvision's inception_v3 has 27,161,264 parameters; without AuxLogits (3,326,696) and
    # with 1008 instead of 1000 classes (+16,392) that leaves 23,850,960.
    assert sum(p.numel() for p in net.parameters()) == 23_850_960
    state = net.state_dict()
    expected = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_1a_3x3.bn.running_var": (32,),
        "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7c.branch3x3dbl_3b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.bn.bias": (192,),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in state)
    assert net.Conv2d_1a_3x3.bn.eps == 0.001


def test_average_pool_ignores_padding_and_last_block_max_pools():
    ones = torch.ones(1, 2, 5, 5)
    torch.testing.assert_close(_avg_pool_3x3(ones), ones)  # corners: 4 valid pixels, not 4/9

    # The same weights with "avg" and "max" pools differ only in the pool branch.
    torch.manual_seed(1)
    x = torch.rand(1, 8, 6, 6)
    avg_block, max_block = InceptionE(8, pool="avg").eval(), InceptionE(8, pool="max").eval()
    max_block.load_state_dict(avg_block.state_dict())
    with torch.no_grad():
        y_avg, y_max = avg_block(x), max_block(x)
        pooled = max_block.branch_pool(F.max_pool2d(x, 3, stride=1, padding=1))
    assert y_avg.shape == (1, 2048, 6, 6)
    torch.testing.assert_close(y_avg[:, :-192], y_max[:, :-192], rtol=0, atol=0)
    torch.testing.assert_close(y_max[:, -192:], pooled, rtol=0, atol=0)
    assert not torch.allclose(y_avg[:, -192:], y_max[:, -192:])


def _perturbed_state(net: InceptionV3) -> dict:
    """The net's state with every float tensor shifted, so a load that ignored it would show."""
    return {k: (v + 0.01 if v.is_floating_point() else v) for k, v in net.state_dict().items()}


def test_state_dict_file_loads_strictly(net, tmp_path):
    state = _perturbed_state(net)
    path = tmp_path / "pt_inception-test.pth"
    torch.save(state, path)
    assert not is_torchscript_file(path)

    extractor = InceptionExtractor(path)
    assert extractor.format == "state_dict" and extractor.identity()["file"] == path.name
    loaded = extractor.net.state_dict()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key

    # An old file without BN num_batches_tracked entries loads too; missing weights do not.
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    InceptionExtractor(tmp_path / "old.pth")
    torch.save({"fc.weight": state["fc.weight"]}, tmp_path / "partial.pth")
    with pytest.raises(RuntimeError, match="Missing key.*Mixed_7c.branch_pool.conv.weight"):
        InceptionExtractor(tmp_path / "partial.pth")


class _NVlabsConventionStandIn(torch.nn.Module):
    """A tiny network with the call convention of NVlabs' inception-2015-12-05.pt: uint8 or
    float [N, 3, H, W] in [0, 255], its own TF1 resize to 299, (x - 128) / 128, and pool
    features [N, 2048] when return_features is set."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3, 2048)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        n, c, h, w = img.shape
        if c != 3:
            raise RuntimeError("expected 3 channels")
        x = img.to(torch.float32)
        theta = torch.eye(2, 3, device=x.device).unsqueeze(0).repeat(n, 1, 1)
        theta[:, 0, 2] += 1.0 / w - 1.0 / 299
        theta[:, 1, 2] += 1.0 / h - 1.0 / 299
        grid = F.affine_grid(theta, [n, c, 299, 299], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        features = self.proj(((x - 128) / 128).mean(dim=(2, 3)))
        if return_features:
            return features
        return torch.softmax(features[:, :1008], dim=1)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_file_loads_and_is_called_with_its_convention(tmp_path):
    torch.manual_seed(2)
    module = _NVlabsConventionStandIn().eval()
    path = tmp_path / "inception-test.pt"
    torch.jit.script(module).save(str(path))
    assert is_torchscript_file(path)

    extractor = InceptionExtractor(path)
    assert extractor.format == "torchscript"
    images = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    features = extractor(images)

    # Expected: the stand-in on our prepared 299 x 299 RGB input, where its resize is the
    # identity up to float32 grid rounding (well below one grey level).
    with torch.no_grad():
        x = prepare(images, Preprocessing())
        expected = module.proj(((x - 128) / 128).mean(dim=(2, 3)))
    assert features.shape == (3, 2048) and features.dtype == torch.float32
    torch.testing.assert_close(features, expected, rtol=1e-4, atol=1e-4)


def test_missing_weights_file_error(tmp_path, monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        InceptionExtractor()
    message = str(info.value)
    for needle in ("no Inception weights file given", "inception-2015-12-05.pt",
                   "pt_inception-2015-12-05-6726825d.pth", "--inception PATH", INCEPTION_ENV,
                   "downloads nothing"):
        assert needle in message, needle

    missing = tmp_path / "nowhere.pt"
    with pytest.raises(FileNotFoundError, match=f"'{missing}' from the inception argument"):
        InceptionExtractor(missing)
    monkeypatch.setenv(INCEPTION_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match=rf"from \${INCEPTION_ENV} does not exist"):
        resolve_inception_path(None)

    # The variable is used when no path is given.
    present = tmp_path / "present.pth"
    present.write_bytes(b"x")
    monkeypatch.setenv(INCEPTION_ENV, str(present))
    assert resolve_inception_path(None) == present
