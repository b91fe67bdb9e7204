"""The one generator interface every model family implements.

Vocabulary (shared with every paper this package implements):

    z   [N, z_dim]            input latent, z ~ N(0, I)
    w   [N, w_dim]            output of the mapping network (identity for DCGANs)
    ws  [N, num_ws, w_dim]    one w per synthesis layer ("W+", Abdal et al. 2019)
    img [N, C, H, W]          float32 in [-1, 1]

A model declares which latent spaces it supports in ``spaces``:
``"Z"`` (every model), ``"W"`` / ``"W+"`` / ``"S"`` (StyleGAN family).

Intermediate layers are addressed by name (``layer_names``): ``features(ws, layer)``
runs synthesis up to and including ``layer`` and ``synthesis_from(x, layer, ws)`` runs
the rest.  Multi-code and layer-wise inversion compose and perturb features there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class GeneratorInfo:
    """What a UI or CLI needs to know about a loaded generator."""

    name: str                                  # registry name
    family: str                                # "dcgan" | "stylegan2"
    resolution: int                            # output height == width
    z_dim: int
    w_dim: int
    num_ws: int
    spaces: tuple[str, ...]                    # subset of settings.ALL_SPACES
    layer_names: tuple[str, ...] = field(default_factory=tuple)


class Generator(nn.Module):
    """Base class: subclasses set the attributes and implement the four methods."""

    family: str = "abstract"
    name: str = "unnamed"
    z_dim: int
    w_dim: int
    num_ws: int
    resolution: int
    img_channels: int = 3
    spaces: tuple[str, ...] = ("Z",)

    # --- required -----------------------------------------------------------
    def mapping(self, z: torch.Tensor, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] -> w [N, w_dim]."""
        raise NotImplementedError

    def synthesis(self, ws: torch.Tensor, **kwargs) -> torch.Tensor:
        """ws [N, num_ws, w_dim] -> img [N, C, H, W] in [-1, 1]."""
        raise NotImplementedError

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of intermediate synthesis layers, input side first."""
        raise NotImplementedError

    def features(self, ws: torch.Tensor, layer: str, **kwargs) -> torch.Tensor:
        """Run synthesis up to and including ``layer``; returns its output features."""
        raise NotImplementedError

    def synthesis_from(self, x: torch.Tensor, layer: str, ws: torch.Tensor, **kwargs) -> torch.Tensor:
        """Continue synthesis from the output ``x`` of ``layer`` to the image."""
        raise NotImplementedError

    # --- provided -----------------------------------------------------------
    @property
    def w_avg(self) -> torch.Tensor:
        """Mean latent in W, [w_dim] (zeros for models without a mapping network)."""
        buf = getattr(self, "_w_avg", None)
        if buf is None:
            return torch.zeros(self.w_dim, device=self.device)
        return buf

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def info(self) -> GeneratorInfo:
        return GeneratorInfo(self.name, self.family, self.resolution, self.z_dim, self.w_dim,
                             self.num_ws, tuple(self.spaces), tuple(self.layer_names))

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, w_dim] -> ws [N, num_ws, w_dim] (same code at every layer)."""
        assert w.ndim == 2 and w.shape[1] == self.w_dim, f"expected [N, {self.w_dim}], got {tuple(w.shape)}"
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)

    def forward(self, z: torch.Tensor, *, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, **synthesis_kwargs) -> torch.Tensor:
        w = self.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(self.broadcast(w), **synthesis_kwargs)

    def sample_z(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n standard-normal z's; the same seed gives the same z on every device."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(n, self.z_dim, generator=gen).to(self.device)

    def supports(self, space: str) -> bool:
        return space in self.spaces
