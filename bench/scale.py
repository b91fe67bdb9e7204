"""Throughput of ``ganinv evaluate`` on this machine: the in-process engine and the Ray engine with 1 and 2 workers.

The image set is N samples of the bundled model (seeds from ``--first-seed``): the engines' cost does not depend
on where the pixels come from, and samples need no download.  Each engine starts from an empty results folder;
the Ray runs include starting a local Ray and the actors (each loads the model and the metric networks once),
which is the overhead stated.  Writes docs/results/scale.json (command, commit, machine before / after, per-image
figures) and prints a table.

    .venv/bin/python bench/scale.py [--images 64] [--methods encoder,optimize] [--steps 20]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from ganinv.actions import evaluate as ev  # noqa: E402
from ganinv.actions.models import sample  # noqa: E402


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
            "torch": torch.__version__, "ray": _ray_version()}


def _ray_version() -> str | None:
    try:
        return ev.import_ray().__version__
    except ev.MissingDependencyError:
        return None


def write_samples(folder: str, n: int, first_seed: int) -> None:
    os.makedirs(folder, exist_ok=True)
    for lo in range(first_seed, first_seed + n, 16):      # sample() takes at most 16 seeds a call
        seeds = list(range(lo, min(lo + 16, first_seed + n)))
        for s, im in zip(seeds, sample(seeds, device="cpu")):
            im.save(os.path.join(folder, f"seed{s}.png"))


def run(images: str, out: str, args, **engine) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    r = ev.evaluate(images, out=out, methods=args.methods.split(","), steps=args.steps,
                    perceptual_weight=args.perceptual_weight, device="cpu", **engine)
    wall = time.perf_counter() - t0
    with open(os.path.join(out, ev.TABLE_FILE)) as f:
        rows = list(csv.DictReader(f))
    return {"engine": r.engine, "workers": engine.get("workers", 1), "wall_s": round(wall, 2), "pairs": r.ran,
            "images_per_s": round(r.ran / wall, 3), "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--first-seed", type=int, default=700000)
    p.add_argument("--methods", default="encoder,optimize")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--perceptual-weight", type=float, default=0.0)
    p.add_argument("--workers", default="1,2")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "scale"))
    p.add_argument("--json", default=os.path.join(ROOT, "docs", "results", "scale.json"))
    args = p.parse_args()
    torch.set_num_threads(1)                    # one thread, as each Ray actor (1 CPU) runs
    start = machine()
    images = os.path.join(args.out, "images")
    shutil.rmtree(images, ignore_errors=True)
    write_samples(images, args.images, args.first_seed)
    runs = [run(images, os.path.join(args.out, "inprocess"), args)]
    for w in (int(x) for x in args.workers.split(",")):
        runs.append(run(images, os.path.join(args.out, f"ray{w}"), args, engine="ray", workers=w))
    base = runs[0]
    psnr = {(r["method"], r["image"]): float(r["psnr"]) for r in base["rows"]}
    items = []
    for r in runs:
        for row in r["rows"]:
            items.append({"engine": r["engine"], "workers": r["workers"], "method": row["method"],
                          "image": row["image"], "seconds": float(row["seconds"]), "psnr": float(row["psnr"])})
        r["max_psnr_diff_vs_inprocess_db"] = max(abs(float(x["psnr"]) - psnr[x["method"], x["image"]])
                                                 for x in r["rows"])
    summary = {f"{r['engine']}-{r['workers']}": {k: v for k, v in r.items() if k != "rows"} for r in runs}
    ray1 = next(r for r in runs if r["engine"] == "ray" and r["workers"] == 1)
    summary["ray_overhead_s"] = round(ray1["wall_s"] - base["wall_s"], 2)
    doc = {"format": "ganinv-results/1", "name": "scale",
           "command": "python bench/scale.py " + " ".join(sys.argv[1:]),
           "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip(),
           "settings": {"images": args.images, "first_seed": args.first_seed, "methods": args.methods,
                        "steps": args.steps, "perceptual_weight": args.perceptual_weight,
                        "image_set": "bundled celeba-dcgan-64 samples (generator output, not photos)"},
           "machine_at_start": start, "machine_at_end": machine(), "summary": summary, "items": items}
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
    print("| engine | workers | (method, image) pairs | wall s | pairs / s | max PSNR diff vs in-process |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['engine']} | {r['workers']} | {r['pairs']} | {r['wall_s']:.1f} | {r['images_per_s']:.2f} | "
              f"{r['max_psnr_diff_vs_inprocess_db']:.4f} dB |")
    print(f"Ray overhead (1 worker wall - in-process wall): {summary['ray_overhead_s']:.1f} s")


if __name__ == "__main__":
    main()
