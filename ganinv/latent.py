"""Pure latent-space operations.  Nothing here modifies its inputs.

Spaces and shapes (see ganinv.models.base):
    "Z"  [N, z_dim]          "W"  [N, w_dim]          "W+" [N, num_ws, w_dim]
"""
from __future__ import annotations

import torch

from .models.base import Generator
from .settings import RENDER_KWARGS


def latent_shape(G: Generator, space: str) -> tuple[int, ...]:
    """Shape of one latent code (without the batch dimension) in ``space``."""
    if not G.supports(space):
        raise ValueError(f"model {G.name!r} supports {', '.join(G.spaces)}, not {space}")
    return {"Z": (G.z_dim,), "W": (G.w_dim,), "W+": (G.num_ws, G.w_dim)}[space]


def check_latent(G: Generator, latent: torch.Tensor, space: str) -> None:
    """Raise ValueError with a clear message when ``latent`` is not a batch of ``space`` codes."""
    shape = latent_shape(G, space)
    if tuple(latent.shape[1:]) != shape:
        raise ValueError(f"a {space} latent for {G.name!r} has shape [N, {', '.join(map(str, shape))}], "
                         f"got {list(latent.shape)}")
    if not torch.isfinite(latent).all():
        raise ValueError("the latent contains NaN or Inf values")


def to_ws(G: Generator, latent: torch.Tensor, space: str, *, truncation_psi: float = 1.0) -> torch.Tensor:
    """Any supported latent -> ws [N, num_ws, w_dim] for ``G.synthesis``."""
    if space == "Z":
        return G.broadcast(G.mapping(latent, truncation_psi=truncation_psi))
    if space == "W":
        return G.broadcast(latent)
    if space == "W+":
        return latent
    raise ValueError(f"unknown latent space {space!r}")


def render(G: Generator, latent: torch.Tensor, space: str, **synthesis_kwargs) -> torch.Tensor:
    """Image [N, C, H, W] in [-1, 1] for ``latent`` in ``space`` (StyleGAN2 noise fixed by default)."""
    return G.synthesis(to_ws(G, latent, space), **{**RENDER_KWARGS, **synthesis_kwargs})


def default_space(G: Generator) -> str:
    """W when the model has a mapping network (InterFaceGAN finds W better disentangled), else Z.

    Seed latents, trained boundaries and discovered components all use this space, so a
    direction found on a model always fits a seed latent of that model."""
    return "W" if G.supports("W") else "Z"


def seed_latent(G: Generator, seed: int, space: str | None = None) -> torch.Tensor:
    """The latent [1, ...] of sample ``seed`` in ``space`` (default: ``default_space(G)``);
    the same seed gives the same code on every machine."""
    space = space or default_space(G)
    z = G.sample_z(1, seed=int(seed)).to(G.device)
    if space == "Z":
        return z
    with torch.no_grad():
        w = G.mapping(z)
    return w if space == "W" else G.broadcast(w)


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Linear interpolation (1 - t) a + t b."""
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the last dimension; falls back to lerp for parallel codes.

    Gaussian Z codes live near a sphere of radius sqrt(z_dim), so lerp's midpoints have a
    too-small norm (White 2016, "Sampling Generative Networks"); slerp keeps the norm.
    """
    an, bn = a / a.norm(dim=-1, keepdim=True).clamp_min(eps), b / b.norm(dim=-1, keepdim=True).clamp_min(eps)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps))
    so = torch.sin(omega)
    out = (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
    return torch.where(so.abs() < 1e-4, lerp(a, b, t), out)
