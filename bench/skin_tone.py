"""Skin-tone change of every shipped direction on held-out samples, plain and with the tone held (issue 12).

    nice -n 10 .venv/bin/python bench/skin_tone.py [--samples 256] [--strength 2] [--seed 2000000]
        [--directions smile,age] [--out bench/out/skin_tone.json]

For each direction of the bundled celeba-dcgan-64 (ganinv.edit.directions), ``--samples`` latents
(``G.sample_z(samples, seed)``; the directions were trained on seed 0 and their effects measured
on seed 1,000,000) are edited by ``+--strength``:

  plain  the InterFaceGAN edit, w' = w + a n
  held   the app's default: w' stepped along the skin_tone boundary until the face's ITA is back
         (ganinv.edit.hold.hold_score with the edit action's tolerance and slope)

Per direction and variant: the mean ITA change (degrees; + = lighter), the share of faces within
5 degrees, the same two over the darkest quarter of the samples (by their own ITA), and the mean
change of the direction's own attribute (does the edit still work?).  A face the scorer cannot
find in any of the images is left out.  Scores: ganinv.attributes "face" scorer (MediaPipe
landmarks, ITA over cheeks and forehead).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ganinv.actions.edit import TONE_DIRECTION, TONE_TOLERANCE, tone_slope  # noqa: E402
from ganinv.attributes import get_scorer  # noqa: E402
from ganinv.edit.apply import edit  # noqa: E402
from ganinv.edit.directions import list_directions  # noqa: E402
from ganinv.edit.hold import hold_score  # noqa: E402
from ganinv.latent import render  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402

MODEL = "celeba-dcgan-64"


def summarise(d_ita: np.ndarray, d_attr: np.ndarray, dark: np.ndarray) -> dict:
    ok = np.isfinite(d_ita) & np.isfinite(d_attr)
    dk = ok & dark
    return {"n": int(ok.sum()), "mean_dita": float(np.mean(d_ita[ok])),
            "within5": float(np.mean(np.abs(d_ita[ok]) < 5)),
            "dark_n": int(dk.sum()), "dark_mean_dita": float(np.mean(d_ita[dk])),
            "dark_within5": float(np.mean(np.abs(d_ita[dk]) < 5)), "attribute_change": float(np.mean(d_attr[ok]))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--strength", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=2_000_000)
    ap.add_argument("--directions", default="all")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join("bench", "out", "skin_tone.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator(MODEL, "cpu")
    dirs = {d.name: d for d in list_directions(MODEL)}
    tone = dirs[TONE_DIRECTION]
    names = [n for n in dirs if n != TONE_DIRECTION] if args.directions == "all" else args.directions.split(",")
    face, skin = get_scorer("face"), get_scorer("skin")
    z = G.sample_z(args.samples, seed=args.seed)

    def draw(lat: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([render(G, c, "Z") for c in lat.split(64)])

    def ita(images: torch.Tensor) -> np.ndarray:
        return np.concatenate([skin.score(c)["ita"] for c in images.split(64)])

    def scores(images: torch.Tensor) -> dict[str, np.ndarray]:
        parts = [face.score(c) for c in images.split(64)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    t0 = time.time()
    base = scores(draw(z))
    dark = base["ita"] <= np.nanpercentile(base["ita"], 25)
    print(f"{args.samples} samples (seed {args.seed}), strength +{args.strength:g}; darkest quarter: ITA <= "
          f"{np.nanpercentile(base['ita'], 25):.1f} degrees; tone held within {TONE_TOLERANCE:g} degree by "
          f"stepping along {TONE_DIRECTION} (slope {tone_slope(tone):.1f} deg / unit)\n")
    print("| direction | attribute | variant | mean ITA change | within 5 deg | darkest quarter: mean | within 5 deg "
          "| attribute change | tone step (mean abs) |")
    print("|---|---|---|---|---|---|---|---|---|")
    table = {}
    for name in names:
        d = dirs[name]
        edited = edit(G, z, "Z", [d], [args.strength], render_image=False).latent
        plain = scores(draw(edited))
        r = hold_score(draw, ita, edited, tone.tensor().view(1, -1), base["ita"], slope=tone_slope(tone),
                       tolerance=TONE_TOLERANCE)
        held = scores(r.image)
        attr = d.attribute or name
        rows = {}
        for variant, sc in (("plain", plain), ("held", held)):
            s = summarise(sc["ita"] - base["ita"], sc[attr] - base[attr], dark)
            if variant == "held":
                s["mean_abs_step"] = float(np.mean(np.abs(r.correction)))
            rows[variant] = s
            print(f"| {name} | {attr} | {variant} | {s['mean_dita']:+.1f} | {s['within5']:.0%} | "
                  f"{s['dark_mean_dita']:+.1f} | {s['dark_within5']:.0%} | {s['attribute_change']:+.3f} | "
                  f"{s.get('mean_abs_step', 0):.2f} |", flush=True)
        table[name] = {"attribute": attr, **rows}
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model": MODEL, "samples": args.samples, "seed": args.seed, "strength": args.strength,
                   "tolerance": TONE_TOLERANCE, "directions": table}, f, indent=1)
    print(f"\n{time.time() - t0:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
