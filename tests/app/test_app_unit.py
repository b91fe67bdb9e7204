"""app.py in-process: layout, API names, the progress hook, command-line handling."""
from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
import app  # noqa: E402

TABS = ["1 Invert", "2 Edit", "3 Discover", "4 Morph & Mix", "5 Text edit", "6 Restore", "7 Models"]


@pytest.fixture(scope="module")
def demo():
    return app.build_app(device="cpu")


def test_tabs_in_user_order_and_every_event_named(demo):
    import gradio as gr
    labels = [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]
    assert labels == TABS
    names = {f.api_name for f in demo.fns.values()}
    assert {"invert", "load_latent", "sample", "models", "select_model", "use_sample"} <= names
    assert all(f.api_name for f in demo.fns.values())
    compute = {f.api_name: f.concurrency_id for f in demo.fns.values()}
    assert compute["invert"] == compute["load_latent"] == compute["sample"] == "compute"


def test_library_never_imports_gradio():
    import pathlib
    import re
    pkg = pathlib.Path(app.__file__).parent / "ganinv"
    imports = re.compile(r"^\s*(import|from)\s+gradio\b|import_module\(\s*['\"]gradio", re.M)
    offenders = [str(p) for p in pkg.rglob("*.py") if imports.search(p.read_text())]
    assert offenders == []


def test_invert_callback_reports_library_progress(astronaut_png):
    calls = []

    def progress(frac, desc=None):
        calls.append((frac, desc))

    cb = app.make_callbacks("cpu", app._Sessions())
    out = cb["invert"](astronaut_png, "celeba-dcgan-64", "center", 1, "Z", 20, 0.0, 1, 0, app._new_state(),
                       None, progress=progress)
    state = out[-2]
    assert calls[0][0] == 0.0 and "loading" in calls[0][1]
    assert [c[0] for c in calls[1:]] == [0.5, 1.0] and calls[-1][1].startswith("step 20/20")
    assert state["model"] == "celeba-dcgan-64" and state["space"] == "Z"
    assert tuple(state["latent"].shape) == (1, 100) and state["latent"].device.type == "cpu"
    assert state["source"].size == (64, 64)


def test_missing_image_is_a_user_error():
    import gradio as gr
    cb = app.make_callbacks("cpu", app._Sessions())
    with pytest.raises(gr.Error, match="Upload an image"):
        cb["invert"](None, "celeba-dcgan-64", "auto", 1, "Z", 5, 1.0, 1, 0, app._new_state(), None)


def test_command_line_defaults_auth_and_warnings(monkeypatch):
    monkeypatch.delenv("GANINV_AUTH", raising=False)
    args = app.parse_args([])
    assert (args.host, args.port, args.share, args.auth, args.max_upload_mb, args.max_concurrency) == \
        ("127.0.0.1", 7860, False, None, 20.0, 1)
    assert app.startup_warnings(args, None) == []
    monkeypatch.setenv("GANINV_AUTH", "ann:secret")
    args = app.parse_args(["--host", "0.0.0.0", "--share"])
    assert app.parse_auth(args.auth) == ("ann", "secret")
    warnings = app.startup_warnings(args, None)
    assert len(warnings) == 2 and "0.0.0.0" in warnings[0] and "gradio.live" in warnings[1]
    assert all("no login" in w for w in warnings)
    assert not any("no login" in w for w in app.startup_warnings(args, ("ann", "secret")))
    with pytest.raises(SystemExit):
        app.parse_auth("no-colon")


def test_method_texts_have_no_stray_escapes():
    """LaTeX in a non-raw string: a single backslash before r, t, f, v, a, b turns '\\rVert' into a
    carriage return + 'Vert' and the equation renders broken."""
    texts = {k: v for k, v in vars(app).items() if k.endswith("_MD") and isinstance(v, str)}
    assert len(texts) >= 8
    for name, text in texts.items():
        bad = sorted({repr(c) for c in text if ord(c) < 32 and c != "\n"})
        assert not bad, (name, bad)
