"""Memory of a running app server: every tab used once, then many mixed requests; the model cache's LRU budget.

    .venv/bin/python bench/memory.py [--requests 200] [--every 20] [--steps 20] [--max-models 2]

Starts ``python app.py`` on a free port (offline, CPU) with ``GANINV_MAX_MODELS=--max-models`` and
a temporary ``GANINV_CHECKPOINTS`` folder holding two tiny random StyleGAN2 checkpoints
(``local:tiny-a.safetensors``, ``local:tiny-b.safetensors``) beside links to ``checkpoints/`` (the
bundled model's encoder).  RSS is the server process's plus
its children's.  Then, through the API (``gradio_client``, one session):

1. Every tab once, printing RSS after each: 1 Invert (faces, samples, the default inversion of
   the astronaut portrait with face alignment, LPIPS and the identity metrics, one PTI inversion
   whose tuned latent the later tabs use, an encoder inversion, a latent upload), 2 Edit (scores,
   identity, paste-back, a strip), 3 Discover (SeFa and GANSpace), 4 Morph & Mix (morph, crossover,
   expression, semantic diffusion), 5 Text edit (CLIP status, a text edit and a global direction:
   without CLIP weights offline each answers with its one-line error), 6 Restore (inpainting,
   super-resolution), 7 Models.  ``--steps`` is every step count
   (the app's defaults are larger; a network's memory does not depend on it).
2. ``--requests`` further calls cycling through the tabs' endpoints (``mixed_request``), printing
   RSS every ``--every`` calls and the growth over the tab walk.  A leak shows as steady growth; a
   plateau is the allocator's high-water mark.
3. The LRU budget: ``/sample`` from three models in turn, printing ``/loaded_models`` (the
   registry cache) and RSS after each; with ``--max-models 2`` the cache never holds three.

Figures depend on the machine (allocator, load): compare rows from one run.
"""
from __future__ import annotations

import argparse
import json
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
    """RSS of the process and all its children, MB."""
    import psutil
    p = psutil.Process(pid)
    total = p.memory_info().rss
    for c in p.children(recursive=True):
        try:
            total += c.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def make_inputs(folder: str) -> dict[str, str]:
    """Input files: ``photo`` (the astronaut portrait, a real face), ``sample`` (a bundled-model sample)
    and ``npz`` (a Z latent of the bundled model)."""
    import torch
    from ganinv import io as gio
    from ganinv.actions.models import example_images, sample
    png = os.path.join(folder, "face.png")
    sample([5], model=MODEL, device="cpu")[0].save(png)
    z = torch.randn(1, 100, generator=torch.Generator().manual_seed(0))
    npz = gio.save_latent(os.path.join(folder, "z.npz"), z, model=MODEL, space="Z")
    return {"photo": example_images(os.path.join(folder, "examples"), device="cpu")[0], "sample": png, "npz": npz}


def call(client, api_name: str, *args):
    """``client.predict``; a user error (e.g. no CLIP weights offline) is returned as its message."""
    from gradio_client.exceptions import AppError
    try:
        return client.predict(*args, api_name=api_name)
    except AppError as e:
        return f"error: {e}"


def editor(path: str) -> dict:
    """An ImageEditor value with only a background (the Restore tab's input)."""
    from gradio_client import handle_file
    return {"background": handle_file(path), "layers": [], "composite": handle_file(path), "id": None}


def tab_walk(client, inputs: dict[str, str], steps: int):
    """(tab, [(endpoint, arguments)]) for every tab in page order: each tab's main actions once, among them
    every endpoint ``mixed_request`` calls (so the growth after the walk is what repeating them costs)."""
    from gradio_client import handle_file
    photo = handle_file(inputs["photo"])
    return [
        ("1 Invert", [("/find_faces", (photo,)), ("/sample", ("0 1 2 3", MODEL)),
                      ("/invert", (photo, MODEL, "auto", 1, "Z", steps, 1.0, 1, 0)),
                      ("/invert_method", (photo, MODEL, "auto", 1, "pti", steps, 8, "", None)),
                      ("/invert_method", (photo, MODEL, "auto", 1, "encoder", steps, 8, "", None)),
                      ("/load_latent", (handle_file(inputs["npz"]), MODEL))]),
        ("2 Edit", [("/edit", ({"smile": 2.0}, "session", 0, [], True, True, MODEL)),
                    ("/edit_strip", ("seed", 3, "smile", 3.0, [], MODEL))]),
        ("3 Discover", [("/discover", ("sefa", 5, 500, "session", 0, MODEL)),
                        ("/discover", ("ganspace", 5, 500, "seed", 0, MODEL)),
                        ("/discover_component", (1, 3.0, "seed", 0, MODEL))]),
        ("4 Morph & Mix", [("/morph", ("session", 1, None, "seed", 2, None, steps, 8, 12.0, MODEL)),
                           ("/crossover", ("seed", 1, None, "seed", 2, None, steps, "layer2", "spatial", "bottom",
                                           0.5, "", MODEL)),
                           ("/expression_transfer", ("seed", 1, None, "seed", 2, None, "seed", 3, None, steps, 1.0,
                                                     0.0, MODEL)),
                           ("/semantic_diffusion", ("seed", 1, None, "seed", 2, None, 0.5, steps, 0.1, MODEL))]),
        ("5 Text edit", [("/clip_status", (MODEL,)),
                         ("/text_edit", ("a smiling face", 0.008, 0.005, steps, "session", 0, MODEL)),
                         ("/global_edit", ("a face", "a smiling face", 4.0, 0.15, "seed", 0, MODEL))]),
        ("6 Restore", [("/restore", (editor(inputs["sample"]), "inpaint", "centre", 4, 8, "", steps, MODEL)),
                       ("/restore", (editor(inputs["sample"]), "superres", "centre", 4, 8, "", steps, MODEL))]),
        ("7 Models", [("/models", ()), ("/select_model", (MODEL,)), ("/loaded_models", ())]),
    ]


