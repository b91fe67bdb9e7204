"""Semantic diffusion: paste a target region into a context image and let the GAN blend it.

Zhu et al., "In-Domain GAN Inversion for Real Image Editing" (ECCV 2020), Sec. 4.3
("semantic diffusion").  The target's region (e.g. the central face) is pasted onto the
context image, and the stitched image x_s is inverted with the in-domain method (eq. 4),
with the reconstruction terms restricted to the pasted region M:

    z* = argmin_z  ||M (.) (x_s - G(z))||_2  +  l_vgg ||F(M (.) x_s) - F(M (.) G(z))||_2
                   +  l_dom ||z - E(G(z))||_2,        z_0 = E(x_s)

Only the target's pixels are fitted; the rest of G(z*) is free, so the generator's prior
"diffuses" the target's identity into a context that matches it (pose, hair, lighting),
while the encoder start keeps the context's layout.

Legend (variable -> paper symbol): ``mask`` -> M (1 inside the pasted region),
``target`` -> the region's source, ``context`` -> the background image.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.base import Generator
from .encoder import Encoder
from .hybrid import invert_hybrid
from .optimize import InversionResult
from ..settings import ProgressFn



@dataclass
class DiffusionResult:
    composite: torch.Tensor                    # [N, C, H, W] the stitched input x_s
    mask: torch.Tensor                         # [N, 1, H, W] pasted region M
    image: torch.Tensor                        # [N, C, H, W] G(z*), the blended result
    inversion: InversionResult                 # the in-domain inversion of x_s (latent, metrics, history)


def center_box_mask(resolution: int, frac: float = 0.5, *, feather: int = 0,
                    device: str | torch.device = "cpu") -> torch.Tensor:
    """[1, 1, R, R]: 1 inside a centred square of side ``frac`` * R (the central face), soft edges
    of ``feather`` pixels."""
    m = torch.zeros(1, 1, resolution, resolution, device=device)
    s = int(round(resolution * frac))
    a = (resolution - s) // 2
    m[..., a:a + s, a:a + s] = 1
    if feather > 0:
        k = 2 * feather + 1
        m = F.avg_pool2d(F.pad(m, (feather,) * 4, mode="replicate"), k, stride=1)
    return m


def paste(target: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x_s = M target + (1 - M) context (all [N, C, H, W]; mask broadcasts)."""
    return mask * target + (1 - mask) * context


def semantic_diffusion(
    G: Generator,
    E: Encoder,
    target: torch.Tensor,
    context: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,  # M [N or 1, 1, H, W]; default: centred box, half the side
    num_steps: int = 100,
    lr: float = 0.03,
    l_vgg: float = 0.0,                # perceptual term in the region (slow on CPU)
    l_dom: float = 0.1,                # lambda_dom
    progress: ProgressFn | None = None,
) -> DiffusionResult:
    """Blend ``target``'s masked region into ``context`` by in-domain inversion of the composite."""
    assert target.shape == context.shape, f"target {tuple(target.shape)} and context {tuple(context.shape)} differ"
    n = target.shape[0]
    if mask is None:
        mask = center_box_mask(G.resolution, device=target.device)
    mask = mask.to(target.device, torch.float32).expand(n, 1, *target.shape[2:]).contiguous()
    composite = paste(target, context, mask)
    # Binary fit region: the feathered edge is where blending should happen, so it is free.
    fit = (mask > 0.999).float()
    inv = invert_hybrid(G, E, composite, num_steps=num_steps, lr=lr, l_vgg=l_vgg, l_dom=l_dom, mask=fit,
                        progress=progress)
    return DiffusionResult(composite=composite, mask=mask, image=inv.image, inversion=inv)


__all__ = ["DiffusionResult", "semantic_diffusion", "center_box_mask", "paste"]
