"""Commands: ``edit`` (move a latent along named directions, a strength strip, or list the directions)
and ``train-boundary`` (InterFaceGAN attribute directions)."""
from __future__ import annotations

from ..actions import edit
from ..actions.common import InputError, grid_image
from .common import (info, kwargs_for, model_options, option, output_path, pairs, progress_bar,
                     quiet_option, shown_path, source_options, sources)


def register(sub) -> None:
    s = sub.add_parser("edit", help="apply directions to a latent (or list the model's directions)")
    model_options(s)
    source_options(s, 1)
    s.add_argument("--direction", nargs="*", default=[], metavar="NAME=STRENGTH",
                   help="direction name (or .npy file) and strength, e.g. smile=2 yaw=-1 (NAME alone: 1)")
    s.add_argument("--target", nargs="*", default=[], metavar="NAME=CHANGE",
                   help="reach a change in the attribute's own units instead of a strength, e.g. smile=+0.5 "
                        "(MediaPipe smile score) or age=+10 (years); found by a closed loop, capped at the "
                        "strength limit")
    option(s, "--without", edit.edit, nargs="*", help="make each direction orthogonal to these (conditional editing)")
    option(s, "--hold", edit.edit, help="keep yaw, pitch, age, gender and skin tone at their unedited values "
                                        "(closed loop per face; default: on)")
    option(s, "--deliver", edit.edit, help="a face whose render lags behind a direction's average effect gets "
                                           "strength added, at most as much again (default: off)")
    option(s, "--keep-tone", edit.edit, help="keep the face's skin tone (ITA): step along the model's skin-tone "
                                             "boundary after the edit (default: on)")
    option(s, "--layers", edit.edit, help="W+ layers the edit moves, e.g. 0-3 or 4,5 (StyleGAN2 only)")
    s.add_argument("--sweep", default=None, metavar="K",
                   help="render a strip of K strengths from -a to +a of the one --direction NAME=a")
    option(s, "--root", edit.edit, help="directions folder (default: the repo's directions/)")
    option(s, "--score", edit.edit, help="score the attributes before and after, and the identity kept")
    option(s, "--paste", edit.edit, "photo", help="the photo the record was inverted from: --out is then the "
                                                  "whole photo with the edit pasted in")
    option(s, "--paste-mode", edit.edit, choices=edit.PASTE_MODES,
           help="; ".join(f"{k}: {v}" for k, v in edit.PASTE_MODE_HELP.items()))
    s.add_argument("--list", action="store_true", help="list the model's directions")
    s.add_argument("--out", default="edited.png", help="image written (default: %(default)s)")
    s.add_argument("--save-latent", default=None, metavar="FILE.npz", help="also save the edited latent")
    s.set_defaults(func=cmd_edit, actions=(edit.edit, edit.strip), fixed=())

    s = sub.add_parser("train-boundary", help="train InterFaceGAN attribute directions")
    model_options(s)
    fn = edit.train_boundaries
    s.add_argument("--attribute", nargs="+", default=["smile"], metavar="ATTRIBUTE",
                   help=f"attributes to train ({', '.join(edit.ATTRIBUTES)}; default: smile)")
    option(s, "--scorer", fn, help="face | landmarker | emotion (default: the landmarker when it gives every "
                                   "attribute, else face)")
    option(s, "--samples", fn, "num_samples", help="latents sampled and scored")
    option(s, "--seed", fn)
    option(s, "--fraction", fn, help="most confident fraction kept at each end")
    option(s, "--space", fn, choices=edit.TRAIN_SPACES, help="default: the model's default space")
    option(s, "--without", fn, nargs="*", help="make each boundary orthogonal to these directions (eq. 6)")
    option(s, "--out", fn, "root", help="directions folder written (default: the repo's directions/)")
    quiet_option(s)
    s.set_defaults(func=cmd_train_boundary, actions=(fn, edit.train_boundary), fixed=())


# --------------------------------------------------------------------------- commands
def cmd_list(args) -> int:
    for key, d in edit.directions_for(args.model, root=args.root).items():
        acc = " / ".join(f"{what} {v:.3f}" for what, v in (("acc", d.accuracy_val), ("rest", d.accuracy_rest))
                         if v is not None)
        print(f"{key:<24} {d.space:<3} {d.method:<24} {d.attribute or '-':<12} {acc}".rstrip())
    return 0


def cmd_edit(args) -> int:
    if args.list or not (args.direction or args.target):
        return cmd_list(args)
    strengths = pairs(args.direction)
    targets = pairs(args.target, "target")
    (src,) = sources(args, 1, ["input"])
    options = kwargs_for(edit.edit, args)
    if args.sweep is not None:
        if len(strengths) != 1:
            raise InputError(f"--sweep shows one direction; got {len(strengths)}.")
        (key, limit), = strengths.items()
        steps = edit.strip_strengths(limit, args.sweep)
        r = edit.strip(src, key, strengths=steps, allow_path=True, **kwargs_for(edit.strip, args))
        r.grid.save(output_path(args.out))
        print(args.out)
        return 0
    if args.save_latent and not str(args.save_latent).endswith(".npz"):
        raise InputError("--save-latent must name a .npz file.")
    r = edit.edit(src, strengths, targets=targets, allow_path=True, **options)
    info(f"{r.note}; strengths {r.strengths}")
    for c in r.cosines:
        info(f"{c['direction']} conditioned on {c['condition']}: cos {c['cos_before']} -> {c['cos_after']:.1e}")
    for name, (before, after) in (r.scores or {}).items():
        info(f"{name:<12} {before:9.3f} -> {after:9.3f}")
    if r.tone:
        info(edit.tone_summary(r.tone))
    if r.held:
        info(edit.hold_summary(r.held))
    for name, (before, after) in (r.photo_scores or {}).items():
        info(f"photo {name:<12} {before:9.3f} -> {after:9.3f}")
    sim = (r.identity or {}).get("photo_arcface_similarity")
    if sim is not None:
        info(f"identity kept: ArcFace similarity {sim:.3f} of the pasted photo's face to the original photo's")
    elif r.identity and r.identity.get("arcface_similarity") is not None:
        info(f"identity kept: ArcFace similarity {r.identity['arcface_similarity']:.3f} to the original")
    if args.photo is not None and r.pasted is None:
        raise InputError("--paste needs a record inverted from an aligned face of that photo.")
    (r.pasted if r.pasted is not None else grid_image(r.image)).save(output_path(args.out))
    print(args.out)
    if args.save_latent:
        print(edit.save_edit(output_path(args.save_latent), r))
    return 0


def cmd_train_boundary(args) -> int:
    with progress_bar(args) as progress:
        found = edit.train_boundaries(args.attribute, progress=progress, **kwargs_for(edit.train_boundaries, args))
    t = found[0]
    info(f"{t.num_samples} samples scored; faces found in {t.detection_rate:.1%}")
    for t in found:
        path = t.path if args.root else shown_path(t.path)
        print(f"{t.direction.name}: validation accuracy {t.accuracy_val:.3f}, remaining {t.accuracy_rest:.3f} "
              f"-> {path}")
    return 0


__all__ = ["register"]
