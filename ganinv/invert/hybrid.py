"""In-domain (hybrid) inversion: encoder start + domain-regularised optimisation.

Zhu et al., "In-Domain GAN Inversion for Real Image Editing" (ECCV 2020), Sec. 3.2, eq. 4:

    z_inv = argmin_z  ||x - G(z)||_2  +  l_vgg ||F(x) - F(G(z))||_2  +  l_dom ||z - E(G(z))||_2

started from z_0 = E(x).  The encoder serves twice: it gives a start that is already close
(so far fewer steps are needed than from a random or mean start) and, as the domain
regulariser, it keeps z where E and G agree, i.e. inside the generator's semantic domain.
Squared, per-element means are used for all three terms (as the authors' code does), so the
weights do not depend on resolution or latent size.

Legend (variable -> paper symbol): ``latent`` -> z (or w / w+), ``target`` -> x,
``l_vgg`` -> lambda_vgg, ``l_dom`` -> lambda_dom, ``E`` -> E.

``mask`` (optional, [N, 1, H, W] in [0, 1]) weights the pixel and perceptual terms; semantic
diffusion (ganinv.invert.diffusion) uses it to fit only the pasted region.
"""
from __future__ import annotations

import time
from typing import Callable

import torch

from ..latent import check_latent, to_ws
from ..losses import image_metrics, perceptual_metric
from ..models.base import Generator
from .encoder import Encoder
from .optimize import InversionResult

ProgressFn = Callable[[float, str], None]


def _synth(G: Generator, latent: torch.Tensor, space: str) -> torch.Tensor:
    # Constant noise: a StyleGAN2 reconstruction must not change from call to call.
    return G.synthesis(to_ws(G, latent, space), noise_mode="const")


def _masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    d = (a - b).square()
    if mask is None:
        return d.flatten(1).mean(1)
    return (d * mask).flatten(1).sum(1) / (mask.flatten(1).sum(1) * a.shape[1]).clamp_min(1e-8)


def invert_hybrid(
    G: Generator,
    E: Encoder,
    target: torch.Tensor,
    *,
    num_steps: int = 100,              # optimisation steps after the encoder's start
    lr: float = 0.03,                  # Adam learning rate (authors: 0.01; 0.03 converges faster here)
    l_rec: float = 1.0,                # weight of the pixel term ||x - G(z)||^2
    l_vgg: float = 1.0,                # lambda_vgg, perceptual term (0 turns it off)
    l_dom: float = 0.1,                # lambda_dom, domain regulariser ||z - E(G(z))||^2
    perceptual: str = "auto",          # "auto" | "lpips" | "stlpips" (ganinv.losses)
    mask: torch.Tensor | None = None,  # [N, 1, H, W] pixel weights (1: fit, 0: ignore)
    init: torch.Tensor | None = None,  # start code instead of E(x)
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> InversionResult:
    """Invert ``target`` [N, C, H, W] in [-1, 1] at G's resolution into E's latent space."""
    t0 = time.time()
    settings = {k: v for k, v in locals().items() if k not in ("G", "E", "target", "mask", "init", "progress", "t0")}
    space = E.space
    settings.update(space=space, masked=mask is not None, init="given" if init is not None else "encoder")
    assert target.ndim == 4 and target.shape[1:] == (G.img_channels, G.resolution, G.resolution), \
        f"target must be [N, {G.img_channels}, {G.resolution}, {G.resolution}], got {tuple(target.shape)}"
    if E.config.resolution != G.resolution or (E.config.model and E.config.model != G.name):
        raise ValueError(f"encoder trained for {E.config.model or 'another model'!r} "
                         f"({E.config.resolution} px) does not fit {G.name!r}")
    if num_steps < 0:
        raise ValueError("num_steps must be >= 0")
    device = G.device
    target = target.to(device, torch.float32)
    if mask is not None:
        mask = mask.to(device, torch.float32)
        assert mask.shape == (target.shape[0], 1, *target.shape[2:]), \
            f"mask must be [N, 1, H, W], got {tuple(mask.shape)}"
    E = E.to(device).eval().requires_grad_(False)
    percept = perceptual_metric(device, perceptual) if l_vgg > 0 else None

    # 1. Start from the encoder's code, z_0 = E(x) (the in-domain start).
    with torch.no_grad():
        start = E(target) if init is None else init.to(device)
    check_latent(G, start, space)
    latent = start.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([latent], lr=lr)
    history: list[dict] = []
    per_image = None
    for step in range(num_steps + 1):
        img = _synth(G, latent, space)
        # 2. Eq. 4: pixel + perceptual reconstruction, + domain regulariser through E(G(z)).
        l_pix = _masked_mse(img, target, mask)
        if percept is not None:
            a, b = (img, target) if mask is None else (img * mask + target * (1 - mask), target)
            l_p = percept(a, b)
        else:
            l_p = torch.zeros_like(l_pix)
        l_d = (latent - E(img)).square().flatten(1).mean(1)
        per_image = l_rec * l_pix + l_vgg * l_p + l_dom * l_d
        history.append({"step": step, "loss": per_image.mean().item(), "mse": l_pix.mean().item(),
                        "perceptual": l_p.mean().item(), "domain": l_d.mean().item()})
        if step == num_steps:
            break                                  # row ``num_steps`` scores the final code
        opt.zero_grad(set_to_none=True)
        per_image.sum().backward()                 # summed: each image's Adam moments stay independent
        opt.step()
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            progress((step + 1) / num_steps, f"step {step + 1}/{num_steps}  loss {history[-1]['loss']:.4f}")

    with torch.no_grad():
        out = latent.detach()
        img = _synth(G, out, space)
        metrics = image_metrics(img, target, perceptual=percept or perceptual_metric(device))
    return InversionResult(latent=out, space=space, image=img, metrics=metrics, loss_history=history,
                           settings=settings, model=G.name, seconds=time.time() - t0)


def steps_to_reach(history: list[dict], value: float, key: str = "mse") -> int | None:
    """First step whose ``key`` is <= ``value`` (None if never): counts steps to a given quality.

    Rows are as written by ``invert_hybrid`` (row s = the code after s steps) or by
    ``invert_optimize`` (row "step" s = the loss measured before update s, i.e. after s - 1).
    """
    for row in history:
        if row[key] <= value:
            return int(row["step"])
    return None


__all__ = ["invert_hybrid", "steps_to_reach"]
