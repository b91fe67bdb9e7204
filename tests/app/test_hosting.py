"""Hosting: exposure warnings, login from --auth / GANINV_AUTH, the upload limit handed to the server, and session
temp folders removed by the session's close callback and when the server stops.

Not tested here: removal when a tab closes.  gradio 6.31 calls ``demo.unload`` when the session's
heartbeat stream is cancelled; with starlette 1.x (ASGI 2.4) a closed tab shows up as a failed write
instead, and in our runs the unload fired within 60-120 s only once in three tries.
"""
from __future__ import annotations

import os
import subprocess
import sys
import re
import time
from types import SimpleNamespace

import httpx
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
import app  # noqa: E402
from webapp import Sessions  # noqa: E402


class _FakeDemo:
    def __init__(self):
        self.launched = None

    def launch(self, **kwargs):
        self.launched = kwargs


@pytest.mark.parametrize("argv, warned", [
    ([], []),
    (["--host", "0.0.0.0"], ["listening on 0.0.0.0"]),
    (["--share"], ["gradio.live"]),
    (["--host", "0.0.0.0", "--share", "--auth", "ann:pw"], ["listening on 0.0.0.0", "gradio.live"]),
])
def test_main_warns_on_exposure_and_passes_limits_to_launch(argv, warned, monkeypatch, capsys):
    import signal
    monkeypatch.delenv("GANINV_AUTH", raising=False)
    demo = _FakeDemo()
    monkeypatch.setattr(app, "build_app", lambda **kw: demo)
    handlers = {}
    monkeypatch.setattr(signal, "signal", lambda sig, fn: handlers.__setitem__(sig, fn))
    app.main([*argv, "--max-upload-mb", "2.5"])
    err = capsys.readouterr().err
    for phrase in warned:
        assert f"WARNING: {phrase}" in err or (phrase in err and "WARNING" in err), err
    assert err.count("WARNING") == len(warned)
    assert ("no login" in err) == (bool(warned) and "--auth" not in argv)
    kw = demo.launched
    assert kw["max_file_size"] == int(2.5 * 2**20)
    assert kw["auth"] == (("ann", "pw") if "--auth" in argv else None)
    assert kw["share"] == ("--share" in argv) and kw["show_error"] is False
    assert kw["server_name"] == ("0.0.0.0" if "0.0.0.0" in argv else "127.0.0.1")
    with pytest.raises(SystemExit):                     # SIGTERM exits normally, so atexit cleanup runs
        handlers[signal.SIGTERM](signal.SIGTERM, None)


def test_hosts_configure_the_app_through_the_environment(monkeypatch):
    """A Space sets GRADIO_SERVER_NAME / _PORT; its variables give the limits (flags still win)."""
    for k, v in {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861", "GANINV_MAX_UPLOAD_MB": "3.5",
                 "GANINV_MAX_CONCURRENCY": "2"}.items():
        monkeypatch.setenv(k, v)
    a = app.parse_args([])
    assert (a.host, a.port, a.max_upload_mb, a.max_concurrency) == ("0.0.0.0", 7861, 3.5, 2)
    assert app.parse_args(["--host", "127.0.0.1", "--max-upload-mb", "1"]).max_upload_mb == 1.0


def test_public_host_with_login_from_the_environment(start_app, tmp_path):
    """A real server on every interface with GANINV_AUTH (what --auth defaults to; the flag itself is
    checked above): it warns (with login), and the API and uploads need the login."""
    from gradio_client import Client
    with start_app("--host", "0.0.0.0", extra_env={"GANINV_AUTH": "ann:s3cret"}) as url:
        log = (tmp_path / "server.log").read_text()
        assert "WARNING: listening on 0.0.0.0" in log and "no login" not in log
        assert httpx.get(url + "config", timeout=30).status_code == 401
        assert httpx.post(url + "gradio_api/upload", files={"files": ("a.png", b"x", "image/png")},
                          timeout=30).status_code in (401, 403)
        wrong = httpx.post(url + "login", data={"username": "ann", "password": "wrong"}, timeout=30)
        assert (wrong.status_code, wrong.json()) == (400, {"detail": "Incorrect credentials."})
        with pytest.raises(ValueError, match=rf"^Could not login to {re.escape(url)}\.$"):     # refused at login
            Client(url, auth=("ann", "wrong"), verbose=False)
        client = Client(url, auth=("ann", "s3cret"), verbose=False)
        assert "celeba-dcgan-64" in [r[0] for r in client.predict(api_name="/models")["data"]]


