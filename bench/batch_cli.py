"""A folder through the CLI, as a user runs it: ``ganinv invert DIR --method optimize`` on N model samples
against the same command on one of them, and where the time goes.

    nice -n 5 .venv/bin/python bench/batch_cli.py [--images 8] [--steps 100] [--results batch-cli]

Images: the bundled DCGAN's seeded samples (seed 0..N-1) written as PNG files; every run is a fresh
process with the CLI's defaults apart from ``--method optimize`` (default alignment, identity metric,
every output file).  Four runs: N images and 1 image, each at ``--steps`` and at 1 step.  The 1-step runs
measure what does not scale with the steps (process start, imports, model load, alignment, metrics,
identity, files), so  optimisation = T(steps) - T(1 step)  for each folder.  Issue 13's target: the N-image
folder at most 1.6x the time of one image (>= 5x throughput at N = 8).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from _results import machine, write_results  # noqa: E402


def write_samples(folder: str, n: int) -> None:
    from ganinv.io import tensor_to_pil
    from ganinv.registry import load_generator
    import torch
    G = load_generator("celeba-dcgan-64", "cpu")
    with torch.no_grad():
        imgs = G(G.sample_z(n, seed=0))
    for i in range(n):
        tensor_to_pil(imgs[i]).save(os.path.join(folder, f"sample{i}.png"))


def run_cli(folder: str, out: str, steps: int) -> float:
    cmd = [sys.executable, "-m", "ganinv", "invert", folder, "--method", "optimize", "--steps", str(steps),
           "--out", out, "--quiet", "--offline"]
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--results", default="batch-cli")
    args = ap.parse_args()
    started = machine()
    with tempfile.TemporaryDirectory() as tmp:
        many, one = os.path.join(tmp, "many"), os.path.join(tmp, "one")
        os.makedirs(many)
        os.makedirs(one)
        write_samples(many, args.images)
        os.link(os.path.join(many, "sample0.png"), os.path.join(one, "sample0.png"))
        items = []
        for label, folder, n in (("one", one, 1), ("folder", many, args.images)):
            for steps in (args.steps, 1):
                s = run_cli(folder, os.path.join(tmp, f"out-{label}-{steps}"), steps)
                items.append({"run": label, "images": n, "steps": steps, "wall_s": s})
                print(f"{label:6s} {n} image(s), {steps:4d} steps: {s:6.1f} s", flush=True)
    t = {(r["run"], r["steps"]): r["wall_s"] for r in items}
    full, fixed = args.steps, 1
    summary = {"images": args.images, "steps": args.steps,
               "one_s": t["one", full], "folder_s": t["folder", full],
               "time_ratio": t["folder", full] / t["one", full],
               "throughput_ratio": args.images * t["one", full] / t["folder", full],
               "one_fixed_s": t["one", fixed], "folder_fixed_s": t["folder", fixed],
               "one_optimisation_s": t["one", full] - t["one", fixed],
               "folder_optimisation_s": t["folder", full] - t["folder", fixed]}
    summary["optimisation_ratio"] = summary["folder_optimisation_s"] / summary["one_optimisation_s"]
    print("  ".join(f"{k} {v:.2f}" for k, v in summary.items()))
    write_results(args.results, items, summary, started=started,
                  settings={"method": "optimize", "model": "celeba-dcgan-64", "cli_defaults": True,
                            "torch_threads": "torch default"})


if __name__ == "__main__":
    main()
