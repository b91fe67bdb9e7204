"""The action layer: one module per user task, called by the app, the CLI and Python scripts alike.

    from ganinv.actions import invert, edit
    inv = invert.invert("photo.jpg")                          # align, invert, measure
    out = edit.edit(Source("session", record=inv.record), {"smile": 2.0}, score=True)

Each function takes explicit keyword arguments, checks every input once (finite numbers in
range, known names, shapes: ``common.InputError`` with a one-line message) and returns a small
dataclass.  Defaults come from ``ganinv.settings``.  Nothing here draws UI or prints.
"""
from . import common, discover, edit, evaluate, faces, invert, mix, models, restore, sources, text, train
from .common import USER_ERRORS, InputError, Record, Source, user_message

__all__ = ["common", "discover", "edit", "evaluate", "faces", "invert", "mix", "models", "restore", "sources", "text", "train",
           "USER_ERRORS", "InputError", "Record", "Source", "user_message"]
