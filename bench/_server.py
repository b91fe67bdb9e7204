"""Start ``python app.py`` on a free loopback port for the benchmarks (shared by load.py and memory.py)."""
from __future__ import annotations

import os
import socket
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
