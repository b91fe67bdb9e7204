"""Layer-wise inversion: what a generator cannot reproduce.

Bau, Zhu, Wulff, Peebles, Strobelt, Zhou & Torralba, "Seeing What a GAN Cannot Generate"
(ICCV 2019), Sec. 3.2 ("layer-wise inversion").  Write G = G_f(g_n(z)) with r = g_n(z) the
features at an intermediate layer.  Inverting only G_f is far easier than inverting G; to
keep r near what the generator produces, r is written as r = g_n(z) + delta with a small,
penalised perturbation delta, started from a good z_0 (the paper's layer-wise encoder; here
our trained encoder E, or latent optimisation):

    z*, delta* = argmin_{z, delta}  l(x, G_f(g_n(z) + delta))  +  l_reg ||delta||^2

with l = mean squared error (+ l_p times the perceptual metric).  Comparing the target with
G_f(r*) shows what even the relaxed generator cannot draw; comparing it with the
latent-only G(z_0) shows what the full generator drops (the paper's "omitted" content).

Legend (variable -> paper symbol): ``layer`` -> n, ``latent`` -> z, ``delta`` -> delta,
``features`` -> r, ``l_reg`` -> lambda_reg (a per-element mean, so it does not scale with
the layer size).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from ..latent import check_latent, render, to_ws
from ..losses import image_metrics, perceptual_metric
from ..models.base import Generator
from ..settings import RENDER_KWARGS, ProgressFn, call_settings
from .optimize import invert_optimize



@dataclass
class LayerwiseResult:
    latent: torch.Tensor                       # [N, *latent_shape(space)], z*
    space: str
    layer: str
    delta: torch.Tensor                        # [N, C, h, w], delta* at ``layer``
    image: torch.Tensor                        # [N, C, H, W], G_f(g_n(z*) + delta*)
    latent_image: torch.Tensor                 # [N, C, H, W], latent-only start G(z_0)
    diff: torch.Tensor                         # [N, 1, H, W], |x - G_f(r*)| mean over channels, in [0, 1]
    latent_diff: torch.Tensor                  # [N, 1, H, W], |x - G(z_0)| (what the latent code misses)
    metrics: list[dict]                        # layer-wise reconstruction vs target
    latent_metrics: list[dict]                 # latent-only start vs target
    loss_history: list[dict]
    settings: dict
    model: str = ""
    seconds: float = 0.0


def _diff_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((x - y).abs() / 2).mean(1, keepdim=True)


def invert_layerwise(
    G: Generator,
    target: torch.Tensor,
    *,
    layer: str | None = None,          # n; default: the middle of G.layer_names
    encoder=None,                      # ganinv.invert.encoder.Encoder for z_0 (else latent optimisation)
    init_latent: torch.Tensor | None = None,  # z_0 given directly (in ``space``)
    space: str | None = None,          # latent space of z_0; default the encoder's, else W+ / Z
    latent_steps: int = 200,           # latent optimisation steps for z_0 (no encoder, no init)
    num_steps: int = 200,              # joint steps on z and delta
    lr: float = 0.01,                  # Adam learning rate for z and delta
    l_reg: float = 0.05,               # lambda_reg on mean(delta^2)
    perceptual_weight: float = 0.0,    # l_p; 0 keeps it fast on a CPU
    perceptual: str = "auto",
    n_init: int = 256,                 # best-of-N samples for the latent optimisation start
    seed: int = 0,
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> LayerwiseResult:
    """Invert ``target`` [N, C, H, W] into features at ``layer`` (see the module docstring)."""
    settings = call_settings(locals(), "G", "target", "encoder", "init_latent")
    t0 = time.time()
    layer = layer or G.layer_names[len(G.layer_names) // 2]
    allowed = [name for name in G.layer_names[:-1] if name != "input"]   # something must follow the layer
    if layer not in allowed:
        raise ValueError(f"choose an intermediate layer of {G.name}: {', '.join(allowed)}")
    device = G.device
    x = target.to(device, torch.float32)
    assert x.ndim == 4 and x.shape[1:] == (G.img_channels, G.resolution, G.resolution), \
        f"target must be [N, {G.img_channels}, {G.resolution}, {G.resolution}], got {tuple(x.shape)}"

    # 1. z_0 from the given code, the encoder, or latent optimisation.
    if init_latent is not None:
        space = space or ("W+" if G.supports("W+") else "Z")
        z0, how = init_latent.to(device), "given"
    elif encoder is not None:
        space = encoder.space
        with torch.no_grad():
            z0, how = encoder.to(device).eval()(x), "encoder"
    else:
        space = space or ("W+" if G.supports("W+") else "Z")
        res = invert_optimize(G, x, space=space, num_steps=latent_steps, perceptual_weight=perceptual_weight,
                              perceptual=perceptual, n_init=n_init, seed=seed, optimize_noise=False)
        z0, how = res.latent, f"optimisation ({latent_steps} steps)"
    check_latent(G, z0, space)
    settings.update(layer=layer, space=space, start=how)
    percept = perceptual_metric(device, perceptual) if perceptual_weight > 0 else None

    # 2. Joint optimisation of z and delta (r = g_n(z) + delta).
    latent = z0.detach().clone().requires_grad_(True)
    with torch.no_grad():
        r0 = G.features(to_ws(G, z0, space), layer, **RENDER_KWARGS)
        latent_image = render(G, z0, space)
    delta = torch.zeros_like(r0, requires_grad=True)                     # [N, C, h, w]
    opt = torch.optim.Adam([latent, delta], lr=lr)
    history: list[dict] = []
    for step in range(num_steps):
        ws = to_ws(G, latent, space)
        img = G.synthesis_from(G.features(ws, layer, **RENDER_KWARGS) + delta, layer, ws, **RENDER_KWARGS)
        l_mse = (img - x).square().flatten(1).mean(1)
        l_p = percept(img, x) if percept is not None else torch.zeros_like(l_mse)
        l_d = delta.square().flatten(1).mean(1)
        loss = (l_mse + perceptual_weight * l_p + l_reg * l_d).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step + 1, "loss": loss.item() / x.shape[0], "mse": l_mse.detach().mean().item(),
                        "perceptual": l_p.detach().mean().item(), "delta": l_d.detach().mean().item()})
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            progress((step + 1) / num_steps, f"step {step + 1}/{num_steps}  loss {history[-1]['loss']:.4f}")

    with torch.no_grad():
        ws = to_ws(G, latent, space)
        img = G.synthesis_from(G.features(ws, layer, **RENDER_KWARGS) + delta, layer, ws, **RENDER_KWARGS)
        pm = percept or perceptual_metric(device)
        metrics, latent_metrics = image_metrics(img, x, perceptual=pm), image_metrics(latent_image, x, perceptual=pm)
    return LayerwiseResult(latent=latent.detach(), space=space, layer=layer, delta=delta.detach(), image=img,
                           latent_image=latent_image, diff=_diff_map(x, img), latent_diff=_diff_map(x, latent_image),
                           metrics=metrics, latent_metrics=latent_metrics, loss_history=history, settings=settings,
                           model=G.name, seconds=time.time() - t0)


__all__ = ["LayerwiseResult", "invert_layerwise"]
