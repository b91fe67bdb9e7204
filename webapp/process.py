"""Settings of the server process the app runs in (measured with bench/memory.py; app.py applies them).

    tune_malloc()     glibc malloc: 2 arenas
    skip_triton()     no triton on a CPU server
    release_gpu_libraries()  a CPU server drops the resident pages of the CUDA libraries torch maps
    release_openmp_threads() the calling thread's OpenMP team ends (after start-up and after each callback)
    freeze_startup()  the objects of the built app out of the garbage collector's sight
    collect_garbage() after a request: a full collection (at most every COLLECT_EVERY_S), and the
                      allocator's free pages go back to the system
"""
from __future__ import annotations

import ctypes
import gc
import glob
import logging
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


# madvise(2) advice: reclaim these pages now (Linux 5.4+).  Clean file-backed pages leave the resident set
# and are read back from the file if ever touched again; pages the process wrote to stay.
MADV_PAGEOUT = 21
# Libraries of torch's CUDA wheels (and the nvidia-* wheels they load) that only a GPU executes.
GPU_LIBRARY_MARKERS = ("/nvidia/", "/libtorch_cuda", "/libc10_cuda", "/libcaffe2_nvrtc", "/libtorch_nvshmem",
                       "/cuda/bindings/", "/libcudart", "/libcudnn", "/libcublas", "/libnccl")


def _file_mappings(maps: str) -> list[tuple[int, int, str]]:
    """(start, end, path) of each /proc/<pid>/maps line that maps a file (or names a region, e.g. [heap])."""
    out = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            out.append((start, end, fields[5].strip()))
    return out


def _library_ranges(maps: str, markers: tuple[str, ...]) -> list[tuple[int, int]]:
    """The address ranges of the /proc/<pid>/maps lines whose file path contains one of ``markers``."""
    return [(start, end) for start, end, path in _file_mappings(maps) if any(m in path for m in markers)]


def page_out(markers: tuple[str, ...]) -> int:
    """``madvise(MADV_PAGEOUT)`` on every mapping of this process whose file path contains one of ``markers``;
    returns the bytes advised (0 off Linux or where the C library has no madvise).

    The kernel reclaims the clean pages only this process maps (a page another process maps too stays)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        with open("/proc/self/maps") as f:
            ranges = _library_ranges(f.read(), markers)
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return sum(end - start for start, end in ranges if madvise(start, end - start, MADV_PAGEOUT) == 0)


def release_gpu_libraries(device: str | None) -> int:
    """On a CPU server, ask the kernel to reclaim the resident pages of the GPU libraries; returns the bytes advised.

    The CUDA wheels of torch (what PyPI serves on Linux) link cuDNN, cuBLAS, NCCL, cuFile and torch's own CUDA
    kernels into ``import torch``: loading them leaves ~170 MB of their file pages resident (bench/memory.py),
    though a server computing on the CPU never executes a line of them.  ``madvise(MADV_PAGEOUT)`` drops the
    clean pages (read back from the file should anything touch them; the pages the loader wrote, ~14 MB,
    stay).  Nothing is unloaded, and nothing happens on a GPU or on kernels before 5.4."""
    if device_in_use(device) != "cpu":
        return 0
    return page_out(GPU_LIBRARY_MARKERS)


# omp_pause_resource_all (OpenMP 5.0) is used only on GNU's runtime: on LLVM's or Intel's (conda builds, macOS
# wheels) a pause releases the whole process's runtime, even while another request computes.
GNU_OPENMP = "libgomp"
OMP_PAUSE_SOFT = 1
_pause = []                                   # [GNU OpenMP's omp_pause_resource_all or None], looked up once
log = logging.getLogger("ganinv.app")


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p), ("dli_sname", ctypes.c_char_p),
                ("dli_saddr", ctypes.c_void_p)]


def torch_openmp() -> tuple[str | None, object | None]:
    """(file, omp_pause_resource_all) of the OpenMP runtime torch's own library links, resolved through
    libtorch_cpu's dependencies (not the first OpenMP library mapped); (None, None) when there is none."""
    torch = sys.modules["torch"]
    libs = glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.*"))
    try:
        function = ctypes.CDLL(libs[0]).omp_pause_resource_all          # searched in torch's dependency tree
        dladdr = ctypes.CDLL(None).dladdr
    except (IndexError, OSError, AttributeError):
        return None, None
    info = _DlInfo()
    if not dladdr(ctypes.cast(function, ctypes.c_void_p), ctypes.byref(info)) or not info.dli_fname:
        return None, None
    return os.fsdecode(info.dli_fname), function


