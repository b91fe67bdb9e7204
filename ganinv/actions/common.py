"""What every action shares: input checks with one-line messages, the session record, latent sources.

Every value a user can type (app widget, API call, CLI flag) passes one of these checks once,
in the action that uses it; the method packages below trust their inputs.
"""
from __future__ import annotations

import inspect
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from PIL import Image

from ..clip_models import ClipUnavailableError
from ..edit.apply import parse_layers
from ..download import DownloadError
from ..edit.directions import DirectionError
from ..edit.mixing import CrossoverError
from ..edit.prompts import PromptError
from ..edit.styleclip_global import GlobalDirectionsError, GlobalDirectionUnsupported
from ..edit.styleclip_mapper import MapperError
from ..faces import NoFaceError
from ..invert.residual import ResidualGenerator
from ..io import ImageLoadError, LatentFileError, image_grid, load_latent, tensor_to_pil
from ..latent import check_latent, seed_latent
from ..models.base import Generator
from ..models.loaders import CheckpointFormatError, UnsafeCheckpointError
from ..models.tuned import DeltaError, delta_digest, tuned_generator
from ..plots import loss_figure
from ..registry import REPO_ROOT, ChecksumError, ModelUnavailableError, checkpoints_dir, get_spec, load_generator
from ..settings import MAX_STEPS, SEED_MAX, SOURCE_KINDS, STRENGTH_LIMIT, ProgressFn


class InputError(ValueError):
    """A user-supplied value is missing, malformed or out of range; the message says which and why."""


# Errors whose message is meant for the user (front ends show it as is; anything else is a bug).
USER_ERRORS = (InputError, ImageLoadError, LatentFileError, ModelUnavailableError, ChecksumError, NoFaceError,
               DirectionError, CheckpointFormatError, UnsafeCheckpointError, ClipUnavailableError, DeltaError,
               CrossoverError, PromptError, GlobalDirectionUnsupported, GlobalDirectionsError, MapperError, DownloadError)

# Errors that concern one image of a batch (unreadable, no face): front ends skip that image.
IMAGE_ERRORS = (ImageLoadError, NoFaceError)


def user_message(e: BaseException) -> str:
    """The one-line message of a user error (KeyError's repr quotes are dropped), with no server path in it."""
    msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    return public_text((str(msg) or type(e).__name__).splitlines()[0])


# An absolute path of two or more parts; not a URL's path, "W/W+" or a fraction.
_ABSOLUTE = re.compile(r"(?<![\w.~\-/:])/(?:[^\s'\"`:;,()\[\]{}/]+/)+[^\s'\"`:;,()\[\]{}]*")


def public_path(path: str) -> str:
    """A server path as a remote user may see it: ``checkpoints/<name>`` inside the checkpoints folder,
    relative inside the app's folder, else the file name alone."""
    p = os.path.normpath(path)
    for root, shown in ((checkpoints_dir(), "checkpoints"), (REPO_ROOT, "")):
        rel = os.path.relpath(p, os.path.normpath(root))
        if not rel.startswith(".."):
            return os.path.join(shown, rel) if shown else rel
    return os.path.basename(p) or p


def public_text(text: str) -> str:
    """``text`` with every absolute path replaced by ``public_path`` (a trailing full stop kept)."""
    def short(m: re.Match) -> str:
        p = m.group(0).rstrip(".")
        return public_path(p) + m.group(0)[len(p):]
    return _ABSOLUTE.sub(short, str(text))


# --------------------------------------------------------------------------- defaults
def defaults_from(method: Callable):
    """Mark an action whose ``None`` settings mean ``method``'s own defaults (read by ``default_of``)."""
    def mark(fn: Callable) -> Callable:
        fn.defaults_from = method
        return fn
    return mark


def default_of(fn: Callable, param: str, *, through: bool = True):
    """The default of ``fn``'s parameter ``param``: the function that owns a default is its one home.

    With ``through``, a ``None`` default of an action marked ``defaults_from(method)`` is the method's.
    """
    p = inspect.signature(fn).parameters[param]
    if p.default is inspect.Parameter.empty:
        raise TypeError(f"{fn.__qualname__}() has no default for {param!r}")
    method = getattr(fn, "defaults_from", None)
    if through and p.default is None and method is not None and param in inspect.signature(method).parameters:
        return default_of(method, param)
    return p.default