# --------------------------------------------------------------------------- session temp folders
def test_session_close_removes_only_that_sessions_folder():
    sessions = Sessions(grace=0)
    a, b = SimpleNamespace(session_hash="abc123"), SimpleNamespace(session_hash="../../etc")
    da, db = sessions.dir(a), sessions.dir(b)
    assert os.path.dirname(db) == sessions.root                        # no path tricks in the folder name
    for d in (da, db):
        open(os.path.join(d, "latent.npz"), "wb").write(b"x")
    sessions.close(a)
    assert not os.path.exists(da) and os.path.exists(os.path.join(db, "latent.npz"))
    sessions.close(b)
    assert os.listdir(sessions.root) == []


def test_session_close_spares_a_folder_a_job_is_writing_to():
    """Unload also fires when a heartbeat merely drops (a client times out on a loaded server, then
    reconnects): a job of that session, still running, writes its files after the close."""
    sessions = Sessions(grace=0.5)
    a = SimpleNamespace(session_hash="busy1")
    d = sessions.dir(a)                                                # a job took its folder...
    sessions.close(a)                                                  # ...the heartbeat dropped...
    open(os.path.join(d, "inversion_loss.png"), "wb").write(b"x")      # ...and the job saves its files
    time.sleep(0.3)
    assert os.path.exists(os.path.join(d, "inversion_loss.png"))
    deadline = time.time() + 10
    while os.path.exists(d) and time.time() < deadline:                # idle for the grace period: removed
        time.sleep(0.1)
    assert not os.path.exists(d)


def test_idle_session_folders_are_swept_and_active_ones_kept():
    sessions = Sessions(ttl=3600)
    idle, active = SimpleNamespace(session_hash="idle1"), SimpleNamespace(session_hash="active1")
    d_idle, d_active = sessions.dir(idle), sessions.dir(active)
    open(os.path.join(d_idle, "restored.png"), "wb").write(b"x")
    hours_ago = time.time() - 2 * 3600
    os.utime(d_idle, (hours_ago, hours_ago))                          # last used two hours ago
    assert sessions.sweep() == []                                      # swept at most once a minute
    assert sessions.sweep(force=True) == ["idle1"]
    assert not os.path.exists(d_idle) and os.path.isdir(d_active)
    os.utime(d_active, (hours_ago, hours_ago))
    assert sessions.dir(active) == d_active                            # use refreshes it...
    assert sessions.sweep(force=True) == [] and os.path.isdir(d_active)   # ...so it stays


def test_session_root_removed_at_process_exit(tmp_path):
    code = "from webapp import Sessions; s = Sessions(); open(s.dir(None) + '/f', 'w').write('x'); print(s.root)"
    env = {**os.environ, "PYTHONPATH": ROOT, "TMPDIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    root = r.stdout.strip().splitlines()[-1]
    assert r.returncode == 0 and root.startswith(str(tmp_path)), r.stderr
    assert not os.path.exists(root)


def test_session_folders_removed_when_server_is_stopped(start_app, tmp_path):
    """SIGTERM (how servers are stopped) removes the sessions' temp root, downloads included."""
    import torch
    from gradio_client import Client, handle_file
    from ganinv import io as gio
    z = gio.save_latent(str(tmp_path / "z.npz"), torch.zeros(1, 100), model="celeba-dcgan-64", space="Z")
    with start_app() as url:
        client = Client(url, verbose=False)
        _, png, _ = client.predict(handle_file(z), "celeba-dcgan-64", api_name="/load_latent")
        roots = [p for p in tmp_path.glob("ganinv-app-*") if p.name != "ganinv-app-examples"]
        assert len(roots) == 1 and any(roots[0].rglob("reconstruction.png"))
    assert not roots[0].exists()
