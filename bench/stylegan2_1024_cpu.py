"""A 1024-px StyleGAN2 on a CPU: seconds per pivot step and per tuning step of the default inversion,
peak memory, the expected time it states after its first step, and the total.

    .venv/bin/python bench/stylegan2_1024_cpu.py [--steps N] [--tune-steps N] [--photo PATH] [--results]

The generator has random weights in the architecture of NVIDIA's FFHQ 1024 network (StyleGAN2-ADA: z and w
512, 8 mapping layers, channel_base 32768, channel_max 512, conv_clamp 256; 18 ws), written as an
NVIDIA-format pickle (tests/models/conftest.py's writer, which needs no NVIDIA code) into a temporary
checkpoints folder under the registered file name of ``stylegan2-ffhq-1024``.  The registry then loads it
the normal way (restricted unpickler, strict state dict), and ``ganinv.actions.invert.invert`` inverts the
astronaut portrait (face aligned) with its defaults on this device: PTI, a W pivot then tuning, with the
step counts ``default_steps`` gives a 1024-px model on a CPU (or ``--steps`` / ``--tune-steps``).

Every step reports progress; a step's time is the gap between two reports of its phase (median per phase).
Peak RSS is the process's (getrusage).  Random weights make the reconstruction meaningless: only time and
memory are measured.  Timings swing with machine load: the load average is recorded at start and end.
With ``--results`` the figures go to docs/results/stylegan2-1024-cpu.json (README quotes them).
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GANINV_OFFLINE", "1")            # the file is placed locally: nothing is downloaded
from _results import ROOT, machine, write_results  # noqa: E402  (bench/ is on sys.path)

sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
MODEL = "stylegan2-ffhq-1024"
FFHQ_1024 = dict(z_dim=512, w_dim=512, resolution=1024, mapping_layers=8, channel_base=32768, channel_max=512,
                 conv_clamp=256)                        # StyleGAN2-ADA's ffhq.pkl (training config "paper1024")
STEP = re.compile(r"^(pivot|tuning): .*?(\d+)/(\d+)")


def rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_random_ffhq_1024(folder: str, seed: int = 0) -> tuple[str, int]:
    """A random-weight FFHQ-1024 StyleGAN2 as ``folder/<the registry's file name>``; (path, parameters)."""
    import torch
    from models.conftest import write_nvidia_pickle            # tests/models/conftest.py
    from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
    from ganinv.registry import MODELS
    torch.manual_seed(seed)
    G = StyleGAN2Generator(StyleGAN2Config(**FFHQ_1024), name="stylegan2").eval().requires_grad_(False)
    path = os.path.join(folder, MODELS[MODEL].filename)
    write_nvidia_pickle(G, path, os.path.join(folder, "canary"))
    assert not os.path.exists(os.path.join(folder, "canary")), "the pickle writer ran code"
    return path, sum(p.numel() for p in G.parameters())


def photo_image(path: str | None):
    from PIL import Image
    from skimage import data
    return Image.open(path) if path else Image.fromarray(data.astronaut())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=None, help="pivot steps (default: the CPU default for 1024 px)")
    ap.add_argument("--tune-steps", type=int, default=None, help="tuning steps (default: the CPU default)")
    ap.add_argument("--photo", default=None, help="portrait to invert (default: scikit-image's astronaut)")
    ap.add_argument("--results", action="store_true", help="write docs/results/stylegan2-1024-cpu.json")
    args = ap.parse_args()
    started = machine()
    print(f"load average at start: {started['load_average']}")
    with tempfile.TemporaryDirectory(prefix="ganinv-1024-") as folder:
        os.environ["GANINV_CHECKPOINTS"] = folder
        from ganinv.actions.common import EXPECTED_TIME, generator
        from ganinv.actions.invert import default_steps, invert
        t = time.perf_counter()
        path, n_params = write_random_ffhq_1024(folder)
        write_s = time.perf_counter() - t
        size_mb = os.path.getsize(path) / 1e6
        t = time.perf_counter()
        G = generator(MODEL, "cpu")                              # through the registry, as the app loads it
        load_s = time.perf_counter() - t
        rss_loaded = rss_mb()
        print(f"{MODEL}: {n_params / 1e6:.1f} M parameters, pickle {size_mb:.0f} MB written in {write_s:.1f} s, "
              f"loaded in {load_s:.1f} s; RSS {rss_loaded:.0f} MB")
        defaults = default_steps(G.resolution, "cpu")
        steps = args.steps or defaults["steps"]
        tune_steps = args.tune_steps or defaults["tune_steps"]
        reports: list[tuple[float, float, str]] = []
        t0 = time.perf_counter()

        def progress(fraction: float, message: str) -> None:
            now = time.perf_counter() - t0
            reports.append((now, fraction, message))
            print(f"{now:7.1f} s  {fraction:5.3f}  {message}", flush=True)
        inv = invert(photo_image(args.photo), model=MODEL, steps=steps, tune_steps=tune_steps, device="cpu",
                     progress=progress)
        total_s = time.perf_counter() - t0
    ended = machine()
    per_phase = step_times(reports)
    stated = next((m for _, _, m in reports if m.startswith(EXPECTED_TIME)), "")
    stated_at = next((t for t, _, m in reports if m.startswith(EXPECTED_TIME)), None)
    pivot, tuning = (statistics.median(per_phase[p]) if per_phase.get(p) else None for p in ("pivot", "tuning"))
    summary = {
        "model": MODEL, "parameters": n_params, "pickle_mb": round(size_mb, 1), "load_s": round(load_s, 1),
        "method": inv.method, "steps": steps, "tune_steps": tune_steps, "preparation": inv.prepared.note,
        "pivot_step_s": round(pivot, 2) if pivot else None, "tuning_step_s": round(tuning, 2) if tuning else None,
        "tuning_over_pivot": round(tuning / pivot, 2) if pivot and tuning else None,
        "expected_time_stated": stated, "expected_stated_after_s": round(stated_at, 1) if stated_at else None,
        "total_s": round(total_s, 1), "total_min": round(total_s / 60, 1), "method_s": round(inv.seconds, 1),
        "peak_rss_mb": round(rss_mb()), "rss_after_load_mb": round(rss_loaded),
        "load_average_start": started["load_average"], "load_average_end": ended["load_average"],
    }
    items = [{"phase": p, "steps_timed": len(v), "median_s": round(statistics.median(v), 2),
              "min_s": round(min(v), 2), "max_s": round(max(v), 2)} for p, v in per_phase.items() if v]
    for k, v in summary.items():
        print(f"{k}: {v}")
    if args.results:
        write_results("stylegan2-1024-cpu", items, summary, started=started,
                      settings={"architecture": FFHQ_1024, "device": "cpu", "photo": args.photo or "astronaut",
                                "steps": steps, "tune_steps": tune_steps})


def step_times(reports: list[tuple[float, float, str]]) -> dict[str, list[float]]:
    """Seconds between consecutive step reports of each phase, per step (a gap of k steps counts k times)."""
    out: dict[str, list[float]] = {}
    last: dict[str, tuple[float, int]] = {}
    for t, _, msg in reports:
        m = STEP.match(msg)
        if not m:
            continue
        phase, k = m.group(1), int(m.group(2))
        if phase in last and k > last[phase][1]:
            gap = (t - last[phase][0]) / (k - last[phase][1])
            out.setdefault(phase, []).extend([gap] * (k - last[phase][1]))
        last[phase] = (t, k)
    return out


if __name__ == "__main__":
    main()
