"""Inversion methods side by side: time, PSNR, SSIM, perceptual distance; the hybrid's step saving.

    nice -n 10 .venv/bin/python bench/methods.py [--steps 100] [--codes 10] [--threads 1]

Targets: the astronaut portrait (face-aligned to the DCGAN's crop), four faces of
scikit-image's LFW subset (25x25 grey, up-sampled to 64 px) and four held-out samples of the
bundled celeba-dcgan-64.  Methods: plain optimisation in Z (best-of-N start), the trained
encoder alone (one forward pass), in-domain hybrid inversion (encoder start + domain
regulariser; L-BFGS, the default, and Adam, the paper's), multi-code GAN prior (N codes at
layer2), layer-wise inversion (layer3, from the encoder's code).  Every optimiser uses the
pixel loss only (the perceptual net costs ~0.4 s per image per step on this CPU); the
perceptual column is measured afterwards.

Then, on 16 held-out samples (seed 777, never used in training): how many evaluations the
hybrid needs to reach plain optimisation's quality after 100 / 200 / 500 Adam steps, with
plain L-BFGS from the best-of-512 start as the control (is it the encoder or the optimiser?);
and the domain-weight sweep: fidelity on samples and real faces against the domain distance
||z - E(G(z))||^2.  Prints markdown tables; timings depend on machine load, so compare rows of
one run.
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
from ganinv.invert.optimize import best_of_n, invert_optimize  # noqa: E402
from ganinv.latent import render  # noqa: E402
from ganinv.losses import image_metrics, perceptual_metric  # noqa: E402
from ganinv.registry import load_generator  # noqa: E402


def targets(G) -> dict[str, torch.Tensor]:
    from skimage import data
    from ganinv.actions.faces import prepare_image
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


def step_saving(G, E, n_samples: int) -> None:
    """Plain Adam at 100 / 200 / 500 steps against the hybrid's (and plain L-BFGS's) evaluations."""
    with torch.no_grad():
        x = G(G.sample_z(n_samples, seed=777))
    budget = 100
    t = time.perf_counter()
    plain = invert_optimize(G, x, space="Z", num_steps=500, perceptual_weight=0, n_init=512)
    t_plain = time.perf_counter() - t
    t = time.perf_counter()
    hyb = invert_hybrid(G, E, x, num_steps=budget, l_vgg=0)
    t_hyb = time.perf_counter() - t
    start = best_of_n(G, x, "Z", n=512)
    t = time.perf_counter()
    ctrl = invert_hybrid(G, E, x, num_steps=budget, l_vgg=0, l_dom=0.0, init=start)   # plain L-BFGS
    t_ctrl = time.perf_counter() - t
    # In Z there is no latent noise, so history row s + 1 holds the pixel MSE after s updates.
    mse_at = {row["step"] - 1: row["mse"] for row in plain.loss_history if row["step"] - 1 in (100, 200)}
    mse_at[500] = float((plain.image - x).square().mean())
    p_h, p_p = image_metrics(hyb.image, x), image_metrics(plain.image, x)
    print(f"\nStep saving on {n_samples} held-out samples (pixel loss; one evaluation = one forward and "
          f"backward pass, the cost of one Adam step; hybrid with the default domain weight "
          f"{hyb.settings['l_dom']}).\n")
    print(f"plain Adam, 500 steps: {t_plain / n_samples:.2f} s / image, "
          f"PSNR {sum(r['psnr'] for r in p_p) / n_samples:.2f} dB (min {min(r['psnr'] for r in p_p):.2f}); "
          f"hybrid L-BFGS, {budget} evaluations: {t_hyb / n_samples:.2f} s / image, "
          f"PSNR {sum(r['psnr'] for r in p_h) / n_samples:.2f} dB (min {min(r['psnr'] for r in p_h):.2f}); "
          f"plain L-BFGS from best of 512, {budget} evaluations: {t_ctrl / n_samples:.2f} s / image.\n")
    print("Matching is on the mean pixel MSE over the images (so one badly fitted image counts fully).\n")
    print("| plain Adam steps | its mean MSE | PSNR of mean MSE | hybrid evaluations to match | saving "
          "| plain L-BFGS evaluations to match |")
    print("|---:|---:|---:|---:|---:|---:|")
    for steps in sorted(mse_at):
        goal = mse_at[steps]
        need = steps_to_reach(hyb.loss_history, goal)
        ctrl_need = steps_to_reach(ctrl.loss_history, goal)
        saving = f"{100 * (1 - need / steps):.0f}%" if need is not None else "not reached"
        print(f"| {steps} | {goal:.6f} | {_psnr(goal):.2f} | {need if need is not None else '-'} | {saving} | "
              f"{ctrl_need if ctrl_need is not None else f'not in {budget}'} |")


def one_at_a_time(G, E, n: int = 4) -> None:
    """The app's case, one image per call: wall time of plain Adam (500 steps) against the hybrid (100)."""
    with torch.no_grad():
        x = G(G.sample_z(n, seed=777))
    rows = []
    for i in range(n):
        xi = x[i:i + 1]
        t = time.perf_counter()
        p = invert_optimize(G, xi, space="Z", num_steps=500, perceptual_weight=0, n_init=512)
        t_p = time.perf_counter() - t
        t = time.perf_counter()
        h = invert_hybrid(G, E, xi, num_steps=100, l_vgg=0)
        t_h = time.perf_counter() - t
        need = steps_to_reach(h.loss_history, float((p.image - xi).square().mean()))
        rows.append((i, t_p, p.metrics[0]["psnr"], t_h, h.metrics[0]["psnr"], need))
    print("\nOne image per call (the app's case; first samples of the set above):\n")
    print("| sample | plain Adam 500 steps: s | PSNR | hybrid L-BFGS 100 evaluations: s | PSNR "
          "| hybrid evaluations to plain's MSE |")
    print("|---:|---:|---:|---:|---:|---:|")
    for i, t_p, p_p, t_h, p_h, need in rows:
        print(f"| {i} | {t_p:.2f} | {p_p:.2f} | {t_h:.2f} | {p_h:.2f} | {need if need is not None else 'not in 100'} |")
    print(f"| mean | {sum(r[1] for r in rows) / n:.2f} | {sum(r[2] for r in rows) / n:.2f} | "
          f"{sum(r[3] for r in rows) / n:.2f} | {sum(r[4] for r in rows) / n:.2f} | |", flush=True)


