"""Commands for StyleCLIP text edits: ``text-edit``, ``train-mapper``, ``apply-mapper``,
``global-directions``, ``global-edit``.

CLIP: ``--clip`` / ``--clip-pretrained`` (default: env GANINV_CLIP, else ViT-B-32 / openai);
``--clip tiny-random`` runs everything with a random test CLIP (meaningless edits, for checking an
installation offline).
"""
from __future__ import annotations

import argparse
import json

from ..actions import text
from ..actions.common import grid_image
from .common import (default_of, info, kwargs_for, model_options, option, output_path, progress_bar,
                     runs, shown_path, source_options, sources, warn)


def clip_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--clip", dest="clip_name", default=None,
                   help="open_clip architecture, or tiny-random for a test run "
                        f"(default: env GANINV_CLIP, else {default_of(text.ClipChoice, 'name')})")
    s.add_argument("--clip-pretrained", default=None, help="open_clip tag or a local weights file "
                                                           f"(default: {default_of(text.ClipChoice, 'pretrained')})")


def clip_choice(args) -> text.ClipChoice:
    """The CLIP named by --clip / --clip-pretrained, else by env GANINV_CLIP, else the default."""
    if not args.clip_name and not args.clip_pretrained:
        return text.clip_from_env()
    name = args.clip_name or default_of(text.ClipChoice, "name")
    return text.clip_from_env(f"{name}:{args.clip_pretrained}" if args.clip_pretrained else name)


def _strict(s: argparse.ArgumentParser, fn) -> None:
    option(s, "--strict", fn, help="refuse prompts over 77 tokens instead of truncating them")


def register(sub) -> None:
    s = sub.add_parser("text-edit", help="StyleCLIP latent optimisation towards a text prompt")
    model_options(s)
    clip_options(s)
    source_options(s, "+")
    s.add_argument("prompt", help="target description, e.g. 'a smiling face'")
    fn = text.text_edit
    option(s, "--steps", fn)
    option(s, "--lr", fn)
    option(s, "--l2-weight", fn, help="lambda_L2: stay close to the start latent")
    option(s, "--id-weight", fn, help="lambda_ID (0 turns the identity term off)")
    _strict(s, fn)
    s.add_argument("--out", default="text-edit.png", help="before (top row) and after (default: %(default)s)")
    s.add_argument("--save-latent", default=None, metavar="FILE.npz")
    s.add_argument("--log", default=None, metavar="FILE.json", help="write the summary and loss curves as JSON")
    runs(s, cmd_text_edit, fn)

    s = sub.add_parser("train-mapper", help="train a StyleCLIP latent mapper for one prompt")
    model_options(s)
    clip_options(s)
    s.add_argument("prompt", help="target description, e.g. 'a smiling face'")
    fn = text.train_mapper
    option(s, "--steps", fn)
    option(s, "--batch", fn)
    option(s, "--lr", fn)
    option(s, "--l2-weight", fn)
    option(s, "--id-weight", fn, help="0 turns the identity term off")
    option(s, "--truncation", fn, "truncation_psi", help="psi of the sampled training latents")
    option(s, "--seed", fn)
    _strict(s, fn)
    option(s, "--out", fn, help="default: checkpoints/mapper-<model>-<prompt>.safetensors")
    runs(s, cmd_train_mapper, fn)

    s = sub.add_parser("apply-mapper", help="apply a trained StyleCLIP mapper (one forward pass)")
    s.add_argument("mapper", help="mapper .safetensors file (or a file name in checkpoints/)")
    model_options(s)
    clip_options(s)
    source_options(s, "+")
    fn = text.apply_mapper
    option(s, "--strength", fn, help="alpha in w + alpha M(w); 0 = unchanged")
    s.add_argument("--out", default="mapper-edit.png", help="before (top row) and after (default: %(default)s)")
    s.add_argument("--save-latent", default=None, metavar="FILE.npz")
    s.set_defaults(func=cmd_apply_mapper, actions=(fn,), fixed=())

    s = sub.add_parser("global-directions",
                       help="precompute StyleCLIP global directions (StyleGAN2; slow, resumable)")
    model_options(s)
    clip_options(s)
    fn = text.global_directions
    option(s, "--images", fn, help="images averaged per channel")
    option(s, "--perturb", fn, help="channel set to mean +/- this many stds")
    option(s, "--include-torgb", fn, help="also the toRGB style channels")
    option(s, "--stats", fn, help="samples for the channels' mean / std")
    option(s, "--batch", fn)
    option(s, "--max-channels", fn, help="stop after this many channels (run again to resume)")
    option(s, "--restart", fn, help="ignore a partial file and start over")
    option(s, "--seed", fn)
    option(s, "--out", fn, help="default: checkpoints/styleclip-global/<model>--<clip>.safetensors")
    runs(s, cmd_global_directions, fn)

    s = sub.add_parser("global-edit", help="StyleCLIP global direction edit from a text pair (StyleGAN2)")
    model_options(s)
    clip_options(s)
    source_options(s, "+")
    s.add_argument("neutral", help="what the image shows now, e.g. 'face'")
    s.add_argument("target", help="what it should show, e.g. 'smiling face'")
    fn = text.global_edit
    option(s, "--alpha", fn, help="strength (negative reverses)")
    option(s, "--beta", fn, help="disentanglement threshold on |R_c|")
    option(s, "--directions", fn, help="precomputed file (default: the cached one)")
    s.add_argument("--out", default="global-edit.png", help="before (top row) and after (default: %(default)s)")
    runs(s, cmd_global_edit, fn)


