"""StyleCLIP timings on CPU: optimisation step, mapper training step and inference, global-direction
precompute per channel and global edit.

    nice -n 10 .venv/bin/python bench/styleclip.py [--reps 3] [--res 256] [--steps 8]

Uses the real CLIP ViT-B-32/openai when its weights are on this machine, else the tiny
random CLIP (the script says which): tiny-CLIP figures time the generator and the plumbing,
not CLIP (stack-notes: ViT-B-32 image fwd+bwd ~0.34 s on an idle 2-core CPU, to add per
step).  Generators: the bundled DCGAN (64 px, Z) and a random-weight StyleGAN2 at ``--res``
(no StyleGAN2 weights offline; channel_max 256).  Per-step times are the median of the
per-step durations inside one run; one-shot operations report the fastest of ``--reps``
runs, which is the least disturbed by other jobs on a shared machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def fastest(fn, reps: int) -> float:
    fn()                                                     # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def step_time(history: list[dict]) -> float:
    """Median duration of one step from the cumulative ``seconds`` in a loss history."""
    t = [h["seconds"] for h in history]
    return statistics.median(b - a for a, b in zip(t, t[1:]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--res", type=int, default=256, help="random StyleGAN2 resolution")
    ap.add_argument("--steps", type=int, default=8, help="optimisation / training steps per timed run")
    args = ap.parse_args()
    torch.set_num_threads(2)
    from ganinv.clip_models import is_clip_available, load_clip, tiny_clip
    from ganinv.edit.prompts import text_direction
    from ganinv.edit.styleclip_global import (GlobalDirections, global_edit, precompute_global_directions,
                                              style_layers, style_stats)
    from ganinv.edit.styleclip_mapper import LatentMapper, MapperConfig, apply_mapper, train_mapper
    from ganinv.edit.styleclip_optimize import text_edit_optimize
    from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
    from ganinv.registry import load_generator

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, torch threads {torch.get_num_threads()}")
    real = is_clip_available()
    clip = load_clip(device="cpu") if real else tiny_clip()
    print(f"CLIP: {'real ' + clip.label if real else 'tiny random (real ViT-B-32/openai weights absent)'}, "
          f"input {clip.image_size} px")
    s = fastest(lambda: text_direction(clip, "face", "smiling face", templates="imagenet"), 1)
    print(f"text direction, 2 x 80 templates: {s:.2f} s")

    G = load_generator("celeba-dcgan-64", "cpu")
    z = G.sample_z(1, seed=0)
    for name, kw in [("no identity", {"id_weight": 0}), ("SFace identity", {})]:
        r = text_edit_optimize(G, z, "a smiling face", clip=clip, num_steps=args.steps, **kw)
        st = step_time(r.loss_history)
        print(f"DCGAN-64 optimisation step ({name}; identity used: {r.identity_used}): {st * 1000:.0f} ms "
              f"-> 300 steps ~{st * 300:.0f} s")
    r = train_mapper(G, "a smiling face", clip=clip, num_steps=args.steps, id_weight=0)
    print(f"DCGAN-64 mapper training step (batch 2, no identity): {step_time(r.loss_history) * 1000:.0f} ms")
    m = LatentMapper(MapperConfig.for_generator(G))
    s = fastest(lambda: apply_mapper(G, m, z, strength=1.0), args.reps * 3)
    print(f"DCGAN-64 mapper inference incl. rendering: {s * 1000:.1f} ms/image")
    s = fastest(lambda: m(z), args.reps * 3)
    print(f"DCGAN-64 mapper forward alone: {s * 1000:.2f} ms")

    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=args.res, channel_max=256, channel_base=16384)
    S = StyleGAN2Generator(cfg, name=f"random-sg2-{args.res}").eval().requires_grad_(False)
    print(f"random StyleGAN2 {args.res} px: {sum(p.numel() for p in S.parameters()) / 1e6:.1f} M params, "
          f"{S.num_ws} ws")
    w = S.mapping(S.sample_z(1, seed=0))
    r = text_edit_optimize(S, w, "a smiling face", latent_space="W", clip=clip, num_steps=args.steps, id_weight=0)
    st = step_time(r.loss_history)
    print(f"SG2-{args.res} optimisation step (W+, no identity): {st * 1000:.0f} ms -> 300 steps ~{st * 300:.0f} s")
    ms = LatentMapper(MapperConfig.for_generator(S))
    s = fastest(lambda: apply_mapper(S, ms, w, latent_space="W", strength=1.0), args.reps)
    print(f"SG2-{args.res} mapper inference incl. rendering: {s * 1000:.0f} ms/image")
    s = fastest(lambda: ms(S.broadcast(w)), args.reps)
    print(f"SG2-{args.res} mapper forward alone: {s * 1000:.2f} ms")
    names, dims = style_layers(S)
    t = time.perf_counter()
    mean, std = style_stats(S, names, num_samples=2000)
    print(f"SG2-{args.res} style stats (2000 samples): {time.perf_counter() - t:.2f} s; {sum(dims)} conv channels")
    path = "/tmp/bench-styleclip-gd.safetensors"
    stamps = []
    precompute_global_directions(S, clip, path=path, num_images=4, num_stats=200, max_channels=4, resume=False,
                                 batch_size=4, progress=lambda f, m: stamps.append(time.perf_counter()))
    per_ch = statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
    os.remove(path)
    print(f"SG2-{args.res} global precompute: {per_ch:.2f} s/channel at 4 images -> all {sum(dims)} "
          f"channels x 100 images ~{per_ch * 25 * sum(dims) / 3600:.0f} h on this CPU")
    gd = GlobalDirections(S.name, clip.label, names, dims, mean, std,
                          F.normalize(torch.randn(sum(dims), clip.embed_dim), dim=1),
                          torch.ones(sum(dims), dtype=torch.bool))
    s = fastest(lambda: global_edit(S, w, "face", "smiling face", latent_space="W", directions=gd, clip=clip,
                                    templates="none"), args.reps)
    print(f"SG2-{args.res} global edit (no templates; renders unedited + edited): {s * 1000:.0f} ms/image")


if __name__ == "__main__":
    main()