# --------------------------------------------------------------------------- expected time
EXPECTED_TIME = "expected time"                 # the message stating a task's expected time starts so


@dataclass(frozen=True)
class Phase:
    """One part of a timed task: its name in messages, its step count, and a step's cost relative to the
    first phase's step (used until one of its own steps has been timed)."""

    name: str
    steps: int
    cost: float = 1.0


def duration(seconds: float) -> str:
    """A duration as people say it: "40 s", "4.5 min", "1.2 h"."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


class TimedProgress:
    """The progress of a task made of phases of steps, with its expected time from timed steps.

    ``phase(i)`` is the ``ProgressFn`` of phase i; its fraction f means round(f * steps) steps done.  A phase's
    steps are timed from its report with f = 0 (methods report 0 just before their first step, so their setup
    is not counted), else from its first report.  Once one step is timed, the next report states the expected
    time of the whole task ("expected time: about 6.2 min (...)"): that step's time x the step counts, later
    phases scaled by their ``cost`` until one of their own steps is timed.  Every later message ends with
    the time left, and the fraction passed on (never decreasing) is the expected seconds done over the
    expected total.  Reports are passed on at most every ``every`` seconds (always the statement and the last
    step), so a method may report every step: a front end that cancels by raising from its callback then
    stops within a step or ``every`` seconds.
    """

    def __init__(self, progress: ProgressFn, phases: list[Phase], *, every: float = 0.5,
                 clock: Callable[[], float] = time.monotonic):
        self.progress, self.phases, self.every, self.clock = progress, list(phases), every, clock
        self.start: list[tuple[float, int] | None] = [None] * len(self.phases)   # (time, steps done) timed from
        self.step_s: list[float | None] = [None] * len(self.phases)
        self.done = [0] * len(self.phases)
        self.stated = False
        self.last_sent: float | None = None
        self.last_fraction = 0.0
        self._lock = threading.Lock()

    def phase(self, i: int) -> ProgressFn:
        return lambda f, msg: self.report(i, f, msg)

    def report(self, i: int, fraction: float, message: str) -> None:
        with self._lock:
            now, ph = self.clock(), self.phases[i]
            done = min(ph.steps, round(fraction * ph.steps))
            if self.start[i] is None or (fraction <= 0 and not self.done[i]):
                self.start[i] = (now, done)
            self.done[i] = max(self.done[i], done)
            if done > self.start[i][1]:
                self.step_s[i] = (now - self.start[i][0]) / (done - self.start[i][1])
            if all(t is None for t in self.step_s):     # nothing timed yet: the share of weighted steps
                self._send(i, self._weighted(i, fraction), f"{ph.name}: {message}", now, force=fraction <= 0)
                return
            left = self._left(i)
            spent = now - next(t[0] for t in self.start if t is not None)
            frac = spent / max(spent + left, 1e-9)
            if not self.stated:
                self.stated = True
                self._send(i, frac, f"{EXPECTED_TIME}: about {duration(spent + left)} ({self._plan()})", now,
                           force=True)
                return
            if i == len(self.phases) - 1 and done >= ph.steps:
                self._send(i, 1.0, f"{ph.name}: {message} · done in {duration(spent)}", now, force=True)
            else:
                self._send(i, frac, f"{ph.name}: {message} · about {duration(left)} left", now)

    def _step(self, j: int) -> float:
        """Seconds of a step of phase j: timed, else the latest timed phase's scaled by the costs."""
        if self.step_s[j] is not None:
            return self.step_s[j]
        k = max(k for k in range(len(self.phases)) if self.step_s[k] is not None)
        return self.step_s[k] / self.phases[k].cost * self.phases[j].cost

    def _left(self, i: int) -> float:
        return sum(self._step(j) * (p.steps - (self.done[j] if j == i else 0))
                   for j, p in enumerate(self.phases) if j >= i)

    def _plan(self) -> str:
        def each(j: int) -> str:
            t = self._step(j)
            return f"{'' if self.step_s[j] is not None else '~'}{t:.2g}" if t < 100 else f"{t:.0f}"
        return ", ".join(f"{p.name}: {p.steps} steps of {each(j)} s" for j, p in enumerate(self.phases))

    def _weighted(self, i: int, fraction: float) -> float:
        w = [p.steps * p.cost for p in self.phases]
        return (sum(w[:i]) + w[i] * fraction) / max(sum(w), 1e-9)

    def _send(self, i: int, fraction: float, message: str, now: float, *, force: bool = False) -> None:
        if force or self.last_sent is None or now - self.last_sent >= self.every:
            self.last_sent = now
            self.last_fraction = min(1.0, max(self.last_fraction, fraction))
            self.progress(self.last_fraction, message)


