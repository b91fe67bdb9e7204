"""What every command shares: the parser class, options whose defaults are read from the action they
feed, latent sources, a tqdm progress bar and the one place errors become one line on stderr.

Numbers are passed to the actions as typed (strings): the action checks them (finite, in range,
whole) and says what is wrong, so the CLI, the app and Python refuse the same values the same way.
"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

from tqdm import tqdm

from ..actions import USER_ERRORS, InputError, Source, user_message
from ..actions.common import EXPECTED_TIME, default_of
from ..actions.models import forbid_downloads
from ..settings import DEFAULT_MODEL

DEBUG_ENV = "GANINV_DEBUG"                      # set to 1 to see tracebacks instead of one-line errors
ALL = "all"                                     # --face all
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, ``error: <command>: <message>``, exit status 2.

    Values such as -1e3, -inf or -nan are read as values (argparse alone takes them for options), so
    they reach the action's check.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER     # argparse's own pattern knows only -1 and -.5

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {scrub(message)}\n")


# --------------------------------------------------------------------------- options
def option(s: argparse.ArgumentParser, flag: str, fn: Callable, param: str | None = None, *, help: str = "",
           **kw) -> None:
    """``flag`` feeding ``fn``'s keyword ``param`` (default: the flag's name), with ``fn``'s default.

    The value lands in ``args.<param>``; booleans get ``--x / --no-x``.  Numbers stay strings for the
    action to check.
    """
    param = param or flag.lstrip("-").replace("-", "_")
    value = default_of(fn, param, through=False)
    if isinstance(value, bool):
        kw.setdefault("action", argparse.BooleanOptionalAction)
    elif "choices" not in kw:
        kw.setdefault("metavar", flag.lstrip("-").upper().replace("-", "_"))
    shown = "" if value is None or isinstance(value, bool) else " (default: %(default)s)"
    if value is None and default_of(fn, param) is not None:             # None: the method's default
        shown = f" (default: {default_of(fn, param)})"
    s.add_argument(flag, dest=param, default=value, help=(help + shown).strip() or None, **kw)


def runs(s: argparse.ArgumentParser, func: Callable, *actions: Callable) -> None:
    """The command runs ``func``, which feeds ``actions`` (their defaults are the options'), with --quiet."""
    quiet_option(s)
    s.set_defaults(func=func, actions=actions, fixed=())


def kwargs_for(fn: Callable, args, *, exclude: Sequence[str] = ()) -> dict:
    """The values of ``args`` for every keyword parameter of ``fn`` the command has an option for."""
    params = inspect.signature(fn).parameters
    return {k: getattr(args, k) for k, p in params.items()
            if p.kind is p.KEYWORD_ONLY and k not in exclude and k != "progress" and hasattr(args, k)}


def model_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("--model", default=DEFAULT_MODEL,
                   help="registry name or local:<file in checkpoints/> (default: %(default)s)")
    s.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    offline_option(s)


def offline_option(s: argparse.ArgumentParser) -> None:
    s.add_argument("--offline", action="store_true",
                   help="never download weights (same as GANINV_OFFLINE=1); missing ones give a message at once")


def quiet_option(s: argparse.ArgumentParser) -> None:
    s.add_argument("--quiet", action="store_true", help="no progress bar")


def source_options(s: argparse.ArgumentParser, nargs: int | str) -> None:
    """--seeds or --latents: where the input latent(s) come from."""
    g = s.add_mutually_exclusive_group()
    g.add_argument("--seeds", nargs=nargs, metavar="SEED",
                   help="sample the input latent(s) from these seeds, in the model's default space "
                        "(W for StyleGAN2, Z for the DCGAN; default: seeds 0, 1, ...)")
    g.add_argument("--latents", nargs=nargs, metavar="FILE",
                   help="latent .npz files (from `ganinv invert`), or photos (inverted first)")


def sources(args, count: int | None = None, labels: Sequence[str] = ()) -> list[Source]:
    """Sources from --latents or --seeds; without either, seeds 0 .. count-1 (one when count is None)."""
    if getattr(args, "latents", None):
        items = [dict(kind="file", path=p) for p in args.latents]
    else:
        items = [dict(kind="seed", seed=x) for x in (args.seeds or list(range(count or 1)))]
    names = list(labels) or [f"latent {i + 1}" for i in range(len(items))]
    names += [f"latent {i + 1}" for i in range(len(names), len(items))]
    return [Source(label=name, **item) for item, name in zip(items, names)]


def pairs(items: Sequence[str], what: str = "direction") -> dict[str, str]:
    """NAME=VALUE (NAME alone: strength 1) -> {name: value as typed}; the action checks the values."""
    out = {}
    for text in items or ():
        name, sep, value = str(text).rpartition("=")
        name, value = (name, value) if sep else (text, "1")
        if not name:
            raise InputError(f"{what} {str(text)[:40]!r}: expected NAME=VALUE")
        out[name] = value
    return out


def face_index(text: str) -> str:
    """--face: "all", or an index the action checks (0 = largest)."""
    return ALL if str(text).strip().lower() == ALL else text


# --------------------------------------------------------------------------- progress
class Progress:
    """A ``ProgressFn`` drawing one tqdm bar on stderr: fraction -> percent, message -> description.  A task's
    expected-time statement (``EXPECTED_TIME``) is also printed as its own line, so it stays on screen."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None

    def __call__(self, fraction: float, message: str) -> None:
        if self.bar is None:
            self.bar = tqdm(total=100, file=sys.stderr, leave=True, dynamic_ncols=True, desc=str(message)[:60],
                            bar_format="{desc} |{bar}| {percentage:3.0f}% [{elapsed}<{remaining}]")
        if str(message).startswith(EXPECTED_TIME):
            self.bar.write(str(message), file=sys.stderr)
        self.bar.set_description_str(str(message)[:60], refresh=False)
        self.bar.n = min(100.0, max(0.0, 100.0 * float(fraction)))
        self.bar.refresh()

    def close(self, *, keep: bool = True) -> None:
        """End the bar; ``keep=False`` (after an error) erases it, so the error stays the only line."""
        if self.bar is not None:
            self.bar.leave = keep
            self.bar.close()
            self.bar = None


@contextmanager
def progress_bar(args) -> Iterator[Progress | None]:
    """A progress callback for one action call (None with --quiet); the bar is closed afterwards."""
    p = None if getattr(args, "quiet", False) else Progress()
    try:
        yield p
    except BaseException:
        if p is not None:
            p.close(keep=False)
        raise
    if p is not None:
        p.close()


# --------------------------------------------------------------------------- output and errors
_ABSOLUTE = re.compile(r"(?<![\w.~\-/:])/[^\s'\"`:;,()\[\]{}]+")


def shown_path(path: str) -> str:
    """A path as messages show it: relative to the working folder when inside it, else its file name."""
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else os.path.basename(path.rstrip("/")) or path


def scrub(text: str) -> str:
    """``text`` on one line, with absolute paths shortened (no server paths in messages)."""
    def short(m: re.Match) -> str:
        p = m.group(0).rstrip(".")
        tail = m.group(0)[len(p):]
        return (shown_path(p) if p.count("/") > 1 or os.path.exists(p) else p) + tail
    return _ABSOLUTE.sub(short, " ".join(str(text).split()))


def info(message: str) -> None:
    """A note for the user on stderr (stdout carries results: written paths, JSON)."""
    print(scrub(message), file=sys.stderr)


def warn(message: str) -> None:
    print(f"warning: {scrub(message)}", file=sys.stderr)


def run(func: Callable, args) -> int:
    """Call a command; a user error becomes ``error: <message>`` on stderr and exit status 2, any other
    exception one line and status 1 (tracebacks with GANINV_DEBUG=1)."""
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    if getattr(args, "offline", False):
        forbid_downloads()
    try:
        return int(func(args) or 0)
    except USER_ERRORS as e:
        if debug:
            raise
        print(f"error: {scrub(user_message(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line, the traceback on request
        if debug:
            raise
        print(f"error: unexpected {type(e).__name__}: {scrub(str(e))} ({DEBUG_ENV}=1 shows the traceback)",
              file=sys.stderr)
        return 1


def output_path(path: str) -> str:
    """``path`` with its folder created (for a file the command writes)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    return path


__all__ = ["DEBUG_ENV", "ALL", "Parser", "default_of", "option", "runs", "kwargs_for", "model_options", "offline_option", "quiet_option",
           "source_options", "sources", "pairs", "face_index", "Progress", "progress_bar", "shown_path", "scrub",
           "info", "warn", "run", "output_path"]
