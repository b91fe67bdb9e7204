"""The ganinv web app: one module per tab over ``ganinv.actions`` (the library never imports gradio).

    build.py         the page: header, the model choice every tab uses, the tabs
    common.py        what the tabs share: errors, cancellation, session folders and state, tables
    tab_<name>.py    one tab each: its method text, layout and callbacks (convert, call one action, format)
    process.py       settings of the server process (malloc, no triton on a CPU server), applied by app.py
"""
import os

# No telemetry, set before gradio is imported (it starts telemetry threads on import).  Downloads
# of weights stay allowed: the app is online when the user is (``--offline`` / GANINV_OFFLINE=1
# forbid them, HF_HUB_OFFLINE=1 forbids the Hub's).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from .build import build_app  # noqa: E402
from .common import MAX_SESSIONS, Sessions  # noqa: E402

__all__ = ["build_app", "MAX_SESSIONS", "Sessions"]
