"""Settings of the server process (webapp/process.py): what app.py applies before serving."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _child(code: str, *args: str) -> str:
    """stdout of ``python -c code args`` in a fresh process with the project on its path."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=ROOT,
                          env=env).stdout


def test_cpu_server_runs_optimizers_without_triton_with_two_malloc_arenas_and_frozen_startup_objects():
    # every torch optimizer imports torch._dynamo, which imports triton when installed (75 MB of RSS)
    code = ("import gc, sys, torch; from webapp.process import freeze_startup, skip_triton, tune_malloc; "
            "applied = tune_malloc(); skipped = skip_triton('cpu'); frozen = freeze_startup(); "
            "p = torch.zeros(3, requires_grad=True); opt = torch.optim.Adam([p], lr=0.1); "
            "(p - 1).square().sum().backward(); opt.step(); "
            "print(applied, skipped, sys.modules.get('triton') is not None, 'torch._dynamo' in sys.modules, "
            "round(float(p[0]), 3), frozen > 0 and gc.get_freeze_count() > 0)")
    assert _child(code).split("\n")[0] == ("{'MALLOC_ARENA_MAX': 2} True False True 0.1 True")


def test_an_environment_setting_wins_and_cuda_keeps_triton(monkeypatch):
    from webapp import process
    for name in process.MALLOC_SETTINGS:                   # (and this test process's allocator stays as it is)
        monkeypatch.setenv(name, "4")
    assert process.tune_malloc() == {}
    monkeypatch.setattr(process, "device_in_use", lambda device: "cuda")
    assert process.skip_triton(None) is False


