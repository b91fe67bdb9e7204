"""Speed benchmarks of issue 15, printed in one run.

    .venv/bin/python bench/speed.py [--nvidia PATH] [--resolutions 256 1024] [--repeats 5] [--threads N ...]
                                    [--with-reference-path] [--only stylegan2]

StyleGAN2 on CPU: synthesis forward + backward of one W+ code, the inner step of every projector
(img = G.synthesis(ws, noise_mode="const"); sum(img^2).backward(); gradients w.r.t. ws only, weights
frozen), with the real FFHQ architectures and random weights: 256 px = NVIDIA's "paper256" config
(channel_base 16384), 1024 px = their "stylegan2" config (channel_base 32768); 8 mapping layers,
conv_clamp 256.

With ``--nvidia PATH`` (a source checkout of NVlabs/stylegan2-ada-pytorch with dnnlib/, torch_utils/,
training/; fetched, never committed -- docs/golden.md says how) the generator is built and
initialised by NVIDIA's own code, written as a network pickle and read back by ganinv's loader,
so both run the same weights.  NVIDIA runs on CPU with its reference ops, exactly as
scripts/make_golden.py sets it up (custom-op ``_init`` returns False, no plugin is compiled),
``force_fp32=True``, and its own default for the modulated convolution (one grouped conv; with
batch 1, a plain conv with modulated weights).  The two alternate (A/B/A/B, after a warm-up
round) and the medians are compared, so the ratio holds even when load swings the absolute
times; the load average is printed before and after.  Without ``--nvidia`` ganinv runs alone.

``--with-reference-path`` adds ganinv's reference path (``fused_modconv=False``: activations
scaled around one shared conv, op by op in autograd; the default before the fast path).
"""
from __future__ import annotations

import argparse
import functools
import os
import pickle
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

from ganinv.models.loaders import load_stylegan2  # noqa: E402
from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator  # noqa: E402

sys.path.insert(0, HERE)
from modconv import timed_pair as alternate  # noqa: E402  (median of alternating rounds, one home)

# NVIDIA's configs (train.py cfg_specs): paper256 for FFHQ-256, stylegan2 for FFHQ-1024.
ARCHS = {256: dict(channel_base=16384, channel_max=512), 1024: dict(channel_base=32768, channel_max=512)}
SEED = 0


def nvidia_kwargs(res: int) -> dict:
    return dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                mapping_kwargs=dict(num_layers=8),
                synthesis_kwargs=dict(**ARCHS[res], num_fp16_res=4, conv_clamp=256))


def our_config(res: int) -> StyleGAN2Config:
    return StyleGAN2Config(resolution=res, mapping_layers=8, conv_clamp=256, **ARCHS[res])


