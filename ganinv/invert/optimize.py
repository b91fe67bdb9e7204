"""Optimisation-based inversion in Z, W or W+.

Image2StyleGAN (Abdal, Qin & Wonka, ICCV 2019), eq. 1 and 3:

    w* = argmin_w  l_mse/N ||G(w) - I||^2  +  l_p  L_percept(G(w), I)

started from the mean latent, optimised with Adam.  From the StyleGAN2 projector
(Karras et al., CVPR 2020, Sec. 5 and Appendix D) we take the learning-rate schedule
(linear ramp-up, cosine ramp-down), the ramped Gaussian noise added to w early on
(scaled by the spread of W), and the joint optimisation of the per-layer noise maps n_i
with the multi-scale autocorrelation regulariser

    L_noise = sum_i sum_j ( mean(n_ij * shift_x(n_ij))^2 + mean(n_ij * shift_y(n_ij))^2 )

over the pyramid n_i0 = n_i, n_i(j+1) = avgpool2(n_ij), down to 8x8, with each noise map
renormalised to zero mean, unit variance after every step.

Legend (variable -> paper symbol): ``latent`` -> w (or z), ``target`` -> I,
``mse_weight`` -> l_mse, ``perceptual_weight`` -> l_p, ``noise_reg_weight`` -> alpha.

Models with a dead zone at the mean (the DCGAN renders a grey blur at z = 0) start from
the best of ``n_init`` random samples instead, and ``restarts`` runs several starts per
image in one batch and keeps the best.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from ..latent import check_latent, latent_shape, render, to_ws
from ..losses import PerceptualMetric, image_metrics, mse, perceptual_metric
from ..models.base import Generator
from ..models.stylegan2 import noise_override
from ..settings import RENDER_KWARGS, ProgressFn



@dataclass
class InversionResult:
    latent: torch.Tensor                       # [N, *latent_shape(space)]
    space: str                                 # "Z" | "W" | "W+"
    image: torch.Tensor                        # [N, C, H, W] in [-1, 1], G(latent) (with noise, if optimised)
    metrics: list[dict]                        # per image: psnr, ssim, perceptual, perceptual_metric
    loss_history: list[dict]                   # per step: step, loss, mse, perceptual, lr (batch means)
    settings: dict                             # every setting used, for reproducibility
    model: str = ""
    seconds: float = 0.0
    noise: dict[str, torch.Tensor] | None = field(default=None, repr=False)  # optimised noise maps (StyleGAN2)


def _synthesis(G: Generator, ws: torch.Tensor, noises: dict[str, torch.Tensor]) -> torch.Tensor:
    """G.synthesis with this run's noise maps in place of G's constant ones (``noise_override``: the shared,
    cached generator itself is never changed, so concurrent sessions are unaffected)."""
    if not noises:
        return G.synthesis(ws, **RENDER_KWARGS)
    with noise_override(G, noises):
        return G.synthesis(ws, **RENDER_KWARGS)


def noise_buffer_names(G: Generator) -> list[str]:
    """Names of StyleGAN2 per-layer constant noise maps (empty for other families)."""
    return [n for n, _ in G.named_buffers() if n.endswith("noise_const")]


def noise_regularizer(noises: list[torch.Tensor]) -> torch.Tensor:
    """StyleGAN2 projector's multi-scale autocorrelation penalty (see module docstring), one value per run.

    ``noises``: maps [N, 1, H_i, W_i] (one row per image and restart).  Returns [N]: the projector
    regularises one image's maps, so each row's autocorrelations are squared on their own; a mean over
    the whole batch before squaring would average them out and shrink the term N-fold or more.
    """
    reg = noises[0].new_zeros(noises[0].shape[0])                             # [N]
    for n in noises:
        while True:
            reg = reg + (n * torch.roll(n, 1, dims=3)).mean(dim=(1, 2, 3)) ** 2 \
                + (n * torch.roll(n, 1, dims=2)).mean(dim=(1, 2, 3)) ** 2
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return reg


def initial_noise(G: Generator, names: list[str], runs: int, seed: int) -> dict[str, torch.Tensor]:
    """Unit Gaussian start for each noise buffer in ``names``, [runs, 1, H, W] each.

    Run j draws its maps from its own generator seeded ``seed + j``, so the start of a run does not
    depend on how many runs share the batch (image b of a batch starts like a lone run seeded seed + b*k).
    """
    shapes = {n: b.shape[-2:] for n, b in G.named_buffers() if n in names}
    rows: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    for j in range(runs):
        g = torch.Generator().manual_seed(seed + j)
        for n in names:
            rows[n].append(torch.randn(1, 1, *shapes[n], generator=g))
    return {n: torch.cat(r).to(G.device).requires_grad_(True) for n, r in rows.items()}


def perceptual_to(percept: PerceptualMetric, target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> percept(x, target)`` [N], with the target's half of LPIPS (eq. 1: trunk activations y^0_l,
    unit-normalised along channels) computed once instead of at every step.

    Needs an LPIPS network (input scaling, 5-slice trunk, linear heads) and a target inside the metric's
    64-256 px range; otherwise it falls back to the plain metric.  Equal to the plain metric up to
    float rounding (tested).
    """
    net = percept.net
    if not (64 <= target.shape[-1] <= 256 and all(hasattr(net, a) for a in ("scaling_layer", "net", "lins"))):
        return lambda x: percept(x, target)

    def features(t: torch.Tensor) -> list[torch.Tensor]:
        sl = net.scaling_layer
        return [f / (f.square().sum(1, keepdim=True).sqrt() + 1e-10) for f in net.net((t - sl.shift) / sl.scale)]

    with torch.no_grad():
        fixed = features(target)

    def distance(x: torch.Tensor) -> torch.Tensor:
        assert x.shape == target.shape, f"shapes differ: {tuple(x.shape)} vs {tuple(target.shape)}"
        val = 0
        for fx, fy, lin in zip(features(x), fixed, net.lins, strict=True):
            val = val + lin.model((fx - fy) ** 2).mean((2, 3))            # w_l, spatial mean (eq. 1)
        return val.flatten()

    return distance


