"""Settings of the server process the app runs in (measured with bench/memory.py; app.py applies them).

    tune_malloc()    glibc malloc: 2 arenas
    skip_triton()    no triton on a CPU server
    freeze_startup() the objects of the built app out of the garbage collector's sight
    collect_garbage() a full collection after a request, at most every COLLECT_EVERY_S
"""
from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time

from ganinv.actions.models import device_in_use

# glibc mallopt parameters (malloc.h) and the values bench/memory.py measured: every tab used once
# takes 1589 MB with glibc's defaults, 1449 MB with 2 arenas, 1377 MB with 2 arenas and a fixed 1 MB mmap
# threshold.  Gradio runs callbacks in worker threads, each of which gets its own malloc arena, and the
# default threshold rises to 32 MB after the first large free, so freed tensors stay in those arenas.
# A fixed 1 MB mmap threshold saved another ~70 MB but made the default inversion (PTI) 1.5x slower in the
# server (bench/app_invert.py, idle: 14.5 s vs 9.9 s upload to result): every tensor above 1 MB was mapped,
# faulted in and unmapped again on each step, so it is not set.
M_ARENA_MAX = -8
COLLECT_EVERY_S = 10.0              # at most one full garbage collection per this many seconds (see collect_garbage)
MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": (M_ARENA_MAX, 2)}


def tune_malloc() -> dict[str, int]:
    """Apply ``MALLOC_SETTINGS`` to this process with glibc's mallopt, except those the environment sets
    (glibc reads them itself); returns what was applied ({} where the C library is not glibc)."""
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return {}
    applied = {}
    for name, (param, value) in MALLOC_SETTINGS.items():
        if name not in os.environ and mallopt(param, value) == 1:
            applied[name] = value
    return applied


def skip_triton(device: str | None) -> bool:
    """Make ``import triton`` fail (an ImportError torch expects) when the app computes on the CPU.

    triton compiles GPU kernels for torch.compile, which a CPU server never runs; yet every torch
    optimizer imports torch._dynamo on its first step, and torch._dynamo imports triton whenever it is
    installed (the CUDA wheels of torch bring it): 75 MB of RSS (bench/memory.py).  True when skipped."""
    if device_in_use(device) != "cpu" or sys.modules.get("triton", None) is not None:
        return False
    sys.modules["triton"] = None
    return True


def freeze_startup() -> int:
    """Move every object alive now (the imports and the built app, ~550k objects) to the collector's
    permanent generation; returns how many.

    A request leaves reference cycles behind (exceptions caught inside matplotlib's and torch's code keep
    their tracebacks, whose frames hold the request's locals: the inversion, its images and tensors), so
    its memory comes back only at a full collection.  With half a million long-lived objects CPython runs
    those rarely and each takes ~1 s: bench/memory.py saw RSS grow ~15 MB per inversion.  Frozen, the
    startup objects no longer count towards (or get scanned by) a full collection, which then runs often
    and takes milliseconds."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


_last_collect = [0.0]
_collect_lock = threading.Lock()


def collect_garbage(now: float | None = None) -> bool:
    """A full garbage collection, unless one ran less than ``COLLECT_EVERY_S`` ago; True when it ran.

    Called after every callback (webapp.common.shows_errors): the cycles a request leaves (see
    ``freeze_startup``) hold its images and tensors, and CPython's own full collections are too rare
    once lazily loaded models add their objects (bench/memory.py: +15 MB per inversion, +11% over 200
    requests).  One collection takes ~0.1-1 s; the rate limit bounds that cost on fast slider edits."""
    now = time.monotonic() if now is None else now
    with _collect_lock:
        if now - _last_collect[0] < COLLECT_EVERY_S:
            return False
        _last_collect[0] = now
    gc.collect()
    return True


__all__ = ["COLLECT_EVERY_S", "MALLOC_SETTINGS", "collect_garbage", "freeze_startup", "skip_triton", "tune_malloc"]
