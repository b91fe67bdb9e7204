"""Inversion methods side by side: time, PSNR, SSIM, perceptual distance; the hybrid's step saving.

    nice -n 10 .venv/bin/python bench/methods.py [--steps 100] [--codes 10] [--threads 1]

Targets: the astronaut portrait (face-aligned to the DCGAN's crop), four faces of
scikit-image's LFW subset (25x25 grey, up-sampled to 64 px) and four held-out samples of the
bundled celeba-dcgan-64.  Methods: plain optimisation in Z (best-of-N start), the trained
encoder alone (one forward pass), in-domain hybrid inversion (encoder start + domain
regulariser), multi-code GAN prior (N codes at layer2), layer-wise inversion (layer3, from
the encoder's code).  Every optimiser uses the pixel loss only (the perceptual net costs
~0.4 s per image per step on this CPU); the perceptual column is measured afterwards.
Prints markdown tables; timings depend on machine load, so compare rows of one run.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ganinv.invert.encoder import load_encoder  # noqa: E402
from ganinv.invert.hybrid import invert_hybrid, steps_to_reach  # noqa: E402
from ganinv.invert.layerwise import invert_layerwise  # noqa: E402
from ganinv.invert.multicode import center_hole_mask, invert_multicode, restore  # noqa: E402
from ganinv.invert.optimize import invert_optimize  # noqa: E402
from ganinv.latent import render  # noqa: E402
from ganinv.losses import image_metrics, perceptual_metric  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402


def targets(G) -> dict[str, torch.Tensor]:
    from skimage import data
    from ganinv.api import prepare_image
    from PIL import Image
    astro = prepare_image(Image.fromarray(data.astronaut()), G, align="auto")
    lfw = torch.from_numpy(data.lfw_subset()[:4]).float()[:, None]            # [4, 1, 25, 25] in [0, 1]
    lfw = F.interpolate(lfw, size=(G.resolution, G.resolution), mode="bilinear", align_corners=False)
    lfw = (lfw * 2 - 1).clamp(-1, 1).expand(-1, 3, -1, -1).contiguous()
    with torch.no_grad():
        samples = G(G.sample_z(4, seed=2024))
    how = "face-aligned" if "align" in astro.note else "centre crop"
    return {f"astronaut ({how})": astro.tensor, "LFW x4 (grey 25 px)": lfw,
            "DCGAN samples x4": samples}


def mean_metrics(rows: list[dict]) -> tuple[float, float, float]:
    return tuple(sum(r[k] for r in rows) / len(rows) for k in ("psnr", "ssim", "perceptual"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--codes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest for batch-4 64 px work on a busy CPU")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = load_generator("celeba-dcgan-64", "cpu")
    E = load_encoder("celeba-dcgan-64", G=G)
    pm = perceptual_metric("cpu")
    n = args.steps
    print(f"encoder: {E.metadata.get('steps_done')} steps, {E.metadata.get('train_seconds')} s, "
          f"data: {E.metadata.get('data')}; perceptual column: {pm.name}; optimisers: {n} steps, pixel loss\n")
    print("| target | method | s / image | PSNR dB | SSIM | perceptual |")
    print("|---|---|---:|---:|---:|---:|")
    savings = []
    for name, x in targets(G).items():
        k = x.shape[0]

        def row(method: str, seconds: float, img: torch.Tensor) -> None:
            p, s, d = mean_metrics(image_metrics(img, x, perceptual=pm))
            print(f"| {name} | {method} | {seconds / k:.2f} | {p:.2f} | {s:.3f} | {d:.4f} |", flush=True)

        t = time.perf_counter()
        plain = invert_optimize(G, x, space="Z", num_steps=n, perceptual_weight=0, n_init=512)
        row(f"optimise Z ({n} steps, best of 512 start)", time.perf_counter() - t, plain.image)
        t = time.perf_counter()
        with torch.no_grad():
            enc = render(G, E(x), "Z")
        row("encoder (1 pass)", time.perf_counter() - t, enc)
        t = time.perf_counter()
        hyb = invert_hybrid(G, E, x, num_steps=n, l_vgg=0, l_dom=0.1)
        row(f"in-domain hybrid ({n} steps)", time.perf_counter() - t, hyb.image)
        t = time.perf_counter()
        mc = invert_multicode(G, x, n_codes=args.codes, layer="layer2", num_steps=n, n_init=512)
        row(f"multi-code N={args.codes} @layer2 ({n} steps)", time.perf_counter() - t, mc.image)
        t = time.perf_counter()
        lw = invert_layerwise(G, x, layer="layer3", encoder=E, num_steps=n, lr=0.02)
        row(f"layer-wise @layer3 from E ({n} steps)", time.perf_counter() - t, lw.image)
        goal = float((plain.image - x).square().mean())             # plain's pixel MSE after all n updates
        savings.append((name, goal, steps_to_reach(hyb.loss_history, goal), hyb.loss_history[0]["mse"]))

    print(f"\nHybrid step saving: steps of in-domain hybrid inversion needed to reach the pixel MSE that plain "
          f"optimisation has after {n} steps (same images, batch of each target).\n")
    print("| target | plain MSE @%d | hybrid MSE @0 (= encoder) | hybrid steps to match | saving |" % n)
    print("|---|---:|---:|---:|---:|")
    for name, goal, need, start in savings:
        saving = f"{100 * (1 - need / n):.0f}%" if need is not None else "not reached"
        print(f"| {name} | {goal:.4f} | {start:.4f} | {need if need is not None else '-'} | {saving} |")

    print("\nRestoration with the multi-code prior (DCGAN samples x4, metrics vs the clean image):\n")
    print("| task | s / image | PSNR dB | SSIM | perceptual |")
    print("|---|---:|---:|---:|---:|")
    with torch.no_grad():
        x = G(G.sample_z(4, seed=2025))
    for kind, kw in [("inpaint (35% centre hole)", {"mask": center_hole_mask(64, 0.35)}), ("colorize", {}),
                     ("superres x4", {"factor": 4})]:
        t = time.perf_counter()
        r = restore(G, x, kind.split()[0], n_codes=args.codes, layer="layer2", num_steps=n, n_init=512, clean=x, **kw)
        p, s, d = mean_metrics(r.clean_metrics)
        print(f"| {kind} | {(time.perf_counter() - t) / 4:.2f} | {p:.2f} | {s:.3f} | {d:.4f} |", flush=True)


if __name__ == "__main__":
    main()
