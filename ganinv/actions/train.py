"""Task: train the in-domain encoder a model's encoder / hybrid / layer-wise inversions start from.

In-Domain GAN Inversion (Zhu et al., ECCV 2020, eq. 3): E is trained to reconstruct images through G
with a perceptual and an adversarial term; e4e (Tov et al., SIGGRAPH 2021) adds W+ offsets.  Training
is resumable and saves checkpoints/encoder-<model>.safetensors (+ .json metadata) by default.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..invert.encoder import encoder_path, train_encoder as train_encoder_method
from ..settings import DEFAULT_MODEL, LATENT_SPACES, ProgressFn
from .common import InputError, check_steps, choice, generator, number, seed as check_seed

PERCEPTUAL_KINDS = ("discriminator", "auto", "lpips", "stlpips")   # F in the perceptual term
MAX_ENCODER_STEPS = 1_000_000


@dataclass
class TrainedEncoder:
    path: str                                   # the saved .safetensors
    steps_done: int
    seconds: float
    heldout: dict = field(default_factory=dict)  # psnr, ssim, perceptual, latent_fd on held-out samples
    log: list[dict] = field(default_factory=list)


def train_encoder(*, model: str = DEFAULT_MODEL, out: str | None = None, steps: int = 2000,
                  minutes: float | None = None, batch: int = 16, lr: float = 2e-4, l_vgg: float = 1.0,
                  l_adv: float = 0.05, l_latent: float = 0.0, l_code: float = 0.0, r1_gamma: float = 10.0,
                  space: str | None = None, e4e: bool = False,
                  perceptual: str = "discriminator", images: str | None = None, resume: bool = False,
                  save_every: int = 200, eval_samples: int = 64, seed: int = 0, device: str | None = None,
                  progress: ProgressFn | None = None) -> TrainedEncoder:
    """Train (or with ``resume`` continue) an encoder for ``model`` and save it to ``out``
    (default checkpoints/encoder-<model>.safetensors).  ``images``: a folder of real training images
    (default: generator samples); ``minutes``: stop and save after this wall time."""
    n = check_steps(steps, limit=MAX_ENCODER_STEPS)
    max_seconds = None if minutes in (None, "") else 60 * number(minutes, "Minutes", 0.01, 60 * 24 * 30)
    b = number(batch, "Batch", 1, 512, whole=True)
    lr = number(lr, "Learning rate", 1e-7, 1)
    weights = {k: number(v, what, 0, 1e3) for k, v, what in
               (("l_vgg", l_vgg, "Perceptual weight"), ("l_adv", l_adv, "Adversarial weight"),
                ("l_latent", l_latent, "Latent-adversarial weight"), ("l_code", l_code, "Code weight"),
                ("r1_gamma", r1_gamma, "R1 gamma"))}
    choice(perceptual, "Perceptual feature", PERCEPTUAL_KINDS)
    every = number(save_every, "Save every", 1, MAX_ENCODER_STEPS, whole=True)
    n_eval = number(eval_samples, "Evaluation samples", 0, 10_000, whole=True)
    s = check_seed(seed)
    if images not in (None, "") and not os.path.isdir(images):
        raise InputError(f"Training images: no folder {os.path.basename(str(images))!r}.")
    G = generator(model, device)
    if space not in (None, ""):
        choice(space, f"Encoder space for {G.name}", [x for x in LATENT_SPACES if G.supports(x)])
    if e4e and G.num_ws < 2:
        raise InputError(f"e4e predicts W+ offsets and needs a StyleGAN2 model; {G.name} has a single code.")
    path = out or encoder_path(G.name)
    r = train_encoder_method(G, steps=n, batch=b, lr=lr, space=space or None, e4e=bool(e4e), perceptual=perceptual,
                             images_dir=images or None, resume=path if resume else None, save_path=path,
                             save_every=every, max_seconds=max_seconds, eval_samples=n_eval, seed=s,
                             progress=progress, **weights)
    return TrainedEncoder(r.paths.get("weights", path), int(r.metadata.get("steps_done", n)),
                          float(r.metadata.get("train_seconds", 0.0)), dict(r.metadata.get("heldout", {})),
                          list(r.log))


__all__ = ["PERCEPTUAL_KINDS", "TrainedEncoder", "train_encoder"]
