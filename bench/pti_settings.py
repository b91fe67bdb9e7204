"""PTI's settings against the paper's (Roich et al., TOG 2022) on dev faces: what each departure buys.

    nice -n 5 .venv/bin/python bench/pti_settings.py [--faces astronaut,players0,gdp0] [--threads 1]
        [--results pti-settings]

Per face (bench/editability.py's dev split: these faces may tune defaults), one pivot as the app makes
it (hybrid inversion from the shipped encoder, the app's settings), then ``pivotal_tuning`` with:
  paper            350 steps, LPIPS stop 0.06, locality L2 + LPIPS, a fresh w_r every step
  paper, no stop   the same without the stop
  default          ganinv's defaults (``pivotal_tuning`` called with no setting)
  no locality LPIPS / banked w_r   the default with one paper setting undone
Reported: steps run, CPU seconds of the tuning (one thread), PSNR and LPIPS-VGG of the tuned
reconstruction on 8-bit images.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from _results import machine, write_results  # noqa: E402

VARIANTS = {
    "paper": dict(num_steps=350, lpips_stop=0.06, locality_lpips=True, fresh_locality=True),
    "paper, no stop": dict(num_steps=350, lpips_stop=0.0, locality_lpips=True, fresh_locality=True),
    "default": {},
    "default, no locality LPIPS": dict(locality_lpips=False),
    "default, banked w_r": dict(fresh_locality=False),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--faces", default="astronaut,players0,gdp0")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", default="pti-settings")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    started = machine()
    import editability as E
    from ganinv.actions.invert_methods import _hybrid_run, method_encoder
    from ganinv.invert.pti import pivotal_tuning
    from ganinv.losses import perceptual_metric, psnr_8bit, quantize_8bit
    from ganinv.registry import load_generator
    G = load_generator(E.MODEL, "cpu")
    faces, _ = E.face_set(G, "dev")
    settings = E.app_settings(G, "pti")
    lpips = perceptual_metric("cpu", "lpips")
    items = []
    for name in args.faces.split(","):
        x = faces[name].tensor.cpu()
        p = _hybrid_run(G, method_encoder(G, None, False), x, settings, None)
        for label, kw in VARIANTS.items():
            t = time.process_time()
            r = pivotal_tuning(G, x, p.latent.detach(), space=p.space, seed=settings["seed"], **kw)
            row = {"face": name, "variant": label, "settings": kw, "steps_run": r.settings["steps_run"],
                   "cpu_s": time.process_time() - t, "psnr": float(psnr_8bit(r.image, x)),
                   "lpips_vgg": float(lpips(quantize_8bit(r.image), quantize_8bit(x))),
                   "pivot_psnr": float(psnr_8bit(r.pivot_image, x))}
            items.append(row)
            print(f"{name:10s} {label:28s} {row['steps_run']:4d} steps  {row['cpu_s']:6.1f} CPU s  "
                  f"PSNR {row['psnr']:5.2f} dB (pivot {row['pivot_psnr']:5.2f})  LPIPS {row['lpips_vgg']:.3f}",
                  flush=True)
    summary = {}
    for label in VARIANTS:
        rows = [r for r in items if r["variant"] == label]
        summary[label] = {k: sum(r[k] for r in rows) / len(rows) for k in ("steps_run", "cpu_s", "psnr", "lpips_vgg")}
    write_results(args.results, items, summary, started=started,
                  settings={"faces": args.faces.split(","), "split": "dev", "threads": args.threads,
                            "pivot": "hybrid, app settings", "app_settings": settings})


if __name__ == "__main__":
    main()
