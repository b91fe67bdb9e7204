"""High-level calls shared by the CLI and the app: one function per user action."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch
from PIL import Image

from .invert.optimize import InversionResult, invert_optimize, result_summary
from .io import center_crop_resize, load_image, pil_to_tensor, save_latent, tensor_to_pil, image_grid
from .latent import render
from .models.base import Generator
from .registry import DEFAULT_MODEL, load_generator

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass
class Prepared:
    image: Image.Image                          # model-sized RGB crop that is inverted
    tensor: torch.Tensor                        # [1, 3, R, R] in [-1, 1]
    note: str                                   # how the crop was made


def prepare_image(src, G: Generator) -> Prepared:
    """Load any image and crop / resize it to the model's resolution (centre crop)."""
    img = load_image(src)
    crop = center_crop_resize(img, G.resolution)
    return Prepared(crop, pil_to_tensor(crop).to(G.device), f"centre crop {min(img.size)}px -> {G.resolution}px")


def invert_image(src, *, model: str = DEFAULT_MODEL, device: str | None = None, progress=None,
                 **settings) -> tuple[InversionResult, Prepared]:
    """Load, prepare and invert one image with optimisation; ``settings`` go to ``invert_optimize``."""
    G = load_generator(model, device)
    prep = prepare_image(src, G)
    return invert_optimize(G, prep.tensor, progress=progress, **settings), prep


def sample_images(seeds: list[int], *, model: str = DEFAULT_MODEL, truncation_psi: float = 1.0,
                  device: str | None = None) -> list[Image.Image]:
    """One image per seed (the same seed gives the same image on every machine)."""
    G = load_generator(model, device)
    z = torch.cat([G.sample_z(1, seed=s) for s in seeds])
    with torch.no_grad():
        return tensor_to_pil(G(z, truncation_psi=truncation_psi))


def render_latent(latent: torch.Tensor, space: str, *, model: str = DEFAULT_MODEL,
                  device: str | None = None) -> list[Image.Image]:
    G = load_generator(model, device)
    with torch.no_grad():
        return tensor_to_pil(render(G, latent.to(G.device), space))


def loss_curve_figure(history: list[dict]):
    """Matplotlib figure of the loss terms per step (log scale)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    steps = [h["step"] for h in history]
    for key in ("loss", "mse", "perceptual"):
        vals = [h[key] for h in history]
        if any(v > 0 for v in vals):
            ax.plot(steps, vals, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def save_inversion(result: InversionResult, prep: Prepared, outdir: str, stem: str) -> dict[str, str]:
    """Write <stem>_recon.png, <stem>_target.png, <stem>.npz, <stem>_metrics.json, <stem>_loss.png."""
    import matplotlib.pyplot as plt
    os.makedirs(outdir, exist_ok=True)
    paths = {k: os.path.join(outdir, stem + suffix) for k, suffix in
             [("recon", "_recon.png"), ("target", "_target.png"), ("compare", "_compare.png"),
              ("latent", ".npz"), ("metrics", "_metrics.json"), ("loss", "_loss.png")]}
    recon = tensor_to_pil(result.image[0])
    recon.save(paths["recon"])
    prep.image.save(paths["target"])
    image_grid([prep.image, recon]).save(paths["compare"])
    save_latent(paths["latent"], result.latent, model=result.model, space=result.space,
                extra={"metrics": result.metrics[0], "source": stem})
    with open(paths["metrics"], "w") as f:
        json.dump({**result_summary(result), "loss_history": result.loss_history}, f, indent=1)
    fig = loss_curve_figure(result.loss_history)
    fig.savefig(paths["loss"])
    plt.close(fig)
    return paths


def list_images(path: str) -> list[str]:
    """``path`` itself if it is a file, else the image files in the folder (sorted, not recursive)."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"no such file or folder: {path}")
    return sorted(os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_EXTS))
