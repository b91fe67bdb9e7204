"""Commands: ``models`` (which generators exist and whether their weights are here) and ``sample``."""
from __future__ import annotations

import json
import os

from ..actions import models
from .common import model_options, option, output_path


def register(sub) -> None:
    s = sub.add_parser("models", help="list registered models and whether their weights are here")
    s.add_argument("--json", action="store_true", help="one JSON object per model")
    s.set_defaults(func=cmd_models, actions=(), fixed=())

    s = sub.add_parser("sample", help="generate images from seeds")
    model_options(s)
    fn = models.sample
    option(s, "--seeds", fn, nargs="+", help=f"at most {models.MAX_SAMPLES} seeds")
    option(s, "--truncation", fn, "truncation_psi", help="truncation psi (1: none)")
    s.add_argument("--out", default="samples", help="output folder (default: %(default)s)")
    s.set_defaults(func=cmd_sample, actions=(fn,), fixed=())


def cmd_models(args) -> int:
    rows = models.list_models()
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'name':<26} {'family':<10} {'res':>5} {'spaces':<12} {'here':<5} licence")
    for r in rows:
        print(f"{r['name']:<26} {r['family']:<10} {r['resolution']:>5} {r['spaces']:<12} "
              f"{'yes' if r['available'] else 'no':<5} {r['licence']}")
    return 0


def cmd_sample(args) -> int:
    seeds = models.parse_seeds(args.seeds)
    images = models.sample(seeds, model=args.model, truncation_psi=args.truncation_psi, device=args.device)
    for seed, img in zip(seeds, images):
        path = output_path(os.path.join(args.out, f"seed{seed:04d}.png"))
        img.save(path)
        print(path)
    return 0


__all__ = ["register"]