# --------------------------------------------------------------------------- commands
def _save_pair(r, path: str) -> None:
    """The unedited images on the top row, the edited ones below."""
    grid_image(r.before, r.image, cols=r.before.shape[0]).save(output_path(path))
    print(path)


def cmd_text_edit(args) -> int:
    with progress_bar(args) as progress:
        r = text.text_edit(sources(args), args.prompt, clip=clip_choice(args), progress=progress,
                           **kwargs_for(text.text_edit, args))
    for w in r.warnings:
        warn(w)
    info(f"{r.note}; {r.extra['identity_reason']}")
    x = r.extra
    for i, (a, b, d) in enumerate(zip(x["clip_distance_before"], x["clip_distance_after"], x["latent_distance"])):
        print(f"image {i}: D_CLIP {a:.4f} -> {b:.4f}   ||w - w_s|| {d:.3f}")
    _save_pair(r, args.out)
    if args.save_latent:
        print(text.save_output(output_path(args.save_latent), r))
    if args.log:
        summary = {**x, "method": r.method, "model": r.model, "space": r.space, "settings": r.settings,
                   "warnings": r.warnings, "loss_history": r.loss_history}
        with open(output_path(args.log), "w") as f:
            json.dump(summary, f, indent=1, default=str)
        print(args.log)
    return 0


def cmd_train_mapper(args) -> int:
    with progress_bar(args) as progress:
        r = text.train_mapper(args.prompt, clip=clip_choice(args), progress=progress,
                              **kwargs_for(text.train_mapper, args))
    for w in r.warnings:
        warn(w)
    info(r.identity_reason)
    h = r.loss_history
    print(f"loss {h[0]['loss']:.4f} -> {h[-1]['loss']:.4f} in {len(h)} steps ({r.seconds:.0f} s) -> "
          f"{r.path if args.out else shown_path(r.path)}")
    return 0


def cmd_apply_mapper(args) -> int:
    clip = clip_choice(args) if args.clip_name or args.clip_pretrained else None
    r = text.apply_mapper(sources(args), args.mapper, clip=clip, allow_path=True,
                          **kwargs_for(text.apply_mapper, args, exclude=("clip", "allow_path")))
    x = r.extra
    print(f"mapper for '{x.get('prompt') or '?'}' ({x.get('steps') or '?'} steps), strength {x['strength']:g}, "
          f"step norms {[round(v, 3) for v in x['step_norm']]}")
    _save_pair(r, args.out)
    if args.save_latent:
        print(text.save_output(output_path(args.save_latent), r, source="mapper"))
    return 0


def cmd_global_directions(args) -> int:
    with progress_bar(args) as progress:
        gd = text.global_directions(clip=clip_choice(args), progress=progress,
                                    **kwargs_for(text.global_directions, args))
    state = "complete" if gd.complete else "partial: run again to resume"
    path = gd.settings.get("path") or ""
    print(f"{int(gd.done.sum())}/{gd.num_channels} channels ({state}) -> {path if args.out else shown_path(path)}")
    return 0


def cmd_global_edit(args) -> int:
    with progress_bar(args) as progress:
        r = text.global_edit(sources(args), args.neutral, args.target, clip=clip_choice(args), progress=progress,
                             **kwargs_for(text.global_edit, args))
    for w in r.warnings:
        warn(w)
    x = r.extra
    info(f"'{x['neutral']}' -> '{x['target']}': {x['num_channels']} channels with |R| >= "
         f"{float(default_of(text.global_edit, 'beta') if args.beta is None else args.beta):g}")
    _save_pair(r, args.out)
    return 0


__all__ = ["register", "clip_options", "clip_choice"]
