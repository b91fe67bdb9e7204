"""Applying linear latent edits: x' = x + sum_i a_i n_i (InterFaceGAN Eq. 3, SeFa, GANSpace).

Pure functions: inputs are never modified.  Shapes:

    Z / W latent   [N, dim]              direction [dim]
    W+ latent      [N, num_ws, w_dim]    direction [w_dim] (same step on the chosen layers)
                                         or [num_ws, w_dim] (a per-layer direction)

``layers`` (W+ only) restricts an edit to some ws, the layer-wise editing of StyleGAN
(coarse layers 0-3 change pose and shape, middle ones expression, fine ones colour;
Karras et al. 2019 Sec. 3.1, Shen et al. 2020 Sec. 4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from ..latent import check_latent, render
from ..models.base import Generator
from .directions import Direction, DirectionError, validate_direction

# Fixed noise inputs (StyleGAN2): successive slider steps then differ only by the edit.
# Generators without noise inputs ignore the keyword.
from ..settings import RENDER_KWARGS


def layer_mask(num_ws: int, layers: Sequence[int] | None, *, device=None) -> torch.Tensor:
    """[num_ws, 1] float mask: 1 on ``layers`` (all when None)."""
    m = torch.zeros(num_ws, 1, device=device)
    if layers is None:
        m += 1
    else:
        bad = [i for i in layers if not 0 <= int(i) < num_ws]
        if bad:
            raise ValueError(f"layers {bad} out of range 0..{num_ws - 1}")
        m[list(layers)] = 1
    return m


def parse_layers(spec: str | Sequence[int] | None, num_ws: int) -> list[int] | None:
    """"all" / None -> None, "2-5" -> [2, 3, 4, 5], "0,1,4" -> [0, 1, 4] (validated)."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return None
    if isinstance(spec, str):
        out: list[int] = []
        for part in spec.split(","):
            a, _, b = part.strip().partition("-")
            out += list(range(int(a), int(b) + 1)) if b else [int(a)]
    else:
        out = [int(i) for i in spec]
    layer_mask(num_ws, out)
    return sorted(set(out))


def apply_directions(latent: torch.Tensor, directions: Sequence[torch.Tensor], strengths: Sequence[float], *,
                     layers: Sequence[int] | None = None) -> torch.Tensor:
    """latent + sum_i strengths[i] * directions[i]; returns a new tensor of the latent's shape.

    For a W+ latent [N, num_ws, w_dim] a [w_dim] direction moves only ``layers`` (all when None).
    """
    if len(directions) != len(strengths):
        raise ValueError(f"{len(directions)} directions but {len(strengths)} strengths")
    out = latent.clone()
    for d, a in zip(directions, strengths):
        d = d.to(latent.device, latent.dtype)
        if latent.ndim == 2:
            if d.shape != latent.shape[1:]:
                raise ValueError(f"direction {list(d.shape)} does not fit latent {list(latent.shape)}")
            out = out + float(a) * d
        elif latent.ndim == 3:
            num_ws, w_dim = latent.shape[1:]
            if d.shape not in ((w_dim,), (num_ws, w_dim)):
                raise ValueError(f"direction {list(d.shape)} does not fit W+ latent {list(latent.shape)}")
            step = d if d.ndim == 2 else d.expand(num_ws, w_dim)       # [num_ws, w_dim]
            out = out + float(a) * step * layer_mask(num_ws, layers, device=latent.device)
        else:
            raise ValueError(f"latent must be [N, dim] or [N, num_ws, w_dim], got {list(latent.shape)}")
    return out


def sweep(latent: torch.Tensor, direction: torch.Tensor, strengths: Sequence[float], *,
          layers: Sequence[int] | None = None) -> torch.Tensor:
    """One latent [1, ...] moved by each strength -> [len(strengths), ...] (for strips and GIFs)."""
    if latent.shape[0] != 1:
        raise ValueError("sweep takes a single latent [1, ...]")
    return torch.cat([apply_directions(latent, [direction], [a], layers=layers) for a in strengths])


def _fits(d: Direction, space: str) -> bool:
    # A W direction moves a W+ code on the chosen layers; Z and per-layer W+ only their own space.
    return d.space == space or (d.space == "W" and space == "W+")


@dataclass
class EditResult:
    latent: torch.Tensor                        # edited latent, same space and shape as the input
    image: torch.Tensor                         # [N, C, H, W] in [-1, 1]
    space: str


def edit(G: Generator, latent: torch.Tensor, space: str, directions: Sequence[Direction],
         strengths: Sequence[float], *, layers: Sequence[int] | None = None, render_image: bool = True
         ) -> EditResult:
    """Validate ``directions`` against ``G`` and ``space``, apply them and render (no grad).

    ``layers`` overrides each direction's own default layers (W+ only).
    """
    check_latent(G, latent, space)
    for d in directions:
        validate_direction(d, G)
        if not _fits(d, space):
            raise DirectionError(f"direction {d.name!r} lives in {d.space} and cannot edit a {space} latent"
                                 + ("; map Z to W first" if d.space == "W" and space == "Z" else ""))
    out = latent
    for d, a in zip(directions, strengths):
        lay = layers if layers is not None else d.layers
        out = apply_directions(out, [d.tensor(latent.device)], [a], layers=lay if space == "W+" else None)
    if not render_image:
        return EditResult(out, torch.empty(0), space)
    with torch.no_grad():
        img = render(G, out, space, **RENDER_KWARGS)
    return EditResult(out, img, space)
