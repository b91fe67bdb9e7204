"""Timings of the real-photo pipeline on CPU: detection, alignment, paste-back, identity.

    python bench/faces.py [--repeats 3]

Prints the median of ``repeats`` runs after one warm-up call (model loading and first-call
kernel selection are reported separately).  Compare figures from one run only: timings
swing when other jobs share the CPU.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ganinv.faces import CELEBA_DCGAN, FFHQ, align, detect_faces, paste_back  # noqa: E402
from ganinv.identity import IdentityLoss, identity_distance  # noqa: E402


def timed(fn, repeats: int) -> tuple[float, float]:
    """(first call seconds, median of the following ``repeats`` calls)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return first, statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from skimage import data

    photo = Image.fromarray(data.astronaut())                               # 512x512
    big = photo.resize((2048, 2048), Image.LANCZOS)
    tiny = photo.crop((150, 50, 290, 190)).resize((64, 64), Image.LANCZOS)
    print(f"load avg {os.getloadavg()[0]:.1f}, torch threads {torch.get_num_threads()}")
    rows = [
        ("detect 512x512", lambda: detect_faces(photo)),
        ("detect 2048x2048", lambda: detect_faces(big)),
        ("detect 64x64 tight crop", lambda: detect_faces(tiny)),
    ]
    aligned = align(big, FFHQ)
    rows += [
        ("align FFHQ 1024 from 2048 photo (incl. detect)", lambda: align(big, FFHQ)),
        ("align celeba-dcgan 64 from 512 photo (incl. detect)", lambda: align(photo, CELEBA_DCGAN)),
        ("paste_back 1024 crop into 2048 photo", lambda: paste_back(big, aligned.image, aligned)),
        ("identity_distance 512 vs 512 (dlib)", lambda: identity_distance(photo, photo)),
    ]
    loss = IdentityLoss(FFHQ.with_size(256))
    x = torch.rand(4, 3, 256, 256) * 2 - 1
    y = loss.embed(torch.rand(4, 3, 256, 256) * 2 - 1).detach()

    def step():
        xx = x.clone().requires_grad_(True)
        loss(xx, y).sum().backward()

    rows += [(f"IdentityLoss fwd+bwd, batch 4 at 256 ({loss.network})", step)]
    for name, fn in rows:
        first, med = timed(fn, args.repeats)
        print(f"{name:55s} first {first * 1000:8.1f} ms   median {med * 1000:8.1f} ms")
    change = np.abs(np.asarray(paste_back(big, aligned.image, aligned), int) - np.asarray(big, int)).mean()
    print(f"unedited round trip: mean abs change {change:.3f} (0..255) over the whole photo")


if __name__ == "__main__":
    main()
