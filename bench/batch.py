"""Batch inversion benchmark: a folder of images one by one (``invert`` per file, as the CLI did) against
``invert_many`` (``batch_size`` images per optimisation), in one run.

    .venv/bin/python bench/batch.py [--images 16] [--steps 100] [--batch-size 16]

Images: the bundled DCGAN's own seeded samples written as PNG files (face-aligned like any photo).  Both
modes write the CLI's files for every image (``save_inversion``) and measure identity.  Target (issue 13):
the batched time per image is at most 1/5 of the one-by-one time per image, at the same mean PSNR within
0.5 dB.  Timings depend on machine load (see ``uptime``): the ratio comes from one run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ganinv.actions import invert as inv  # noqa: E402
from ganinv.actions.common import generator, tensor_to_pil  # noqa: E402
from ganinv.latent import render  # noqa: E402
from ganinv.settings import DEFAULT_MODEL, INVERT_BATCH, INVERT_STEPS  # noqa: E402


def write_samples(folder: str, n: int) -> list[str]:
    """``n`` seeded samples of the bundled model as PNG files."""
    G = generator(DEFAULT_MODEL, "cpu")
    with torch.no_grad():
        images = render(G, G.sample_z(n, seed=2024), "Z")
    paths = []
    for i, im in enumerate(tensor_to_pil(images)):
        paths.append(os.path.join(folder, f"sample{i:02d}.png"))
        im.save(paths[-1])
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--steps", type=int, default=INVERT_STEPS)
    ap.add_argument("--batch-size", type=int, default=INVERT_BATCH)
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load avg {os.getloadavg()[0]:.2f}, "
          f"{args.images} images, {args.steps} steps, batch size {args.batch_size}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_samples(tmp, args.images)
        inv.invert(files[0], method="optimize", steps=1, device="cpu")   # load the models once, outside the timings
        # The optimisation path is the one with a batched code (the default method may be another).
        settings = dict(method="optimize", steps=args.steps, device="cpu")

        t = time.perf_counter()
        alone = []
        for p in files:
            r = inv.invert(p, **settings)
            inv.save_inversion(r, os.path.join(tmp, "one"), os.path.splitext(os.path.basename(p))[0])
            alone.append(r)
        t_alone = time.perf_counter() - t
        print(f"one by one: {t_alone:.1f} s", flush=True)

        t = time.perf_counter()
        items = inv.invert_many(files, batch_size=args.batch_size, **settings, on_result=lambda it: inv.save_inversion(
            it.inversion, os.path.join(tmp, "many"), os.path.splitext(os.path.basename(it.source))[0]))
        t_many = time.perf_counter() - t
        print(f"batched: {t_many:.1f} s", flush=True)

    p_alone = np.array([r.metrics["psnr"] for r in alone])
    p_many = np.array([it.inversion.metrics["psnr"] for it in items])
    per_alone, per_many = t_alone / len(files), t_many / len(files)
    print(f"load avg at the end {os.getloadavg()[0]:.2f}")
    print("| mode | images | total (s) | per image (s) | mean PSNR (dB) |")
    print("|---|---|---|---|---|")
    print(f"| one by one (`invert` per file) | {len(files)} | {t_alone:.1f} | {per_alone:.2f} | {p_alone.mean():.3f} |")
    print(f"| batched (`invert_many`, batch {args.batch_size}) | {len(files)} | {t_many:.1f} | {per_many:.2f} | "
          f"{p_many.mean():.3f} |")
    ratio, dpsnr = per_many / per_alone, abs(p_many.mean() - p_alone.mean())
    print(f"batched / one-by-one time per image: {ratio:.3f} (target <= 0.2: {'ok' if ratio <= 0.2 else 'MISSED'}); "
          f"mean PSNR difference {dpsnr:.3f} dB (target <= 0.5: {'ok' if dpsnr <= 0.5 else 'MISSED'}); "
          f"largest per-image difference {np.abs(p_many - p_alone).max():.3f} dB")


if __name__ == "__main__":
    main()