def timed_phases(progress: ProgressFn | None, *phases: Phase, every: float = 0.5) -> list[ProgressFn | None]:
    """One ``ProgressFn`` per phase of one ``TimedProgress`` (all None without ``progress``)."""
    if progress is None:
        return [None] * len(phases)
    timed = TimedProgress(progress, list(phases), every=every)
    return [timed.phase(i) for i in range(len(phases))]


# --------------------------------------------------------------------------- checks
def number(value, what: str, lo: float, hi: float, *, whole: bool = False) -> float | int:
    """``value`` as a finite number in [lo, hi] (an int with ``whole``), else InputError."""
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a number, got {str(value)[:40]!r}.") from None
    if not math.isfinite(v) or not lo <= v <= hi or (whole and v != int(v)):
        rng = f"from {_bound(lo)} to {_bound(hi)}"
        raise InputError(f"{what} must be {'a whole number' if whole else 'a number'} {rng}, got {str(value)[:40]}.")
    return int(v) if whole else v


def _bound(x: float) -> str:
    """A range bound as users write it: 4294967295 rather than 4.29497e+09, 0.5 rather than 0.500000."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def check_steps(value, what: str = "Steps", limit: int = MAX_STEPS) -> int:
    """A step count: a whole number from 1 to ``limit``."""
    return number(value, what, 1, limit, whole=True)


def check_layer(G: Generator, layer, what: str = "Layer", allowed=None) -> str | None:
    """None for a missing layer (the method's default), else one of ``allowed`` (default: G's hidden layers)."""
    if layer is None or layer == "":
        return None
    allowed = tuple(G.layer_names[1:-1] if allowed is None else allowed)
    if layer not in allowed:
        raise InputError(f"{what} must be one of {', '.join(allowed)}; got {str(layer)[:40]!r}.")
    return layer


def optional_number(value, what: str, lo: float, hi: float) -> float | None:
    """None for a missing value (None or ""), else ``number``."""
    return None if value is None or value == "" else number(value, what, lo, hi)


def choice(value, what: str, options) -> str:
    """``value`` if it is one of ``options``, else InputError naming them."""
    if value not in tuple(options):
        raise InputError(f"{what} must be one of {', '.join(map(str, options))}; got {str(value)[:40]!r}.")
    return value


def strength(value, what: str = "strength", limit: float = STRENGTH_LIMIT) -> float:
    """An edit strength alpha: finite and |alpha| <= limit."""
    return number(value, what.capitalize() if what[:1].islower() else what, -limit, limit)


def seed(value, what: str = "Seed") -> int:
    return number(0 if value is None or value == "" else value, what, 0, SEED_MAX, whole=True)


def layer_list(spec, num_ws: int, what: str = "Layers") -> list[int] | None:
    """W+ layer indices from "0-3", "4,5", "all" or a list (None: all layers), each in 0..num_ws-1."""
    try:
        return parse_layers(spec, num_ws)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be like 0-3 or 4,5 with indices from 0 to {num_ws - 1}; "
                         f"got {str(spec)[:40]!r}.") from None


def generator(model: str, device: str | None = None) -> Generator:
    """The shared, cached generator of ``model`` (a registry name or local:<file>)."""
    get_spec(str(model))                                # ModelUnavailableError with the known names
    return load_generator(str(model), device)


def grid_image(*images: torch.Tensor, cols: int | None = None) -> Image.Image:
    """Batches of images [N, C, H, W] in [-1, 1], all of one size, as one picture (one row unless ``cols``)."""
    pil = tensor_to_pil(torch.cat([x.detach().float().cpu() for x in images]))
    return pil[0] if len(pil) == 1 else image_grid(pil, cols=cols)


# --------------------------------------------------------------------------- the session record
@dataclass
class Record:
    """One latent with where it came from: what the tabs share and what a .npz holds."""

    model: str
    latent: torch.Tensor                        # [1, *latent_shape(space)] on the CPU
    space: str
    prepared: object | None = None              # ganinv.actions.faces.Prepared when it came from a photo
    note: str = ""
    meta: dict = field(default_factory=dict)
    delta: dict | None = None                   # pivotal tuning's weight delta: the record renders with G + delta
    residual: tuple | None = None               # (layer, [1, C, h, w]): layer-wise features added when rendering

    @property
    def key(self) -> str | None:
        """Identifies the delta (for the tuned-generator cache); None without one."""
        if not self.delta:
            return None
        if "_key" not in self.meta:
            self.meta["_key"] = delta_digest(self.delta)
        return self.meta["_key"]


def load_record(path: str, *, model: str, device: str | None = None) -> Record:
    """A latent file checked against ``model``; its first code (and weight delta, if any) become the record."""
    G = generator(model, device)
    lf = load_latent(path, G=G)
    return Record(lf.model, lf.latent[:1].clone(), lf.space, note="latent file", meta=lf.meta, delta=lf.delta)


def record_generator(G: Generator, record: Record | None) -> Generator:
    """G itself, or G with the record's tuned weights (a cached private copy: the shared G never changes)
    and its layer-wise feature residual added back in synthesis (ganinv.invert.residual)."""
    if record is None or record.model != G.name:
        return G
    if record.delta:
        G = tuned_generator(G, record.delta, key=record.key)
    if record.residual is not None:
        G = ResidualGenerator(G, *record.residual)
    return G


# --------------------------------------------------------------------------- latent sources
@dataclass
class Source:
    """Where a latent comes from: the session's record, a seed sample, or a file (.npz or a photo)."""

    kind: str = "seed"                          # one of SOURCE_KINDS
    record: Record | None = None                # for "session"
    seed: int = 0                               # for "seed"
    path: str | None = None                     # for "file"
    label: str = "source"
    _files: dict = field(default_factory=dict, repr=False, compare=False)   # {model: LatentFile} read from path

    def latent_file(self, G: Generator):
        """The .npz at ``path`` checked against G, read once per Source (an action asks for it several
        times: its tuned weights, its latent, its alignment metadata)."""
        if G.name not in self._files:
            self._files[G.name] = load_latent(self.path, G=G)
        return self._files[G.name]


