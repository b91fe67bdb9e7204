"""Training loop of the encoder (domain-guided, force-in-domain, e4e; see the package docstring) and its
held-out evaluation."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ...io import center_crop_resize, list_images, load_image, pil_to_tensor
from ...latent import latent_shape, render
from ...losses import image_metrics, perceptual_metric
from ...models.base import Generator
from ...settings import RENDER_KWARGS, ProgressFn
from .checkpoint import checkpoint_paths, load_state, save_encoder, save_state
from .networks import Encoder, EncoderConfig, ImageDiscriminator, LatentDiscriminator, encode, sample_latents, \
    latent_frechet_distance


# --------------------------------------------------------------------------- training
@dataclass
class EncoderTrainResult:
    encoder: Encoder
    log: list[dict]                            # every ``log_every`` steps: step, losses, seconds
    metadata: dict                             # settings, data source, held-out metrics
    paths: dict[str, str] = field(default_factory=dict)


class _ImageFolder:
    """All images of a folder, centre-cropped to the model size, kept in memory as uint8."""

    def __init__(self, folder: str, resolution: int):
        files = list_images(folder)
        if not files:
            raise ValueError(f"no images in {folder}")
        imgs = [pil_to_tensor(center_crop_resize(load_image(p), resolution)) for p in files]
        self.data = ((torch.cat(imgs) + 1) * 127.5).round().to(torch.uint8)     # [M, 3, R, R]

    def batch(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.data), (n,), generator=gen)
        x = self.data[idx].float() / 127.5 - 1
        flip = torch.rand(n, generator=gen) < 0.5                 # horizontal flips: faces are symmetric
        return torch.where(flip[:, None, None, None], x.flip(3), x)


def _requires_grad(m: nn.Module | None, flag: bool) -> None:
    if m is not None:
        m.requires_grad_(flag)


def _r1(logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    (g,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return g.square().flatten(1).sum(1).mean()


def _discriminator_step(D: nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor, *,
                        r1_gamma: float, r1_every: int, do_r1: bool) -> tuple[float, float]:
    """One update of D (image or latent): non-saturating logistic loss, lazy R1 on the reals
    (every ``r1_every`` steps, scaled by it).  Returns (loss, r1)."""
    _requires_grad(D, True)
    real = real.detach().requires_grad_(do_r1)
    logit_real, logit_fake = D(real), D(fake.detach())
    loss = F.softplus(logit_fake).mean() + F.softplus(-logit_real).mean()
    r1 = _r1(logit_real, real) if do_r1 else torch.zeros(())
    opt.zero_grad(set_to_none=True)
    (loss + r1_gamma / 2 * r1_every * r1).backward()
    opt.step()
    return loss.item(), r1.item()


@torch.no_grad()
def evaluate_encoder(G: Generator, E: Encoder, *, n: int = 64, seed: int = 1_000_003,
                     images: torch.Tensor | None = None) -> dict:
    """Mean PSNR / SSIM / perceptual of G(E(x)) on ``images`` or on ``n`` held-out generator samples
    (a seed stream the training never uses), plus the latent Frechet distance to sampled codes."""
    x = images if images is not None else \
        torch.cat([G(z, **RENDER_KWARGS) for z in G.sample_z(n, seed=seed).split(32)])
    codes = encode(E, x)
    rec = torch.cat([render(G, c, E.space) for c in codes.split(32)])
    rows = image_metrics(rec, x, perceptual=perceptual_metric(x.device))
    flat = codes if E.space != "W+" else codes.flatten(0, 1)
    ref = sample_latents(G, max(len(flat), 2 * latent_shape(G, E.space)[-1]), E.space, seed=seed + 1)
    out = {k: sum(r[k] for r in rows) / len(rows) for k in ("psnr", "ssim", "perceptual")}
    return {**out, "perceptual_metric": rows[0]["perceptual_metric"], "n": len(rows),
            "latent_fd": latent_frechet_distance(flat, ref),
            "source": "images" if images is not None else f"generator samples (seed {seed})"}


def train_encoder(
    G: Generator,
    *,
    steps: int = 2000,                 # total optimisation steps (counting resumed ones)
    batch: int = 16,                   # images per step
    lr: float = 2e-4,                  # Adam learning rate for E and the discriminators
    l_vgg: float = 1.0,                # lambda_vgg: weight of the perceptual term
    l_adv: float = 0.05,               # lambda_adv: weight of the image-adversarial term
    r1_gamma: float = 10.0,            # gamma: R1 penalty on real images (and real latents)
    r1_every: int = 4,                 # lazy R1 (StyleGAN2 Sec. 3.1): every k steps, weighted by k
    l_code: float = 0.0,               # generator samples only: + l_code ||z - E(G(z))||^2 (see docstring)
    l_latent: float = 0.0,             # latent-adversarial weight: force-in-domain / e4e (0: off; e4e used 0.1)
    space: str | None = None,          # latent space of E; default W for StyleGAN2, Z for DCGANs
    e4e: bool = False,                 # e4e encoder (W+ = w + offsets), StyleGAN2 only
    l_delta: float = 2e-4,             # e4e lambda_d-reg on the offsets
    unlock_every: int = 200,           # e4e: steps between unlocking another offset
    perceptual: str = "discriminator",  # F: "discriminator" | "auto" | "lpips" | "stlpips"
    images_dir: str | None = None,     # folder of real training images; None: generator samples
    channel_base: int = 16,            # encoder / discriminator width
    resume: str | None = None,         # checkpoint path to continue from (if it exists)
    save_path: str | None = None,      # where to write checkpoints (default: resume)
    save_every: int = 200,             # steps between checkpoints
    log_every: int = 10,               # steps between log rows
    max_seconds: float | None = None,  # stop (and save) after this much wall time
    eval_samples: int = 64,            # held-out samples for the final PSNR
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> EncoderTrainResult:
    """Train an in-domain encoder for ``G`` (objectives in the module docstring); returns it with its log."""
    t0 = time.time()
    settings = {k: v for k, v in locals().items() if k not in ("G", "progress", "t0")}
    device = G.device
    config = EncoderConfig.for_generator(G, space=space, e4e=e4e, channel_base=channel_base)
    save_path = save_path or resume
    latent_avg = None if config.space == "Z" else G.w_avg
    E = Encoder(config, latent_avg).to(device).train()
    D = ImageDiscriminator(G.resolution, G.img_channels, channel_base).to(device)
    use_latent_d = l_latent > 0
    Dw = LatentDiscriminator(config.latent_dim).to(device) if use_latent_d else None
    opt_E = torch.optim.Adam(E.parameters(), lr=lr, betas=(0.9, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.9, 0.99))
    opt_Dw = torch.optim.Adam(Dw.parameters(), lr=lr, betas=(0.9, 0.99)) if Dw is not None else None
    data = _ImageFolder(images_dir, G.resolution) if images_dir else None
    source = f"real images from {images_dir} ({len(data.data)})" if data else f"samples of {G.name} (z ~ N(0, I))"
    percept = None if perceptual == "discriminator" else perceptual_metric(device, perceptual)
    gen = torch.Generator().manual_seed(seed)
    log: list[dict] = []
    start, elapsed0 = 0, 0.0

    # 0. Resume: weights, discriminators, optimiser moments, step counter, log.
    if resume and os.path.isfile(checkpoint_paths(resume)["state"]):
        start, elapsed0, log = load_state(resume, E, D, Dw, opt_E, opt_D, opt_Dw, gen)
    meta = {"model": G.name, "data": source, "perceptual_train": percept.name if percept else
            "discriminator features (Larsen et al. 2016)", "settings": settings}

    def save(step: int) -> dict:
        E.eval()
        paths = save_encoder(E, save_path, metadata={**meta, "steps_done": step,
                                                     "train_seconds": round(elapsed0 + time.time() - t0, 1)}, log=log)
        save_state(save_path, step, elapsed0 + time.time() - t0, E, D, Dw, opt_E, opt_D, opt_Dw, gen)
        E.train()
        return paths

    step = start
    for step in range(start + 1, steps + 1):
        if e4e:
            # Progressive training (e4e Sec. 3.3): one more offset every ``unlock_every`` steps.
            E.num_active.fill_(min(config.num_ws - 1, (step - 1) // unlock_every))
        with torch.no_grad():
            if data is not None:
                x = data.batch(batch, gen).to(device)
            else:
                z = torch.randn(batch, G.z_dim, generator=gen).to(device)
                x = G(z)                                                            # [B, C, R, R]

        # 1. Encoder step, eq. 3 first line (+ force-in-domain / e4e terms).
        _requires_grad(D, False)
        _requires_grad(Dw, False)
        base, deltas = E.parts(x)
        code = base if deltas is None else torch.cat([base[:, None], base[:, None] + deltas], 1)
        rec = render(G, code, config.space)   # StyleGAN2: fixed noise
        l_rec = (rec - x).square().mean()
        logit_rec, f_rec = D.features(rec)
        if percept is None:
            with torch.no_grad():
                f_x = D.features(x)[1]
            l_p = sum((a - b).square().mean() for a, b in zip(f_x, f_rec))
        else:
            l_p = percept(rec, x).mean()
        l_a = F.softplus(-logit_rec).mean()
        loss = l_rec + l_vgg * l_p + l_adv * l_a
        row = {"step": step, "rec": l_rec.item(), "percep": l_p.item(), "adv_E": l_a.item()}
        if l_code > 0 and data is None and config.space == "Z":
            l_c = (base - z).square().mean()
            loss = loss + l_code * l_c
            row["code"] = l_c.item()
        fake_codes = None
        if Dw is not None:
            fake_codes = code.flatten(0, 1) if code.ndim == 3 else code      # every per-layer code (e4e eq. 4)
            l_w = F.softplus(-Dw(fake_codes)).mean()
            loss = loss + l_latent * l_w
            row["adv_latent"] = l_w.item()
        if deltas is not None:
            l_d = deltas.norm(dim=2).sum(1).mean()                   # e4e eq. 3
            loss = loss + l_delta * l_d
            row["delta_reg"] = l_d.item()
        opt_E.zero_grad(set_to_none=True)
        loss.backward()
        opt_E.step()

        # 2. Image discriminator step, eq. 3 second line, R1 on reals.
        do_r1 = r1_gamma > 0 and step % r1_every == 0
        d_step = dict(r1_gamma=r1_gamma, r1_every=r1_every, do_r1=do_r1)
        l_D, r1 = _discriminator_step(D, opt_D, x, rec, **d_step)
        row.update(D=l_D, r1=r1)

        # 3. Latent discriminator step (force-in-domain / e4e): sampled codes are "real".
        if Dw is not None:
            real = sample_latents(G, len(fake_codes), config.space, generator=gen)
            row["D_latent"], _ = _discriminator_step(Dw, opt_Dw, real, fake_codes, **d_step)

        elapsed = elapsed0 + time.time() - t0
        if step % log_every == 0 or step == steps:
            log.append({**{k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()},
                        "seconds": round(elapsed, 1)})
        if progress and (step % log_every == 0 or step == steps):
            progress(step / steps, f"step {step}/{steps}  rec {row['rec']:.4f}  percep {row['percep']:.4f}")
        out_of_time = max_seconds is not None and time.time() - t0 >= max_seconds
        if save_path and (step % save_every == 0 or step == steps or out_of_time):
            save(step)
        if out_of_time:
            break

    E.eval()
    metrics = evaluate_encoder(G, E, n=eval_samples) if eval_samples > 0 else {}
    meta.update({"steps_done": step, "train_seconds": round(elapsed0 + time.time() - t0, 1), "heldout": metrics})
    paths = {}
    if save_path:
        paths = save_encoder(E, save_path, metadata=meta, log=log)
    return EncoderTrainResult(E.requires_grad_(False), log, meta, paths)


__all__ = ["EncoderTrainResult", "evaluate_encoder", "train_encoder"]