def mixed_request(client, i: int, inputs: dict[str, str], steps: int) -> str:
    """Request ``i`` of a cycle of 10 over the tabs' endpoints (edit, crossover and morph use the session's
    PTI latent from the walk); returns its endpoint."""
    from gradio_client import handle_file
    k = i % 10
    photo = handle_file(inputs["photo"])
    calls = [
        ("/sample", (f"{i} {i + 1}", MODEL)),
        ("/invert", (photo if i % 20 == 1 else handle_file(inputs["sample"]), MODEL, "auto", 1, "Z", steps, 1.0, 1,
                     i)),
        ("/edit", ({"smile": 1.0 + i % 3, "age": -1.0}, "session", 0, [], True, i % 20 == 2, MODEL)),
        ("/edit_strip", ("seed", i, "age", 3.0, ["gender"], MODEL)),
        ("/discover_component", (i % 5, 3.0, "seed", i, MODEL)),
        ("/crossover", ("session", 1, None, "seed", i, None, steps, "layer2", "spatial", "bottom", 0.5, "", MODEL)),
        ("/restore", (editor(inputs["sample"]), "superres" if i % 20 == 6 else "inpaint", "centre", 4, 8, "",
                      steps, MODEL)),
        ("/load_latent", (handle_file(inputs["npz"]), MODEL)),
        ("/morph", ("session", 1, None, "seed", i, None, steps, 4, 12.0, MODEL)),
        # one more inversion method (PTI, minutes on 2 cores, runs once in the walk)
        ("/invert_method", (photo, MODEL, "auto", 1, "encoder", steps, 8, "", None)) if i % 20 == 9 else
        ("/global_edit", ("a face", "a smiling face", 4.0, 0.15, "seed", i, MODEL)),
    ]
    name, args = calls[k]
    call(client, name, *args)
    return name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--steps", type=int, default=20, help="step count of every inversion / edit request")
    ap.add_argument("--max-models", type=int, default=2)
    ap.add_argument("--prepare", metavar="DIR", help=argparse.SUPPRESS)   # (the inputs, in a child process)
    args = ap.parse_args()
    if args.prepare:
        write_tiny_checkpoints(os.path.join(args.prepare, "checkpoints"))
        with open(os.path.join(args.prepare, "inputs.json"), "w") as f:
            json.dump(make_inputs(args.prepare), f)
        return
    from gradio_client import Client

    work = tempfile.mkdtemp(prefix="ganinv-memory-")
    ckpts = os.path.join(work, "checkpoints")
    os.makedirs(ckpts)
    # torch only in a child: a library page this process mapped too would count as shared, and the server's
    # release_gpu_libraries (webapp/process.py) can drop only the pages no other process maps
    subprocess.run([sys.executable, os.path.abspath(__file__), "--prepare", work], check=True)
    shipped = os.path.join(ROOT, "checkpoints")       # the bundled model's encoder (PTI pivot, semantic diffusion)
    for f in os.listdir(shipped) if os.path.isdir(shipped) else []:
        os.symlink(os.path.join(shipped, f), os.path.join(ckpts, f))
    with open(os.path.join(work, "inputs.json")) as f:
        inputs = json.load(f)
    env = {**os.environ, "GANINV_MAX_MODELS": str(args.max_models), "GANINV_CHECKPOINTS": ckpts,
           "GRADIO_TEMP_DIR": os.path.join(work, "gradio"), "PYTHONPATH": ROOT}
    proc, url = start_server(env)
    try:
        client = Client(url, verbose=False)
        start_rss = rss_mb(proc.pid)
        print(f"server pid {proc.pid}, RSS after start-up {start_rss:.0f} MB, load {os.getloadavg()[0]:.1f}")
        print("\n| after tab | RSS MB | + MB | s | answers |\n|---|---|---|---|---|")
        last, walk_t0 = start_rss, time.perf_counter()
        for tab, calls in tab_walk(client, inputs, args.steps):
            t0 = time.perf_counter()
            notes = []
            for name, a in calls:
                out = call(client, name, *a)
                if isinstance(out, str) and out.startswith("error:"):
                    notes.append(f"{name}: {out[:90]}")
            rss = rss_mb(proc.pid)
            print(f"| {tab} | {rss:.0f} | {rss - last:+.0f} | {time.perf_counter() - t0:.1f} | "
                  f"{'; '.join(notes) or 'ok'} |")
            last = rss
        walked = last
        print(f"every tab once: RSS {walked:.0f} MB ({time.perf_counter() - walk_t0:.0f} s)")

        print("\n| requests | RSS MB | since the tab walk | s per request |\n|---|---|---|---|")
        counts: dict[str, int] = {}
        t_last = time.perf_counter()
        for i in range(1, args.requests + 1):
            kind = mixed_request(client, i, inputs, args.steps)
            counts[kind] = counts.get(kind, 0) + 1
            if i % args.every == 0 or i == args.requests:
                rss = rss_mb(proc.pid)
                now = time.perf_counter()
                print(f"| {i} | {rss:.0f} | {rss - walked:+.0f} MB ({(rss / walked - 1) * 100:+.1f}%) | "
                      f"{(now - t_last) / args.every:.2f} |")
                t_last = now
        end_rss = rss_mb(proc.pid)
        print(f"requests: {counts}")
        print(f"RSS start-up {start_rss:.0f} MB -> every tab once {walked:.0f} MB -> after {args.requests} further "
              f"requests {end_rss:.0f} MB: growth {end_rss - walked:+.0f} MB ({(end_rss / walked - 1) * 100:+.1f}%)")

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
