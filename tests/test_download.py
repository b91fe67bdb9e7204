"""Downloads with no internet: a local ``http.server`` in a thread stands in for NVIDIA's CDN
(``GANINV_WEIGHTS_BASE_URL``) and for the Hugging Face Hub (``HF_ENDPOINT``).

It serves a tiny NVIDIA-format StyleGAN2 pickle (tests/factories.py's model, written by
tests/models/conftest.py's pickle writer) under a registered name, and a tiny open_clip checkpoint
the way the Hub does (302 to a CDN, X-Linked-Etag / X-Linked-Size on the first response).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import socket
import threading
import time

import pytest
import torch

from local_server import no_route, register_tiny_clip_arch, serve
from models.conftest import write_nvidia_pickle

from ganinv import clip_models, download, registry
from ganinv.actions import models as models_action
from ganinv.registry import ChecksumError, ModelSpec, ModelUnavailableError

NAME = "test-sg2-16"
FILE = "test-sg2-16.pkl"
URL_PATH = "/test/" + FILE                      # under the base URL, as NVIDIA's files are under theirs


# --------------------------------------------------------------------------- servers
@pytest.fixture
def site():
    with serve() as s:
        yield s


@pytest.fixture
def blackhole():
    """URL of a server that never completes a connection (local_server.no_route)."""
    with no_route() as url:
        yield url


@pytest.fixture
def closed_port():
    """URL of a port nothing listens on (the connection is refused at once)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def pickle_bytes(tmp_path_factory, tiny_sg2_varied) -> bytes:
    """A tiny StyleGAN2 (16 px) as an NVIDIA-format pickle."""
    d = tmp_path_factory.mktemp("nv")
    write_nvidia_pickle(tiny_sg2_varied, d / FILE, d / "canary")
    return (d / FILE).read_bytes()


@pytest.fixture
def online(tmp_path, monkeypatch, site):
    """Online (the suite's offline variables unset), empty checkpoints/, the CDN at the local server,
    and NAME registered; yields the checkpoints folder."""
    for k in ("GANINV_OFFLINE", "HF_HUB_OFFLINE", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(k, raising=False)
    ckpt = tmp_path / "ckpt"
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(ckpt))
    monkeypatch.setenv(registry.BASE_URL_ENV, site.url)
    spec = ModelSpec(NAME, "stylegan2", 16, "tiny test StyleGAN2", "test", filename=FILE,
                     url=f"{registry._NV}{URL_PATH}", align="center", spaces=("Z", "W", "W+", "S"))
    monkeypatch.setitem(registry.MODELS, NAME, spec)
    registry.CACHE.clear()
    yield ckpt
    registry.CACHE.clear()


def register(monkeypatch, **changes) -> None:
    """Re-register NAME with ``changes`` (a pinned sha256 or size)."""
    monkeypatch.setitem(registry.MODELS, NAME, ModelSpec(**{**registry.MODELS[NAME].__dict__, **changes}))


# --------------------------------------------------------------------------- StyleGAN2 from the "CDN"
def test_download_completes_then_inverts(online, site, pickle_bytes, astronaut):
    from ganinv.actions.invert import invert
    site.files[URL_PATH] = pickle_bytes
    seen = []
    info = models_action.fetch_weights(NAME, progress=lambda f, m: seen.append((f, m)))
    assert info.available and (online / FILE).read_bytes() == pickle_bytes
    # NVIDIA publishes no checksums: the first download pins its sha256 for later loads
    assert (online / (FILE + ".sha256")).read_text().strip() == hashlib.sha256(pickle_bytes).hexdigest()
    assert seen[-1][0] == 1.0 and "downloaded" in seen[-1][1]
    assert sorted(os.listdir(online)) == [FILE, FILE + ".sha256"]          # no part or lock file left
    r = invert(astronaut, model=NAME, method="optimize", space="W+", steps=2, align="center", identity=False,
               perceptual_weight=0.0)
    assert r.model == NAME and r.latent.shape[-1] == 32 and r.image.shape == (1, 3, 16, 16)
    assert len(site.gets(URL_PATH)) == 1