def _psnr(mse: float) -> float:
    """PSNR of a float MSE in [-1, 1] units (peak-to-peak 2), at most the 8-bit ceiling."""
    import math
    from ganinv.losses import PSNR_8BIT_MAX
    return min(PSNR_8BIT_MAX, 10 * math.log10(4.0 / max(mse, 1e-12)))


def domain_sweep(G, E, n: int) -> None:
    """Fidelity against in-domain-ness as lambda_dom grows (samples and real faces)."""
    with torch.no_grad():
        samples = G(G.sample_z(8, seed=778))
    real = torch.cat([v for k, v in targets(G).items() if "DCGAN" not in k])
    print(f"\nDomain weight sweep (hybrid, L-BFGS, {n} evaluations, pixel loss). Domain distance = mean "
          f"(z - E(G(z)))^2; the prior's z has mean square 1.\n")
    print("| l_dom | samples x8 PSNR | samples domain dist. | real faces x5 PSNR | real domain dist. "
          "| real mean code norm |")
    print("|---:|---:|---:|---:|---:|---:|")
    for l_dom in (0.0, 0.001, 0.003, 0.01, 0.1):
        cells = []
        for x in (samples, real):
            r = invert_hybrid(G, E, x, num_steps=n, l_vgg=0, l_dom=l_dom)
            cells += [f"{sum(m['psnr'] for m in r.metrics) / len(r.metrics):.2f}",
                      f"{r.loss_history[-1]['domain']:.3f}"]
        cells.append(f"{float(r.latent.norm(dim=1).mean()):.2f}")
        print(f"| {l_dom} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--codes", type=int, default=10)
    ap.add_argument("--samples", type=int, default=16, help="held-out samples for the step-saving table")
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
        hyb = invert_hybrid(G, E, x, num_steps=n, l_vgg=0)
        row(f"in-domain hybrid, L-BFGS ({n} evaluations)", time.perf_counter() - t, hyb.image)
        t = time.perf_counter()
        hyb_adam = invert_hybrid(G, E, x, num_steps=n, l_vgg=0, optimizer="adam")
        row(f"in-domain hybrid, Adam ({n} steps)", time.perf_counter() - t, hyb_adam.image)
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

    step_saving(G, E, args.samples)
    one_at_a_time(G, E)
    domain_sweep(G, E, n)

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
