"""Disentanglement matrix of the shipped directions: ``python scripts/disentanglement.py``.

For every shipped direction of ``--model``, held-out samples (``G.sample_z(num, eval_seed)``,
a seed no direction was trained on) are moved by -strength, 0 and +strength and scored by the
face scorer; for every score the mean paired change from 0 to +strength ("plus"), from 0 to
-strength ("minus") and from -strength to +strength ("span", with its standard error) is kept.
Means are over the samples whose face is found in all three images.

Writes ``directions/<model>/disentanglement.json`` (format ``ganinv-disentanglement/1``, read by
the app) and the matrix between the markers in ``directions/README.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ganinv.attributes import get_scorer  # noqa: E402
from ganinv.edit import directions_root, list_directions, measure_effect  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402

FORMAT = "ganinv-disentanglement/1"
UNITS = {"smile": "0..1", "mouth_open": "0..1", "eyes_closed": "0..1", "yaw": "degrees", "pitch": "degrees",
         "angry": "P", "disgust": "P", "fear": "P", "happy": "P", "sad": "P", "surprise": "P", "neutral": "P",
         "ita": "degrees", "age": "years", "male": "P(male)"}
README_COLUMNS = ("smile", "mouth_open", "eyes_closed", "yaw", "pitch", "happy", "ita", "age", "male")
START, END = "<!-- disentanglement:start -->", "<!-- disentanglement:end -->"


def measure(G, scorer, *, strength: float, num_samples: int, seed: int) -> dict:
    rows = []
    for d in list_directions(G.name):
        t = time.perf_counter()
        eff = measure_effect(G, d, scorer, strength=strength, num_samples=num_samples, seed=seed)
        rnd = lambda v: round(v, 4)  # noqa: E731
        rows.append({"name": d.name, "method": d.method, "attribute": d.attribute,
                     "detection_rate": rnd(eff.detection_rate), "num_paired": eff.num_paired,
                     "plus": {k: rnd(eff.plus[k] - eff.before[k]) for k in scorer.names},
                     "minus": {k: rnd(eff.minus[k] - eff.before[k]) for k in scorer.names},
                     "span": {k: rnd(eff.delta(k)) for k in scorer.names},
                     "sem": {k: rnd(eff.sem[k]) for k in scorer.names}})
        print(f"{d.name:<22} {d.attribute:>12}: {eff.delta(d.attribute):+8.3f} +- {eff.sem[d.attribute]:.3f} "
              f"({eff.num_paired} paired, {time.perf_counter() - t:.0f} s)", flush=True)
    return {"format": FORMAT, "model": G.name, "space": "Z", "scorer": scorer.name, "strength": strength,
            "eval_seed": seed, "num_samples": num_samples, "attributes": list(scorer.names), "units": UNITS,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "directions": rows}


def markdown(result: dict) -> str:
    s = result["strength"]
    head = ["direction", *[f"{c} ({UNITS[c]})" for c in README_COLUMNS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["directions"]:
        cells = []
        for c in README_COLUMNS:
            v = r["span"][c]
            text = f"{v:+.1f}" if UNITS[c] in ("degrees", "years") else f"{v:+.2f}"
            cells.append(f"**{text}**" if c == r["attribute"] else text)
        lines.append(f"| {r['name']} | " + " | ".join(cells) + " |")
    sem = {c: max(r["sem"][c] for r in result["directions"]) for c in README_COLUMNS}
    noise = ", ".join(f"{c} {v:.1f}" if UNITS[c] in ("degrees", "years") else f"{c} {v:.3f}" for c, v in sem.items())
    return (f"Mean change of each score from strength -{s:g} to +{s:g} over {result['num_samples']} held-out samples "
            f"(`G.sample_z({result['num_samples']}, seed={result['eval_seed']})`, paired, faces found in all "
            f"three images); bold: the direction's own attribute.  Largest standard error per column: {noise}.  "
            f"Written by `scripts/disentanglement.py`; every score and the 0 -> +{s:g} / 0 -> -{s:g} halves are in "
            f"`{result['model']}/disentanglement.json`.\n\n" + "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="celeba-dcgan-64")
    p.add_argument("--strength", type=float, default=2.0)
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--eval-seed", type=int, default=3_000_000, help="held out: not a training or effect seed")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    G = load_generator(args.model, "cpu")
    result = measure(G, get_scorer("face"), strength=args.strength, num_samples=args.samples, seed=args.eval_seed)
    folder = os.path.join(directions_root(), G.name)
    with open(os.path.join(folder, "disentanglement.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    readme = os.path.join(directions_root(), "README.md")
    with open(readme) as f:
        text = f.read()
    if START in text and END in text:
        i, j = text.index(START) + len(START), text.index(END)
        with open(readme, "w") as f:
            f.write(text[:i] + "\n" + markdown(result) + text[j:])
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
