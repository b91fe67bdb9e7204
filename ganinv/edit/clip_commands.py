"""CLI subcommands for StyleCLIP: ``text-edit``, ``train-mapper``, ``apply-mapper``,
``global-directions``, ``global-edit``.

``register(subparsers)`` adds them to ``python -m ganinv``'s parser; each command calls one
library function (the same the app calls).  Latents come from seeds (``--seeds``) or latent
files written by ``ganinv invert`` (``--latents``).  CLIP is chosen with ``--clip`` /
``--clip-pretrained`` (default ViT-B-32 / openai); ``--clip tiny-random`` runs the whole
pipeline with a random test CLIP (meaningless edits, useful to check an installation offline).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from ..registry import DEFAULT_MODEL


def _progress(frac: float, msg: str) -> None:
    print(f"\r[{'#' * int(frac * 30):<30}] {msg}", end="\n" if frac >= 1 else "", file=sys.stderr, flush=True)


def _common(s: argparse.ArgumentParser, *, latents: bool = True) -> None:
    s.add_argument("--model", default=DEFAULT_MODEL, help="registry name or local:<file in checkpoints/>")
    s.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    s.add_argument("--clip", default="ViT-B-32", help="open_clip architecture (or tiny-random for a test run)")
    s.add_argument("--clip-pretrained", default="openai", help="open_clip tag or a local weights file")
    if latents:
        g = s.add_mutually_exclusive_group()
        g.add_argument("--seeds", type=int, nargs="+", help="generate the input latent(s) from these seeds")
        g.add_argument("--latents", nargs="+", help="latent .npz files (from `ganinv invert`)")
    s.add_argument("--quiet", action="store_true")


def _setup(args):
    from ..clip_models import load_clip
    from ..registry import default_device, load_generator
    clip = load_clip(args.clip, args.clip_pretrained, device=args.device or default_device())   # fails fast offline
    return load_generator(args.model, args.device), clip


def _inputs(args, G) -> tuple[torch.Tensor, str]:
    """A batch of latents [N, ...] in one space, from --latents or --seeds (default: seed 0)."""
    from ..io import load_latent
    if getattr(args, "latents", None):
        files = [load_latent(p, G=G) for p in args.latents]
        spaces = {f.space for f in files}
        if len(spaces) > 1:
            raise ValueError(f"the latent files mix spaces {sorted(spaces)}; invert them in one space")
        return torch.cat([f.latent for f in files]).to(G.device), files[0].space
    seeds = getattr(args, "seeds", None) or [0]
    return torch.cat([G.sample_z(1, seed=s) for s in seeds]), "Z"


def _save_pair(before: torch.Tensor, after: torch.Tensor, path: str) -> None:
    """Grid with the unedited images on the top row and the edited ones below."""
    from ..io import image_grid, tensor_to_pil
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    imgs = tensor_to_pil(torch.cat([before, after]).cpu())
    image_grid(imgs if isinstance(imgs, list) else [imgs], cols=before.shape[0]).save(path)
    print(path)


def _warn(warnings) -> None:
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)


# --------------------------------------------------------------------------- text-edit
def cmd_text_edit(args) -> int:
    from ..io import save_latent
    from .styleclip_optimize import result_summary, text_edit_optimize
    G, clip = _setup(args)
    latent, space = _inputs(args, G)
    r = text_edit_optimize(G, latent, args.prompt, latent_space=space, clip=clip, num_steps=args.steps, lr=args.lr,
                           l2_weight=args.l2_weight, id_weight=args.id_weight,
                           on_overlong="error" if args.strict else "truncate",
                           progress=None if args.quiet else _progress)
    _warn(r.warnings)
    print(f"{r.identity_reason}")
    for i, (a, b, d) in enumerate(zip(r.clip_distance_before, r.clip_distance_after, r.latent_distance)):
        print(f"image {i}: D_CLIP {a:.4f} -> {b:.4f}   ||w - w_s|| {d:.3f}")
    _save_pair(r.start_image, r.image, args.out)
    if args.save_latent:
        save_latent(args.save_latent, r.latent, model=G.name, space=r.space,
                    extra={"styleclip": {"method": "optimize", "prompt": r.prompt}})
        print(args.save_latent)
    if args.log:
        with open(args.log, "w") as f:
            json.dump({**result_summary(r), "loss_history": r.loss_history}, f, indent=1)
        print(args.log)
    return 0


# --------------------------------------------------------------------------- mapper
def cmd_train_mapper(args) -> int:
    from .styleclip_mapper import save_mapper, train_mapper
    G, clip = _setup(args)
    r = train_mapper(G, args.prompt, clip=clip, num_steps=args.steps, batch_size=args.batch, lr=args.lr,
                     l2_weight=args.l2_weight, id_weight=args.id_weight, truncation_psi=args.truncation,
                     seed=args.seed, on_overlong="error" if args.strict else "truncate",
                     progress=None if args.quiet else _progress)
    _warn(r.warnings)
    print(r.identity_reason)
    path = save_mapper(r, args.out)
    h = r.loss_history
    print(f"loss {h[0]['loss']:.4f} -> {h[-1]['loss']:.4f} in {len(h)} steps ({r.seconds:.0f} s) -> {path}")
    return 0


def cmd_apply_mapper(args) -> int:
    from ..io import save_latent
    from ..latent import render
    from ..registry import load_generator
    from .styleclip_mapper import apply_mapper, load_mapper
    G = load_generator(args.model, args.device)
    mapper, meta = load_mapper(args.mapper, G=G)
    latent, space = _inputs(args, G)
    r = apply_mapper(G, mapper, latent, latent_space=space, strength=args.strength)
    print(f"mapper for '{meta.get('prompt', '?')}' ({meta.get('steps', '?')} steps), strength {args.strength:g}, "
          f"step norms {[round(x, 3) for x in r.step_norm]}")
    with torch.no_grad():
        before = render(G, latent, space)
    _save_pair(before, r.image, args.out)
    if args.save_latent:
        save_latent(args.save_latent, r.latent, model=G.name, space=r.space,
                    extra={"styleclip": {"method": "mapper", "prompt": meta.get("prompt"), "strength": args.strength}})
        print(args.save_latent)
    return 0


# --------------------------------------------------------------------------- global
def cmd_global_directions(args) -> int:
    from .styleclip_global import precompute_global_directions, require_stylespace
    from ..registry import load_generator
    require_stylespace(load_generator(args.model, args.device))       # fail before loading CLIP
    G, clip = _setup(args)
    gd = precompute_global_directions(G, clip, path=args.out, num_images=args.images, perturb=args.perturb,
                                      include_torgb=args.include_torgb, num_stats=args.stats,
                                      batch_size=args.batch, max_channels=args.max_channels,
                                      resume=not args.restart, seed=args.seed,
                                      progress=None if args.quiet else _progress)
    state = "complete" if gd.complete else "partial: run again to resume"
    print(f"{int(gd.done.sum())}/{gd.num_channels} channels ({state}) -> {gd.settings.get('path')}")
    return 0


def cmd_global_edit(args) -> int:
    from .styleclip_global import global_edit, require_stylespace
    from ..registry import load_generator
    require_stylespace(load_generator(args.model, args.device))
    G, clip = _setup(args)
    latent, space = _inputs(args, G)
    r = global_edit(G, latent, args.neutral, args.target, latent_space=space, directions=args.directions,
                    clip=clip, alpha=args.alpha, beta=args.beta)
    _warn(r.warnings)
    print(f"'{args.neutral}' -> '{args.target}': {r.num_channels} channels with |R| >= {args.beta:g} "
          f"(max |R| {float(r.relevance.abs().max()):.3f}), alpha {args.alpha:g}")
    _save_pair(r.start_image, r.image, args.out)
    return 0


# --------------------------------------------------------------------------- parser
def register(subparsers) -> None:
    """Add the StyleCLIP subcommands to ``python -m ganinv``'s subparsers."""
    s = subparsers.add_parser("text-edit", help="StyleCLIP latent optimisation towards a text prompt")
    _common(s)
    s.add_argument("prompt", help="target description, e.g. 'a smiling face'")
    s.add_argument("--steps", type=int, default=300)
    s.add_argument("--lr", type=float, default=0.1)
    s.add_argument("--l2-weight", type=float, default=0.008)
    s.add_argument("--id-weight", type=float, default=0.005, help="0 turns the identity term off")
    s.add_argument("--strict", action="store_true", help="refuse prompts over 77 tokens instead of truncating")
    s.add_argument("--out", default="text-edit.png")
    s.add_argument("--save-latent", default=None)
    s.add_argument("--log", default=None, help="write the summary and loss curves as JSON")
    s.set_defaults(func=cmd_text_edit)

    s = subparsers.add_parser("train-mapper", help="train a StyleCLIP latent mapper for one prompt")
    _common(s, latents=False)
    s.add_argument("prompt", help="target description, e.g. 'a smiling face'")
    s.add_argument("--steps", type=int, default=5000)
    s.add_argument("--batch", type=int, default=2)
    s.add_argument("--lr", type=float, default=0.5)
    s.add_argument("--l2-weight", type=float, default=0.8)
    s.add_argument("--id-weight", type=float, default=0.1, help="0 turns the identity term off")
    s.add_argument("--truncation", type=float, default=0.7, help="psi of the sampled training latents")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--strict", action="store_true", help="refuse prompts over 77 tokens instead of truncating")
    s.add_argument("--out", default=None, help="default: checkpoints/mapper-<model>-<prompt>.safetensors")
    s.set_defaults(func=cmd_train_mapper)

    s = subparsers.add_parser("apply-mapper", help="apply a trained StyleCLIP mapper (one forward pass)")
    s.add_argument("mapper", help="mapper .safetensors file")
    s.add_argument("--model", default=DEFAULT_MODEL)
    s.add_argument("--device", default=None)
    g = s.add_mutually_exclusive_group()
    g.add_argument("--seeds", type=int, nargs="+")
    g.add_argument("--latents", nargs="+")
    s.add_argument("--strength", type=float, default=1.0, help="alpha in w + alpha M(w); 0 = unchanged")
    s.add_argument("--out", default="mapper-edit.png")
    s.add_argument("--save-latent", default=None)
    s.set_defaults(func=cmd_apply_mapper)

    s = subparsers.add_parser("global-directions",
                              help="precompute StyleCLIP global directions (StyleGAN2; slow, resumable)")
    _common(s, latents=False)
    s.add_argument("--images", type=int, default=100, help="images averaged per channel")
    s.add_argument("--perturb", type=float, default=5.0, help="channel set to mean +/- this many stds")
    s.add_argument("--include-torgb", action="store_true")
    s.add_argument("--stats", type=int, default=10000, help="samples for channel mean / std")
    s.add_argument("--batch", type=int, default=8)
    s.add_argument("--max-channels", type=int, default=None, help="stop after this many channels (resume later)")
    s.add_argument("--restart", action="store_true", help="ignore a partial file and start over")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default=None, help="default: checkpoints/styleclip-global/<model>--<clip>.safetensors")
    s.set_defaults(func=cmd_global_directions)

    s = subparsers.add_parser("global-edit", help="StyleCLIP global direction edit from a text pair")
    _common(s)
    s.add_argument("neutral", help="what the image shows now, e.g. 'face'")
    s.add_argument("target", help="what it should show, e.g. 'smiling face'")
    s.add_argument("--alpha", type=float, default=4.0, help="strength (negative reverses)")
    s.add_argument("--beta", type=float, default=0.15, help="disentanglement threshold on |R_c|")
    s.add_argument("--directions", default=None, help="precomputed file (default: the cached one)")
    s.add_argument("--out", default="global-edit.png")
    s.set_defaults(func=cmd_global_edit)
