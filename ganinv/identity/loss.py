"""The differentiable identity loss 1 - cos(R(x), R(y)) (pSp / e4e identity loss; R = ArcFace or SFace) on
images aligned to a known template: one fixed similarity transform takes them to the 112x112 layout.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..faces.align import CELEBA_DCGAN, AlignSpec, apply_transform, get_align_spec, quad_from_points, quad_transform
from .metrics import similarity_lstsq
from .onnx_runtime import ARCFACE_5, ARCFACE_DIM, SFACE_SIZE, _LOCK, _NETS, _arcface_net, _sface_net, arcface_available


def template_points(spec: AlignSpec) -> np.ndarray:
    """Where the ArcFace mean-face 5 points land in images aligned with ``spec``, [5, 2]."""
    eyes, mouth = ARCFACE_5[:2], ARCFACE_5[3:].mean(0)
    quad = quad_from_points(eyes[0], eyes[1], mouth, spec)
    return apply_transform(quad_transform(quad, spec.size), ARCFACE_5)


@dataclass(frozen=True)
class _IdentityNet:
    """How ``IdentityLoss`` runs one recognition network on its 112x112 crops (RGB 0..255)."""

    load: Callable[[], nn.Module]  # the process-wide CPU instance
    dim: int                       # embedding size
    scale: float                   # network input = crop * scale + shift
    shift: float


_IDENTITY_NETS = {
    "arcface": _IdentityNet(_arcface_net, ARCFACE_DIM, 1 / 127.5, -1.0),    # (x - 127.5) / 127.5
    "sface": _IdentityNet(_sface_net, 128, 1.0, 0.0),                          # 0..255 as OpenCV feeds it
}


IDENTITY_NETWORKS = ("auto", *_IDENTITY_NETS)


def resolve_identity_network(network: str = "auto") -> str:
    """The network ``"auto"`` stands for: ArcFace when its weights are installed, else SFace."""
    if network not in IDENTITY_NETWORKS:
        raise ValueError(f"unknown identity network {network!r}: use one of {IDENTITY_NETWORKS}")
    if network == "auto":
        return "arcface" if arcface_available() else "sface"
    return network


def shared_identity_net(network: str, device: torch.device | str = "cpu") -> nn.Module:
    """The process-wide frozen ``network`` ("arcface" / "sface") on ``device``: built once on the CPU,
    copied once to any other device.  Shared by every ``IdentityLoss`` and metric: treat it as read-only."""
    cpu = _IDENTITY_NETS[network].load()
    device = torch.device(device)
    if device.type == "cpu":
        return cpu
    with _LOCK:
        key = f"{network}@{device}"
        if key not in _NETS:
            _NETS[key] = copy.deepcopy(cpu).to(device)
        return _NETS[key]


class IdentityLoss(nn.Module):
    """1 - cos(R(x), R(y)) per sample, for images aligned with ``spec``; R = ArcFace or SFace.

    Inputs: [N, 3, H, W] in [-1, 1] (any H == W; the template is scaled to it).  ``y`` may
    also be precomputed embeddings [N, dim] from ``embed``.  Returns [N].  ``network``:
    "auto" (ArcFace when installed, else SFace), "arcface" or "sface".
    """

    def __init__(self, spec: AlignSpec | str = CELEBA_DCGAN, network: str = "auto"):
        super().__init__()
        self.spec = get_align_spec(spec) if isinstance(spec, str) else spec
        self.network = resolve_identity_network(network)
        runner = _IDENTITY_NETS[self.network]
        runner.load()                           # fails here when the weights are missing
        self.dim, self._scale, self._shift = runner.dim, runner.scale, runner.shift
        if self.spec.recipe == "quad":
            # fixed map: 112 px crop coordinates -> template coordinates, normalised by size
            m = similarity_lstsq(ARCFACE_5, template_points(self.spec))
            n_out = np.array([[2 / SFACE_SIZE, 0, -1], [0, 2 / SFACE_SIZE, -1], [0, 0, 1]])
            n_in = np.array([[2 / self.spec.size, 0, -1], [0, 2 / self.spec.size, -1], [0, 0, 1]])
            theta = (n_in @ m @ np.linalg.inv(n_out))[:2]
        else:               # no face template: the whole square image
            theta = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        self.register_buffer("theta", torch.tensor(theta, dtype=torch.float32), persistent=False)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> aligned faces [N, 3, 112, 112] RGB in 0..255."""
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [N, 3, H, W], got {tuple(x.shape)}"
        if x.shape[-1] > 2 * SFACE_SIZE:
            # bilinear sampling at a >2x step aliases: shrink with a proper filter first
            x = F.interpolate(x, size=(2 * SFACE_SIZE, 2 * SFACE_SIZE), mode="bilinear", antialias=True,
                              align_corners=False)
        theta = self.theta.to(x).expand(x.shape[0], 2, 3)
        grid = F.affine_grid(theta, [x.shape[0], 3, SFACE_SIZE, SFACE_SIZE], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return (x + 1) * 127.5

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 3, H, W] in [-1, 1] -> unit embeddings [N, dim] (512 ArcFace, 128 SFace)."""
        net = shared_identity_net(self.network, x.device)     # not a submodule: .to() never moves the shared one
        return F.normalize(net(self.crop(x) * self._scale + self._shift), dim=1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ex = self.embed(x)
        if y.ndim == 2:
            assert y.shape == ex.shape, f"embeddings {tuple(y.shape)} do not fit {self.network}: {tuple(ex.shape)}"
            ey = F.normalize(y, dim=1)
        else:
            ey = self.embed(y)
        return 1 - (ex * ey).sum(1)                                  # [N]


__all__ = ["IDENTITY_NETWORKS", "template_points", "resolve_identity_network", "shared_identity_net", "IdentityLoss"]
