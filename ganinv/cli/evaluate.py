"""Command: ``evaluate`` (every image of a folder through several inversion methods: per-image and summary
tables, resumable, in-process or on Ray)."""
from __future__ import annotations

import os

from ..actions import evaluate
from .common import info, kwargs_for, model_options, option, progress_bar, quiet_option, shown_path


def _methods(text: str) -> list[str]:
    """--methods pti,optimize: the action checks each name."""
    return [m.strip() for m in str(text).split(",") if m.strip()]


def register(sub) -> None:
    fn = evaluate.evaluate
    s = sub.add_parser("evaluate", help="evaluate inversion methods on a folder: per-image and summary tables "
                                        "(PSNR, SSIM, LPIPS, ArcFace, dlib, seconds), resumable, optionally on Ray")
    model_options(s)
    s.add_argument("input", help="a folder of images (or one image)")
    option(s, "--out", fn, help="results folder; a rerun skips what it holds")
    s.add_argument("--methods", type=_methods, default=evaluate.EVAL_METHODS,
                   help=f"comma-separated (default: {','.join(evaluate.EVAL_METHODS)})")
    option(s, "--limit", fn, help="evaluate this many images, picked by a seeded shuffle (default: all)")
    option(s, "--seed", fn, help="seed of the --limit shuffle")
    option(s, "--steps", fn, help="optimisation steps (the app's default)")
    option(s, "--tune-steps", fn, help="pti: steps tuning the generator's weights")
    option(s, "--perceptual-weight", fn, help="lambda of the perceptual term")
    option(s, "--batch-size", fn, help="images optimised together by methods with a batched path")
    option(s, "--engine", fn, choices=evaluate.ENGINES,
           help="inprocess: this process; ray: a Ray Data actor pool (pip install -r requirements-scale.txt)")
    option(s, "--address", fn, help="ray: the cluster to join (auto, or ray://head:10001); default: a local Ray")
    option(s, "--workers", fn, help="ray: actors in the pool (each loads the model once)")
    option(s, "--cpus-per-worker", fn)
    option(s, "--num-gpus-per-worker", fn)
    quiet_option(s)
    s.set_defaults(func=cmd_evaluate, actions=(fn,), fixed=())


def cmd_evaluate(args) -> int:
    with progress_bar(args) as progress:
        r = evaluate.evaluate(args.input, methods=args.methods, progress=progress,
                              **kwargs_for(evaluate.evaluate, args, exclude=("methods",)))
    print(evaluate.summary_markdown(r.summary, model=args.model), end="")
    info(f"{r.ran} inverted, {r.skipped} already done; {r.seconds:.1f} s"
         + (f", {r.images_per_second:.3g} images/s ({r.engine})" if r.ran else ""))
    for name in (evaluate.TABLE_FILE, evaluate.SUMMARY_CSV, evaluate.SUMMARY_MD):
        print(shown_path(os.path.join(r.out, name)))
    return 0


__all__ = ["register"]
