"""Time latent editing on this machine (CPU) and print the figures.

    1. one slider edit = apply a direction + render one image, bundled DCGAN (target < 100 ms)
    2. the same for a 256-px StyleGAN2 (random weights, official 256-px config) in W+ on
       layers 0-5, if ganinv.models.stylegan2 is present
    3. InterFaceGAN boundary training for N samples: render + score (MediaPipe + PyEmotion)
       and the SVM fit, separately; plus SeFa and GANSpace on the DCGAN

    python bench/edit.py [--samples 500] [--repeats 20] [--threads 2]

Figures swing with machine load (shown first): compare within one run.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ganinv.edit import Direction, edit  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402


def median_ms(fn, repeats: int) -> tuple[float, float]:
    fn()                                                               # warm-up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts), max(ts)


def bench_slider(G, space: str, latent: torch.Tensor, layers, repeats: int, label: str) -> None:
    v = torch.randn(G.z_dim if space == "Z" else G.w_dim, generator=torch.Generator().manual_seed(0))
    d = Direction("bench", G.name, "Z" if space == "Z" else "W", (v / v.norm()).numpy(), "bench")
    strengths = iter([0.1 * i for i in range(10_000)])                # a moving slider
    med, worst = median_ms(lambda: edit(G, latent, space, [d], [next(strengths)], layers=layers), repeats)
    verdict = "OK" if med < 100 else "over the 100 ms target"
    print(f"{label:<48} median {med:7.1f} ms   max {worst:7.1f} ms   ({verdict})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=500, help="N for the boundary-training timing")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores, torch threads {args.threads}")

    G = load_generator("celeba-dcgan-64", "cpu")
    bench_slider(G, "Z", G.sample_z(1, seed=0), None, args.repeats, "slider edit, celeba-dcgan-64 (64 px, Z)")

    try:
        from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
    except ImportError:
        print("slider edit, StyleGAN2 256 px: skipped (ganinv/models/stylegan2.py not present)")
    else:
        torch.manual_seed(0)
        cfg = StyleGAN2Config(resolution=256, channel_base=16384, channel_max=512)
        S = StyleGAN2Generator(cfg, name="bench-sg2-256").eval().requires_grad_(False)
        with torch.no_grad():
            ws = S.broadcast(S.mapping(S.sample_z(1, seed=0)))
        bench_slider(S, "W+", ws, list(range(6)), max(3, args.repeats // 4),
                     "slider edit, StyleGAN2 256 px (W+, layers 0-5)")

    from ganinv.edit.ganspace import ganspace
    from ganinv.edit.sefa import sefa
    t0 = time.perf_counter()
    sefa(G, num_components=10)
    print(f"{'SeFa, 10 components (DCGAN)':<48} {time.perf_counter() - t0:7.2f} s")
    t0 = time.perf_counter()
    ganspace(G, num_components=10, num_samples=2000)
    print(f"{'GANSpace, 10 components, 2000 samples':<48} {time.perf_counter() - t0:7.2f} s")

    try:
        from ganinv.attributes import get_scorer
        scorer = get_scorer("face")
        scorer.score(torch.zeros(1, 3, 64, 64))                      # load the models first
    except (ImportError, FileNotFoundError) as e:
        print(f"boundary training: skipped ({e})")
        return 0
    from ganinv.edit.interfacegan import sample_and_score, train_boundary
    s = sample_and_score(G, scorer, num_samples=args.samples, seed=0)
    per = s.seconds / args.samples * 1000
    print(f"{f'render + score {args.samples} samples':<48} {s.seconds:7.2f} s  ({per:.1f} ms/sample, "
          f"faces found {s.detection_rate:.1%})")
    import sklearn.svm  # noqa: F401  (import time is not fit time)
    t0 = time.perf_counter()
    r = train_boundary(s.latents, s.scores["smile"])
    print(f"{f'SVM fit, smile, {args.samples} samples':<48} {time.perf_counter() - t0:7.2f} s  "
          f"(val acc {r.accuracy_val:.3f}, remaining {r.accuracy_rest:.3f})")
    print(f"{'=> boundary training, 3000 samples (est.)':<48} {per * 3000 / 1000:7.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
