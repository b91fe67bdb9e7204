"""Multi-code GAN prior (mGANprior) inversion and image restoration.

Gu, Shen & Zhou, "Image Processing Using Multi-Code GAN Prior" (CVPR 2020).  The generator
is split at layer l into G1 (input -> l) and G2 (l -> image).  N codes z_n give N feature
maps F_n = G1(z_n) that are blended with a learned per-channel importance alpha_n (Sec. 3.1,
eq. 2)

    x_inv = G2( sum_n F_n (.) alpha_n ),     F_n in R^{C x H x W},  alpha_n in R^C

and codes and importances are fitted together (eq. 3, with the loss of eq. 4)

    {z_n, alpha_n} = argmin  ||deg(x_inv) - y||_2^2  +  l_p ||phi(deg(x_inv)) - phi(y)||_1

where y is the observation and deg the degradation (Sec. 3.2, one loss per task): ``inpaint``
(deg = mask multiply), ``colorize`` (deg = grey conversion), ``superres`` (deg = area
down-sampling).
phi here is ganinv.losses' perceptual metric (``perceptual_weight``; 0 turns it off).

Legend (variable -> paper symbol): ``latents`` -> z_n (w_n for StyleGAN2, in W), ``alphas``
-> alpha_n, ``layer`` -> l, ``degradation`` -> deg, ``target`` -> y.

Choices of ours, stated:  alpha_n starts at 1/N (the mean of the features) and codes start
at the N best of ``n_init`` samples, so with N = 1 at the input layer and ``learn_alpha=False``
the method *is* plain optimisation (same start, same learning-rate schedule as
ganinv.invert.optimize).  For StyleGAN2 the layers after l are driven by the mean of the N
codes (the synthesis blocks after l need a w).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..latent import to_ws
from ..losses import image_metrics, perceptual_metric
from ..models.base import Generator
from .optimize import _lr_at, best_of_n
from ..settings import RENDER_KWARGS, ProgressFn

DEGRADATIONS = ("inpaint", "colorize", "superres")


@dataclass(frozen=True)
class Degradation:
    """deg(x): what the observation y lost.  Build with ``inpaint``, ``colorize`` or ``superres``."""

    kind: str                                  # "inpaint" | "colorize" | "superres"
    mask: torch.Tensor | None = None           # inpaint: [N or 1, 1, H, W], 1 = known pixel
    factor: int = 4                            # superres: down-sampling factor

    @staticmethod
    def inpaint(mask: torch.Tensor) -> "Degradation":
        return Degradation("inpaint", mask=mask.float())

    @staticmethod
    def colorize() -> "Degradation":
        return Degradation("colorize")

    @staticmethod
    def superres(factor: int = 4) -> "Degradation":
        return Degradation("superres", factor=factor)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """img [N, 3, H, W] -> observation: masked [N, 3, H, W], grey [N, 1, H, W] or [N, 3, H/f, W/f]."""
        if self.kind == "inpaint":
            return img * self.mask.to(img.device)
        if self.kind == "colorize":
            return to_grey(img)
        if self.kind == "superres":
            return F.avg_pool2d(img, self.factor)
        raise ValueError(f"unknown degradation {self.kind!r}; use one of {DEGRADATIONS}")


def to_grey(img: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] -> luma [N, 1, H, W] (ITU-R BT.601 weights, as PIL's "L" mode)."""
    w = img.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True)


def _as_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@dataclass
class MultiCodeResult:
    latents: torch.Tensor                      # [N, n_codes, d] (Z or W codes)
    alphas: torch.Tensor                       # [N, n_codes, C] channel importances at ``layer``
    layer: str
    space: str                                 # "Z" | "W"
    image: torch.Tensor                        # [N, C, H, W] x_inv in [-1, 1]
    metrics: list[dict]                        # deg(x_inv) vs y (and x_inv vs ``clean`` if given)
    loss_history: list[dict]
    settings: dict
    model: str = ""
    seconds: float = 0.0
    clean_metrics: list[dict] = field(default_factory=list)


def compose(G: Generator, latents: torch.Tensor, alphas: torch.Tensor, layer: str, space: str) -> torch.Tensor:
    """x_inv = G2(sum_n G1(z_n) * alpha_n); latents [N, K, d], alphas [N, K, C] -> img [N, C, H, W]."""
    n, k, d = latents.shape
    ws = to_ws(G, latents.reshape(n * k, d), space)                  # [N*K, num_ws, w_dim]
    feats = G.features(ws, layer, **RENDER_KWARGS)                # [N*K, C, h, w]
    feats = feats.view(n, k, *feats.shape[1:])
    mixed = (feats * alphas[..., None, None]).sum(1)                 # [N, C, h, w]
    upper = ws.view(n, k, *ws.shape[1:]).mean(1)                     # [N, num_ws, w_dim]
    return G.synthesis_from(mixed, layer, upper, **RENDER_KWARGS)