# --------------------------------------------------------------------------- generators
@functools.cache
def import_nvidia(path: str):
    """make_golden's CPU set-up of NVIDIA's code (reference ops, no plugins), done once per process."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
    import make_golden
    return make_golden, *make_golden._import_nvidia(path)


def build_nvidia(path: str, res: int):
    """(NVIDIA's generator with its reference ops, ganinv's generator loaded from its pickle)."""
    make_golden, dnnlib, persistence, networks = import_nvidia(path)
    torch.manual_seed(SEED)
    nv = networks.Generator(**nvidia_kwargs(res)).eval().requires_grad_(False)
    make_golden.vary_(nv, SEED, affine="affine")            # non-zero biases and noise strengths
    with torch.no_grad():
        nv.mapping.w_avg.copy_(torch.randn(nv.w_dim, generator=torch.Generator().manual_seed(SEED + 2000)))
    snapshot = {"G_ema": nv, "training_set_kwargs": dnnlib.EasyDict(resolution=res)}
    data = make_golden.strip_sources(pickle.dumps(snapshot, protocol=4), persistence)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, f"nvidia-{res}.pkl")
        with open(ckpt, "wb") as f:
            pickle.dump(data, f, protocol=4)
        ours = load_stylegan2(ckpt).requires_grad_(False)
    return nv, ours


def build_ours(res: int) -> StyleGAN2Generator:
    torch.manual_seed(SEED)
    G = StyleGAN2Generator(our_config(res)).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(SEED + 1000)
    with torch.no_grad():
        for n, p in G.named_parameters():
            if n.endswith("bias") or n.endswith("noise_strength"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3 + (1.0 if "affine" in n else 0.0))
    return G


def test_ws(G) -> torch.Tensor:
    """One W+ code [1, num_ws, w_dim]: a mapped z plus per-layer offsets (rows differ, as in W+ inversion)."""
    g = torch.Generator().manual_seed(SEED + 3000)
    with torch.no_grad():
        ws = G.mapping_ws(torch.randn(1, G.z_dim, generator=g))
    return ws + 0.3 * torch.randn(ws.shape, generator=g)


# --------------------------------------------------------------------------- timing
def step_ours(G, ws: torch.Tensor, **kw) -> tuple[torch.Tensor, torch.Tensor]:
    x = ws.clone().requires_grad_(True)
    img = G.synthesis(x, noise_mode="const", **kw)
    img.square().sum().backward()
    return img.detach(), x.grad


def step_nvidia(nv, ws: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = ws.clone().requires_grad_(True)
    img = nv.synthesis(x, noise_mode="const", force_fp32=True)
    img.square().sum().backward()
    return img.detach(), x.grad


def stylegan2_section(args: argparse.Namespace) -> None:
    print("## StyleGAN2 synthesis on CPU: forward + backward of one W+ code\n")
    cols = ["px", "threads", "ganinv s"] + (["ganinv ref. path s"] if args.with_reference_path else [])
    if args.nvidia:
        cols += ["NVIDIA s", "ganinv / NVIDIA", "max |img diff|", "max |grad diff| / max |grad|"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for res in args.resolutions:
        nv, G = build_nvidia(args.nvidia, res) if args.nvidia else (None, build_ours(res))
        ws = test_ws(G)
        fns = {"ours": lambda: step_ours(G, ws)}
        if args.with_reference_path:
            fns["ref"] = lambda: step_ours(G, ws, fused_modconv=False)
        if nv is not None:
            fns["nv"] = lambda: step_nvidia(nv, ws)
        for threads in args.threads:
            torch.set_num_threads(threads)
            t = alternate(fns, args.repeats)
            row = [str(res), str(threads), f"{t['ours']:.3f}"]
            if args.with_reference_path:
                row.append(f"{t['ref']:.3f}")
            if nv is not None:
                (a, ga), (b, gb) = step_ours(G, ws), step_nvidia(nv, ws)
                row += [f"{t['nv']:.3f}", f"{t['ours'] / t['nv']:.2f}x", f"{(a - b).abs().max().item():.1e}",
                        f"{((ga - gb).abs().max() / gb.abs().max()).item():.1e}"]
            print("| " + " | ".join(row) + " |", flush=True)
        del nv, G


SECTIONS = {"stylegan2": stylegan2_section}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nvidia", metavar="PATH", help="stylegan2-ada-pytorch source checkout (reference timing)")
    ap.add_argument("--resolutions", type=int, nargs="+", default=[256, 1024], choices=sorted(ARCHS))
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds per case (median reported)")
    ap.add_argument("--threads", type=int, nargs="+", default=[torch.get_num_threads()],
                    help="intra-op thread counts to time, each in turn (default: torch's)")
    ap.add_argument("--with-reference-path", action="store_true", help="also time fused_modconv=False")
    ap.add_argument("--only", nargs="+", choices=sorted(SECTIONS), default=list(SECTIONS))
    args = ap.parse_args(argv)
    print(f"torch {torch.__version__}, threads {args.threads}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} at start, median of {args.repeats} alternating rounds\n")
    for name in args.only:
        SECTIONS[name](args)
    print(f"\nload average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
