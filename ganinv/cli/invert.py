"""Commands: ``invert`` (every method), its aliases ``encode``, ``invert-hybrid`` and ``invert-layerwise``
(the method fixed), ``train-encoder`` and ``faces``."""
from __future__ import annotations

import argparse
import json
import os
import shutil

from ..actions import faces, invert, train
from ..actions.common import IMAGE_ERRORS, InputError, user_message
from ..settings import ALIGN_MODES, CPU_LARGE_RESOLUTION, CPU_LARGE_STEPS, CPU_LARGE_TUNE_STEPS, LATENT_SPACES
from .common import (ALL, face_index, info, kwargs_for, model_options, option, progress_bar, quiet_option,
                     shown_path)

# alias -> (method, suffix of the files' stem, help)
ALIASES = {
    "encode": ("encoder", "-encoded", "encode images with a trained encoder (one forward pass)"),
    "invert-hybrid": ("hybrid", "-hybrid", "in-domain inversion: encoder start + domain-regularised steps"),
    "invert-layerwise": ("layerwise", "-layerwise", "invert into an intermediate layer; show what G misses"),
}
# options of each alias beyond the shared ones (the rest keep invert()'s defaults)
ALIAS_OPTIONS = {
    "encode": (),
    "invert-hybrid": ("steps", "optimizer", "lr", "l_vgg", "l_dom"),
    "invert-layerwise": ("layer", "steps", "latent_steps", "l_reg", "lr"),
}


def _method_options(s: argparse.ArgumentParser, names) -> None:
    """Method settings of invert(), by parameter name."""
    fn = invert.invert
    table = {
        "space": lambda: option(s, "--space", fn, choices=LATENT_SPACES,
                                help="latent space (default: the method's; optimize: W+ for StyleGAN2, "
                                     "Z for the DCGAN)"),
        "steps": lambda: option(s, "--steps", fn, help=f"optimisation steps (L-BFGS: loss evaluations; a model of "
                                f"{CPU_LARGE_RESOLUTION} px or more on a CPU: {CPU_LARGE_STEPS})"),
        "perceptual_weight": lambda: option(s, "--perceptual-weight", fn, help="lambda of the perceptual term"),
        "l_vgg": lambda: option(s, "--l-vgg", fn, "perceptual_weight", help="perceptual weight lambda_vgg"),
        "restarts": lambda: option(s, "--restarts", fn, help="optimize: best of this many starts"),
        "seed": lambda: option(s, "--seed", fn),
        "n_codes": lambda: option(s, "--codes", fn, "n_codes", help="multicode: number of latent codes N"),
        "layer": lambda: option(s, "--layer", fn, help="multicode / layerwise: the layer (default: the middle one)"),
        "l_dom": lambda: option(s, "--l-dom", fn, help="hybrid: domain regulariser weight (default: the method's)"),
        "optimizer": lambda: option(s, "--optimizer", fn, choices=invert.HYBRID_OPTIMIZERS,
                                    help="hybrid: per-image L-BFGS or the paper's Adam"),
        "lr": lambda: option(s, "--lr", fn, help="hybrid (Adam) / layerwise learning rate (default: the method's)"),
        "latent_steps": lambda: option(s, "--latent-steps", fn,
                                       help="layerwise: latent optimisation steps for the start (default: --steps)"),
        "l_reg": lambda: option(s, "--l-reg", fn, help="layerwise: feature regulariser weight (default: the method's)"),
        "tune_steps": lambda: option(s, "--tune-steps", fn,
                                     help=f"pti: Adam steps tuning the generator's weights around the pivot (a "
                                          f"model of {CPU_LARGE_RESOLUTION} px or more on a CPU: {CPU_LARGE_TUNE_STEPS})"),
    }
    for n in names:
        table[n]()


