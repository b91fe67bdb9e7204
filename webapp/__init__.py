"""The ganinv web app: one module per tab over ``ganinv.actions`` (the library never imports gradio).

    build.py         the page: header, the model choice every tab uses, the tabs
    common.py        what the tabs share: errors, cancellation, session folders and state, tables
    tab_<name>.py    one tab each: its method text, layout and callbacks (convert, call one action, format)
    process.py       settings of the server process (malloc, no triton on a CPU server), applied by app.py
"""
import os

# Offline-safe defaults, set before gradio is imported (it starts telemetry threads on import).
# HF_HUB_OFFLINE=1 also makes the registry refuse downloads quickly; run with HF_HUB_OFFLINE=0
# to let the app download registered StyleGAN2 checkpoints.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from .build import build_app  # noqa: E402
from .common import MAX_SESSIONS, Sessions  # noqa: E402

__all__ = ["build_app", "MAX_SESSIONS", "Sessions"]
