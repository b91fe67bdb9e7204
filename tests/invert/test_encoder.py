"""Encoder training, checkpoints, force-in-domain and e4e (tiny seeded generators)."""
from __future__ import annotations

import json
import os

import pytest
import torch

from ganinv.invert.encoder import (Encoder, EncoderConfig, checkpoint_paths, encoder_path, evaluate_encoder,
                                   latent_frechet_distance, load_encoder, save_encoder, train_encoder)
from ganinv.models.dcgan import DCGANConfig, DCGANGenerator


pytestmark = pytest.mark.usefixtures("one_thread")


FAST = dict(batch=8, lr=2e-3, l_adv=0.01, eval_samples=0, channel_base=8, log_every=1)


def _mse(G, E, n=32, seed=99):
    with torch.no_grad():
        x = G(G.sample_z(n, seed=seed))
        code = E(x)
        return float((G.synthesis(G.broadcast(code) if code.ndim == 2 else code) - x).square().mean())


def test_training_lowers_reconstruction_error(tiny_dc):
    G = tiny_dc
    torch.manual_seed(1)
    untrained = train_encoder(G, steps=0, **FAST).encoder
    torch.manual_seed(1)
    trained = train_encoder(G, steps=60, **FAST)
    before, after = _mse(G, untrained), _mse(G, trained.encoder)
    assert after < 0.7 * before, (before, after)
    first = sum(r["rec"] for r in trained.log[:5]) / 5
    last = sum(r["rec"] for r in trained.log[-5:]) / 5
    assert last < first
    assert trained.metadata["data"].startswith("samples of tiny-dcgan")


def test_checkpoint_roundtrip_and_resume_is_exact(tmp_path, tiny_dc):
    G = tiny_dc
    path = str(tmp_path / "enc.safetensors")
    torch.manual_seed(2)
    straight = train_encoder(G, steps=6, l_latent=0.1, **FAST).encoder
    torch.manual_seed(2)
    train_encoder(G, steps=4, l_latent=0.1, save_path=path, save_every=2, **FAST)
    files = sorted(os.listdir(tmp_path))
    assert files == sorted(os.path.basename(p) for p in checkpoint_paths(path).values())   # no temp files left
    resumed = train_encoder(G, steps=6, l_latent=0.1, resume=path, **FAST)
    assert [r["step"] for r in resumed.log] == list(range(1, 7))
    for a, b in zip(straight.state_dict().values(), resumed.encoder.state_dict().values()):
        torch.testing.assert_close(a, b)
    E = load_encoder(path, G=G)
    x = G(G.sample_z(3, seed=0))
    torch.testing.assert_close(E(x), resumed.encoder(x))
    meta = json.load(open(checkpoint_paths(path)["config"]))
    assert meta["config"]["space"] == "Z" and meta["steps_done"] == 6 and meta["model"] == "tiny-dcgan"
    assert len(json.load(open(checkpoint_paths(path)["log"]))) == 6


def test_load_refuses_other_model(tmp_path, tiny_dc):
    G = tiny_dc
    E = Encoder(EncoderConfig.for_generator(G, channel_base=8))
    path = save_encoder(E, str(tmp_path / "e.safetensors"))["weights"]
    other = DCGANGenerator(DCGANConfig(z_dim=12, channels=(32, 16)), name="other")
    with pytest.raises(ValueError, match="does not fit"):
        load_encoder(path, G=other)
    with pytest.raises(FileNotFoundError, match="train-encoder"):
        load_encoder(str(tmp_path / "missing.safetensors"))
    assert encoder_path("celeba-dcgan-64").endswith(os.path.join("checkpoints", "encoder-celeba-dcgan-64.safetensors"))


def test_crafted_encoder_config_refused_before_anything_is_built(tmp_path, monkeypatch, tiny_dc):
    """The header's config decides what is allocated (channel widths are not tied to G);
    it is bounded and checked against the stored shapes before a real layer exists."""
    from dataclasses import asdict
    from safetensors.torch import save_file
    import ganinv.invert.encoder as enc
    G = tiny_dc
    built, init = [], enc.Encoder.__init__
    monkeypatch.setattr(enc.Encoder, "__init__",
                        lambda self, *a, **k: built.append(torch.empty(0).device.type) or init(self, *a, **k))
    config = asdict(EncoderConfig.for_generator(G, channel_base=512, channel_max=512))      # fits G: 16 MB of weights
    for name, cfg, phrase in [("wide", config, "do not match"),
                              ("huge", {**config, "channel_max": 10**6}, "out of bounds")]:
        path = str(tmp_path / f"{name}.safetensors")
        save_file({"x": torch.zeros(1)}, path, metadata={"ganinv": json.dumps({"format": "ganinv-encoder/1",
                                                                                "config": cfg})})
        with pytest.raises(ValueError, match=phrase):
            load_encoder(path, G=G)
    assert "cpu" not in built                                  # only shapes on the meta device


