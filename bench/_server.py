"""Start ``python app.py`` on a free loopback port for the benchmarks (load.py, memory.py, app_invert.py,
edit_latency.py), and the options the app benches share."""
from __future__ import annotations

import argparse
import contextlib
import os
import socket
import tempfile
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_app(extra_args: list[str], env: dict | None = None, timeout_s: int = 240) -> tuple[subprocess.Popen, str]:
    """Launch the app with ``extra_args`` and wait until it answers; returns (process, url)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "app.py"), "--port", str(port), *extra_args],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(timeout_s):
        try:
            urllib.request.urlopen(url, timeout=5)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit("app.py exited during start-up")
            time.sleep(1)
    proc.terminate()
    raise SystemExit(f"app.py did not start within {timeout_s} s")


def app_bench_options(ap: argparse.ArgumentParser, *, repeats: int, repeats_help: str | None = None) -> None:
    """--photo, --repeats, --url and --results, as every bench that drives a running app takes them."""
    ap.add_argument("--photo", default=None, help="default: scikit-image's astronaut")
    ap.add_argument("--repeats", type=int, default=repeats, help=repeats_help)
    ap.add_argument("--url", default=None, help="a running app (default: start one)")
    ap.add_argument("--results", default=None, help="also write docs/results/<this name>.json")


def photo_path(photo: str | None) -> str:
    """``photo``, or scikit-image's astronaut saved to a temporary PNG."""
    if photo is not None:
        return photo
    from PIL import Image
    from skimage import data
    path = os.path.join(tempfile.mkdtemp(), "astronaut.png")
    Image.fromarray(data.astronaut()).save(path)
    return path


@contextlib.contextmanager
def app_at(url: str | None):
    """The app at ``url``, or one started for the block and stopped after it; yields its URL."""
    if url:
        yield url
        return
    proc, started = start_app([])
    try:
        yield started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
