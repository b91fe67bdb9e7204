"""CLIP registry / loading: offline message, local lookup, cache, differentiable preprocessing."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest
import torch

from ganinv import clip_models
from ganinv.clip_models import (ClipUnavailableError, find_local_weights, is_clip_available, load_clip,
                                missing_message, tiny_clip)


@pytest.fixture
def no_clip_files(tmp_path, monkeypatch):
    """Empty checkpoints/ and HF cache, offline: the default CLIP cannot be found."""
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path / "ckpt"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip_models.CACHE.clear()
    yield tmp_path
    clip_models.CACHE.clear()


@pytest.fixture(scope="module")
def clip():
    return tiny_clip(seed=0)


def test_offline_missing_weights_is_one_clear_sentence_without_open_clip(no_clip_files, monkeypatch):
    # open_clip made unimportable: the offline answer must not need it (importing it alone takes seconds)
    monkeypatch.setitem(sys.modules, "open_clip", None)
    t0 = time.perf_counter()
    with pytest.raises(ClipUnavailableError) as e:
        load_clip("ViT-B-32", "openai", device="cpu")
    print(f"offline error after {time.perf_counter() - t0:.3f} s")
    msg = str(e.value)
    # where to put the file, relative to the checkpoints folder: messages reach remote users and never
    # show the server's absolute paths
    assert "checkpoints/clip/ViT-B-32-openai.bin" in msg and str(no_clip_files) not in msg
    assert "huggingface.co/timm/vit_base_patch32_clip_224.openai" in msg
    assert msg.count(". ") == 0 and msg.endswith(".")            # one sentence


def test_unknown_tag_offline_names_the_local_file(no_clip_files, monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ClipUnavailableError, match="ViT-B-16-laion2b_s34b_b88k.bin"):
        load_clip("ViT-B-16", "laion2b_s34b_b88k", device="cpu")


def test_local_lookup_order(no_clip_files):
    root = no_clip_files
    assert find_local_weights("ViT-B-32", "openai") is None and not is_clip_available()
    hub = root / "hub" / "models--timm--vit_base_patch32_clip_224.openai" / "snapshots" / "abc"
    hub.mkdir(parents=True)
    (hub / "open_clip_pytorch_model.bin").write_bytes(b"x")
    assert find_local_weights("ViT-B-32", "openai") == str(hub / "open_clip_pytorch_model.bin")
    local = root / "ckpt" / "clip" / "ViT-B-32-openai.bin"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"x")
    assert find_local_weights("ViT-B-32", "openai") == str(local)          # checkpoints/ wins over the cache
    explicit = root / "mine.safetensors"
    explicit.write_bytes(b"x")
    assert find_local_weights("ViT-B-32", str(explicit)) == str(explicit)  # a path is used as is


def test_missing_message_for_unknown_pair_still_names_a_place():
    msg = missing_message("ViT-S-32", "sometag", "offline mode")
    assert "ViT-S-32-sometag.bin" in msg and "offline mode" in msg


def test_cache_builds_once_across_threads(monkeypatch):
    clip_models.CACHE.clear()
    calls = []
    real = clip_models._build

    def counting(name, pretrained, device, progress=None):
        calls.append(name)
        time.sleep(0.05)                                   # widen the race window
        return real(name, pretrained, device, progress)

    monkeypatch.setattr(clip_models, "_build", counting)
    out = []
    threads = [threading.Thread(target=lambda: out.append(load_clip("tiny-random", device="cpu"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    clip_models.CACHE.clear()
    assert len(calls) == 1 and len({id(c) for c in out}) == 1


def test_preprocess_resizes_normalises_and_is_differentiable(clip):
    s = clip.image_size
    x = torch.rand(2, 3, s, s) * 2 - 1
    mean = torch.tensor(clip_models.OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(clip_models.OPENAI_STD).view(1, 3, 1, 1)
    assert torch.allclose(clip.preprocess(x), ((x + 1) / 2 - mean) / std, atol=1e-6)
    big = (torch.rand(2, 3, 4 * s, 4 * s) * 2 - 1).requires_grad_(True)
    y = clip.preprocess(big)
    assert y.shape == (2, 3, s, s)
    clip.encode_image(big).sum().backward()
    assert big.grad is not None and big.grad.abs().sum() > 0


def test_embeddings_are_unit_and_distance_is_one_minus_cos(clip):
    img = torch.rand(3, 3, 64, 64) * 2 - 1
    e = clip.encode_image(img)
    t = clip.encode_text(["a smiling face", "a car"])
    assert e.shape == (3, clip.embed_dim) and t.shape == (2, clip.embed_dim)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    d = clip.distance(img, t[0])
    assert torch.allclose(d, 1 - e @ t[0], atol=1e-5)


def test_tokenizer_works_offline(clip):
    ids = clip.tokenize("a smiling face")
    assert ids.shape == (1, 77) and ids[0, 0] == 49406              # start-of-text token
    assert (ids[0] == 49407).sum() == 1                             # one end-of-text token


def test_frozen(clip):
    assert not any(p.requires_grad for p in clip.parameters())
    assert not clip.train().training


@pytest.mark.weights
@pytest.mark.skipif(not is_clip_available(), reason="real CLIP ViT-B-32/openai weights are not on this machine "
                    "(place open_clip_pytorch_model.bin at checkpoints/clip/ViT-B-32-openai.bin)")
def test_real_clip_prefers_face_caption_for_a_face(dcgan):
    real = load_clip(device="cpu")
    with torch.no_grad():
        img = dcgan(dcgan.sample_z(4, seed=0))
        t = real.encode_text(["a photo of a person's face", "a photo of a car"])
        sims = real.encode_image(img) @ t.T
    assert (sims[:, 0] > sims[:, 1]).all()