def test_a_callback_is_followed_by_a_malloc_trim_and_a_full_collection_at_most_every_few_seconds(monkeypatch):
    # a request's reference cycles hold its images and tensors until a full collection
    from webapp import common, process
    calls, clock = [], [1000.0]
    monkeypatch.setattr(process.gc, "collect", lambda *a: calls.append(clock[0]) or 0)
    monkeypatch.setattr(process, "_malloc_trim", lambda: calls.append("trim"))
    monkeypatch.setattr(process.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(process, "_last_collect", [0.0])
    callback = common.shows_errors(lambda: "result")
    assert [callback(), callback()] == ["result", "result"] and calls == [1000.0, "trim", "trim"]
    clock[0] += process.COLLECT_EVERY_S
    callback()
    assert calls == [1000.0, "trim", "trim", 1000.0 + process.COLLECT_EVERY_S, "trim"]


# Child-process prelude: ``rss(name)`` = resident MB of the mappings whose path ends with ``name``; the files
# named on the command line are mapped read-only and every page is read once (``maps``, ``sums``).
_MAP_FILES = ("import mmap, sys; from webapp import process\n"
              "def rss(name):\n"
              "    kb, keep = 0, False\n"
              "    for line in open('/proc/self/smaps'):\n"
              "        head = line.split()\n"
              "        if '-' in head[0] and ':' not in head[0]:\n"
              "            keep = len(head) == 6 and head[5].endswith(name)\n"
              "        elif keep and head[0] == 'Rss:':\n"
              "            kb += int(head[1])\n"
              "    return kb // 1024\n"
              "files = [open(p, 'rb') for p in sys.argv[1:]]\n"
              "maps = [mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) for f in files]\n"
              "sums = [sum(m[i] for i in range(0, len(m), 4096)) for m in maps]\n")


def _kernel_pages_out() -> bool:
    """madvise(MADV_PAGEOUT) exists on this kernel (Linux 5.4+)."""
    import ctypes
    import mmap
    from webapp.process import MADV_PAGEOUT
    page = mmap.mmap(-1, mmap.PAGESIZE)
    address = ctypes.addressof(ctypes.c_char.from_buffer(page))
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    ok = madvise(address, mmap.PAGESIZE, MADV_PAGEOUT) == 0
    return ok


def test_page_out_drops_the_resident_pages_of_the_files_named_and_only_those(tmp_path):
    # how a CPU server drops the CUDA wheel's cuDNN / cuBLAS / NCCL pages (~170 MB after `import torch`);
    # a file only the child process maps stands in for them (a page another process maps too is kept,
    # and this test process has torch's libraries mapped)
    for name in ("gpu-only.bin", "other.bin"):
        (tmp_path / name).write_bytes(bytes(range(256)) * (32 << 12))             # 32 MB each
    code = (_MAP_FILES +
            "before = [rss('gpu-only.bin'), rss('other.bin')]\n"
            "advised = process.page_out(('/gpu-only.bin',))\n"
            "after = [rss('gpu-only.bin'), rss('other.bin')]\n"
            "again = [sum(m[i] for i in range(0, len(m), 4096)) for m in maps]\n"
            "print(before, after, advised >> 20, sums == again)")
    out = _child(code, str(tmp_path / "gpu-only.bin"), str(tmp_path / "other.bin")).strip()
    if _kernel_pages_out():
        assert out == "[32, 32] [0, 32] 32 True"                     # the pages read back equal where touched
    else:                                                            # Linux < 5.4: nothing advised, all kept
        assert out == "[32, 32] [32, 32] 0 True"


def test_a_cpu_server_pages_out_a_gpu_library_and_a_gpu_server_keeps_it(tmp_path):
    # a stand-in cuDNN at a path like the nvidia wheels' (so the test bites on a CPU-only torch too), next to
    # a library that is no GPU library: only the CPU server drops the first, and never the second
    gpu_lib = tmp_path / "site-packages" / "nvidia" / "cudnn" / "lib" / "libcudnn_fake.so.9"
    plain_lib = tmp_path / "site-packages" / "plain" / "libplain_fake.so"
    for path in (gpu_lib, plain_lib):
        path.parent.mkdir(parents=True)
        path.write_bytes(bytes(range(256)) * (16 << 12))                         # 16 MB each
    code = (_MAP_FILES +
            "gpu = process.release_gpu_libraries('cuda'); kept = [rss('libcudnn_fake.so.9'), rss('libplain_fake.so')]\n"
            "cpu = process.release_gpu_libraries('cpu'); after = [rss('libcudnn_fake.so.9'), rss('libplain_fake.so')]\n"
            "print(gpu, kept, cpu >= 16 << 20, after)")
    out = _child(code, str(gpu_lib), str(plain_lib)).strip()
    if _kernel_pages_out():
        assert out == "0 [16, 16] True [0, 16]", out
    else:                                                            # Linux < 5.4: nothing advised, all kept
        assert out == "0 [16, 16] False [16, 16]", out


def test_the_gpu_library_markers_name_what_a_cuda_torch_maps():
    import torch

    from webapp import process
    with open("/proc/self/maps") as f:
        maps = f.read().split()
    libraries = [name for name in maps if any(m in name for m in process.GPU_LIBRARY_MARKERS)]
    assert bool(libraries) == bool(torch.version.cuda), \
        f"torch {torch.__version__} maps {libraries[:3]}: GPU_LIBRARY_MARKERS are stale"


def test_library_ranges_come_from_the_maps_lines_of_the_named_libraries_only():
    from webapp.process import GPU_LIBRARY_MARKERS, _library_ranges
    maps = ("7f0000000000-7f0000002000 r--p 00000000 08:01 1 /venv/site-packages/nvidia/cudnn/lib/libcudnn.so.9\n"
            "7f0000002000-7f0000003000 r-xp 00002000 08:01 2 /venv/site-packages/torch/lib/libtorch_cuda.so\n"
            "7f0000003000-7f0000004000 r-xp 00000000 08:01 3 /venv/site-packages/torch/lib/libtorch_cpu.so\n"
            "7f0000004000-7f0000005000 rw-p 00000000 00:00 0 \n"
            "7f0000005000-7f0000006000 rw-p 00000000 00:00 0 [heap]\n")
    assert _library_ranges(maps, GPU_LIBRARY_MARKERS) == [(0x7f0000000000, 0x7f0000002000), (0x7f0000002000, 0x7f0000003000)]


def test_releasing_the_openmp_team_ends_its_worker_threads_and_the_next_operator_starts_a_new_one():
    # a team per thread that ever ran an operator: past the core count, GNU OpenMP stops spinning between
    # operators and every operator of an inversion waits for a wake-up (webapp/process.py)
    code = ("import os, threading, torch; from webapp import process\n"
            "torch.set_num_threads(2)\n"
            "def threads(): return len(os.listdir('/proc/self/task'))\n"
            "def op(): return float(torch.nn.functional.conv2d(torch.ones(1, 8, 64, 64), torch.ones(8, 8, 3, 3)).sum())\n"
            "op(); before = threads(); released = process.release_openmp_threads(); after = threads()\n"
            "value = op(); again = threads()\n"
            "out = []\n"
            "def worker(): op(); out.append(process.release_openmp_threads()); out.append(threads())\n"
            "t = threading.Thread(target=worker); t.start(); t.join()\n"
            "print(released, before - after, again - after, value == op(), out[0], out[1] - 1 == again)")
    # the pinned torch build's GNU OpenMP has omp_pause_resource_all (OpenMP 5.0): without it the fix is gone
    out = _child(code)
    assert out.split() == ["True", "1", "1", "True", "True", "True"], out


def test_openmp_runtime_is_the_one_torch_links():
    import torch
    from webapp.process import torch_openmp
    path, function = torch_openmp()
    assert path and os.path.basename(path).startswith("libgomp") and function is not None
    assert os.path.realpath(path).startswith(os.path.realpath(os.path.dirname(torch.__file__))) or \
        path.startswith(("/usr/", "/lib"))           # the wheel's own copy, or the system's for a distro torch


@pytest.mark.parametrize("linked", ["/opt/conda/lib/libomp.so", "/opt/intel/lib/libiomp5.so", None])
def test_other_openmp_runtimes_are_left_alone_with_one_log_line(monkeypatch, caplog, linked):
    import logging
    from webapp import process
    calls = []
    monkeypatch.setattr(process, "_pause", [])
    monkeypatch.setattr(process, "torch_openmp", lambda: (linked, lambda kind: calls.append(kind) or 0))
    with caplog.at_level(logging.INFO, logger="ganinv.app"):
        assert process.release_openmp_threads() is False and process.release_openmp_threads() is False
    assert calls == [] and len(caplog.records) == 1 and "not GNU libgomp" in caplog.text