def _image_options(s: argparse.ArgumentParser, out: str, encoder_help: str) -> None:
    model_options(s)
    fn = invert.invert
    s.add_argument("input", help="an image file or a folder of images")
    s.add_argument("--out", default=out, help="output folder (default: %(default)s)")
    option(s, "--align", fn, choices=ALIGN_MODES,
           help="auto: align the face, centre crop when none is found; face: no face is an error; "
                "center: centre crop, no detection")
    option(s, "--face", fn, type=face_index, help="which face when there are several: 0 = largest, or 'all'")
    option(s, "--encoder", fn, help=encoder_help)
    option(s, "--identity", fn, help="measure the same-person distance of crop and reconstruction (dlib)")
    quiet_option(s)


def register(sub) -> None:
    s = sub.add_parser("invert", help="invert image files or a folder of images (any method)")
    _image_options(s, "inversions", "encoder checkpoint for encoder / hybrid / layerwise "
                                    "(default: checkpoints/encoder-<model>.safetensors)")
    option(s, "--method", invert.invert, choices=list(invert.METHODS),
           help="; ".join(f"{k}: {m.help}" for k, m in invert.METHODS.items()))
    _method_options(s, ("space", "steps", "perceptual_weight", "restarts", "seed", "n_codes", "layer", "l_dom",
                        "optimizer", "lr", "latent_steps", "l_reg", "tune_steps"))
    option(s, "--batch-size", invert.invert_many,
           help=f"images optimised together for a folder or --face all (methods {', '.join(invert.batched_methods())}; "
                "others run one at a time)")
    s.set_defaults(func=cmd_invert, actions=(invert.invert, invert.invert_many), suffix="", fixed=())

    for name, (method, suffix, text) in ALIASES.items():
        s = sub.add_parser(name, help=f"{text} (= invert --method {method})")
        _image_options(s, "outputs", "encoder checkpoint (default: checkpoints/encoder-<model>.safetensors"
                                     + (" when it exists)" if method == "layerwise" else ")"))
        _method_options(s, ALIAS_OPTIONS[name])
        s.set_defaults(func=cmd_invert, actions=(invert.invert,), method=method, suffix=suffix, fixed=("method",))

    s = sub.add_parser("train-encoder", help="train an in-domain encoder for a model (resumable)")
    model_options(s)
    fn = train.train_encoder
    option(s, "--out", fn, help="checkpoint path (default: checkpoints/encoder-<model>.safetensors)")
    option(s, "--steps", fn, help="total steps, resumed ones included")
    option(s, "--minutes", fn, help="stop (and save) after this wall time")
    option(s, "--batch", fn)
    option(s, "--lr", fn)
    option(s, "--l-vgg", fn, help="perceptual weight (lambda_vgg)")
    option(s, "--l-adv", fn, help="image-adversarial weight (lambda_adv)")
    option(s, "--l-latent", fn, help="force-in-domain latent discriminator weight")
    option(s, "--l-code", fn, help="auxiliary ||z - E(G(z))||^2 on generator samples")
    option(s, "--r1-gamma", fn)
    option(s, "--space", fn, choices=LATENT_SPACES, help="encoder space (default: W for StyleGAN2, Z for the DCGAN)")
    option(s, "--e4e", fn, help="e4e encoder (StyleGAN2, W+)")
    option(s, "--perceptual", fn, choices=train.PERCEPTUAL_KINDS)
    option(s, "--images", fn, help="folder of real training images (default: generator samples)")
    option(s, "--resume", fn, help="continue from --out when its state file exists")
    option(s, "--save-every", fn)
    option(s, "--eval-samples", fn, help="held-out generator samples for the final PSNR")
    option(s, "--seed", fn)
    quiet_option(s)
    s.set_defaults(func=cmd_train_encoder, actions=(fn,), fixed=())

    s = sub.add_parser("faces", help="find the faces in a photo: JSON with boxes, scores and landmarks, largest first")
    s.add_argument("photo", help="an image file")
    s.set_defaults(func=cmd_faces, actions=(faces.find_faces,), fixed=())


