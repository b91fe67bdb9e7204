"""Fixtures for the app tests: the real app server (``python app.py``) on a fresh free port,
and a system-Chromium launch configuration for pytest-playwright."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from factories import tiny_checkpoints

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 240                    # seconds; gradio + torch import and example rendering, on a busy machine
UPLOAD_LIMIT_MB = 1                    # small, so the limit test uploads little


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortTaken(RuntimeError):
    """The free port was taken before the server bound it (another test process picked it too)."""


def _wait_until_up(url: str, proc: subprocess.Popen, log_path: str) -> None:
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if proc.poll() is not None:
            log = open(log_path).read()
            taken = "Cannot find empty port" in log or "Address already in use" in log
            raise (PortTaken if taken else RuntimeError)(f"app.py exited with {proc.returncode}:\n{log[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"app.py did not answer at {url} within {START_TIMEOUT} s:\n{open(log_path).read()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def running_app(tmp: Path, *args: str, extra_env: dict | None = None, attempts: int = 3):
    """Start ``python app.py --port <free> *args`` (offline, temp dirs under ``tmp``); yield its URL.

    Test processes run side by side (pytest-xdist): a port another one took first means a new port."""
    env = {k: v for k, v in os.environ.items() if k != "GANINV_AUTH"}
    env.update({"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1",
                "GRADIO_TEMP_DIR": str(tmp / "gradio"), "PYTHONPATH": ROOT, "TMPDIR": str(tmp), **(extra_env or {})})
    log_path = str(tmp / "server.log")
    for attempt in range(attempts):
        port = free_port()
        with open(log_path, "w") as log:
            cmd = [sys.executable, os.path.join(ROOT, "app.py"), "--port", str(port), "--device", "cpu", *args]
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/", proc, log_path)
            break
        except PortTaken:
            _stop(proc)
            if attempt == attempts - 1:
                raise
        except BaseException:
            _stop(proc)
            raise
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """URL of a real app server started with ``python app.py`` on a fresh port; stopped afterwards.
    Its models: the bundled DCGAN and a tiny StyleGAN2 checkpoint (``TINY_SG2``)."""
    tmp = tmp_path_factory.mktemp("app-server")
    ckpt = tiny_checkpoints(tmp / "checkpoints")
    with running_app(tmp, "--max-upload-mb", str(UPLOAD_LIMIT_MB), extra_env={"GANINV_CHECKPOINTS": str(ckpt)}) as url:
        yield url


@pytest.fixture
def start_app(tmp_path):
    """``with start_app(*args, extra_env=...) as url:`` runs a second, separately configured server."""
    return lambda *args, extra_env=None: running_app(tmp_path, *args, extra_env=extra_env)


@pytest.fixture(scope="session")
def upload_limit_mb() -> int:
    """The --max-upload-mb the test server runs with."""
    return UPLOAD_LIMIT_MB


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client
    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def astronaut_png(tmp_path_factory, astronaut) -> str:
    path = tmp_path_factory.mktemp("inputs") / "astronaut.png"
    astronaut.save(path)
    return str(path)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright: drive Debian's Chromium (never `playwright install`), offline-safe flags."""
    # A missing browser is a setup error, not a reason to skip: `bash run.sh test` installs it.
    assert os.path.isfile(CHROMIUM) and shutil.which(CHROMIUM), \
        f"{CHROMIUM} is not installed: run `bash run.sh test` (it installs Debian's chromium) or apt-get install chromium"
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}
