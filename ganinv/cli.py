"""Command line: ``python -m ganinv <command>``; every app action is also a command here."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .registry import DEFAULT_MODEL


def _progress(frac: float, msg: str) -> None:
    print(f"\r[{'#' * int(frac * 30):<30}] {msg}", end="\n" if frac >= 1 else "", file=sys.stderr, flush=True)


def cmd_models(args) -> int:
    from .registry import describe_models
    rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'name':<26} {'family':<10} {'res':>5} {'spaces':<12} {'here':<5} licence")
    for r in rows:
        print(f"{r['name']:<26} {r['family']:<10} {r['resolution']:>5} {r['spaces']:<12} "
              f"{'yes' if r['available'] else 'no':<5} {r['licence']}")
    return 0


def cmd_sample(args) -> int:
    from .api import sample_images
    os.makedirs(args.out, exist_ok=True)
    for seed, img in zip(args.seeds, sample_images(args.seeds, model=args.model, truncation_psi=args.truncation,
                                                   device=args.device)):
        path = os.path.join(args.out, f"seed{seed:04d}.png")
        img.save(path)
        print(path)
    return 0


def cmd_invert(args) -> int:
    from .api import invert_image, list_images, save_inversion
    from .faces import NoFaceError
    from .io import ImageLoadError
    files = list_images(args.input)
    if not files:
        print(f"error: no images in {args.input}", file=sys.stderr)
        return 2
    failed = 0
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            result, prep = invert_image(path, model=args.model, device=args.device, space=args.space,
                                        num_steps=args.steps, perceptual_weight=args.perceptual_weight,
                                        restarts=args.restarts, seed=args.seed, align=args.align,
                                        face_index=args.face,
                                        progress=None if args.quiet else _progress)
        except (ImageLoadError, NoFaceError) as e:
            print(f"skipped {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        paths = save_inversion(result, prep, args.out, stem)
        m = result.metrics[0]
        print(f"{path}: {prep.note}", file=sys.stderr)
        print(f"{path}: PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}  {m['perceptual_metric']} "
              f"{m['perceptual']:.4f}  ({result.seconds:.1f} s) -> {paths['latent']}")
    return 1 if failed == len(files) else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ganinv", description="GAN inversion and latent editing.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("models", help="list registered models and whether their weights are here")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_models)

    def model_args(s):
        s.add_argument("--model", default=DEFAULT_MODEL, help="registry name or local:<file in checkpoints/>")
        s.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")

    s = sub.add_parser("sample", help="generate images from seeds")
    model_args(s)
    s.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    s.add_argument("--truncation", type=float, default=1.0)
    s.add_argument("--out", default="samples")
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("invert", help="invert image files or a folder of images")
    model_args(s)
    s.add_argument("input", help="an image file or a folder of images")
    s.add_argument("--out", default="inversions")
    s.add_argument("--space", default=None, choices=["Z", "W", "W+"])
    s.add_argument("--steps", type=int, default=500)
    s.add_argument("--perceptual-weight", type=float, default=1.0)
    s.add_argument("--restarts", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--align", default="auto", choices=["auto", "face", "center"],
                   help="auto: align the face, centre crop when none is found; face: no face is an error; "
                        "center: centre crop, no detection")
    s.add_argument("--face", type=int, default=0, help="which face when there are several (0 = largest)")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_invert)

    # Method families register their own subcommands (one module each).
    from .edit.clip_commands import register as register_clip
    from .edit.commands import register as register_edit
    from .invert.commands import register as register_invert
    register_invert(sub)
    register_edit(sub)
    register_clip(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # the CLI prints one clear line; tracebacks with GANINV_DEBUG=1
        if os.environ.get("GANINV_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
