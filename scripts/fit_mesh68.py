"""Derive ``ganinv.attributes.skin.MESH_TO_IBUG68``: for each of dlib's 68 iBUG landmarks, the
MediaPipe face-mesh vertex (of 478) that lies nearest to it, in the median over many faces.

    python scripts/fit_mesh68.py [--samples 300]

Faces: seeded samples of the bundled DCGAN (upsampled to 256 px, as the scorers see them) and
the astronaut photo.  Distances are in units of the inter-ocular distance (IOD).  Prints the
table and the per-point median error.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ganinv.attributes import get_scorer  # noqa: E402
from ganinv.attributes.base import to_uint8_hwc  # noqa: E402
from ganinv.faces import detect_faces  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402


def pairs(images: torch.Tensor, size: int = 256):
    """Yield (dlib [68, 2], mesh [478, 2]) in the pixels of the ``size`` px image, for faces both find."""
    landmarker = get_scorer("landmarker")
    native, big = to_uint8_hwc(images), to_uint8_hwc(images, size)
    for small, im in zip(native, big, strict=True):
        obs = landmarker.observe_uint8(im)
        faces = detect_faces(small)
        if obs is None or not faces:
            continue
        yield faces[0].landmarks * (im.shape[1] / small.shape[1]), obs.landmarks[:, :2] * [im.shape[1], im.shape[0]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=300)
    args = ap.parse_args()
    from skimage import data
    G = load_generator("celeba-dcgan-64", "cpu")
    with torch.no_grad():
        images = G(G.sample_z(args.samples, seed=2024))
    astro = torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 127.5 - 1
    dists = []                                                   # [faces, 68, 478] in IOD
    for images_i in (images, astro):
        for lm, mesh in pairs(images_i):
            iod = np.hypot(*(lm[42:48].mean(0) - lm[36:42].mean(0)))
            dists.append(np.linalg.norm(lm[:, None] - mesh[None], axis=-1) / iod)
    med = np.median(np.stack(dists), axis=0)                     # [68, 478]
    table = med.argmin(1)
    print(f"{len(dists)} faces")
    print("MESH_TO_IBUG68 = (" + ", ".join(str(int(v)) for v in table) + ")")
    err = med[np.arange(68), table]
    print("median error per point (IOD):", np.round(err, 3).tolist())
    print(f"mean {err.mean():.3f}, max {err.max():.3f} (point {int(err.argmax())})")


if __name__ == "__main__":
    main()
