import os
import threading
import time

import pytest

from ganinv import registry
from ganinv.registry import ModelUnavailableError, get_spec, load_generator


def test_default_model_available_offline():
    rows = {r["name"]: r for r in registry.describe_models()}
    assert rows["celeba-dcgan-64"]["available"]
    for name in ("stylegan2-ffhq-1024", "stylegan2-ffhq-256", "stylegan2-afhqcat-512", "stylegan2-metfaces-1024"):
        spec = get_spec(name)
        assert spec.url.startswith("https://nvlabs-fi-cdn.nvidia.com/") and spec.licence


def test_cache_returns_one_instance_across_threads():
    registry.CACHE.clear()
    got = []
    threads = [threading.Thread(target=lambda: got.append(load_generator("celeba-dcgan-64", "cpu"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(g is got[0] for g in got)
    assert not any(p.requires_grad for p in got[0].parameters())


def test_missing_weights_offline_clear_and_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("GANINV_OFFLINE", "1")
    t = time.time()
    with pytest.raises(ModelUnavailableError) as e:
        load_generator("stylegan2-ffhq-256", "cpu")
    assert time.time() - t < 5
    msg = str(e.value)
    assert "ffhq-res256-mirror-paper256-noaug.pkl" in msg and str(tmp_path) in msg and "https://" in msg


def test_failed_download_leaves_no_file(tmp_path, monkeypatch):
    """A download that fails (here: nothing listens on the port) leaves nothing in checkpoints/."""
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv("GANINV_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    spec = registry.ModelSpec("x", "stylegan2", 16, "", "", filename="x.pkl", url="http://127.0.0.1:9/x.pkl")
    monkeypatch.setitem(registry.MODELS, "x", spec)
    t = time.time()
    with pytest.raises(ModelUnavailableError, match="x.pkl"):
        registry.resolve_weights(spec)
    assert time.time() - t < 15
    assert os.listdir(tmp_path) == []


def test_download_checksum(tmp_path):
    """Real HTTP server on loopback: good checksum -> file in place; bad -> nothing written."""
    import functools
    import hashlib
    import http.server

    served = tmp_path / "srv"
    served.mkdir()
    payload = os.urandom(3000)
    (served / "w.bin").write_bytes(payload)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/w.bin"
    try:
        dest = tmp_path / "out" / "w.bin"
        good = hashlib.sha256(payload).hexdigest()
        assert registry.download(url, str(dest), sha256=good) == good
        assert dest.read_bytes() == payload
        bad = tmp_path / "out" / "bad.bin"
        with pytest.raises(registry.ChecksumError):
            registry.download(url, str(bad), sha256="0" * 64)
        assert not bad.exists() and sorted(os.listdir(tmp_path / "out")) == ["w.bin"]
    finally:
        httpd.shutdown()


@pytest.mark.parametrize("name", ["local:../../etc/passwd", "local:/etc/passwd", "local:a/b.pkl", "nope", "local:x.txt"])
def test_names_cannot_escape_checkpoints(name):
    with pytest.raises(ModelUnavailableError):
        get_spec(name)


def test_local_checkpoint_listed(tmp_path, monkeypatch):
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path))
    (tmp_path / "my-model.pkl").write_bytes(b"x")
    assert "local:my-model.pkl" in registry.list_model_names()