def test_interrupted_then_retried_resumes_from_offset(online, site, pickle_bytes):
    site.files[URL_PATH] = pickle_bytes
    cut = len(pickle_bytes) // 3
    site.cut[URL_PATH] = cut
    with pytest.raises(ModelUnavailableError, match="resume"):
        models_action.fetch_weights(NAME)
    assert not (online / FILE).exists()
    assert os.path.getsize(download.part_path(str(online / FILE))) == cut
    assert models_action.fetch_weights(NAME).available
    assert site.gets(URL_PATH) == [None, f"bytes={cut}-"]
    assert (online / FILE).read_bytes() == pickle_bytes


@pytest.mark.parametrize("wrong", ["sha256", "size"])
def test_corrupt_file_is_refused_and_removed(online, site, pickle_bytes, monkeypatch, wrong):
    register(monkeypatch, sha256=hashlib.sha256(pickle_bytes).hexdigest(), size=len(pickle_bytes))
    corrupt = bytearray(pickle_bytes)
    if wrong == "sha256":
        corrupt[len(corrupt) // 2] ^= 0xFF
    else:
        corrupt += b"\0" * 10
    site.files[URL_PATH] = bytes(corrupt)
    with pytest.raises(ChecksumError, match=wrong):
        models_action.fetch_weights(NAME)
    assert os.listdir(online) == []                # neither the file nor its part


def test_slow_server_shows_progress_with_size_and_speed(online, site, monkeypatch):
    payload = os.urandom(160 * 1024)
    site.files[URL_PATH] = payload
    site.delay = 0.08                              # 20 pieces of 8 KB: ~1.6 s
    monkeypatch.setattr(download, "REPORT_EVERY", 0.1)
    seen = []
    registry.resolve_weights(registry.MODELS[NAME], progress=lambda f, m: seen.append((f, m)))
    during = [(f, m) for f, m in seen if m.startswith("downloading")]
    assert len(during) >= 5
    fracs = [f for f, _ in during]
    assert fracs == sorted(fracs) and 0 < fracs[0] < fracs[-1] <= 1
    total_mb = f"{len(payload) / 1e6:.1f} MB"
    assert all(total_mb in m and "MB/s" in m for _, m in during), during[-1]
    speeds = [float(x) for x in re.findall(r"(\d+\.\d+) MB/s", " ".join(m for _, m in during))]
    assert speeds and max(speeds) < 1.0            # the server sends ~0.1 MB/s: no first-buffer burst


def test_no_route_gives_the_message_within_5_s(online, monkeypatch, blackhole):
    monkeypatch.setenv(registry.BASE_URL_ENV, blackhole)
    t = time.monotonic()
    info = models_action.model_info(NAME)
    assert info.downloadable and not info.available
    with pytest.raises(ModelUnavailableError) as e:
        models_action.fetch_weights(NAME)
    took = time.monotonic() - t
    assert took < 5, took
    msg = str(e.value)
    assert FILE in msg and str(online) in msg and blackhole in msg and "timed out" in msg and "\n" not in msg
    assert not online.exists() or os.listdir(online) == []


def test_cli_no_server_and_offline_one_line_within_5_s(online, monkeypatch, capsys, tmp_path, closed_port):
    from ganinv.cli import main
    monkeypatch.setenv(registry.BASE_URL_ENV, closed_port)
    monkeypatch.setenv("GANINV_OFFLINE", "0")      # restored afterwards: --offline below sets it
    argv = ["sample", "--model", NAME, "--seeds", "0", "--out", str(tmp_path / "out")]
    t = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - t < 5
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: Model '{NAME}' needs {FILE}") and "no route" in err[0]
    assert main([*argv, "--offline"]) == 2
    assert "offline mode" in capsys.readouterr().err


def test_offline_never_asks_the_server(online, site, pickle_bytes, monkeypatch):
    site.files[URL_PATH] = pickle_bytes
    monkeypatch.setenv("GANINV_OFFLINE", "1")
    assert not models_action.model_info(NAME).downloadable
    with pytest.raises(ModelUnavailableError, match="offline mode"):
        models_action.fetch_weights(NAME)
    assert site.requests == []


def test_two_sessions_at_once_make_one_download(online, site, pickle_bytes, monkeypatch):
    site.files[URL_PATH] = pickle_bytes
    site.delay = 0.6 / max(1, len(pickle_bytes) // 8192)          # ~0.6 s in all
    monkeypatch.setattr(download, "REPORT_EVERY", 0.05)
    seen, infos = [[], []], [None, None]

    def session(i):
        infos[i] = models_action.fetch_weights(NAME, progress=lambda f, m: seen[i].append(m))
    threads = [threading.Thread(target=session, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(i is not None and i.available for i in infos)
    assert len(site.gets(URL_PATH)) == 1
    assert any(m.startswith("another session is downloading") for s in seen for m in s)
    assert (online / FILE).read_bytes() == pickle_bytes


# --------------------------------------------------------------------------- CLIP from a local Hub mirror
TINY_ARCH = "ganinv-tiny-test"
REPO = "test/tiny-clip"


@pytest.fixture
def hub(online, site, monkeypatch, tmp_path):
    """A Hub mirror at the local server serving a tiny open_clip checkpoint registered as (TINY_ARCH, "mirror")."""
    register_tiny_clip_arch(tmp_path, TINY_ARCH)
    buf = io.BytesIO()
    torch.save(clip_models.tiny_clip(seed=3).model.state_dict(), buf)
    blob = buf.getvalue()
    site.files["/cdn/blob"] = blob
    site.redirects[f"/{REPO}/resolve/main/open_clip_pytorch_model.bin"] = (
        "/cdn/blob", {"X-Linked-Etag": f'"{hashlib.sha256(blob).hexdigest()}"', "X-Linked-Size": str(len(blob))})
    monkeypatch.setenv("HF_ENDPOINT", site.url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setitem(clip_models.CLIP_WEIGHTS, (TINY_ARCH, "mirror"),
                        clip_models.ClipWeights(TINY_ARCH, "mirror", REPO))
    clip_models.CACHE.clear()
    yield blob
    clip_models.CACHE.clear()


def test_clip_through_hub_mirror_then_text_edit(hub, site, online, pickle_bytes):
    from ganinv.actions.common import Source
    from ganinv.actions.text import ClipChoice, text_edit
    online.mkdir(parents=True, exist_ok=True)
    (online / FILE).write_bytes(pickle_bytes)
    seen = []
    clip = clip_models.load_clip(TINY_ARCH, "mirror", device="cpu", progress=lambda f, m: seen.append(m))
    assert clip.weights_path == os.path.join(clip_models.clip_dir(), f"{TINY_ARCH}-mirror.bin")
    assert open(clip.weights_path, "rb").read() == hub
    assert seen and "sha256 verified" in seen[-1]
    ref = clip_models.tiny_clip(seed=3)
    assert torch.allclose(clip.encode_text("a face"), ref.encode_text("a face"), atol=1e-5)
    out = text_edit(Source(kind="seed", seed=0), "a smiling face", model=NAME, clip=ClipChoice(TINY_ARCH, "mirror"),
                    steps=2, id_weight=0.0, device="cpu")
    assert out.extra["clip_distance_after"]
    assert [p for p, _ in site.requests] == [f"/{REPO}/resolve/main/open_clip_pytorch_model.bin", "/cdn/blob"]


def test_clip_hub_checksum_mismatch_is_refused(hub, site, monkeypatch):
    site.files["/cdn/blob"] = hub[:-1] + bytes([hub[-1] ^ 1])
    with pytest.raises(ChecksumError, match="sha256"):
        clip_models.load_clip(TINY_ARCH, "mirror", device="cpu")
    assert not os.path.exists(clip_models.clip_dir()) or os.listdir(clip_models.clip_dir()) == []


def test_clip_no_server_within_5_s(hub, monkeypatch, closed_port):
    monkeypatch.setenv("HF_ENDPOINT", closed_port)
    t = time.monotonic()
    with pytest.raises(clip_models.ClipUnavailableError, match=f"{TINY_ARCH}-mirror.bin"):
        clip_models.load_clip(TINY_ARCH, "mirror", device="cpu")
    assert time.monotonic() - t < 5
