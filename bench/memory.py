"""Memory of a running app server under many cheap requests, and the model cache's LRU budget.

    .venv/bin/python bench/memory.py [--requests 200] [--every 20] [--max-models 2]

Starts ``python app.py`` on a free port (offline, CPU) with ``GANINV_MAX_MODELS=--max-models`` and
a temporary ``GANINV_CHECKPOINTS`` folder holding two tiny random StyleGAN2 checkpoints
(``local:tiny-a.safetensors``, ``local:tiny-b.safetensors``).  Then:

1. ``--requests`` calls cycling through cheap endpoints (per 10 calls: 5 ``/sample``, 3
   ``/load_latent``, 2 ``/invert`` with 1 step and no perceptual term), printing the server's RSS
   every ``--every`` calls and the growth after the first ``--every`` (warm-up: imports, first
   model load, allocator pools).  A leak shows as steady growth; a plateau is the allocator's
   high-water mark.
2. The LRU budget: ``/sample`` from three models in turn, printing ``/loaded_models`` (the
   registry cache) and RSS after each; with ``--max-models 2`` the cache never holds three.

Figures depend on the machine (allocator, load): compare rows from one run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
from _server import ROOT, start_app  # noqa: E402  (bench/ is on sys.path)
sys.path.insert(0, ROOT)
MODEL = "celeba-dcgan-64"
TINY_MODELS = ("local:tiny-a.safetensors", "local:tiny-b.safetensors")


def write_tiny_checkpoints(folder: str) -> None:
    """Two small random StyleGAN2 generators (different seeds) as ganinv .safetensors files."""
    import torch
    from ganinv.models.loaders import save_safetensors
    from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
    config = StyleGAN2Config(z_dim=64, w_dim=64, resolution=32, mapping_layers=2, channel_base=1024, channel_max=64)
    for seed, name in enumerate(TINY_MODELS):
        torch.manual_seed(seed)
        save_safetensors(StyleGAN2Generator(config).eval(), os.path.join(folder, name.split(":", 1)[1]))


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    return start_app(["--device", "cpu"], env=env)


def rss_mb(pid: int) -> float:
    import psutil
    return psutil.Process(pid).memory_info().rss / 2**20


def make_inputs(folder: str) -> tuple[str, str]:
    """(sample face PNG, latent .npz for the bundled model)."""
    import torch
    from ganinv import io as gio
    from ganinv.actions.models import sample
    png = os.path.join(folder, "face.png")
    sample([5], model=MODEL, device="cpu")[0].save(png)
    z = torch.randn(1, 100, generator=torch.Generator().manual_seed(0))
    npz = gio.save_latent(os.path.join(folder, "z.npz"), z, model=MODEL, space="Z")
    return png, npz


def cheap_request(client, i: int, png: str, npz: str) -> str:
    """Request ``i`` of the cycle (5 sample, 3 load_latent, 2 invert per 10); returns its kind."""
    from gradio_client import handle_file
    k = i % 10
    if k < 5:
        client.predict(f"{i} {i + 1}", MODEL, api_name="/sample")
        return "sample"
    if k < 8:
        client.predict(handle_file(npz), MODEL, api_name="/load_latent")
        return "load_latent"
    client.predict(handle_file(png), MODEL, "center", 1, "Z", 1, 0.0, 1, i, api_name="/invert")
    return "invert"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--max-models", type=int, default=2)
    args = ap.parse_args()
    from gradio_client import Client

    work = tempfile.mkdtemp(prefix="ganinv-memory-")
    ckpts = os.path.join(work, "checkpoints")
    os.makedirs(ckpts)
    write_tiny_checkpoints(ckpts)
    png, npz = make_inputs(work)
    env = {**os.environ, "GANINV_MAX_MODELS": str(args.max_models), "GANINV_CHECKPOINTS": ckpts,
           "GRADIO_TEMP_DIR": os.path.join(work, "gradio"), "PYTHONPATH": ROOT}
    proc, url = start_server(env)
    try:
        client = Client(url, verbose=False)
        start_rss = rss_mb(proc.pid)
        print(f"server pid {proc.pid}, RSS after start-up {start_rss:.0f} MB, load {os.getloadavg()[0]:.1f}")
        print("| requests | RSS MB | since warm-up MB | s per request |\n|---|---|---|---|")
        counts: dict[str, int] = {}
        warm = None
        t_last = time.perf_counter()
        for i in range(1, args.requests + 1):
            kind = cheap_request(client, i, png, npz)
            counts[kind] = counts.get(kind, 0) + 1
            if i % args.every == 0 or i == args.requests:
                rss = rss_mb(proc.pid)
                warm = rss if warm is None else warm
                now = time.perf_counter()
                print(f"| {i} | {rss:.0f} | {rss - warm:+.0f} | {(now - t_last) / args.every:.2f} |")
                t_last = now
        end_rss = rss_mb(proc.pid)
        span = args.requests - args.every
        print(f"requests: {counts}")
        print(f"RSS start-up {start_rss:.0f} MB -> after {args.every} requests {warm:.0f} MB -> after "
              f"{args.requests} {end_rss:.0f} MB; growth after warm-up {end_rss - warm:+.0f} MB over {span} requests "
              f"({(end_rss - warm) / max(span, 1) * 100:+.1f} MB per 100)")

        print(f"\nLRU budget GANINV_MAX_MODELS={args.max_models}: sample from each model in turn")
        print("| request | model | cache (loaded_models) | RSS MB |\n|---|---|---|---|")
        order = [MODEL, *TINY_MODELS, MODEL, TINY_MODELS[0]]
        most = 0
        for j, name in enumerate(order, 1):
            client.predict("1", name, api_name="/sample")
            loaded = [m["model"] for m in client.predict(api_name="/loaded_models")]
            most = max(most, len(loaded))
            print(f"| {j} | {name} | {', '.join(loaded)} | {rss_mb(proc.pid):.0f} |")
        verdict = "within" if most <= args.max_models else "OVER"
        print(f"most models cached at once: {most} ({verdict} the budget of {args.max_models})")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        import shutil
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
