"""Command line: ``python -m ganinv <command>``.  Every command calls one action of ``ganinv.actions``
(the same functions, defaults and checks as the app and the Python API); one module per group:

    invert.py    invert (--method ...), encode, invert-hybrid, invert-layerwise, train-encoder, faces
    edit.py      edit, train-boundary
    discover.py  discover
    mix.py       morph, mix, diffuse
    text.py      text-edit, train-mapper, apply-mapper, global-directions, global-edit
    restore.py   restore
    models.py    models, sample
    evaluate.py  evaluate (methods x a folder of images: tables; in-process or Ray)

Errors a user can fix print one line ``error: <message>`` and exit with status 2 (tracebacks with
GANINV_DEBUG=1).
"""
from __future__ import annotations

import os

from . import discover, edit, evaluate, invert, mix, models, restore, text
from .common import Parser, run

GROUPS = (models, invert, edit, discover, mix, text, restore, evaluate)


def build_parser() -> Parser:
    p = Parser(prog="python -m ganinv", description="GAN inversion and latent editing.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (2 for usage and user errors)."""
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:                     # --help, or a usage error already printed on one line
        return e.code if isinstance(e.code, int) else 2
    return run(args.func, args)


__all__ = ["build_parser", "main"]
