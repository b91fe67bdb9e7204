"""CLI subcommands for encoders and multi-code methods.

``register(subparsers)`` adds ``train-encoder``, ``encode``, ``invert-hybrid``, ``restore``
(inpaint / colorize / superres), ``diffuse`` (semantic diffusion) and ``invert-layerwise`` to
``python -m ganinv``.  Each
command is a thin wrapper around one library function of ganinv.invert.
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


def _common(s: argparse.ArgumentParser, *, images: bool = True) -> None:
    s.add_argument("--model", default=DEFAULT_MODEL, help="registry name or local:<file in checkpoints/>")
    s.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    if images:
        s.add_argument("input", help="an image file or a folder of images")
        s.add_argument("--out", default="outputs", help="output folder")
        s.add_argument("--align", default="auto", choices=["auto", "face", "center"],
                       help="auto: align the face, centre crop when none is found; center: no detection")
        s.add_argument("--quiet", action="store_true")


def _encoder_arg(s: argparse.ArgumentParser, required: bool) -> None:
    s.add_argument("--encoder", default=None,
                   help="encoder checkpoint (.safetensors); default checkpoints/encoder-<model>.safetensors"
                   + ("" if required else " when it exists"))


def _load(args):
    from ..registry import load_generator
    return load_generator(args.model, args.device)


def _encoder(args, G, *, required: bool = True):
    from .encoder import encoder_path, load_encoder
    path = args.encoder or encoder_path(G.name)
    if not required and not os.path.isfile(path):
        return None
    return load_encoder(path, G=G, device=G.device)


def _inputs(args, G):
    """(stem, Prepared) for every image of ``args.input``."""
    from ..api import list_images, prepare_image
    files = list_images(args.input)
    if not files:
        raise ValueError(f"no images in {args.input}")
    os.makedirs(args.out, exist_ok=True)
    for path in files:
        yield os.path.splitext(os.path.basename(path))[0], prepare_image(path, G, align=args.align)


def _save_png(img: torch.Tensor, path: str) -> str:
    from ..io import image_grid, tensor_to_pil
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pil = tensor_to_pil(img)
    (image_grid(pil) if isinstance(pil, list) else pil).save(path)
    return path


def _report(name: str, m: dict, seconds: float, path: str) -> None:
    print(f"{name}: PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}  {m['perceptual_metric']} {m['perceptual']:.4f}"
          f"  ({seconds:.1f} s) -> {path}")


# --------------------------------------------------------------------------- commands
def cmd_train_encoder(args) -> int:
    from .encoder import encoder_path, train_encoder
    G = _load(args)
    out = args.out or encoder_path(G.name)
    r = train_encoder(G, steps=args.steps, batch=args.batch, lr=args.lr, l_vgg=args.l_vgg, l_adv=args.l_adv,
                      r1_gamma=args.r1_gamma, l_latent=args.l_latent, l_code=args.l_code, space=args.space,
                      e4e=args.e4e, perceptual=args.perceptual, images_dir=args.images,
                      resume=out if args.resume else None, save_path=out, save_every=args.save_every,
                      max_seconds=args.minutes * 60 if args.minutes else None, eval_samples=args.eval_samples,
                      progress=None if args.quiet else _progress)
    print(json.dumps(r.metadata.get("heldout", {}), indent=1))
    print(r.paths.get("weights", out))
    return 0


def cmd_encode(args) -> int:
    from ..io import save_latent
    from ..latent import render
    from ..losses import image_metrics
    G = _load(args)
    E = _encoder(args, G)
    for stem, prep in _inputs(args, G):
        with torch.no_grad():
            code = E(prep.tensor)
            img = render(G, code, E.space)
        m = image_metrics(img, prep.tensor)[0]
        lat = save_latent(os.path.join(args.out, f"{stem}-encoded.npz"), code, model=G.name, space=E.space,
                          extra={"method": "encoder", "metrics": m})
        _save_png(img, os.path.join(args.out, f"{stem}-encoded.png"))
        _report(stem, m, 0.0, lat)
    return 0


def cmd_invert_hybrid(args) -> int:
    from ..io import save_latent
    from .hybrid import invert_hybrid
    G = _load(args)
    E = _encoder(args, G)
    for stem, prep in _inputs(args, G):
        r = invert_hybrid(G, E, prep.tensor, num_steps=args.steps, optimizer=args.optimizer, lr=args.lr,
                          l_vgg=args.l_vgg, l_dom=args.l_dom, progress=None if args.quiet else _progress)
        lat = save_latent(os.path.join(args.out, f"{stem}-hybrid.npz"), r.latent, model=G.name, space=r.space,
                          extra={"method": "in-domain hybrid", "metrics": r.metrics[0]})
        _save_png(torch.cat([prep.tensor, r.image]), os.path.join(args.out, f"{stem}-hybrid.png"))
        _report(stem, r.metrics[0], r.seconds, lat)
    return 0


def cmd_restore(args) -> int:
    from ..io import center_crop_resize, load_image, pil_to_tensor
    from ..api import prepare_restoration
    from .multicode import center_hole_mask, restore
    G = _load(args)
    if args.mask:
        if args.align != "center":                          # the mask is drawn on the whole image
            print(f"--mask given: using the centre crop (not --align {args.align}) so the mask lines up")
            args.align = "center"
        mask = (pil_to_tensor(center_crop_resize(load_image(args.mask), G.resolution)).mean(1, keepdim=True) > 0)
        mask = mask.float().to(G.device)                    # white (> mid-grey) = known pixel
    else:
        mask = center_hole_mask(G.resolution, args.hole, device=G.device)
    for stem, prep in _inputs(args, G):
        inp = prepare_restoration(prep, G, args.kind, factor=args.factor)
        r = restore(G, inp.observation, args.kind, mask=mask, factor=args.factor, n_codes=args.codes,
                    layer=args.layer, num_steps=args.steps, clean=inp.clean,
                    progress=None if args.quiet else _progress)
        y = inp.observation * mask if args.kind == "inpaint" else inp.observation
        shown = torch.nn.functional.interpolate(y, size=(G.resolution, G.resolution), mode="nearest")
        parts = [shown.expand(-1, 3, -1, -1), r.image] + ([inp.clean] if inp.clean is not None else [])
        path = _save_png(torch.cat(parts), os.path.join(args.out, f"{stem}-{args.kind}.png"))
        m, vs = (r.clean_metrics[0], "vs the undegraded input") if inp.clean is not None else \
            (r.metrics[0], "deg(restored) vs the observation")
        _report(f"{stem} ({args.kind}, {args.codes} codes at {r.layer}; {vs}; {inp.note})", m, r.seconds, path)
    return 0


def cmd_diffuse(args) -> int:
    from ..edit.session import LatentSource, diffusion_session
    from ..io import save_latent
    G = _load(args)
    E = _encoder(args, G)
    r = diffusion_session(G, LatentSource("file", path=args.context, label="context"),
                          LatentSource("file", path=args.target, label="target"), box=args.box,
                          num_steps=args.steps, l_dom=args.l_dom, encoder=E,
                          progress=None if args.quiet else _progress)
    os.makedirs(args.out, exist_ok=True)
    stem = f"{os.path.splitext(os.path.basename(args.target))[0]}-into-" \
           f"{os.path.splitext(os.path.basename(args.context))[0]}"
    sheet = _save_png(torch.cat([*r.inputs, r.image]), os.path.join(args.out, f"{stem}-sheet.png"))
    result = _save_png(r.image, os.path.join(args.out, f"{stem}.png"))
    save_latent(os.path.join(args.out, f"{stem}.npz"), r.latent, model=G.name, space=r.space,
                extra={"method": "semantic diffusion"})
    print(f"{r.note}\n-> {result} (context | target | pasted | blended: {sheet})")
    return 0


def cmd_invert_layerwise(args) -> int:
    from .layerwise import invert_layerwise
    G = _load(args)
    E = _encoder(args, G, required=False)
    for stem, prep in _inputs(args, G):
        r = invert_layerwise(G, prep.tensor, layer=args.layer, encoder=E, num_steps=args.steps,
                             latent_steps=args.latent_steps, l_reg=args.l_reg,
                             progress=None if args.quiet else _progress)
        diff = r.diff / r.diff.flatten(1).amax(1).clamp_min(1e-8)[:, None, None, None] * 2 - 1   # scaled to full range
        path = _save_png(torch.cat([prep.tensor, r.latent_image, r.image, diff.expand(-1, 3, -1, -1)]),
                         os.path.join(args.out, f"{stem}-layerwise-{r.layer}.png"))
        print(f"{stem}: latent-only PSNR {r.latent_metrics[0]['psnr']:.2f} dB -> layer-wise "
              f"({r.layer}) PSNR {r.metrics[0]['psnr']:.2f} dB  ({r.seconds:.1f} s) -> {path}  "
              f"[input | latent-only | layer-wise | difference map]")
    return 0


# --------------------------------------------------------------------------- parser
def register(subparsers) -> None:
    """Add this module's subcommands to ``python -m ganinv``'s subparsers."""
    s = subparsers.add_parser("train-encoder", help="train an in-domain encoder for a model (resumable)")
    _common(s, images=False)
    s.add_argument("--out", default=None, help="checkpoint path (default checkpoints/encoder-<model>.safetensors)")
    s.add_argument("--steps", type=int, default=2000)
    s.add_argument("--minutes", type=float, default=None, help="stop (and save) after this wall time")
    s.add_argument("--batch", type=int, default=16)
    s.add_argument("--lr", type=float, default=2e-4)
    s.add_argument("--l-vgg", type=float, default=1.0, help="perceptual weight (lambda_vgg)")
    s.add_argument("--l-adv", type=float, default=0.05, help="image-adversarial weight (lambda_adv)")
    s.add_argument("--l-latent", type=float, default=0.0, help="force-in-domain latent discriminator weight")
    s.add_argument("--l-code", type=float, default=0.0, help="auxiliary ||z - E(G(z))||^2 on generator samples")
    s.add_argument("--r1-gamma", type=float, default=10.0)
    s.add_argument("--space", default=None, choices=["Z", "W", "W+"])
    s.add_argument("--e4e", action="store_true", help="e4e encoder (StyleGAN2, W+)")
    s.add_argument("--perceptual", default="discriminator", choices=["discriminator", "auto", "lpips", "stlpips"])
    s.add_argument("--images", default=None, help="folder of real training images (default: generator samples)")
    s.add_argument("--resume", action="store_true", help="continue from --out when its state file exists")
    s.add_argument("--save-every", type=int, default=200)
    s.add_argument("--eval-samples", type=int, default=64, help="held-out generator samples for the final PSNR")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train_encoder)

    s = subparsers.add_parser("encode", help="encode images with a trained encoder (one forward pass)")
    _common(s)
    _encoder_arg(s, True)
    s.set_defaults(func=cmd_encode)

    s = subparsers.add_parser("invert-hybrid", help="in-domain inversion: encoder start + domain-regularised steps")
    _common(s)
    _encoder_arg(s, True)
    s.add_argument("--steps", type=int, default=100, help="L-BFGS: loss evaluations; Adam: steps")
    s.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs",
                   help="lbfgs (default, per image) or adam (the paper's)")
    s.add_argument("--lr", type=float, default=0.03, help="Adam learning rate (L-BFGS uses a line search)")
    s.add_argument("--l-vgg", type=float, default=1.0, help="perceptual weight")
    s.add_argument("--l-dom", type=float, default=0.001,
                   help="domain regulariser weight: higher keeps codes in-domain at some cost in fidelity")
    s.set_defaults(func=cmd_invert_hybrid)

    s = subparsers.add_parser("restore", help="multi-code GAN prior restoration: inpaint, colorize, superres")
    s.add_argument("kind", choices=["inpaint", "colorize", "superres"])
    _common(s)
    s.add_argument("--mask", default=None, help="inpaint: mask image, white = known pixel (default: centre hole)")
    s.add_argument("--hole", type=float, default=0.35, help="inpaint: centre hole side as a fraction of the image")
    s.add_argument("--factor", type=int, default=4, help="superres: down-sampling factor of the observation")
    s.add_argument("--codes", type=int, default=20, help="number of latent codes N")
    s.add_argument("--layer", default=None, help="composition layer (default: middle layer)")
    s.add_argument("--steps", type=int, default=300)
    s.set_defaults(func=cmd_restore)

    s = subparsers.add_parser("diffuse", help="semantic diffusion: paste the target's centre into the context, "
                                              "blend by in-domain inversion")
    s.add_argument("target", help="image (or .npz latent) whose centre box is pasted")
    s.add_argument("context", help="image (or .npz latent) it is pasted into")
    _common(s, images=False)
    _encoder_arg(s, True)
    s.add_argument("--out", default="outputs", help="output folder")
    s.add_argument("--box", type=float, default=0.5, help="side of the pasted centre box, fraction of the image")
    s.add_argument("--steps", type=int, default=100, help="L-BFGS evaluations")
    s.add_argument("--l-dom", type=float, default=0.1, help="domain regulariser weight")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_diffuse)

    s = subparsers.add_parser("invert-layerwise", help="invert into an intermediate layer; show what G misses")
    _common(s)
    _encoder_arg(s, False)
    s.add_argument("--layer", default=None, help="intermediate layer (default: middle layer)")
    s.add_argument("--steps", type=int, default=200)
    s.add_argument("--latent-steps", type=int, default=200, help="latent optimisation for the start (no encoder)")
    s.add_argument("--l-reg", type=float, default=0.05)
    s.set_defaults(func=cmd_invert_layerwise)


__all__ = ["register"]
