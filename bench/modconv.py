"""Time the two modulated-convolution implementations of ganinv's StyleGAN2 on this machine.

    grouped : one grouped conv with per-sample modulated weights (groups = batch)
    plain   : modulate activations, one shared conv, scale outputs by the demodulation coefficients

Both run on the same random 256-px StyleGAN2-like generator, alternating, in one process, so
the ratio is meaningful even when the absolute figures swing with machine load.
Forward is timed under no_grad; forward+backward takes gradients w.r.t. ws (as inversion does).

A second table times single layers (more repeats, less exposed to load swings).

    python bench/modconv.py [--batch 1 4] [--repeats 3] [--layer-repeats 10] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ganinv.models.stylegan2 import (StyleGAN2Config, StyleGAN2Generator, make_filter,  # noqa: E402
                                      modulated_conv2d)


def timed_pair(fns: dict, repeats: int) -> dict:
    """Median seconds per fn; runs alternate so load drift hits both the same."""
    for fn in fns.values():
        fn()                                                      # warm-up (allocator, kernel selection)
    times: dict = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--channel-base", type=int, default=16384)   # NVIDIA "paper256" config
    ap.add_argument("--channel-max", type=int, default=512)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layer-repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = StyleGAN2Config(resolution=args.resolution, channel_base=args.channel_base, channel_max=args.channel_max)
    G = StyleGAN2Generator(cfg).eval().requires_grad_(False)
    n_params = sum(p.numel() for p in G.parameters())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"StyleGAN2 {args.resolution}px, {n_params / 1e6:.1f}M params, torch {torch.__version__}, "
          f"{args.threads} threads, load average {load:.2f}, median of {args.repeats}")
    print(f"{'batch':>5} {'pass':>12} {'grouped s':>10} {'plain s':>10} {'grouped/plain':>14}")
    for n in args.batch:
        ws = G.mapping_ws(torch.randn(n, cfg.z_dim))
        for label, grad in (("forward", False), ("fwd+bwd", True)):
            def run(fused: bool, grad: bool = grad) -> None:
                if grad:
                    x = ws.clone().requires_grad_(True)
                    G.synthesis(x, noise_mode="const", fused_modconv=fused).square().mean().backward()
                else:
                    with torch.no_grad():
                        G.synthesis(ws, noise_mode="const", fused_modconv=fused)
            res = timed_pair({True: lambda: run(True), False: lambda: run(False)}, args.repeats)
            print(f"{n:>5} {label:>12} {res[True]:>10.3f} {res[False]:>10.3f} {res[True] / res[False]:>14.2f}")

    layer_table(args, cfg)


def layer_table(args: argparse.Namespace, cfg: StyleGAN2Config) -> None:
    """Single modulated convs of the same generator: (in, out, input size, up)."""
    f = make_filter(cfg.resample_filter)
    print(f"\nsingle layers, median of {args.layer_repeats}")
    print(f"{'batch':>5} {'layer':>22} {'pass':>8} {'grouped s':>10} {'plain s':>10} {'grouped/plain':>14}")
    for n in args.batch:
        for cin, cout, size, up in [(512, 512, 32, 2), (256, 128, 64, 2), (128, 64, 128, 2), (64, 64, 256, 1)]:
            g = torch.Generator().manual_seed(0)
            x = torch.randn(n, cin, size, size, generator=g)
            weight, styles = torch.randn(cout, cin, 3, 3, generator=g), torch.randn(n, cin, generator=g)
            for label, grad in (("fwd", False), ("fwd+bwd", True)):
                def run(fused: bool, grad: bool = grad) -> None:
                    s = styles.clone().requires_grad_(grad)
                    xi = x.clone().requires_grad_(grad)
                    with torch.set_grad_enabled(grad):
                        y = modulated_conv2d(xi, weight, s, up=up, padding=1, resample_filter=f, fused=fused)
                        if grad:
                            y.square().mean().backward()
                res = timed_pair({True: lambda: run(True), False: lambda: run(False)}, args.layer_repeats)
                name = f"{cin}->{cout} @{size}{' up2' if up > 1 else ''}"
                print(f"{n:>5} {name:>22} {label:>8} {res[True]:>10.4f} {res[False]:>10.4f} "
                      f"{res[True] / res[False]:>14.2f}")


if __name__ == "__main__":
    main()
