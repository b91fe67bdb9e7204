"""Settings of the server process the app runs in (measured with bench/memory.py; app.py applies them).

    tune_malloc()    glibc malloc: 2 arenas, a fixed 1 MB mmap threshold
    skip_triton()    no triton on a CPU server
"""
from __future__ import annotations

import ctypes
import os
import sys

from ganinv.actions.models import device_in_use

# glibc mallopt parameters (malloc.h) and the values bench/memory.py measured: every tab used once
# takes 1589 MB with glibc's defaults, 1449 MB with 2 arenas, 1377 MB with 2 arenas and a fixed 1 MB mmap
# threshold.  Gradio runs callbacks in worker threads, each of which gets its own malloc arena, and the
# default threshold rises to 32 MB after the first large free, so freed tensors stay in those arenas.
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8
MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": (M_ARENA_MAX, 2), "MALLOC_MMAP_THRESHOLD_": (M_MMAP_THRESHOLD, 1 << 20)}


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


__all__ = ["MALLOC_SETTINGS", "skip_triton", "tune_malloc"]
