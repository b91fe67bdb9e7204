"""StyleCLIP latent optimisation (Eq. 1-2) on the real DCGAN and a tiny StyleGAN2, tiny random CLIP."""
from __future__ import annotations

import pytest
import torch

from ganinv.edit.styleclip_optimize import lr_at, resolve_identity, text_edit_optimize
from installed import require

PROMPT = "a smiling face"


class MSEIdentity(torch.nn.Module):
    """A cheap stand-in for R: mean squared pixel change, [N]."""

    def forward(self, x, y):
        return (x - y).pow(2).flatten(1).mean(1)


def test_lowers_clip_loss_and_l2_keeps_latent_near_start(dcgan, clip):
    z = dcgan.sample_z(2, seed=1)
    z_copy = z.clone()
    free = text_edit_optimize(dcgan, z, PROMPT, clip=clip, num_steps=12, l2_weight=0.0, id_weight=0)
    tied = text_edit_optimize(dcgan, z, PROMPT, clip=clip, num_steps=12, l2_weight=2.0, id_weight=0)
    assert torch.equal(z, z_copy)                                            # input untouched
    assert free.space == "Z" and free.latent.shape == z.shape
    for r in (free, tied):
        assert all(a < b for a, b in zip(r.clip_distance_after, r.clip_distance_before))
        assert len(r.loss_history) == 12 and {"clip", "l2", "id", "lr", "loss"} <= set(r.loss_history[0])
    assert all(t < f for t, f in zip(tied.latent_distance, free.latent_distance))
    assert not free.identity_used and "id_weight is 0" in free.identity_reason
    assert any("random weights" in w for w in free.warnings)


def test_progress_callback_and_identity_module(dcgan, clip):
    seen = []
    r = text_edit_optimize(dcgan, dcgan.sample_z(1, seed=2), PROMPT, clip=clip, num_steps=4, identity=MSEIdentity(),
                           progress=lambda f, m: seen.append(f), progress_every=2)
    assert seen == [0.5, 1.0]
    assert r.identity_used and "MSEIdentity" in r.identity_reason
    assert r.loss_history[-1]["id"] > 0                                      # the term is live once w moves


def test_identity_unavailable_is_reported_not_fatal(dcgan, clip, monkeypatch):
    import ganinv.edit.styleclip_optimize as so

    def broken(*a, **k):
        raise FileNotFoundError("SFace file missing")

    monkeypatch.setattr(so, "IdentityLoss", broken)
    R, reason = resolve_identity(dcgan, 0.005)
    assert R is None and "did not load" in reason and "SFace file missing" in reason


def test_non_face_model_skips_identity(tiny_sg2):
    R, reason = resolve_identity(tiny_sg2, 0.005)
    assert R is None and "not a face model" in reason


def test_optimises_in_w_plus_for_stylegan2(tiny_sg2, clip):
    w = tiny_sg2.mapping(tiny_sg2.sample_z(2, seed=0))
    r = text_edit_optimize(tiny_sg2, w, PROMPT, latent_space="W", clip=clip, num_steps=6, id_weight=0)
    assert r.space == "W+" and r.latent.shape == (2, tiny_sg2.num_ws, tiny_sg2.w_dim)
    per_layer = (r.latent - tiny_sg2.broadcast(w)).norm(dim=2)               # layers move independently
    assert per_layer.std(dim=1).min() > 0
    assert all(a < b for a, b in zip(r.clip_distance_after, r.clip_distance_before))


def test_rejects_bad_inputs(dcgan, clip):
    with pytest.raises(ValueError, match="shape"):
        text_edit_optimize(dcgan, torch.zeros(1, 7), PROMPT, clip=clip, num_steps=1)
    with pytest.raises(ValueError, match="empty"):
        text_edit_optimize(dcgan, dcgan.sample_z(1, seed=0), " ", clip=clip, num_steps=1)


def test_lr_schedule_ramps_up_and_down():
    assert lr_at(0.0, 0.1) == 0.0
    assert lr_at(0.5, 0.1) == pytest.approx(0.1)
    assert lr_at(0.99, 0.1) < 0.01


def test_arcface_identity_term_when_available(dcgan, clip):
    require("onnx2torch", "the SFace identity loss; requirements.txt")
    z = dcgan.sample_z(2, seed=3)
    R, _ = resolve_identity(dcgan, 1.0)                                     # l_ID: 1 - cos of ArcFace embeddings
    runs = {k: text_edit_optimize(dcgan, z, PROMPT, clip=clip, num_steps=6, **kw)
            for k, kw in [("off", dict(identity=False)), ("default", {}), ("strong", dict(id_weight=5.0))]}
    r = runs["default"]
    assert r.identity_used and "arcface" in r.identity_reason, r.identity_reason
    # step 1 compares G(w_s) with itself: 1 - cos(e, e) = 0; later steps see a face that moved
    assert r.loss_history[0]["id"] < 1e-5 and r.loss_history[-1]["id"] > 0.05
    with torch.no_grad():
        moved = {k: R(run.image, run.start_image) for k, run in runs.items()}  # [2] each
    # the term pulls back towards the start's identity: a little at the shipped weight, to the same
    # person (ArcFace distance < 0.1; different people are > 0.8) at a strong one
    assert (moved["default"] < moved["off"]).all(), moved
    assert (moved["strong"] < 0.1).all() and (moved["off"] > 0.15).all(), moved
