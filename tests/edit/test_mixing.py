"""Morphs, animation export, crossover and expression transfer."""
import pytest
import torch
from PIL import Image

from ganinv.edit import mixing
from ganinv.latent import render
from installed import require_program


def test_morph_endpoints_reproduce_the_inputs(dcgan):
    a, b = dcgan.sample_z(1, seed=1), dcgan.sample_z(1, seed=2)
    res = mixing.morph(dcgan, a, b, "Z", num_frames=6)
    assert res.method == "slerp" and res.ts[0] == 0 and res.ts[-1] == 1 and res.images.shape == (6, 3, 64, 64)
    assert torch.equal(res.latents[0], a[0]) and torch.equal(res.latents[-1], b[0])
    with torch.no_grad():
        assert torch.allclose(res.images[0], render(dcgan, a, "Z")[0], atol=1e-5)
        assert torch.allclose(res.images[-1], render(dcgan, b, "Z")[0], atol=1e-5)
    norms = res.latents.norm(dim=1)                                    # slerp keeps Gaussian codes' norm
    assert norms.min() > 0.9 * min(a.norm(), b.norm())


def test_morph_lerp_in_w(tiny_sg2_small):
    G = tiny_sg2_small
    a, b = G.mapping(G.sample_z(1, seed=1)), G.mapping(G.sample_z(1, seed=2))
    res = mixing.morph(G, a, b, "W", num_frames=5)
    assert res.method == "lerp"
    assert torch.allclose(res.latents[2], (a[0] + b[0]) / 2, atol=1e-6)


def test_gif_and_mp4(tmp_path, dcgan):
    frames = mixing.morph(dcgan, dcgan.sample_z(1, seed=1), dcgan.sample_z(1, seed=2), "Z", num_frames=4).images
    gif = mixing.save_gif(frames, str(tmp_path / "m.gif"), boomerang=True)
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == (64, 64)
    with pytest.raises(ValueError, match="unsupported"):
        mixing.save_animation(frames, str(tmp_path / "m.avi"))
    require_program("ffmpeg", "apt-get install ffmpeg")
    mp4 = mixing.save_mp4(frames, str(tmp_path / "m.mp4"))
    data = open(mp4, "rb").read()
    assert len(data) > 1000 and b"ftyp" in data[:64]


def test_wplus_crossover_takes_the_chosen_layers_from_b():
    a, b = torch.zeros(2, 6, 4), torch.ones(2, 6, 4)
    out = mixing.crossover_wplus(a, b, [1, 2])
    assert out[:, [1, 2]].eq(1).all() and out[:, [0, 3, 4, 5]].eq(0).all()
    assert a.eq(0).all()


def test_dcgan_layer_crossover_explains_the_alternative(dcgan):
    ws = dcgan.broadcast(dcgan.sample_z(2, seed=0))
    with pytest.raises(mixing.CrossoverError, match="feature_crossover"):
        mixing.crossover(dcgan, ws[:1], ws[1:], [0])


def test_feature_crossover_masks(dcgan):
    z = dcgan.sample_z(2, seed=0)
    wa, wb = dcgan.broadcast(z[:1]), dcgan.broadcast(z[1:])
    with torch.no_grad():
        ia, ib = dcgan.synthesis(wa), dcgan.synthesis(wb)
    none = mixing.feature_crossover(dcgan, wa, wb, layer="layer2", mask=torch.zeros(8, 8))
    every = mixing.feature_crossover(dcgan, wa, wb, layer="layer2", mask=torch.ones(8, 8))
    assert torch.allclose(none.image, ia, atol=1e-5) and torch.allclose(every.image, ib, atol=1e-5)
    bottom = mixing.feature_crossover(dcgan, wa, wb, layer="layer3", region="bottom").image
    # the bottom half comes (mostly) from B, the top half from A
    assert (bottom[..., 40:, :] - ib[..., 40:, :]).abs().mean() < (bottom[..., 40:, :] - ia[..., 40:, :]).abs().mean()
    assert (bottom[..., :24, :] - ia[..., :24, :]).abs().mean() < (bottom[..., :24, :] - ib[..., :24, :]).abs().mean()
    ch = mixing.feature_crossover(dcgan, wa, wb, layer="layer1", mode="channel", fraction=0.25)
    assert int(ch.mask.sum()) == 128 and ch.mask.shape == (512, 1, 1)
    with pytest.raises(ValueError, match="hidden layer"):
        mixing.feature_crossover(dcgan, wa, wb, layer="output")


def test_expression_transfer():
    w1, w2 = torch.zeros(1, 8), torch.zeros(1, 8)
    w3 = torch.tensor([[0.05, -0.05, 1.0, -2.0, 0.0, 0.3, 0.01, 0.5]])
    full = mixing.expression_transfer(w1, w2, w3)
    assert torch.equal(full.latent, w3) and full.kept_fraction == 1.0
    cut = mixing.expression_transfer(w1, w2, w3, threshold=0.2, strength=2.0)
    assert torch.equal(cut.latent, 2 * torch.tensor([[0, 0, 1.0, -2.0, 0, 0.3, 0, 0.5]]))
    assert cut.kept_fraction == pytest.approx(4 / 8)
    batch = mixing.expression_transfer(torch.randn(3, 8), w2, w3)      # one expression onto 3 faces
    assert batch.latent.shape == (3, 8)


def test_stylegan2_crossover_and_feature_crossover(tiny_sg2_small):
    G = tiny_sg2_small
    wa = G.broadcast(G.mapping(G.sample_z(1, seed=1)))
    wb = G.broadcast(G.mapping(G.sample_z(1, seed=2)))
    with torch.no_grad():
        ia, ib = G.synthesis(wa, noise_mode="const"), G.synthesis(wb, noise_mode="const")
    assert torch.allclose(mixing.crossover(G, wa, wb, range(G.num_ws)), ib, atol=1e-5)
    coarse = mixing.crossover(G, wa, wb, [0, 1])
    assert not torch.allclose(coarse, ia, atol=1e-3) and not torch.allclose(coarse, ib, atol=1e-3)
    none = mixing.feature_crossover(G, wa, wb, layer="b8", mask=torch.zeros(8, 8))
    assert torch.allclose(none.image, ia, atol=1e-5)
