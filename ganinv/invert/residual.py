"""Editing a layer-wise inversion while keeping its feature residual.

In the spirit of Wang, Yang, Wu, Wang & Liu, "High-Fidelity GAN Inversion for Image
Attribute Editing" (HFGI, CVPR 2022): a latent code cannot carry every detail of a photo;
the missing part, the distortion, is kept as a residual in the generator's features and
added back when the edited code is rendered.  Here the residual is exactly what layer-wise
inversion (ganinv.invert.layerwise, Bau et al. 2019) fitted at layer n,

    residual = r* - g_n(z*)                    (``LayerwiseResult.delta``)

and an edit z* -> z* + a n is rendered as

    x_edit = G_f( g_n(z* + a n) + m * residual )

HFGI aligns its residual to the edited image with a learned module (ADA, Sec. 3.3) because
a residual that stays where the unedited face had its mouth leaves ghosts when the edit
moves the mouth.  Without training data for such a module we use a training-free stand-in:
``m`` lowers the residual where the edit itself changes the features most,

    c = |g_n(z* + a n) - g_n(z*)| (mean over channels),   m = 1 - adapt * c / max(c)

so ``adapt = 0`` keeps the whole residual (plain HFGI without ADA) and ``adapt = 1`` drops it
where the edit is strongest.  At a = 0 the output is the layer-wise reconstruction for any
``adapt``.

The default keeps the whole residual (``adapt`` = 0): dropping it where the edit acts strengthens
the edit but lets the generator's own face show there (docs/benchmarks.md, "Editing with the
layer-wise residual").

Legend (variable -> paper symbol): ``latent`` -> z* (HFGI: the code of the basic encoder),
``edited`` -> z* + a n, ``residual`` -> delta* at layer n (HFGI: the distortion map
encoded to features), ``adapt`` -> strength of the stand-in for ADA.
"""
from __future__ import annotations

import torch

from ..latent import check_latent, to_ws
from ..models.base import Generator
from ..settings import RENDER_KWARGS

ADAPT_DEFAULT = 0.0                            # 0: keep the whole residual (docs/benchmarks.md)


def feature_residual(G: Generator, latent: torch.Tensor, space: str, layer: str,
                     features: torch.Tensor) -> torch.Tensor:
    """residual = features - g_n(latent): what fitted features at ``layer`` add to the code's, [N, C, h, w]."""
    check_latent(G, latent, space)
    with torch.no_grad():
        own = G.features(to_ws(G, latent, space), layer, **RENDER_KWARGS)
    if own.shape != features.shape:
        raise ValueError(f"features at {layer!r} have shape {list(own.shape)}, got {list(features.shape)}")
    return features - own


def residual_mask(G: Generator, latent: torch.Tensor, edited: torch.Tensor, space: str, layer: str, *,
                  adapt: float = ADAPT_DEFAULT) -> torch.Tensor:
    """m [N, 1, h, w] in [1 - adapt, 1]: where the residual is kept (see the module docstring)."""
    if not 0.0 <= adapt <= 1.0:
        raise ValueError(f"adapt must be in [0, 1], got {adapt}")
    with torch.no_grad():
        f0 = G.features(to_ws(G, latent, space), layer, **RENDER_KWARGS)
        f1 = G.features(to_ws(G, edited, space), layer, **RENDER_KWARGS)
    c = (f1 - f0).abs().mean(1, keepdim=True)                               # [N, 1, h, w]
    peak = c.flatten(1).amax(1).view(-1, 1, 1, 1)
    return 1 - adapt * c / peak.clamp_min(1e-8)


def render_with_residual(G: Generator, edited: torch.Tensor, space: str, layer: str, residual: torch.Tensor, *,
                         latent: torch.Tensor | None = None, adapt: float = ADAPT_DEFAULT) -> torch.Tensor:
    """x_edit = G_f(g_n(edited) + m * residual), [N, C, H, W] in [-1, 1].

    ``latent`` (the unedited code) is needed only for ``adapt`` > 0.
    """
    check_latent(G, edited, space)
    ws = to_ws(G, edited, space)
    with torch.no_grad():
        feats = G.features(ws, layer, **RENDER_KWARGS)
        if feats.shape != residual.shape:
            raise ValueError(f"the residual has shape {list(residual.shape)}, features at {layer!r} "
                             f"{list(feats.shape)}")
        if adapt > 0:
            if latent is None:
                raise ValueError("adapt > 0 needs the unedited latent")
            residual = residual * residual_mask(G, latent, edited, space, layer, adapt=adapt)
        return G.synthesis_from(feats + residual, layer, ws, **RENDER_KWARGS)


class ResidualGenerator:
    """``base`` whose synthesis adds a fixed feature residual at ``layer``: every render of an edited code
    is G_f(g_n(ws) + residual) (``adapt`` = 0), behind the same interface as ``base`` (which is only read)."""

    def __init__(self, base: Generator, layer: str, residual: torch.Tensor):
        self.base, self.layer = base, layer
        self.residual = residual.to(base.device, torch.float32)         # [1, C, h, w]

    def synthesis(self, ws: torch.Tensor, **kwargs) -> torch.Tensor:
        feats = self.base.features(ws, self.layer, **kwargs)
        if feats.shape[1:] != self.residual.shape[1:]:
            raise ValueError(f"the residual has shape {list(self.residual.shape)}, features at {self.layer!r} "
                             f"{list(feats.shape)}")
        return self.base.synthesis_from(feats + self.residual, self.layer, ws, **kwargs)

    def __call__(self, z: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.synthesis(self.base.mapping(z), **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.__dict__["base"], name)                    # mapping, features, name, w_avg, ...


__all__ = ["ADAPT_DEFAULT", "ResidualGenerator", "feature_residual", "render_with_residual", "residual_mask"]
