"""README's before / after picture: a real photo inverted with the default pipeline, edited and pasted back.

    .venv/bin/python scripts/make_readme_figure.py [--photo PATH] [--direction smile=2] [--out docs/before_after.png]
        [--results before-after]

README's figure: ``--photo tests/data/heldout/biden.jpg`` (a held-out portrait: it tuned nothing; a public-domain
White House photo from the face_recognition package, scripts/heldout_faces.py), smile +2.  Every figure in the
caption is read off the full-resolution photos (``ganinv.actions.edit.score_photo``) and written, with the
render's, to docs/results/<--results>.json.

The photo (default: scikit-image's astronaut, public domain) goes through exactly what the app's
Invert and Edit tabs do with their defaults: ``ganinv.actions.invert.invert`` (PTI), then
``ganinv.actions.edit.edit`` on the session record with paste-back (skin tone held).  The figure
shows the photo's face region, the same region after the edit, and the 64-px model crops (target,
reconstruction, edit) enlarged; the caption line below it gives the numbers.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image, ImageDraw  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
from _results import machine, write_results  # noqa: E402
from ganinv.actions import Source, edit, invert  # noqa: E402
from ganinv.io import tensor_to_pil  # noqa: E402


def face_box(prepared, margin: float = 0.35) -> tuple[int, int, int, int]:
    """A square around the aligned face's quad in the photo, with ``margin`` of its size around it."""
    xs, ys = prepared.aligned.quad[:, 0], prepared.aligned.quad[:, 1]
    cx, cy, size = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(max(xs) - min(xs), max(ys) - min(ys))
    half = size * (0.5 + margin)
    w, h = prepared.original.size
    return (int(max(0, cx - half)), int(max(0, cy - half)), int(min(w, cx + half)), int(min(h, cy + half)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", default=None, help="default: scikit-image's astronaut")
    ap.add_argument("--direction", default="smile=2")
    ap.add_argument("--out", default=os.path.join("docs", "before_after.png"))
    ap.add_argument("--results", default=None, help="also write docs/results/<this name>.json")
    args = ap.parse_args()
    started = machine()
    if args.photo is None:
        from skimage import data
        photo = Image.fromarray(data.astronaut())
    else:
        photo = args.photo
    name, value = args.direction.split("=")
    inv = invert.invert(photo, align="face")
    r = edit.edit(Source("session", record=inv.record), {name: float(value)}, paste=True)      # scored on the photo
    prep = inv.prepared
    box = face_box(prep)
    side = 384
    before = prep.original.crop(box).resize((side, side), Image.LANCZOS)
    after = r.pasted.crop(box).resize((side, side), Image.LANCZOS)
    crops = [prep.image, tensor_to_pil(inv.image[0]), tensor_to_pil(r.image[0])]
    small = side // 3
    sheet = Image.new("RGB", (2 * side + small + 16, side + 40), "white")
    sheet.paste(before, (0, 0))
    sheet.paste(after, (side + 8, 0))
    for i, c in enumerate(crops):
        sheet.paste(c.resize((small, small), Image.NEAREST), (2 * side + 16, i * small))
    m = inv.metrics
    ps = r.photo_scores
    attr = {"gender": "male"}.get(name, name)
    text = (f"photo | {name} {float(value):+g}, pasted back (flow) | model crops: target, PTI reconstruction, edit. "
            f"On the photo: {attr} {ps[attr][0]:.2f} -> {ps[attr][1]:.2f}, ArcFace "
            f"{r.identity['photo_arcface_similarity']:.2f} to the original, skin ITA {ps['ita'][0]:.0f} -> "
            f"{ps['ita'][1]:.0f} deg, Delta E {ps['skin_delta_e'][1]:.1f}, yaw {ps['yaw'][1] - ps['yaw'][0]:+.1f} deg")
    ImageDraw.Draw(sheet).text((6, side + 12), text, fill="black")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    sheet.save(args.out)
    print(text)
    print(args.out)
    if args.results:
        write_results(args.results, [{"photo": os.path.basename(str(args.photo or "astronaut")), "direction": name,
                                      "strength": float(value), "photo_scores": ps, "identity": r.identity,
                                      "held": r.held, "inversion": m}],
                      {"attribute": attr, "before": ps[attr][0], "after": ps[attr][1],
                       "arcface_photo": r.identity["photo_arcface_similarity"], "ita_before": ps["ita"][0],
                       "ita_after": ps["ita"][1], "skin_delta_e": ps["skin_delta_e"][1],
                       "yaw_change": ps["yaw"][1] - ps["yaw"][0], "pitch_change": ps["pitch"][1] - ps["pitch"][0]},
                      started=started, settings={"figure": args.out, "pipeline": "app defaults (PTI; edit with "
                                                 "hold, keep tone, flow paste)"})


if __name__ == "__main__":
    main()
