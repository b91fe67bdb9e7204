"""Inversion benchmark: per-step time and quality after 100 / 200 / 500 steps.

    .venv/bin/python bench/invert.py [--quick] [--skip-stylegan2]

Prints one markdown table.  Timings depend on machine load: compare rows from one run.
Cases: the bundled DCGAN on 16 of its own seeded samples and on the astronaut portrait;
a 256-px random-weight StyleGAN2 (grouped vs plain modulated convolution, in W+).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ganinv.invert.optimize import invert_optimize  # noqa: E402
from ganinv.io import center_crop_resize, pil_to_tensor  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402


def row(case: str, G, target, steps: int, **kw) -> dict:
    t = time.perf_counter()
    r = invert_optimize(G, target, num_steps=steps, **kw)
    dt = time.perf_counter() - t
    p = np.array([m["psnr"] for m in r.metrics])
    d = np.array([m["perceptual"] for m in r.metrics])
    out = {"case": case, "steps": steps, "s/step": dt / steps, "psnr_mean": p.mean(), "psnr_min": p.min(),
           "perceptual": d.mean(), "metric": r.metrics[0]["perceptual_metric"]}
    print(f"| {case} | {steps} | {out['s/step']:.3f} | {p.mean():.2f} | {p.min():.2f} | {d.mean():.4f} | "
          f"{out['metric']} |", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer images and steps (smoke run)")
    ap.add_argument("--skip-stylegan2", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    steps_list = [20, 50] if args.quick else [100, 200, 500]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load avg {os.getloadavg()[0]:.2f}")
    print("| case | steps | s/step | PSNR mean | PSNR min | perceptual | metric |")
    print("|---|---|---|---|---|---|---|")
    G = load_generator("celeba-dcgan-64", "cpu")
    n = 4 if args.quick else 16
    with torch.no_grad():
        own = G(G.sample_z(n, seed=1234))
    for steps in steps_list:
        row(f"dcgan own samples x{n} (pixel only)", G, own, steps, perceptual_weight=0.0)
    for steps in steps_list:
        row(f"dcgan own samples x{n} (pixel+perceptual)", G, own, steps)
    from skimage import data
    from PIL import Image
    astro = pil_to_tensor(center_crop_resize(Image.fromarray(data.astronaut()), 64))
    for steps in steps_list:
        row("dcgan astronaut (pixel+perceptual)", G, astro, steps)
    if not args.skip_stylegan2:
        stylegan2_rows(steps_list[:1] if not args.quick else [5])


def stylegan2_rows(steps_list) -> None:
    try:
        from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
    except ImportError as e:
        print(f"(StyleGAN2 rows skipped: {e})")
        return
    # The official 256-px config (FFHQ transfer-learning source net): channel_base 16384, max 512.
    cfg = StyleGAN2Config(resolution=256, channel_base=16384, channel_max=512)
    torch.manual_seed(0)
    G = StyleGAN2Generator(cfg).eval().requires_grad_(False)
    with torch.no_grad():
        target = G(G.sample_z(1, seed=5), noise_mode="const")
    for impl in ("grouped", "plain"):
        G.synthesis.fused_modconv = impl == "grouped"
        for steps in steps_list:
            row(f"stylegan2-256 random W+ ({impl} modconv)", G, target, steps)


if __name__ == "__main__":
    main()
