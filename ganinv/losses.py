"""Reconstruction losses and image-quality metrics.

Perceptual distance (Zhang et al., CVPR 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric", eq. 1): d(x, y) = sum_l mean_hw || w_l * (f_l(x) - f_l(y)) ||^2
over unit-normalised VGG features f_l.  The paper-standard ``lpips`` VGG metric needs
torchvision's ImageNet VGG16 trunk, which is downloaded on first use; when that file is
not in the torch hub cache we use the shift-tolerant LPIPS of Ghildyal & Liu (ECCV 2022),
whose complete weights ship in ``stlpips-pytorch``.  Every metric dict carries the name
of the perceptual metric that produced it, so numbers are never compared across metrics
by accident.

All images are NCHW float tensors in [-1, 1].
"""
from __future__ import annotations

import contextlib
import io
import os
import threading

import torch
import torch.nn.functional as F

_LOCK = threading.Lock()
_PERCEPTUAL: dict[tuple[str, str], "PerceptualMetric"] = {}
VGG16_FILE = "vgg16-397923af.pth"               # torchvision's ImageNet VGG16 weights


class PerceptualMetric(torch.nn.Module):
    """d(x, y) -> [N]; ``name`` says which metric it is ("lpips-vgg" or "stlpips-vgg")."""

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
    return os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", VGG16_FILE))


PERCEPTUAL_KINDS = ("auto", "lpips", "stlpips", "stlpips-alex")


def _build_perceptual(kind: str) -> PerceptualMetric:
    """"lpips": LPIPS-VGG (needs the ImageNet trunk); "stlpips": shift-tolerant LPIPS-VGG;
    "stlpips-alex": its AlexNet variant, ~4x cheaper on CPU, for fast loops."""
    quiet = contextlib.redirect_stdout(io.StringIO())
    if kind == "auto":
        kind = "lpips" if lpips_trunk_cached() else "stlpips"
    if kind == "lpips":
        import lpips
        with quiet:
            return PerceptualMetric(lpips.LPIPS(net="vgg", verbose=False), "lpips-vgg")
    if kind in ("stlpips", "stlpips-alex"):
        from stlpips_pytorch import stlpips
        net_name = "alex" if kind == "stlpips-alex" else "vgg"
        with quiet:
            net = stlpips.LPIPS(net=net_name, variant="shift_tolerant", verbose=False)
        return PerceptualMetric(net, f"stlpips-{net_name}")
    raise ValueError(f"unknown perceptual metric {kind!r}: use one of {PERCEPTUAL_KINDS}")


def perceptual_metric(device: str | torch.device = "cpu", kind: str = "auto") -> PerceptualMetric:
    """Shared, cached perceptual metric on ``device`` (thread-safe)."""
    key = (kind, str(device))
    with _LOCK:
        if key not in _PERCEPTUAL:
            _PERCEPTUAL[key] = _build_perceptual(kind).to(device)
        return _PERCEPTUAL[key]


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error in [-1, 1] units, [N]."""
    return (x - y).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB with images mapped to [0, 1], [N]."""
    err = ((x - y) / 2).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / err)


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
    """PSNR, SSIM and perceptual distance between each pair; one dict per image."""
    perceptual = perceptual or perceptual_metric(x.device)
    p, s, d = psnr(x, y), ssim(x, y), perceptual(x, y)
    return [{"psnr": float(p[i]), "ssim": float(s[i]), "perceptual": float(d[i]),
             "perceptual_metric": perceptual.name} for i in range(x.shape[0])]
