"""Committed benchmark results: every bench that README.md or docs/benchmarks.md quotes writes one JSON
under docs/results/ with how it ran (command line, commit, machine) and its per-item figures.

    from _results import write_results
    write_results("editability-dev", items=[{...}, ...], summary={...})

The file is ``docs/results/<name>.json`` (``--results-dir`` of the bench, or $GANINV_RESULTS_DIR, can
point elsewhere).  tests/test_results.py checks README's tables against these files.
"""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "docs", "results")
FORMAT = "ganinv-results/1"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU model, cores, torch threads and the load average (1, 5, 15 min) now."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average": [round(v, 2) for v in os.getloadavg()], "python": platform.python_version(),
            "torch": torch.__version__, "platform": platform.platform()}


def provenance() -> dict:
    """Command line, commit and the files that differed from it (a dirty tree is named, not hidden)."""
    dirty = [line[3:] for line in _git("status", "--porcelain", "--untracked-files=no").splitlines() if line.strip()]
    return {"command": " ".join([os.path.relpath(sys.executable, ROOT)] + sys.argv),
            "commit": _git("rev-parse", "HEAD"), "modified_files": dirty,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _clean(v):
    if isinstance(v, float):
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return _clean(v.item())
    return v


def write_results(name: str, items: list[dict], summary: dict, *, settings: dict | None = None,
                  started: dict | None = None, directory: str | None = None) -> str:
    """Write ``<directory>/<name>.json``; ``started`` is ``machine()`` taken when the run began (load then)."""
    directory = directory or os.environ.get("GANINV_RESULTS_DIR") or RESULTS_DIR
    os.makedirs(directory, exist_ok=True)
    doc = {"format": FORMAT, "name": name, **provenance(), "machine_at_start": started or machine(),
           "machine_at_end": machine(), "settings": settings or {}, "summary": summary, "items": items}
    path = os.path.join(directory, f"{name}.json")
    with open(path, "w") as f:
        json.dump(_clean(doc), f, indent=1)
        f.write("\n")
    print(f"results -> {os.path.relpath(path, ROOT)}")
    return path
