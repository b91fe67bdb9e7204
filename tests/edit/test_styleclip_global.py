"""StyleCLIP global directions (Sec. 6) on a tiny random StyleGAN2 and a tiny random CLIP.

The tiny StyleGAN2 is built from ganinv.models.stylegan2's config with tiny sizes; the
maths (channel directions, relevance, beta threshold, style edit) is checked against a
brute-force recomputation.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganinv.clip_models import tiny_clip
from ganinv.edit.prompts import text_direction
from ganinv.edit.styleclip_global import (GlobalDirections, GlobalDirectionsError, GlobalDirectionUnsupported,
                                          channel_relevance, global_edit, load_global_directions,
                                          precompute_global_directions, style_delta, style_layers, style_stats)
from ganinv.latent import to_ws
from factories import tiny_stylegan2

NEUTRAL, TARGET = "face", "smiling face"


@pytest.fixture(scope="module")
def G():
    return tiny_stylegan2(channel_base=128, channel_max=16, varied=True)   # styles vary per channel


@pytest.fixture(scope="module")
def synthetic(G, clip):
    """A complete direction set: real channel stats, random unit Delta i_c (edit maths only)."""
    names, dims = style_layers(G)
    mean, std = style_stats(G, names, num_samples=256)
    gen = torch.Generator().manual_seed(0)
    dirs = F.normalize(torch.randn(sum(dims), clip.embed_dim, generator=gen), dim=1)
    return GlobalDirections(G.name, clip.label, names, dims, mean, std, dirs, torch.ones(sum(dims), dtype=torch.bool))


def test_dcgan_is_refused_with_a_clear_message(dcgan, clip):
    with pytest.raises(GlobalDirectionUnsupported, match="StyleGAN2.*text-edit"):
        global_edit(dcgan, dcgan.sample_z(1, seed=0), NEUTRAL, TARGET, clip=clip)
    with pytest.raises(GlobalDirectionUnsupported):
        precompute_global_directions(dcgan, clip, path="unused.safetensors")


def test_torgb_styles_are_left_out_by_default(G):
    names, dims = style_layers(G)
    assert names and not any(n.endswith("torgb") for n in names)
    assert any(n.endswith("torgb") for n in style_layers(G, include_torgb=True)[0])


def test_precompute_is_resumable_and_matches_brute_force(G, clip, tmp_path):
    path = str(tmp_path / "gd.safetensors")
    kw = dict(path=path, num_images=2, num_stats=64, perturb=5.0, seed=0)
    first = precompute_global_directions(G, clip, max_channels=2, **kw)
    assert int(first.done.sum()) == 2 and not first.complete
    with pytest.raises(GlobalDirectionsError, match="resume"):
        load_global_directions(path)                                        # incomplete: refused for editing
    partial = load_global_directions(path, require_complete=False)
    assert torch.equal(partial.directions[:2], first.directions[:2])
    seen = []
    more = precompute_global_directions(G, clip, max_channels=2, progress=lambda f, m: seen.append(m), **kw)
    assert int(more.done.sum()) == 4 and torch.equal(more.directions[:2], first.directions[:2])
    assert len(seen) == 2 and "channel 3/" in seen[0]
    with pytest.raises(GlobalDirectionsError, match="other settings"):
        precompute_global_directions(G, clip, max_channels=1, **{**kw, "num_images": 3})

    # Brute force for channel 3 (the fourth channel of the first layer): render +/- k std from the channel mean.
    c, name, j = 3, more.names[0], 3
    ws = to_ws(G, G.sample_z(2, seed=1), "Z")
    lo_hi = []
    for sign in (-1, 1):
        styles = G.styles(ws)
        styles[name] = styles[name].clone()
        styles[name][:, j] = more.mean[c] + sign * 5.0 * more.std[c]
        with torch.no_grad():
            lo_hi.append(clip.encode_image(G.synthesis(ws, styles=styles, noise_mode="const")))
    per_image = F.normalize(lo_hi[1] - lo_hi[0], dim=1)
    want = F.normalize(per_image.mean(0), dim=0)
    assert torch.allclose(more.directions[c], want, atol=1e-5)


def test_interrupted_run_leaves_a_loadable_partial_file(G, clip, tmp_path):
    path = str(tmp_path / "gd.safetensors")

    def interrupt(frac, msg):
        if "channel 2/" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        precompute_global_directions(G, clip, path=path, num_images=1, num_stats=32, save_every=1,
                                     progress=interrupt)
    partial = load_global_directions(path, require_complete=False)
    assert int(partial.done.sum()) == 2 and partial.done[:2].all()
    assert not any(p.name != "gd.safetensors" for p in tmp_path.iterdir())     # no temp files left behind
    resumed = precompute_global_directions(G, clip, path=path, num_images=1, num_stats=32, max_channels=1)
    assert int(resumed.done.sum()) == 3 and torch.equal(resumed.directions[:2], partial.directions[:2])


def test_relevance_matches_brute_force_dot_products(synthetic, clip):
    dt, _ = text_direction(clip, NEUTRAL, TARGET, templates="face")
    rel = channel_relevance(synthetic.directions, dt)
    brute = torch.tensor([float(sum(a * b for a, b in zip(d.tolist(), dt.tolist()))) for d in synthetic.directions])
    assert torch.allclose(rel, brute, atol=1e-5)
    ds, _ = style_delta(synthetic, dt, beta=0.0)
    assert torch.allclose((ds / synthetic.std).abs().max(), torch.tensor(1.0))   # max-normalised, std units
    beta = float(rel.abs().median())
    ds_b, _ = style_delta(synthetic, dt, beta=beta)
    assert torch.equal(ds_b == 0, rel.abs() < beta)                                # exactly the weak channels zeroed


def test_beta_above_every_relevance_gives_zero_edit(G, synthetic, clip):
    z = G.sample_z(2, seed=5)
    r = global_edit(G, z, NEUTRAL, TARGET, directions=synthetic, clip=clip, beta=1.01, alpha=5.0)
    assert r.num_channels == 0 and torch.count_nonzero(r.delta_s) == 0
    assert torch.equal(r.image, r.start_image)
    assert any("no channel reaches beta" in w for w in r.warnings)


def test_edit_changes_only_relevant_channels_and_alpha_sign(G, synthetic, clip):
    z = G.sample_z(2, seed=5)
    r = global_edit(G, z, NEUTRAL, TARGET, directions=synthetic, clip=clip, beta=0.1, alpha=3.0, templates="face")
    assert 0 < r.num_channels < synthetic.num_channels
    assert sum(r.channels_per_layer.values()) == r.num_channels
    assert (r.image - r.start_image).abs().max() > 1e-4
    before = G.styles(to_ws(G, z, "Z"))
    for name, d in synthetic.split(r.delta_s).items():
        assert torch.allclose(r.styles[name] - before[name], 3.0 * d.expand_as(before[name]), atol=1e-5)
    r0 = global_edit(G, z, NEUTRAL, TARGET, directions=synthetic, clip=clip, beta=0.1, alpha=0.0, templates="face")
    assert torch.equal(r0.image, r0.start_image)


def test_directions_for_another_clip_are_refused(G, synthetic, clip, tmp_path):
    from ganinv.edit.styleclip_global import _save
    path = str(tmp_path / "gd.safetensors")
    _save(synthetic, path)
    assert load_global_directions(path, G=G, clip=clip).complete
    other = tiny_clip(seed=1)
    other.pretrained = "other"
    with pytest.raises(GlobalDirectionsError, match="CLIP"):
        load_global_directions(path, G=G, clip=other)