def source_generator(G: Generator, *sources: "Source") -> Generator:
    """The generator an action renders with: tuned when a session source carries pivotal tuning's delta,
    so every tab edits the photo's own details (Roich et al., PTI, TOG 2022)."""
    for src in sources:
        if src is None:
            continue
        if src.kind == "session" and src.record is not None and (src.record.delta or src.record.residual):
            return record_generator(G, src.record)
        if src.kind == "file" and str(src.path or "").lower().endswith(".npz"):
            lf = src.latent_file(G)                         # a record file written with its tuned weights
            if lf.delta:
                return tuned_generator(G, lf.delta)
    return G


def check_source(src: Source) -> Source:
    choice(src.kind, f"{src.label}: latent source", SOURCE_KINDS)
    src.seed = seed(src.seed, f"{src.label}: seed")
    return src


def session_latent(G: Generator, record: Record | None, label: str = "source") -> tuple[torch.Tensor, str]:
    """The record's latent on G's device, refused when it belongs to another model."""
    if record is None:
        raise InputError(f"{label}: there is no session latent yet; invert an image in 1 Invert or use a seed.")
    if record.model != G.name:
        raise InputError(f"{label}: the session latent was made for {record.model!r}, but the model is {G.name!r}: "
                         f"select {record.model!r} or invert again.")
    check_latent(G, record.latent, record.space)
    return record.latent[:1].to(G.device), record.space


# Presentation helpers front ends use on results: tensor_to_pil (images in [-1, 1] -> PIL) and
# loss_figure (loss curves, drawn under matplotlib's lock).
__all__ = ["EXPECTED_TIME", "Phase", "duration", "TimedProgress", "timed_phases", "defaults_from", "default_of", "tensor_to_pil", "loss_figure", "InputError", "USER_ERRORS", "IMAGE_ERRORS", "user_message", "public_path", "public_text", "grid_image", "number", "check_steps", "check_layer", "optional_number",
           "choice", "strength", "seed", "layer_list", "generator", "Record", "load_record", "record_generator", "source_generator", "Source", "check_source",
           "session_latent", "seed_latent"]
