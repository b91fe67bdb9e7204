"""Glue for the app's "other inversion methods / compare" panel: run one named method family on
one prepared image and return a uniform record (image, latent if the method has one, metrics, time).

No new algorithm here: each method is the library function of its own module
(optimize, encoder, hybrid, multicode, layerwise); this module only dispatches and measures.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..losses import image_metrics
from ..models.base import Generator

ProgressFn = Callable[[float, str], None]
METHODS = ("optimize", "encoder", "hybrid", "multicode", "layerwise")
LATENT_METHODS = ("optimize", "encoder", "hybrid")   # results usable as one code by the other tabs


@dataclass
class MethodRun:
    method: str
    image: torch.Tensor                # [1, C, H, W] reconstruction in [-1, 1]
    latent: torch.Tensor | None        # [1, *latent_shape(space)], None for multi-code / layer-wise
    space: str | None
    metrics: dict                      # psnr, ssim, perceptual, perceptual_metric vs the target
    seconds: float
    diff: torch.Tensor | None = None   # [1, 1, H, W] in [0, 1], layer-wise: what G cannot reproduce


def run_method(G: Generator, target: torch.Tensor, method: str, *,
               steps: int = 50,                 # optimisation steps (encoder: ignored)
               n_codes: int = 8,                # multi-code N
               layer: str | None = None,        # multi-code / layer-wise layer; None: the middle one
               encoder=None,                    # Encoder for encoder / hybrid (and layer-wise start)
               l_dom: float | None = None,      # hybrid: domain weight; None: invert_hybrid's default
               seed: int = 0,
               progress: ProgressFn | None = None) -> MethodRun:
    """Invert ``target`` [1, C, R, R] in [-1, 1] with one method family."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if steps < 1 or n_codes < 1:
        raise ValueError("steps and n_codes must be >= 1")
    if l_dom is not None and not (0 <= l_dom <= 100):           # also refuses NaN
        raise ValueError(f"the domain weight must be between 0 and 100, got {l_dom}")
    if method in ("encoder", "hybrid") and encoder is None:
        raise ValueError(f"{method} needs a trained encoder for {G.name}")
    t0 = time.time()
    x = target.to(G.device, torch.float32)
    latent = space = diff = None
    if method == "optimize":
        from .optimize import invert_optimize
        r = invert_optimize(G, x, num_steps=steps, seed=seed, progress=progress)
        img, latent, space = r.image, r.latent, r.space
    elif method == "encoder":
        from .encoder import encode
        from ..latent import to_ws
        latent, space = encode(encoder, x), encoder.space
        with torch.no_grad():
            img = G.synthesis(to_ws(G, latent, space), noise_mode="const")
        if progress:
            progress(1.0, "encoded in one pass")
    elif method == "hybrid":
        from .hybrid import invert_hybrid
        extra = {} if l_dom is None else {"l_dom": float(l_dom)}
        r = invert_hybrid(G, encoder, x, num_steps=steps, progress=progress, **extra)
        img, latent, space = r.image, r.latent, r.space
    elif method == "multicode":
        from .multicode import invert_multicode
        r = invert_multicode(G, x, n_codes=n_codes, layer=layer, num_steps=steps, seed=seed, progress=progress)
        img = r.image
    else:
        from .layerwise import invert_layerwise
        r = invert_layerwise(G, x, layer=layer, encoder=encoder, latent_steps=steps, num_steps=steps, seed=seed,
                             progress=progress)
        img, diff = r.image, r.diff
    img = img.detach()
    metrics = image_metrics(img, x)[0]
    return MethodRun(method, img.cpu(), None if latent is None else latent.detach().cpu(), space, metrics,
                     time.time() - t0, None if diff is None else diff.detach().cpu())


__all__ = ["METHODS", "LATENT_METHODS", "MethodRun", "run_method"]
