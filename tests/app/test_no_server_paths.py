"""Nothing a remote user sees names a server path: the bad-input catalogue (tests/bad_inputs.py) through the
HTTP API and the CLI, the offline CLIP message, the face picker's notes, and the page's text.

A server path is any absolute path of the machine the app runs on: the repository, the Python environment,
the temporary folders (the server's TMPDIR, Gradio's cache), the home folder.  Messages name files relative
to the app (``checkpoints/...``) or by their base name.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile

import httpx
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from api_steps import MODEL
from bad_inputs import bad_images, odd_but_valid_images, write
from ganinv import io as gio

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BAD = bad_images()
ODD = odd_but_valid_images()
# An absolute path of two or more parts ("/tmp/x", "/work/main/app.py"), not a fraction or "W/W+".
ABSOLUTE = re.compile(r"(?<![\w.~\-/:])/(?:[\w.\-]+/)+[\w.\-]*")


def server_roots(tmp: str | None = None) -> list[str]:
    """Folders whose names must never reach a user."""
    roots = {ROOT, os.path.realpath(ROOT), sys.prefix, os.path.realpath(sys.prefix), tempfile.gettempdir(),
             os.path.expanduser("~")}
    if tmp:
        roots |= {tmp, os.path.realpath(tmp)}
    return sorted(r for r in roots if r not in ("", "/"))


def leaks(text: str, roots: list[str]) -> list[str]:
    """The server paths in ``text``: any absolute path, and any server folder named in it."""
    found = [m.group(0) for m in ABSOLUTE.finditer(text)]
    return found + [r for r in roots if r in text]


def assert_no_paths(text: str, where: str, roots: list[str]) -> None:
    bad = leaks(str(text), roots)
    assert not bad, f"{where} shows server paths {bad}: {str(text)[:300]!r}"


def invert(client, path, **kw):
    args = dict(model=MODEL, align="auto", face=1, space="Z", steps=1, weight=1.0, restarts=1, seed=0) | kw
    return client.predict(handle_file(path), args["model"], args["align"], args["face"], args["space"], args["steps"],
                          args["weight"], args["restarts"], args["seed"], "optimize", api_name="/invert")


# --------------------------------------------------------------------------- the oracle itself
@pytest.mark.parametrize("text, found", [
    ("no such file: /work/main/photos/me.png", True),
    ("the image file is damaged (/tmp/gradio/abc/x.png)", True),
    ("place it at checkpoints/clip/ViT-B-32-openai.bin", False),
    ("Latent space must be one of Z, W, W+; got 'W/W+'", False),
    ("PSNR 21.3 dB, 1/4 of the time", False),
])
def test_the_oracle_tells_paths_from_relative_names(text, found):
    assert bool(leaks(text, server_roots())) == found


# --------------------------------------------------------------------------- API
def test_api_errors_and_notes_name_no_server_path(client, app_url, tmp_path):
    roots = server_roots(str(tmp_path.parent))
    seen = []
    for name, path in write(BAD, str(tmp_path / "bad")).items():
        with pytest.raises(AppError) as e:
            invert(client, path)
        assert BAD[name][2] in str(e.value)
        seen.append((f"/invert {name}", str(e.value)))
        gallery, note = client.predict(handle_file(path), api_name="/find_faces")
        assert gallery == [] and note.startswith("Faces: ")
        seen.append((f"/find_faces {name}", note))
    for name, path in write({k: ODD[k] for k in ("one_pixel", "palette")}, str(tmp_path / "odd")).items():
        seen.append((f"/invert {name}", invert(client, path)[-1]))
    for kw in (dict(steps=0), dict(space="../../etc/passwd"), dict(model="local:../../etc/passwd.pt"),
               dict(align="face")):
        with pytest.raises(AppError) as e:
            invert(client, write({"x": ODD["very_wide"]}, str(tmp_path / "wide"))["x"], **kw)
        seen.append((f"/invert {kw}", str(e.value)))
    z = torch.randn(1, 100)
    z[0, 1] = float("nan")
    for case, latent in (("nan", z), ("shape", torch.randn(1, 512))):
        p = gio.save_latent(str(tmp_path / f"{case}.npz"), latent, model=MODEL, space="Z")
        with pytest.raises(AppError) as e:
            client.predict(handle_file(p), MODEL, api_name="/load_latent")
        seen.append((f"/load_latent {case}", str(e.value)))
    (tmp_path / "raw.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(AppError) as e:
        client.predict(handle_file(str(tmp_path / "raw.npz")), MODEL, api_name="/load_latent")
    seen.append(("/load_latent raw", str(e.value)))
    status = client.predict(api_name="/clip_status")[0]                   # the offline CLIP message (or "ready")
    seen.append(("/clip_status", status))
    try:
        client.predict("a smiling face", 0.008, 0.0, 1, "seed", 3, api_name="/text_edit")
    except AppError as e:
        seen.append(("/text_edit", str(e)))
    for where, text in seen:
        print(f"{where}: {text[:160]}")
        assert_no_paths(text, where, roots)


def broken_checkpoints(folder) -> str:
    """A checkpoints folder holding a damaged torch file (its loader's message names the file)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "broken.pt").write_bytes(b"PK\x03\x04 a damaged checkpoint")
    return str(folder)


def test_checkpoint_errors_name_the_file_relative_to_checkpoints(start_app, tmp_path):
    """Loader messages carry the checkpoint's full path: the user sees ``checkpoints/<name>``."""
    from gradio_client import Client
    ckpt = broken_checkpoints(tmp_path / "ckpt")
    path = write({"ok": ODD["palette"]}, str(tmp_path))["ok"]
    with start_app(extra_env={"GANINV_CHECKPOINTS": ckpt}) as url:
        client = Client(url, verbose=False)
        with pytest.raises(AppError) as e:
            invert(client, path, model="local:broken.pt", space="W+")
    print(f"local:broken.pt: {e.value}")
    assert "checkpoints/broken.pt" in str(e.value)
    assert_no_paths(str(e.value), "the loader's message", server_roots(str(tmp_path)))


def _visible_text(node, out: list[str]) -> None:
    """Strings of a Gradio config a user can read (labels, info, markdown, choices), not file URLs."""
    if isinstance(node, dict):
        if node.get("meta", {}).get("_type") == "gradio.FileData" or "orig_name" in node:
            return                                               # a served file: its URL is not page text
        for k, v in node.items():
            if k not in ("path", "url", "root", "api_prefix", "elem_classes", "js", "css", "head"):
                _visible_text(v, out)
    elif isinstance(node, list):
        for v in node:
            _visible_text(v, out)
    elif isinstance(node, str):
        out.append(node)


def test_page_text_names_no_server_path(app_url, tmp_path):
    roots = server_roots(str(tmp_path.parent))
    page = httpx.get(app_url, timeout=30).text
    # What the page shows; its scripts carry the config, whose readable strings are checked below (file
    # URLs excepted: Gradio serves every file, examples included, from its cache folder by path).
    shown = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    assert_no_paths(re.sub(r"<[^>]+>", " ", shown), "the page", roots)
    config = httpx.get(app_url + "config", timeout=30).json()
    texts: list[str] = []
    _visible_text(config.get("components", []), texts)
    assert len(texts) > 50 and any("Image2StyleGAN" in t for t in texts)      # the tabs' text is in there
    for t in texts:
        assert_no_paths(t, "a component's text", roots)


# --------------------------------------------------------------------------- CLI
def test_cli_messages_name_no_server_path(tmp_path):
    roots = server_roots(str(tmp_path))
    src = tmp_path / "in"
    write(BAD, str(src))
    write({"ok": ODD["palette"]}, str(src))
    wide = write({"wide": ODD["very_wide"]}, str(tmp_path))["wide"]                # no face in it
    bad_latent = tmp_path / "bad.npz"
    bad_latent.write_bytes(b"PK\x03\x04 not really a zip")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ROOT,
           "GANINV_CHECKPOINTS": broken_checkpoints(tmp_path / "ckpt")}
    runs = {
        "invert folder": ["invert", str(src), "--out", str(tmp_path / "out"), "--steps", "1", "--quiet"],
        "invert missing": ["invert", str(tmp_path / "missing.png"), "--quiet"],
        "invert face": ["invert", wide, "--align", "face", "--quiet", "--out", str(tmp_path / "o2"), "--steps", "1"],
        "edit bad latent": ["edit", "--latents", str(bad_latent), "--direction", "smile=1", "--out",
                            str(tmp_path / "e.png")],
        "text-edit offline": ["text-edit", "a smiling face", "--seeds", "1", "--steps", "1", "--out",
                              str(tmp_path / "t")],
        "faces bad": ["faces", str(src / "notes.png")],
        "broken checkpoint": ["invert", wide, "--model", "local:broken.pt", "--quiet", "--out", str(tmp_path / "o3")],
    }
    for name, argv in runs.items():
        r = subprocess.run([sys.executable, "-m", "ganinv", *argv], capture_output=True, text=True, env=env,
                           cwd=str(tmp_path.parent), timeout=600)
        print(f"{name}: exit {r.returncode}: {r.stderr.strip()[-300:]}")
        assert "Traceback" not in r.stderr, (name, r.stderr)
        assert_no_paths(r.stderr, f"`ganinv {argv[0]}` ({name})", roots)
        if name != "invert folder":
            assert r.returncode != 0, (name, r.stderr)
    assert json.loads((tmp_path / "out" / "palette_metrics.json").read_text())["model"] == MODEL
