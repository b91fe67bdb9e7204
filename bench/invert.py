"""Inversion benchmark: per-step time and quality after 100 / 200 / 500 steps.

    nice -n 5 .venv/bin/python bench/invert.py [--quick] [--skip-stylegan2] [--threads 2]

Prints one markdown table.  Timings depend on machine load: compare rows from one run.
Cases: the bundled DCGAN on 16 of its own seeded samples (``G.sample_z(16, seed=1234)``, one
batch) and on the astronaut portrait; a 256-px random-weight StyleGAN2 (grouped vs plain
modulated convolution, in W+).

Two kinds of rows: "at step s of one run" measures every listed step inside one run of the
largest step count (its learning-rate schedule spans that count); "own run of s steps" runs each
count with its own schedule, which is what ``ganinv invert --steps s`` does (the issue 15 target:
the default settings at 500 steps reach >= 45 dB mean PSNR on the 16 samples).
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
from ganinv.registry import load_generator  # noqa: E402


def rows(case: str, G, target, steps_list: list[int], **kw) -> None:
    """One run of max(steps_list) steps; quality measured at each listed step of that run.

    Restarts (several starts per image, best kept) are counted in the time per step.
    """
    steps = max(steps_list)
    t = time.perf_counter()
    r = invert_optimize(G, target, num_steps=steps, snapshot_steps=tuple(steps_list), **kw)
    dt = (time.perf_counter() - t) / steps
    metric = r.metrics[0]["perceptual_metric"]
    k = max(1, kw.get("restarts", 1))
    for h in r.loss_history:
        if "snapshot" not in h:
            continue
        # Per image, the best of its k restarts at this step.
        p = np.array(h["snapshot"]["psnr"]).reshape(-1, k)
        d = np.array(h["snapshot"]["perceptual"]).reshape(-1, k)
        best = p.argmax(1)
        p, d = p[np.arange(len(p)), best], d[np.arange(len(d)), best]
        print(f"| {case} | {h['step']} | {dt:.3f} | {p.mean():.2f} | {p.min():.2f} | {d.mean():.4f} | {metric} |",
              flush=True)


def own_runs(case: str, G, target, steps_list: list[int], **kw) -> None:
    """One run per step count, each with its own schedule (as ``--steps s`` runs); mean and min over images."""
    for steps in steps_list:
        t = time.perf_counter()
        r = invert_optimize(G, target, num_steps=steps, **kw)
        dt = (time.perf_counter() - t) / steps
        p = np.array([m["psnr"] for m in r.metrics])
        d = np.array([m["perceptual"] for m in r.metrics])
        print(f"| {case}, own run | {steps} | {dt:.3f} | {p.mean():.2f} | {p.min():.2f} | {d.mean():.4f} | "
              f"{r.metrics[0]['perceptual_metric']} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer images and steps (smoke run)")
    ap.add_argument("--skip-stylegan2", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps_list = [20, 50] if args.quick else [100, 200, 500]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load avg {os.getloadavg()[0]:.2f}")
    print("| case | steps | s/step | PSNR mean | PSNR min | perceptual | metric |")
    print("|---|---|---|---|---|---|---|")
    G = load_generator("celeba-dcgan-64", "cpu")
    n = 4 if args.quick else 16
    with torch.no_grad():
        own = G(G.sample_z(n, seed=1234))
    rows(f"dcgan own samples x{n} (pixel only)", G, own, steps_list, perceptual_weight=0.0)
    rows(f"dcgan own samples x{n} (pixel+perceptual)", G, own, steps_list)
    own_runs(f"dcgan own samples x{n} (defaults)", G, own, steps_list)
    from skimage import data
    from PIL import Image
    from ganinv.actions.faces import prepare_image
    astro = prepare_image(Image.fromarray(data.astronaut()), G).tensor      # face-aligned crop
    rows("dcgan astronaut, aligned (pixel+perceptual)", G, astro, steps_list)
    rows("dcgan astronaut, aligned (pixel+perceptual, stlpips-alex loss)", G, astro, steps_list,
         perceptual="stlpips-alex")
    if not args.skip_stylegan2:
        stylegan2_rows([20] if not args.quick else [3])


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
        rows(f"stylegan2-256 random W+ ({impl} modconv; timing only, random weights)", G, target, steps_list)


if __name__ == "__main__":
    main()