# --------------------------------------------------------------------------- commands
def _targets(path: str, face, stem: str) -> list[tuple[object, str]]:
    """(face index, file stem) to invert: one, or with --face all one per face found (none: as face 0)."""
    if face != ALL:
        return [(face, stem)]
    found = faces.find_faces(path)["faces"]
    return [(f["index"], f"{stem}-face{f['index']}") for f in found] or [(0, stem)]


def _report(path: str, inv, paths: dict) -> None:
    m = inv.metrics
    line = (f"{path}: PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}  {m['perceptual_metric']} "
            f"{m['perceptual']:.4f}")
    if m.get("arcface_similarity") is not None:
        line += f"  ArcFace similarity {m['arcface_similarity']:.3f}"
    if m.get("identity_distance") is not None:
        line += f"  dlib distance {m['identity_distance']:.3f}"
    info(f"{path}: {inv.prepared.note}")
    print(f"{line}  ({inv.seconds:.1f} s) -> {paths.get('latent', paths['recon'])}")


def cmd_invert(args) -> int:
    files = invert.list_images(args.input)
    if not files:
        raise InputError(f"no images in {shown_path(args.input)}")
    if getattr(args, "batch_size", None) is not None and invert.METHODS[args.method].batched \
            and (len(files) > 1 or args.face == ALL):
        return _invert_batched(args, files)
    settings = kwargs_for(invert.invert, args, exclude=("face",))
    failed, saved = 0, 0
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0] + args.suffix
        try:
            for face, name in _targets(path, args.face, stem):
                with progress_bar(args) as progress:
                    inv = invert.invert(path, face=face, progress=progress, **settings)
                paths = invert.save_inversion(inv, args.out, name)      # all of its files or none
                if args.suffix:                 # the aliases' own sheet: target | reconstruction
                    shutil.copyfile(paths["compare"], os.path.join(args.out, name + ".png"))
                _report(path, inv, paths)
                saved += 1
        except IMAGE_ERRORS as e:
            info(f"skipped {path}: {user_message(e)}")
            failed += 1
        except KeyboardInterrupt:
            _stopped(f"nothing of {path} was written", saved, args.out)
            raise
    return 1 if failed == len(files) else 0


def _stopped(what: str, saved: int, out: str) -> None:
    """Ctrl-C: what was not written, and how many results before it are complete (each is all or nothing)."""
    info(f"stopped: {what}" + (f" (the {saved} inversions finished before it are complete in {shown_path(out)})"
                               if saved else ""))


def _invert_batched(args, files: list[str]) -> int:
    """Every file (every face with --face all) through ``invert_many``: files written as each batch ends."""
    targets, names, done = [], {}, 0
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0] + args.suffix
        try:
            found = _targets(path, args.face, stem)
        except IMAGE_ERRORS as e:
            info(f"skipped {path}: {user_message(e)}")
            continue
        for face, name in found:
            names[path, face] = name
            targets.append((path, face))

    def save(item) -> None:
        nonlocal done
        if item.inversion is None:
            info(f"skipped {item.source}: {item.error}")
            return
        _report(item.source, item.inversion,
                invert.save_inversion(item.inversion, args.out, names[item.source, item.face]))
        done += 1

    settings = kwargs_for(invert.invert_many, args, exclude=("face",))
    if targets:
        try:
            with progress_bar(args) as progress:
                invert.invert_many(targets, progress=progress, on_result=save, **settings)
        except KeyboardInterrupt:
            _stopped(f"nothing of the {len(targets) - done} images still running or waiting was written", done,
                     args.out)
            raise
    return 0 if done else 1


def cmd_train_encoder(args) -> int:
    with progress_bar(args) as progress:
        r = train.train_encoder(progress=progress, **kwargs_for(train.train_encoder, args))
    print(json.dumps(r.heldout, indent=1))
    print(r.path if args.out else shown_path(r.path))
    return 0


def cmd_faces(args) -> int:
    print(json.dumps(faces.find_faces(args.photo), indent=1))
    return 0


__all__ = ["register", "ALIASES"]
