"""Command: ``restore``, multi-code GAN prior restoration (inpaint, colorize, superres) of an image or
a folder of images."""
from __future__ import annotations

import os

from ..actions import restore
from ..actions.common import IMAGE_ERRORS, InputError, grid_image, user_message
from ..actions.invert import list_images
from ..settings import ALIGN_MODES, RESTORE_TASKS
from .common import info, kwargs_for, model_options, option, output_path, progress_bar, quiet_option, shown_path


def register(sub) -> None:
    s = sub.add_parser("restore", help="multi-code GAN prior restoration: inpaint, colorize, superres")
    s.add_argument("kind", choices=RESTORE_TASKS)
    model_options(s)
    s.add_argument("input", help="an image file or a folder of images")
    s.add_argument("--out", default="outputs", help="output folder (default: %(default)s)")
    fn = restore.restore
    option(s, "--align", fn, choices=ALIGN_MODES, help="a --mask lines up with the centre crop only")
    option(s, "--mask", fn, help="inpaint: mask image over the whole photo, white = known pixel "
                                 "(default: a centre hole)")
    option(s, "--hole", fn, help="inpaint: centre hole side, fraction of the image")
    option(s, "--factor", fn, help="superres: down-sampling factor of the observation")
    option(s, "--codes", fn, help="number of latent codes N")
    option(s, "--layer", fn, help="composition layer (default: the middle layer)")
    option(s, "--steps", fn)
    quiet_option(s)
    s.set_defaults(func=cmd_restore, actions=(fn,), fixed=())


def cmd_restore(args) -> int:
    files = list_images(args.input)
    if not files:
        raise InputError(f"no images in {shown_path(args.input)}")
    failed = 0
    for path in files:
        try:
            with progress_bar(args) as progress:
                r = restore.restore(path, args.kind, progress=progress, **kwargs_for(restore.restore, args))
        except IMAGE_ERRORS as e:
            info(f"skipped {path}: {user_message(e)}")
            failed += 1
            continue
        stem = os.path.splitext(os.path.basename(path))[0]
        out = os.path.join(args.out, f"{stem}-{args.kind}.png")
        grid_image(r.degraded, r.image).save(output_path(out))
        m, vs = ((r.clean_metrics, "vs the undegraded input") if r.clean_metrics
                 else (r.metrics, "deg(restored) vs the observation"))
        info(f"{path}: {r.note}")
        print(f"{path} ({args.kind}, {r.codes} codes at {r.layer}; {vs}): PSNR {m['psnr']:.2f} dB  "
              f"SSIM {m['ssim']:.3f}  ({r.seconds:.1f} s) -> {out}")
    return 1 if failed == len(files) else 0


__all__ = ["register"]