def _lr_at(t: float, base: float, rampup: float, rampdown: float) -> float:
    lr_ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    lr_ramp = 0.5 - 0.5 * math.cos(lr_ramp * math.pi)
    if rampup > 0:
        lr_ramp *= min(1.0, t / rampup)
    return base * lr_ramp


@torch.no_grad()
def w_stats(G: Generator, n: int = 10000, seed: int = 123) -> tuple[torch.Tensor, float]:
    """Mean W and its scalar spread sqrt(E||w - mean||^2) from ``n`` mapped samples."""
    z = G.sample_z(n, seed=seed)
    w = torch.cat([G.mapping(c) for c in z.split(1000)])
    mean = w.mean(0)
    return mean, float(((w - mean) ** 2).sum(1).mean().sqrt())


@torch.no_grad()
def best_of_n(G: Generator, target: torch.Tensor, space: str, *, n: int, k: int = 1, seed: int = 0,
              chunk: int = 64) -> torch.Tensor:
    """For each target, the ``k`` codes (among ``n`` seeded samples) whose images are closest in MSE.

    Returns [N * k, *latent_shape] ordered target-major.
    """
    z = G.sample_z(n, seed=seed)
    codes = G.mapping(z) if space != "Z" else z
    errs = []
    for c in codes.split(chunk):
        imgs = render(G, c, "Z" if space == "Z" else "W")
        d = (imgs[None] - target[:, None]).pow(2).flatten(2).mean(2)   # [N, chunk]
        errs.append(d)
    idx = torch.cat(errs, 1).topk(k, dim=1, largest=False).indices.flatten()  # [N * k]
    start = codes[idx]
    if space == "W+":
        start = G.broadcast(start)
    return start