def _openmp_pause():
    """GNU OpenMP's omp_pause_resource_all when torch links it, looked up once torch is imported; else None."""
    if not _pause:
        if "torch" not in sys.modules:
            return None                                 # torch loads its runtime on import: look again then
        path, function = torch_openmp()
        if path and os.path.basename(path).startswith(GNU_OPENMP):
            function.argtypes, function.restype = [ctypes.c_int], ctypes.c_int
        else:
            log.info("OpenMP teams are not released after requests: torch links %s, not GNU libgomp",
                     os.path.basename(path) if path else "no OpenMP runtime")
            function = None
        _pause.append(function)
    return _pause[0]


def release_openmp_threads() -> bool:
    """End the OpenMP thread team the calling thread started (torch's intra-op threads); True when the runtime
    took the request.  The next parallel operator of this thread starts a new team (microseconds).

    Every thread that runs a torch operator keeps its own team of OpenMP workers: the main thread from start-up
    (the example images), and each of the worker threads gradio and asyncio run callbacks in.  Once the
    process holds more OpenMP threads than the machine has cores, GNU's runtime stops spinning between
    parallel regions (100 spins instead of 300,000: "throttled", libgomp's GOMP_SPINCOUNT) and puts its
    workers to sleep after each of the thousands of small operators of an inversion, so every operator
    waits for a wake-up (docs/benchmarks.md, "The OpenMP team of each thread").  GNU OpenMP only; elsewhere a
    no-op (``_openmp_pause``)."""
    pause = _openmp_pause()
    return bool(pause) and pause(OMP_PAUSE_SOFT) == 0


_trim = []                                    # [glibc's malloc_trim or None], looked up once


def _malloc_trim() -> None:
    """glibc's malloc_trim(0): the free memory of every arena goes back to the system (not on other C libraries)."""
    if not _trim:
        try:
            _trim.append(ctypes.CDLL("libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _trim.append(None)
    if _trim[0] is not None:
        _trim[0](0)


_last_collect = [0.0]
_collect_lock = threading.Lock()


def collect_garbage(now: float | None = None) -> bool:
    """A full garbage collection, unless one ran less than ``COLLECT_EVERY_S`` ago (True when it ran); then,
    every time, the allocator's free memory goes back to the system.

    Called after every callback (webapp.common.shows_errors): the cycles a request leaves (see
    ``freeze_startup``) hold its images and tensors, and CPython's own full collections are too rare
    once lazily loaded models add their objects (bench/memory.py: +15 MB per inversion, +11% over 200
    requests).  One collection takes ~0.1-1 s; the rate limit bounds that cost on fast slider edits.
    ``malloc_trim(0)`` (4-11 ms measured after a PTI inversion): a request frees its tensors, but the
    blocks stay in the worker threads' malloc arenas, and glibc hands an arena's free pages back only from
    its top; without it the resident set swung by up to 200 MB with whatever the last requests left
    (bench/memory.py, RSS every 20 requests)."""
    now = time.monotonic() if now is None else now
    with _collect_lock:
        ran = now - _last_collect[0] >= COLLECT_EVERY_S
        if ran:
            _last_collect[0] = now
    if ran:
        gc.collect()
    _malloc_trim()
    return ran


__all__ = ["COLLECT_EVERY_S", "MALLOC_SETTINGS", "collect_garbage", "freeze_startup", "page_out",
           "release_gpu_libraries", "release_openmp_threads", "skip_triton", "torch_openmp", "tune_malloc"]