def test_frechet_distance_of_gaussians():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4000, 4, generator=g), torch.randn(4000, 4, generator=g)
    assert latent_frechet_distance(a, b) < 0.05
    # Shifted mean by 2 in every dimension: FD = ||mu||^2 = 16; doubled std: Tr = 4 (1 + 4 - 2*2) = 4.
    assert latent_frechet_distance(a, b + 2) == pytest.approx(16, abs=0.5)
    assert latent_frechet_distance(a, 2 * b) == pytest.approx(4, abs=0.5)


def test_force_in_domain_reports_latent_distance(tiny_dc):
    G = tiny_dc
    torch.manual_seed(3)
    r = train_encoder(G, steps=3, l_latent=0.5, **{**FAST, "eval_samples": 16})
    assert all("D_latent" in row and "adv_latent" in row for row in r.log)
    held = r.metadata["heldout"]
    assert held["latent_fd"] > 0 and held["n"] == 16
    # the held-out PSNR by hand: the 16 samples of the seed stream it names, through E and back through G
    seed = int(held["source"].split("seed ")[1].rstrip(")"))
    with torch.no_grad():
        x = G(G.sample_z(16, seed=seed), noise_mode="const")
        rec = G(r.encoder(x), noise_mode="const")
    u8 = lambda t: ((t.clamp(-1, 1) + 1) * 127.5).round()                       # noqa: E731  the saved 8-bit image
    mse01 = ((u8(rec) - u8(x)) / 255).square().flatten(1).mean(1)          # 8-bit images in [0, 1]
    assert held["psnr"] == pytest.approx(float((10 * torch.log10(1 / mse01)).mean()), abs=1e-3)
    again = evaluate_encoder(G, r.encoder, n=16)
    assert again["psnr"] == pytest.approx(held["psnr"], abs=1e-4)      # held-out set is fixed


def test_e4e_progressive_offsets_on_tiny_stylegan2(tiny_sg2):
    G = tiny_sg2
    torch.manual_seed(4)
    r = train_encoder(G, steps=5, e4e=True, unlock_every=2, l_latent=0.1, **FAST)
    E = r.encoder
    assert E.config.space == "W+" and E.config.e4e
    assert int(E.num_active) == 2                                  # steps 1-2: 0, 3-4: 1, 5: 2
    x = G(G.sample_z(2, seed=0))
    ws = E(x)
    assert ws.shape == (2, G.num_ws, G.w_dim)
    base, deltas = E.parts(x)
    assert torch.equal(ws[:, 0], base)
    assert deltas[:, 2:].abs().max() == 0                          # locked layers carry no offset
    assert deltas[:, :2].abs().max() > 0                           # unlocked ones have trained
    assert all("delta_reg" in row for row in r.log)
    # Codes start at w_avg: the encoder predicts offsets from the mean latent.
    torch.testing.assert_close(E.latent_avg, G.w_avg)


def test_shipped_encoder_says_what_it_is(dcgan):
    """The shipped encoder is IDInvert's domain-guided encoder trained on generator samples with
    code regression and a latent discriminator added; its metadata (sidecar JSON and safetensors header) and
    the README say so, and the settings it records back every part of that sentence."""
    from safetensors import safe_open
    from ganinv.registry import checkpoints_dir
    path = os.path.join(checkpoints_dir(), "encoder-celeba-dcgan-64.safetensors")
    sidecar = json.load(open(checkpoint_paths(path)["config"]))
    with safe_open(path, "pt") as f:
        header = json.loads(f.metadata()["ganinv"])
    assert header == sidecar
    description = sidecar.get("description", "")
    for claim in ("IDInvert", "domain-guided encoder", "generator samples", "code regression",
                  "latent discriminator"):
        assert claim in description, claim
    s = sidecar["settings"]
    assert s["images_dir"] is None and sidecar["data"].startswith("samples of celeba-dcgan-64")
    assert s["l_code"] > 0 and s["l_latent"] > 0 and not s["e4e"]
    assert load_encoder(path, G=dcgan).metadata["description"] == description
    readme = open(os.path.join(os.path.dirname(checkpoints_dir()), "README.md")).read()
    assert readme.count("trained on generator samples") >= 2 and "code regression" in readme
