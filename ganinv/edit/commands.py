"""CLI subcommands for editing: ``train-boundary``, ``edit``, ``discover``, ``morph``, ``mix``.

``register(subparsers)`` adds them to ``python -m ganinv``'s parser; each command calls the
same library functions as the app.  Latents come from seeds (``--seeds``) or from latent
files written by ``ganinv invert`` (``--latents``).
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

from ..registry import DEFAULT_MODEL


def _progress(frac: float, msg: str) -> None:
    print(f"\r[{'#' * int(frac * 30):<30}] {msg}", end="\n" if frac >= 1 else "", file=sys.stderr, flush=True)


def _model_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--model", default=DEFAULT_MODEL, help="registry name or local:<file in checkpoints/>")
    s.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")


def _source_args(s: argparse.ArgumentParser, n: str) -> None:
    g = s.add_mutually_exclusive_group()
    g.add_argument("--seeds", type=int, nargs=n, help="generate the input latent(s) from these seeds")
    g.add_argument("--latents", nargs=n, help="latent .npz files (from `ganinv invert`)")


def _latents(args, G, count: int) -> tuple[list[torch.Tensor], str]:
    """``count`` single latents [1, ...] in one space, from --latents or --seeds (default 0, 1, ...)."""
    from ..io import load_latent
    if getattr(args, "latents", None):
        files = [load_latent(p, G=G) for p in args.latents[:count]]
        spaces = {f.space for f in files}
        if len(spaces) > 1:
            raise ValueError(f"the latent files mix spaces {sorted(spaces)}; invert them in one space")
        out = [f.latent[:1].to(G.device) for f in files]
        return out, files[0].space
    seeds = (getattr(args, "seeds", None) or list(range(count)))[:count]
    space = "Z" if not G.supports("W") else "W"
    with torch.no_grad():
        zs = [G.sample_z(1, seed=s) for s in seeds]
        return ([z if space == "Z" else G.mapping(z) for z in zs]), space


def _save_image(img: torch.Tensor, path: str) -> None:
    from ..io import image_grid, tensor_to_pil
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pil = tensor_to_pil(img)
    (image_grid(pil) if isinstance(pil, list) else pil).save(path)
    print(path)


# --------------------------------------------------------------------------- train-boundary
def cmd_train_boundary(args) -> int:
    from ..attributes import get_scorer
    from ..registry import load_generator
    from .directions import load_direction, save_direction
    from .interfacegan import conditional, sample_and_score, train_direction
    G = load_generator(args.model, args.device)
    scorer = get_scorer(args.scorer)
    missing = [a for a in args.attribute if a not in scorer.names]
    if missing:
        raise ValueError(f"scorer {args.scorer!r} does not return {missing}; it gives {', '.join(scorer.names)}")
    samples = sample_and_score(G, scorer, num_samples=args.samples, seed=args.seed, space=args.space,
                               progress=None if args.quiet else _progress)
    print(f"{args.samples} samples scored in {samples.seconds:.0f} s; faces found in {samples.detection_rate:.1%}")
    for attr in args.attribute:
        d, r = train_direction(G, samples, attr, chosen_fraction=args.fraction, seed=args.seed)
        if args.without:
            conds = [load_direction(c, G=G, root=args.out) for c in args.without]
            d, cr = conditional(d, conds)
            print(f"  conditioned on {args.without}: cos {cr.cos_before} -> {[f'{v:.1e}' for v in cr.cos_after]}")
        path = save_direction(d, args.out)
        print(f"{d.name}: validation accuracy {r.accuracy_val:.3f}, remaining {r.accuracy_rest:.3f} "
              f"({r.num_train} train / {r.num_val} val / {r.num_rest} rest) -> {path}")
    return 0


# --------------------------------------------------------------------------- edit
def _parse_pair(text: str) -> tuple[str, float]:
    name, sep, val = text.rpartition("=")
    if not sep:
        return text, 1.0
    return name, float(val)


def cmd_edit(args) -> int:
    from ..io import save_latent
    from ..registry import load_generator
    from .apply import edit, parse_layers
    from .directions import list_directions, load_direction
    from .interfacegan import conditional
    G = load_generator(args.model, args.device)
    if args.list or not args.direction:
        for d in list_directions(G.name, root=args.root):
            acc = f"acc {d.accuracy_val:.3f}/{d.accuracy_rest:.3f}" if d.accuracy_val is not None else ""
            print(f"{d.name:<24} {d.space:<3} {d.method:<24} {d.attribute or '-':<12} {acc}")
        return 0
    pairs = [_parse_pair(t) for t in args.direction]
    dirs = [load_direction(n, G=G, root=args.root) for n, _ in pairs]
    if args.without:
        conds = [load_direction(c, G=G, root=args.root) for c in args.without]
        dirs = [conditional(d, conds)[0] for d in dirs]
    strengths = [a for _, a in pairs]
    (latent,), space = _latents(args, G, 1)
    if space == "W" and args.layers:
        latent, space = G.broadcast(latent), "W+"
    layers = parse_layers(args.layers, G.num_ws) if space == "W+" else None
    if args.sweep:
        steps = [strengths[0] * (2 * i / (args.sweep - 1) - 1) for i in range(args.sweep)]
        imgs = torch.cat([edit(G, latent, space, dirs[:1], [a], layers=layers).image for a in steps])
        _save_image(imgs, args.out)
        return 0
    res = edit(G, latent, space, dirs, strengths, layers=layers)
    _save_image(res.image[0], args.out)
    if args.save_latent:
        save_latent(args.save_latent, res.latent, model=G.name, space=space,
                    extra={"edit": [{"direction": d.name, "strength": a} for d, a in zip(dirs, strengths)]})
        print(args.save_latent)
    return 0


# --------------------------------------------------------------------------- discover
def cmd_discover(args) -> int:
    from ..registry import load_generator
    from .apply import edit, parse_layers
    from .directions import save_direction
    G = load_generator(args.model, args.device)
    layers = parse_layers(args.layers, G.num_ws) if args.layers else None
    if args.method == "sefa":
        from .sefa import sefa
        comps = sefa(G, num_components=args.num, layers=layers)
    else:
        from .ganspace import ganspace
        comps = ganspace(G, num_components=args.num, num_samples=args.samples, layer=args.layer, seed=args.seed,
                         progress=None if args.quiet else _progress)
    label = "eigenvalue" if args.method == "sefa" else "explained variance"
    os.makedirs(args.out, exist_ok=True)
    with torch.no_grad():
        z = G.sample_z(1, seed=args.preview_seed)
        base = z if comps.space == "Z" else G.mapping(z)
    rows = []
    for k in range(len(comps.components)):
        d = comps.direction(k)
        path = save_direction(d, args.out)
        steps = [args.strength * (2 * i / 4 - 1) for i in range(5)]
        rows.append(torch.cat([edit(G, base, comps.space, [d], [a]).image for a in steps]))
        print(f"{d.name}: {label} {float(comps.values[k]):.4g} -> {path}")
    from ..io import image_grid, tensor_to_pil
    grid = image_grid([im for row in rows for im in tensor_to_pil(row)], cols=5)
    grid_path = os.path.join(args.out, f"{G.name}-{args.method}-preview.png")
    grid.save(grid_path)
    print(grid_path)
    return 0


# --------------------------------------------------------------------------- morph
def cmd_morph(args) -> int:
    from ..registry import load_generator
    from .mixing import morph, save_animation
    G = load_generator(args.model, args.device)
    (a, b), space = _latents(args, G, 2)
    res = morph(G, a, b, space, num_frames=args.frames, method=args.method)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_animation(res.images, args.out, fps=args.fps, boomerang=args.boomerang)
    print(f"{args.out} ({len(res.ts)} frames, {res.method})")
    return 0


# --------------------------------------------------------------------------- mix
def cmd_mix(args) -> int:
    from ..latent import render, to_ws
    from ..registry import load_generator
    from . import mixing
    from .apply import RENDER_KWARGS, parse_layers
    G = load_generator(args.model, args.device)
    need = 3 if args.mode == "expression" else 2
    lats, space = _latents(args, G, need)
    if len(lats) < need:
        raise ValueError(f"--mode {args.mode} needs {need} latents")
    ws = [to_ws(G, x, space) for x in lats]
    if args.mode == "crossover":
        if G.num_ws < 2:
            mixing.crossover(G, ws[0], ws[1], [0])                    # raises with the alternative
        layers = parse_layers(args.layers or "0-3", G.num_ws)
        img = mixing.crossover(G, ws[0], ws[1], layers or range(G.num_ws))
    elif args.mode == "feature":
        layer = args.layer or G.layer_names[len(G.layer_names) // 2]
        img = mixing.feature_crossover(G, ws[0], ws[1], layer=layer, mode=args.feature_mode, region=args.region,
                                       fraction=args.fraction, seed=args.seed).image
    else:
        r = mixing.expression_transfer(lats[0], lats[1], lats[2], strength=args.strength, threshold=args.threshold)
        print(f"kept {r.kept_fraction:.1%} of the difference channels")
        with torch.no_grad():
            img = render(G, r.latent, space, **RENDER_KWARGS)
    with torch.no_grad():
        inputs = [G.synthesis(w, **RENDER_KWARGS) for w in ws]
    _save_image(torch.cat(inputs + [img]), args.out)
    return 0


# --------------------------------------------------------------------------- parser
def register(subparsers) -> None:
    """Add the editing subcommands to ``python -m ganinv``'s subparsers."""
    s = subparsers.add_parser("train-boundary", help="train InterFaceGAN attribute directions")
    _model_args(s)
    s.add_argument("--attribute", nargs="+", default=["smile"], help="attributes of the scorer (smile, yaw, happy ...)")
    s.add_argument("--scorer", default="face", choices=["face", "landmarker", "emotion"])
    s.add_argument("--samples", type=int, default=2000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--fraction", type=float, default=0.2, help="most confident fraction kept at each end")
    s.add_argument("--space", default=None, choices=["Z", "W"], help="default: W when the model has it, else Z")
    s.add_argument("--without", nargs="*", default=[], help="condition on these saved directions (Eq. 6)")
    s.add_argument("--out", default=None, help="directions root (default: the repo's directions/)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train_boundary)

    s = subparsers.add_parser("edit", help="apply directions to a latent (or list the model's directions)")
    _model_args(s)
    _source_args(s, 1)
    s.add_argument("--direction", nargs="*", default=[], help="NAME_OR_PATH[=STRENGTH], e.g. smile=2 yaw=-1")
    s.add_argument("--without", nargs="*", default=[], help="make each direction orthogonal to these")
    s.add_argument("--layers", default=None, help="W+ layers, e.g. 0-3 or 4,5 (StyleGAN only)")
    s.add_argument("--sweep", type=int, default=0, help="render a strip of K strengths from -a to +a")
    s.add_argument("--root", default=None, help="directions root (default: the repo's directions/)")
    s.add_argument("--list", action="store_true", help="list the model's directions")
    s.add_argument("--out", default="edited.png")
    s.add_argument("--save-latent", default=None)
    s.set_defaults(func=cmd_edit)

    s = subparsers.add_parser("discover", help="unsupervised directions: SeFa or GANSpace")
    _model_args(s)
    s.add_argument("--method", default="sefa", choices=["sefa", "ganspace"])
    s.add_argument("--num", type=int, default=10)
    s.add_argument("--layers", default=None, help="SeFa: W+ layers whose style weights to factorise")
    s.add_argument("--layer", default=None, help="GANSpace: feature layer (default: first hidden / W)")
    s.add_argument("--samples", type=int, default=2000, help="GANSpace samples")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--preview-seed", type=int, default=0)
    s.add_argument("--strength", type=float, default=3.0)
    s.add_argument("--out", default="discovered")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_discover)

    s = subparsers.add_parser("morph", help="GIF / MP4 morph between two latents")
    _model_args(s)
    _source_args(s, 2)
    s.add_argument("--frames", type=int, default=16)
    s.add_argument("--method", default=None, choices=["lerp", "slerp"], help="default: slerp in Z, lerp in W")
    s.add_argument("--fps", type=float, default=12.0)
    s.add_argument("--boomerang", action="store_true")
    s.add_argument("--out", default="morph.gif", help=".gif or .mp4 (needs ffmpeg)")
    s.set_defaults(func=cmd_morph)

    s = subparsers.add_parser("mix", help="crossover / feature crossover / expression transfer")
    _model_args(s)
    _source_args(s, "+")
    s.add_argument("--mode", default="feature", choices=["crossover", "feature", "expression"])
    s.add_argument("--layers", default=None, help="crossover: W+ layers taken from B (default 0-3)")
    s.add_argument("--layer", default=None, help="feature: layer to mix at (default: a middle layer)")
    s.add_argument("--feature-mode", default="spatial", choices=["spatial", "channel"])
    s.add_argument("--region", default="bottom", help="feature/spatial: left right top bottom center border")
    s.add_argument("--fraction", type=float, default=0.5)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--strength", type=float, default=1.0, help="expression: lambda in w1 + l (w3 - w2)")
    s.add_argument("--threshold", type=float, default=0.0, help="expression: zero |w3 - w2| below this")
    s.add_argument("--out", default="mix.png")
    s.set_defaults(func=cmd_mix)