def invert_multicode(
    G: Generator,
    target: torch.Tensor,
    *,
    n_codes: int = 20,                 # N, number of latent codes
    layer: str | None = None,          # l, composition layer; default: the middle of layer_names
    degradation: Degradation | None = None,  # deg; None: plain reconstruction
    num_steps: int = 300,
    lr: float = 0.1,                   # peak Adam learning rate (ramped like ganinv.invert.optimize)
    lr_rampup: float = 0.05,
    lr_rampdown: float = 0.25,
    perceptual_weight: float = 0.0,    # l_p (0: pixel loss only; the perceptual net is slow on CPU)
    perceptual: str = "auto",
    learn_alpha: bool = True,          # False keeps alpha_n = 1/N
    n_init: int = 512,                 # samples scored for the start codes
    clean: torch.Tensor | None = None,  # ground truth (for metrics only)
    seed: int = 0,
    progress: ProgressFn | None = None,
    progress_every: int = 10,
) -> MultiCodeResult:
    """Fit N codes + channel importances so that deg(x_inv) matches ``target`` (the observation y)."""
    t0 = time.time()
    settings = {k: v for k, v in locals().items() if k not in ("G", "target", "clean", "progress", "t0", "degradation")}
    layer = layer or G.layer_names[len(G.layer_names) // 2]
    if layer not in G.layer_names:
        raise ValueError(f"unknown layer {layer!r}; {G.name} has {', '.join(G.layer_names)}")
    if n_codes < 1:
        raise ValueError("n_codes must be >= 1")
    space = "W" if G.supports("W") else "Z"
    deg = degradation or (lambda x: x)
    settings.update(layer=layer, space=space, degradation=degradation.kind if degradation else None)
    device = G.device
    y = target.to(device, torch.float32)

    # 1. Start: the N best of n_init samples, judged on the observation.
    with torch.no_grad():
        probe = torch.zeros(y.shape[0], G.img_channels, G.resolution, G.resolution, device=device)
        if deg(probe).shape != y.shape:
            raise ValueError(f"target {tuple(y.shape)} does not match the degradation's output "
                             f"{tuple(deg(probe).shape)}")
        guess = y if degradation is None else _upsample_guess(y, degradation, G.resolution)
        start = best_of_n(G, guess, space, n=max(n_init, n_codes), k=n_codes, seed=seed)   # [N*K, d]
        c = G.features(to_ws(G, start[:1], space), layer, **RENDER_KWARGS).shape[1]
    latents = start.view(y.shape[0], n_codes, -1).clone().requires_grad_(True)
    alphas = torch.full((y.shape[0], n_codes, c), 1.0 / n_codes, device=device, requires_grad=learn_alpha)
    percept = perceptual_metric(device, perceptual) if perceptual_weight > 0 else None
    opt = torch.optim.Adam([latents, alphas] if learn_alpha else [latents], betas=(0.9, 0.999), lr=lr)

    # 2. Eq. 3-4 with the degradation inside the loss (Sec. 3.2).
    history: list[dict] = []
    for step in range(num_steps):
        cur_lr = _lr_at(step / num_steps, lr, lr_rampup, lr_rampdown)
        for g in opt.param_groups:
            g["lr"] = cur_lr
        obs = deg(compose(G, latents, alphas, layer, space))
        l_mse = (obs - y).square().flatten(1).mean(1)
        l_p = percept(_as_rgb(obs), _as_rgb(y)) if percept is not None else torch.zeros_like(l_mse)
        loss = (l_mse + perceptual_weight * l_p).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append({"step": step + 1, "loss": loss.item() / y.shape[0], "mse": l_mse.detach().mean().item(),
                        "perceptual": l_p.detach().mean().item(), "lr": cur_lr})
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            progress((step + 1) / num_steps, f"step {step + 1}/{num_steps}  loss {history[-1]['loss']:.4f}")

    with torch.no_grad():
        img = compose(G, latents, alphas, layer, space)
        obs = deg(img)
        pm = percept or perceptual_metric(device)
        metrics = image_metrics(_as_rgb(obs), _as_rgb(y), perceptual=pm)
        clean_metrics = image_metrics(img, clean.to(device), perceptual=pm) if clean is not None else []
    return MultiCodeResult(latents=latents.detach(), alphas=alphas.detach(), layer=layer, space=space, image=img,
                           metrics=metrics, loss_history=history, settings=settings, model=G.name,
                           seconds=time.time() - t0, clean_metrics=clean_metrics)


def _upsample_guess(y: torch.Tensor, degradation: Degradation, resolution: int) -> torch.Tensor:
    """A full-size RGB image resembling the observation, used only to pick start codes."""
    if degradation.kind == "superres":
        return F.interpolate(y, size=(resolution, resolution), mode="bilinear", align_corners=False)
    if degradation.kind == "colorize":
        return y.expand(-1, 3, -1, -1)
    return y


def restore(G: Generator, observation: torch.Tensor, kind: str, *, mask: torch.Tensor | None = None,
            factor: int = 4, **kwargs) -> MultiCodeResult:
    """Inpaint (``mask``: 1 = known), colourise (grey or RGB input) or super-resolve (low-res input)."""
    if kind == "inpaint":
        if mask is None:
            raise ValueError("inpainting needs a mask (1 = known pixel, 0 = hole)")
        deg = Degradation.inpaint(mask.to(observation.device))
        observation = observation * deg.mask
    elif kind == "colorize":
        deg = Degradation.colorize()
        observation = to_grey(observation) if observation.shape[1] == 3 else observation
    elif kind == "superres":
        deg = Degradation.superres(factor)
        if observation.shape[-1] == G.resolution:
            observation = deg(observation)
    else:
        raise ValueError(f"unknown restoration {kind!r}; use one of {DEGRADATIONS}")
    return invert_multicode(G, observation, degradation=deg, **kwargs)


def center_hole_mask(resolution: int, frac: float = 0.35, *, device: str | torch.device = "cpu") -> torch.Tensor:
    """[1, 1, R, R] mask with a centred square hole of side ``frac`` * R (0 = hole)."""
    m = torch.ones(1, 1, resolution, resolution, device=device)
    s = int(round(resolution * frac))
    a = (resolution - s) // 2
    m[..., a:a + s, a:a + s] = 0
    return m


__all__ = ["Degradation", "MultiCodeResult", "invert_multicode", "compose", "restore", "to_grey",
           "center_hole_mask", "DEGRADATIONS"]
