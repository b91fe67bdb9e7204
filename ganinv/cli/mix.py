"""Commands: ``morph`` (GIF / MP4 between two latents), ``mix`` (layer crossover, feature crossover,
expression transfer) and ``diffuse`` (semantic diffusion)."""
from __future__ import annotations

import os

from ..actions import Source, mix
from ..actions.common import InputError, grid_image
from .common import (info, kwargs_for, model_options, option, output_path, progress_bar, quiet_option,
                     source_options, sources)

MORPH_FORMATS = (".gif", ".mp4")


def register(sub) -> None:
    s = sub.add_parser("morph", help="GIF / MP4 morph between two latents")
    model_options(s)
    source_options(s, 2)
    fn = mix.morph
    option(s, "--frames", fn, "num_frames")
    option(s, "--method", fn, choices=mix.MORPH_METHODS, help="default: slerp in Z, lerp in W / W+")
    option(s, "--fps", fn)
    option(s, "--boomerang", fn, help="play the frames forward, then back")
    option(s, "--min-size", fn, help="frames upscaled (nearest) to at least this many pixels")
    option(s, "--invert-steps", fn, help="inversion steps for photos given with --latents")
    s.add_argument("--out", default="morph.gif",
                   help=".gif, or .mp4 (needs ffmpeg; the GIF is written beside it) (default: %(default)s)")
    quiet_option(s)
    s.set_defaults(func=cmd_morph, actions=(fn,), fixed=())

    s = sub.add_parser("mix", help="layer crossover / feature crossover / expression transfer")
    model_options(s)
    source_options(s, "+")
    fn = mix.mix
    option(s, "--mode", fn, choices=mix.MIX_MODES,
           help="crossover: W+ layers from B (StyleGAN2); feature: B's feature maps at a layer; "
                "expression: w1 + lambda (w3 - w2) (three latents)")
    option(s, "--layers", fn, help="crossover: W+ layers taken from B ('all': every layer)")
    option(s, "--layer", fn, help="feature: layer to mix at (default: the middle layer)")
    option(s, "--feature-mode", fn, choices=mix.FEATURE_MODES, help="feature: a region, or a share of channels")
    option(s, "--region", fn, help=f"feature / spatial: {', '.join(mix.REGIONS)}")
    option(s, "--fraction", fn, help="feature: share of the region / channels taken from B")
    option(s, "--seed", fn, help="feature / channel: which channels")
    option(s, "--strength", fn, help="expression: lambda in w1 + lambda (w3 - w2)")
    option(s, "--threshold", fn, help="expression: zero |w3 - w2| below this")
    option(s, "--invert-steps", fn, help="inversion steps for photos given with --latents")
    s.add_argument("--out", default="mix.png", help="inputs and result side by side (default: %(default)s)")
    quiet_option(s)
    s.set_defaults(func=cmd_mix, actions=(fn,), fixed=())

    s = sub.add_parser("diffuse", help="semantic diffusion: paste the target's centre into the context, "
                                       "blend by in-domain inversion")
    s.add_argument("target", help="image (or .npz latent) whose centre box is pasted")
    s.add_argument("context", help="image (or .npz latent) it is pasted into")
    model_options(s)
    fn = mix.diffusion
    option(s, "--encoder", fn, help="encoder checkpoint (default: checkpoints/encoder-<model>.safetensors)")
    option(s, "--box", fn, help="side of the pasted centre box, fraction of the image")
    option(s, "--feather", fn, help="soft edge of the box, pixels")
    option(s, "--steps", fn, "num_steps", help="L-BFGS evaluations")
    option(s, "--l-dom", fn, help="domain regulariser weight")
    s.add_argument("--out", default="outputs", help="output folder (default: %(default)s)")
    quiet_option(s)
    s.set_defaults(func=cmd_diffuse, actions=(fn,), fixed=())


# --------------------------------------------------------------------------- commands
def cmd_morph(args) -> int:
    stem, ext = os.path.splitext(os.path.basename(args.out))
    if ext.lower() not in MORPH_FORMATS:
        raise InputError(f"--out must end in {' or '.join(MORPH_FORMATS)}, got {os.path.basename(args.out)!r}.")
    if ext.lower() == ".mp4" and not mix.ffmpeg_path():
        raise InputError("Writing .mp4 needs ffmpeg, which is not installed here: use a .gif.")
    a, b = sources(args, 2, ["A", "B"])
    with progress_bar(args) as progress:
        r = mix.morph(a, b, folder=os.path.dirname(args.out) or ".", stem=stem, mp4=ext.lower() == ".mp4",
                      progress=progress, **kwargs_for(mix.morph, args))
    info(f"{'; '.join(r.notes)}; {len(r.frames)} frames, {r.method}")
    print(os.path.normpath(r.mp4 if ext.lower() == ".mp4" else r.gif))
    return 0


def cmd_mix(args) -> int:
    need = 3 if args.mode == "expression" else 2
    with progress_bar(args) as progress:
        r = mix.mix(sources(args, need, ["A", "B", "C"]), progress=progress, **kwargs_for(mix.mix, args))
    info(r.note)
    grid_image(*r.inputs, r.image).save(output_path(args.out))
    print(args.out)
    return 0


def cmd_diffuse(args) -> int:
    context = Source("file", path=args.context, label="context")
    target = Source("file", path=args.target, label="target")
    with progress_bar(args) as progress:
        r = mix.diffusion(context, target, progress=progress, **kwargs_for(mix.diffusion, args))
    name = lambda p: os.path.splitext(os.path.basename(p))[0]      # noqa: E731
    stem = os.path.join(args.out, f"{name(args.target)}-into-{name(args.context)}")
    grid_image(*r.inputs, r.image).save(output_path(stem + "-sheet.png"))
    grid_image(r.image).save(stem + ".png")
    mix.save_mix(stem + ".npz", r, method="semantic diffusion")
    info(r.note)
    print(f"{stem}.png (context | target | pasted | blended: {stem}-sheet.png; latent: {stem}.npz)")
    return 0


__all__ = ["register"]
