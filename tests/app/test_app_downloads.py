"""The app's tabs online with no environment variable that changes what they do: the Text tab downloads
CLIP from a Hub mirror (``HF_ENDPOINT`` at a local ``http.server`` serving a tiny open_clip checkpoint, as
tests/test_download.py does for the library) with the download's progress in the tab's progress, then
edits; and with no route to the server, picking a model or running a text edit gives the one-line message
within 5 s.  Tab callbacks are called directly, as Gradio calls them; weights land in a temporary
checkpoints folder."""
from __future__ import annotations

import hashlib
import io
import time

import pytest
import torch

pytest.importorskip("gradio")
import gradio as gr  # noqa: E402
from api_steps import run_in_own_loop  # noqa: E402
from local_server import no_route, register_tiny_clip_arch, serve  # noqa: E402
from ganinv import clip_models, download, registry  # noqa: E402
from ganinv.actions.text import ClipChoice  # noqa: E402
from webapp import tab_models, tab_text  # noqa: E402
from webapp.common import Context  # noqa: E402

TINY_ARCH = "ganinv-tiny-tab-test"
REPO = "test/tiny-clip-tab"
NOT_SET = ("GANINV_OFFLINE", "HF_HUB_OFFLINE", "GANINV_WEIGHTS_BASE_URL", "GANINV_CLIP", "http_proxy", "HTTP_PROXY",
           "https_proxy", "HTTPS_PROXY")


@pytest.fixture
def online(tmp_path, monkeypatch):
    """None of the variables that switch downloads off or redirect them; an empty checkpoints folder."""
    for k in NOT_SET:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path / "checkpoints"))
    clip_models.CACHE.clear()
    yield tmp_path / "checkpoints"
    clip_models.CACHE.clear()


@pytest.fixture
def tiny_clip_arch(tmp_path, monkeypatch):
    """A tiny open_clip architecture whose pretrained weights (tag "mirror") live in REPO on the Hub."""
    register_tiny_clip_arch(tmp_path, TINY_ARCH)
    monkeypatch.setitem(clip_models.CLIP_WEIGHTS, (TINY_ARCH, "mirror"),
                        clip_models.ClipWeights(TINY_ARCH, "mirror", REPO))
    return ClipChoice(TINY_ARCH, "mirror")


@pytest.fixture
def hub(online, tiny_clip_arch, monkeypatch):
    """The Hub mirror, serving the checkpoint the way the Hub does (302 to a CDN with its size and sha256)
    and slowly enough that the download reports progress several times."""
    buf = io.BytesIO()
    torch.save(clip_models.tiny_clip(seed=3).model.state_dict(), buf)
    blob = buf.getvalue()
    with serve() as site:
        site.files["/cdn/blob"] = blob
        site.redirects[f"/{REPO}/resolve/main/open_clip_pytorch_model.bin"] = (
            "/cdn/blob", {"X-Linked-Etag": f'"{hashlib.sha256(blob).hexdigest()}"', "X-Linked-Size": str(len(blob))})
        site.delay = 1.0 / max(1, len(blob) // 8192)               # ~1 s in all
        monkeypatch.setenv("HF_ENDPOINT", site.url)
        monkeypatch.setattr(download, "REPORT_EVERY", 0.05)
        yield site


class Shown:
    """What gr.Progress shows the user: (fraction, description) per update."""

    def __init__(self):
        self.updates = []

    def __call__(self, fraction, desc=None, *args, **kwargs):
        self.updates.append((fraction, desc))


def test_text_tab_downloads_clip_with_progress_then_edits(hub, tiny_clip_arch):
    cb = tab_text.make_callbacks(Context(device="cpu", clip=tiny_clip_arch))
    status = cb["clip_status"]("celeba-dcgan-64")[0]
    assert "downloaded once at the first edit" in status and "⚠️" not in status
    shown = Shown()
    before, after, curve, metrics, latent, png, note = cb["text_edit"](
        "a smiling face", 0.008, 0.0, 2, "seed", 0, "celeba-dcgan-64", None, None, progress=shown)
    downloading = [d for _, d in shown.updates if str(d).startswith("CLIP: downloading")]
    assert len(downloading) >= 3, shown.updates
    assert all(" MB" in d and "MB/s" in d for d in downloading)
    assert any("sha256 verified" in str(d) for _, d in shown.updates)
    assert "D_CLIP" in note and after is not None
    assert [p for p, _ in hub.requests] == [f"/{REPO}/resolve/main/open_clip_pytorch_model.bin", "/cdn/blob"]


def test_no_route_picking_a_model_says_so_within_5_s(online, monkeypatch):
    cb = tab_models.make_callbacks(Context(device="cpu"))
    with no_route() as url:
        monkeypatch.setenv(registry.BASE_URL_ENV, url)
        t = time.monotonic()
        _, note = run_in_own_loop(cb["select_model"]("stylegan2-ffhq-256", Shown()))
        took = time.monotonic() - t
    assert took < 5, took
    assert note.startswith("⚠️ Model 'stylegan2-ffhq-256' needs ffhq-res256-mirror-paper256-noaug.pkl")
    assert "timed out" in note and "\n" not in note


def test_no_route_a_text_edit_says_so_within_5_s(online, tiny_clip_arch, monkeypatch):
    cb = tab_text.make_callbacks(Context(device="cpu", clip=tiny_clip_arch))
    with no_route() as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        t = time.monotonic()
        with pytest.raises(gr.Error) as e:
            cb["text_edit"]("a smiling face", 0.008, 0.0, 2, "seed", 0, "celeba-dcgan-64", None, None,
                            progress=Shown())
        took = time.monotonic() - t
    assert took < 5, took
    assert f"{TINY_ARCH}-mirror.bin" in e.value.message and "\n" not in e.value.message