def invert_optimize(
    G: Generator,
    target: torch.Tensor,
    *,
    space: str | None = None,          # "Z" | "W" | "W+"; default W+ when supported, else Z
    num_steps: int = 500,              # optimisation steps
    lr: float = 0.1,                   # peak Adam learning rate
    lr_rampup: float = 0.05,           # fraction of steps for linear warm-up
    lr_rampdown: float = 0.25,         # fraction of steps for cosine decay at the end
    mse_weight: float = 1.0,           # l_mse
    perceptual_weight: float = 1.0,    # l_p
    perceptual: str = "auto",          # loss network: "auto" | "lpips" | "stlpips" | "stlpips-alex"
    optimize_noise: bool = True,       # StyleGAN2 only: optimise the noise maps too
    noise_reg_weight: float = 1e5,     # alpha, noise regulariser weight
    initial_noise_factor: float = 0.05,  # latent noise at step 0, in units of W's spread
    noise_ramp_length: float = 0.75,   # fraction of steps over which latent noise decays to 0
    init: str = "auto",                # "auto" | "mean" | "best_of_n"
    n_init: int = 512,                 # samples scored for the best-of-N start
    restarts: int = 1,                 # starts per image, best kept
    seed: int = 0,
    progress: ProgressFn | None = None,
    progress_every: int = 10,
    snapshot_steps: tuple[int, ...] = (),  # also measure PSNR / perceptual at these steps (benchmarks)
) -> InversionResult:
    """Invert ``target`` [N, C, H, W] in [-1, 1] (already at ``G.resolution``)."""
    t0 = time.time()
    settings = {k: v for k, v in locals().items() if k not in ("G", "target", "progress", "t0")}
    space = space or ("W+" if G.supports("W+") else "Z")
    settings["space"] = space
    latent_shape(G, space)
    assert target.ndim == 4 and target.shape[1:] == (G.img_channels, G.resolution, G.resolution), \
        f"target must be [N, {G.img_channels}, {G.resolution}, {G.resolution}], got {tuple(target.shape)}"
    if not torch.isfinite(target).all():
        raise ValueError("the target image contains NaN or Inf values")
    if num_steps < 1:
        raise ValueError("num_steps must be at least 1")
    device = G.device
    target = target.to(device, torch.float32)
    n_img, k = target.shape[0], max(1, restarts)
    targets = target.repeat_interleave(k, 0)                            # [N * k, C, H, W]
    rng = torch.Generator().manual_seed(seed)       # this run's own stream (the global one is shared by threads)

    # 1. Start point: the mean latent (Image2StyleGAN) or best-of-N samples (DCGAN dead zone).
    if init == "auto":
        init = "best_of_n" if (G.family == "dcgan" or space == "Z" or k > 1) else "mean"
    settings["init"] = init
    if space == "Z":
        w_std = 1.0
    else:
        w_mean, w_std = w_stats(G)
    if init == "best_of_n":
        start = best_of_n(G, target, space, n=max(n_init, k), k=k, seed=seed)
    elif init == "mean":
        mean = torch.zeros(G.z_dim, device=device) if space == "Z" else w_mean
        start = mean.expand(n_img * k, -1) if space != "W+" else G.broadcast(mean.expand(n_img * k, -1))
    else:
        raise ValueError(f"init must be 'auto', 'mean' or 'best_of_n', not {init!r}")
    latent = start.detach().clone().requires_grad_(True)

    # 2. Noise maps (StyleGAN2): per-image copies, given to each call through noise_override, never written to G.
    noise_names = noise_buffer_names(G) if optimize_noise else []
    noises = initial_noise(G, noise_names, n_img * k, seed)
    percept = perceptual_metric(device, perceptual) if perceptual_weight > 0 else None
    settings["perceptual_loss_network"] = percept.name if percept is not None else None
    l_percept = perceptual_to(percept, targets) if percept is not None else None

    opt = torch.optim.Adam([latent, *noises.values()], betas=(0.9, 0.999), lr=lr)
    history: list[dict] = []
    if progress:
        progress(0.0, f"step 0/{num_steps}")           # setup done: the steps' timing starts here
    for step in range(num_steps):
        t = step / num_steps
        cur_lr = _lr_at(t, lr, lr_rampup, lr_rampdown)
        for g in opt.param_groups:
            g["lr"] = cur_lr
        # 3. Ramped latent noise explores early, vanishes by noise_ramp_length (projector).
        noise_scale = w_std * initial_noise_factor * max(0.0, 1.0 - t / noise_ramp_length) ** 2
        noisy = (latent + torch.randn(latent.shape, generator=rng).to(device) * noise_scale if space != "Z"
                 else latent)
        ws = to_ws(G, noisy, space)
        img = _synthesis(G, ws, noises)
        # 4. Image2StyleGAN loss and the noise regulariser, each per run and summed over runs, so a run's
        #    gradients (and its Adam state) do not depend on the other runs in the batch.
        l_mse = mse(img, targets)
        l_p = l_percept(img) if l_percept is not None else torch.zeros_like(l_mse)
        loss = (mse_weight * l_mse + perceptual_weight * l_p).sum()
        total = loss + noise_reg_weight * noise_regularizer(list(noises.values())).sum() if noises else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        with torch.no_grad():
            for n in noises.values():                              # renormalise noise maps
                n -= n.mean(dim=(1, 2, 3), keepdim=True)
                n /= n.square().mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-8)
        history.append({"step": step + 1, "loss": loss.item() / (n_img * k), "mse": l_mse.detach().mean().item(),
                        "perceptual": l_p.detach().mean().item(), "lr": cur_lr})
        if step + 1 in snapshot_steps:
            history[-1]["snapshot"] = _snapshot(G, latent, space, noises, targets)
        if progress and ((step + 1) % progress_every == 0 or step + 1 == num_steps):
            progress((step + 1) / num_steps, f"step {step + 1}/{num_steps}  loss {history[-1]['loss']:.4f}")

    # 5. Keep the best restart per image, render without latent noise, measure.
    with torch.no_grad():
        ws = to_ws(G, latent, space)
        img = _synthesis(G, ws, noises)
        final = mse_weight * mse(img, targets)
        if percept is not None:
            final = final + perceptual_weight * l_percept(img)
        best = final.view(n_img, k).argmin(1) + torch.arange(n_img, device=device) * k
        latent_out, img_out = latent.detach()[best], img[best]
        noise_out = {n: v.detach()[best] for n, v in noises.items()} or None
        check_latent(G, latent_out, space)
        # The reported metric is always the standard one ("auto"), whatever network drove the loss.
        metrics = image_metrics(img_out, target, perceptual=perceptual_metric(device))
    return InversionResult(latent=latent_out, space=space, image=img_out, metrics=metrics, loss_history=history,
                           settings=settings, model=G.name, seconds=time.time() - t0, noise=noise_out)


@torch.no_grad()
def _snapshot(G, latent, space, noises, targets) -> dict:
    """PSNR / perceptual of every run at the current step (no latent noise), for quality-vs-steps curves."""
    ws = to_ws(G, latent, space)
    img = _synthesis(G, ws, noises)
    rows = image_metrics(img, targets, perceptual=perceptual_metric(targets.device))
    return {"psnr": [r["psnr"] for r in rows], "perceptual": [r["perceptual"] for r in rows]}


def result_summary(result: InversionResult) -> dict:
    """JSON-ready summary (no tensors)."""
    return {"model": result.model, "space": result.space, "seconds": round(result.seconds, 2),
            "metrics": result.metrics, "settings": result.settings,
            "final_loss": result.loss_history[-1]["loss"] if result.loss_history else None}


__all__ = ["InversionResult", "invert_optimize", "perceptual_to", "noise_regularizer", "initial_noise", "best_of_n", "w_stats",
           "result_summary", "asdict"]
