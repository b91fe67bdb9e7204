"""The app in-process: layout, the one model choice, API names, the package's shape, callbacks, flags."""
from __future__ import annotations

import ast
import os
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import app  # noqa: E402
import webapp  # noqa: E402
from webapp import common, tab_discover, tab_edit, tab_invert, tab_mix, tab_models, tab_restore, tab_text  # noqa: E402

TABS = ["1 Invert", "2 Edit", "3 Discover", "4 Morph & Mix", "5 Text edit", "6 Restore", "7 Models"]
TAB_MODULES = [tab_invert, tab_edit, tab_discover, tab_mix, tab_text, tab_restore, tab_models]
ENDPOINTS = ["invert", "load_latent", "sample", "use_sample", "invert_method", "compare_methods", "select_model",
             "edit", "edit_strip", "train_boundary", "edit_directions", "discover", "discover_component",
             "use_as_slider", "morph", "crossover", "expression_transfer", "semantic_diffusion", "text_edit",
             "train_mapper", "apply_mapper", "global_edit", "clip_status", "restore", "models", "loaded_models",
             "find_faces"]
NO_MODEL = {"use_sample", "use_as_slider", "models", "loaded_models", "find_faces"}   # endpoints that need no model


@pytest.fixture(scope="module")
def demo():
    return app.build_app(device="cpu")


def _fns(demo) -> dict:
    return {f.api_name: f for f in demo.fns.values()}


def test_tabs_in_user_order_and_public_endpoints_kept(demo):
    import gradio as gr
    assert [b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)] == TABS
    fns = _fns(demo)
    public = sorted(n for n, f in fns.items() if f.api_visibility == "public" and n not in ("load_example",))
    assert sorted(ENDPOINTS) == public
    assert fns["invert"].concurrency_id == fns["load_latent"].concurrency_id == fns["sample"].concurrency_id \
        == fns["morph"].concurrency_id == "compute"


def test_one_model_choice_above_the_tabs_feeds_every_endpoint(demo):
    import gradio as gr
    dropdowns = [b for b in demo.blocks.values() if isinstance(b, gr.Dropdown) and b.elem_id == "model"]
    assert len(dropdowns) == 1
    model = dropdowns[0]
    parent = model.parent
    while parent is not None:                                     # not inside any tab
        assert not isinstance(parent, (gr.Tab, gr.Tabs)), parent
        parent = parent.parent
    for name, fn in _fns(demo).items():
        if name in ENDPOINTS and name not in NO_MODEL:
            assert model in fn.inputs, f"/{name} does not use the model picked above the tabs"
    assert model.value == "celeba-dcgan-64"


def test_library_never_imports_gradio():
    imports = re.compile(r"^\s*(import|from)\s+gradio\b|import_module\(\s*['\"]gradio", re.M)
    offenders = [str(p) for p in (ROOT / "ganinv").rglob("*.py") if imports.search(p.read_text())]
    assert offenders == []


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.add(node.module)
    return out


def test_launcher_is_short_ui_modules_are_small_and_tabs_hold_no_tensor_code():
    assert len((ROOT / "app.py").read_text().splitlines()) <= 100
    modules = sorted((ROOT / "webapp").glob("*.py"))
    assert {p.stem for p in modules} >= {"common", "build", *(m.__name__.split(".")[-1] for m in TAB_MODULES)}
    for p in modules:
        assert len(p.read_text().splitlines()) <= 350, p
    for m in TAB_MODULES:
        own = {i for i in _imports(pathlib.Path(m.__file__)) if i.startswith(("ganinv", "torch", "numpy"))}
        assert own and all(i in ("ganinv.settings",) or i.startswith("ganinv.actions") for i in own), (m, own)


def test_user_errors_become_one_line_messages_and_bugs_show_as_internal_errors():
    import gradio as gr
    from ganinv.actions import InputError

    @common.shows_errors
    def refuse(kind):
        raise InputError("Seed must be a whole number.\nsecond line") if kind == "user" else RuntimeError("bug")

    with pytest.raises(gr.Error) as e:
        refuse("user")
    assert e.value.message == "Seed must be a whole number." and e.value.print_exception is False
    with pytest.raises(gr.Error) as e:
        refuse("bug")
    assert e.value.message == common.INTERNAL_ERROR


def test_metric_table_is_the_one_builder():
    t = common.metric_table([("PSNR (dB)", "17.50"), ("D_CLIP", 0.123456), ("steps", 3)])
    assert list(t.columns) == ["metric", "value"]
    assert t.values.tolist() == [["PSNR (dB)", "17.50"], ["D_CLIP", "0.1235"], ["steps", "3"]]


def test_invert_callback_reports_library_progress(astronaut_png):
    calls = []

    def progress(frac, desc=None):
        calls.append((frac, desc))

    cb = tab_invert.make_callbacks(common.Context(device="cpu"))
    out = cb["invert"](astronaut_png, "celeba-dcgan-64", "center", 1, "Z", 20, 0.0, 1, 0, None, "optimize", 150, None,
                       progress=progress)
    record = out[-2]
    assert calls[0][0] == 0.0 and "loading celeba-dcgan-64" in calls[0][1]
    assert [c[0] for c in calls] == sorted(c[0] for c in calls) and calls[-1][0] == 1.0
    assert calls[-1][1].startswith("optimisation: step 20/20")
    assert record.model == "celeba-dcgan-64" and record.space == "Z"
    assert tuple(record.latent.shape) == (1, 100) and record.latent.device.type == "cpu"
    assert record.prepared.image.size == (64, 64)


def test_missing_image_is_a_user_error():
    import gradio as gr
    cb = tab_invert.make_callbacks(common.Context(device="cpu"))
    with pytest.raises(gr.Error, match="Upload an image"):
        cb["invert"](None, "celeba-dcgan-64", "auto", 1, "Z", 5, 1.0, 1, 0, None, None)


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
    with pytest.raises(SystemExit, match="user:password"):
        app.parse_auth("no-colon")


def test_method_texts_have_no_stray_escapes():
    """LaTeX in a non-raw string: a single backslash before r, t, f, v, a, b turns '\\rVert' into a
    carriage return + 'Vert' and the equation renders broken."""
    texts = {f"{m.__name__}.{k}": v for m in [webapp.build, *TAB_MODULES] for k, v in vars(m).items()
             if k.endswith(("_MD", "HEADER")) and isinstance(v, str)}
    assert len(texts) >= 10
    for name, text in texts.items():
        bad = sorted({repr(c) for c in text if ord(c) < 32 and c != "\n"})
        assert not bad, (name, bad)
    assert os.path.basename(webapp.build.__file__) == "build.py"
