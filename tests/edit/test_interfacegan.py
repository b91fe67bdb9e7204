"""InterFaceGAN: boundary fitting, conditional directions, and the shipped directions' effect."""
import numpy as np
import pytest
import torch

from ganinv.edit import (conditional, conditional_direction, edit, load_direction, measure_effect,
                         sample_and_score, train_boundary, train_direction)

HELD_OUT_SEED = 424242            # the shipped directions were trained on G.sample_z(3000, seed=0)


class Brightness:
    """A real (if simple) image statistic as a scorer: mean luminance of the centre crop."""

    name = "centre-brightness"
    names = ("brightness",)

    def score(self, images):
        c = images[:, :, 16:48, 16:48].mean(dim=(1, 2, 3)).double().numpy()
        c[0] = np.nan                                                  # one "undetected" image per batch
        return {"brightness": c}


def test_boundary_recovers_a_known_normal_with_the_right_sign():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 20))
    n_true = rng.standard_normal(20)
    n_true /= np.linalg.norm(n_true)
    scores = x @ n_true + 0.1 * rng.standard_normal(2000)
    scores[:50] = np.nan                                               # dropped, not fatal
    r = train_boundary(x, scores, chosen_fraction=0.2)
    assert r.num_valid == 1950 and r.num_train + r.num_val == 2 * int(1950 * 0.2)
    assert float(r.normal @ n_true) > 0.95                             # + means more of the attribute
    assert np.linalg.norm(r.normal) == pytest.approx(1.0, abs=1e-5)
    assert r.accuracy_val > 0.97 and 0.8 < r.accuracy_rest < 1.0
    flipped = train_boundary(x, -scores, chosen_fraction=0.2)
    assert float(flipped.normal @ n_true) < -0.95


def test_boundary_refuses_too_few_samples():
    with pytest.raises(ValueError, match="too few"):
        train_boundary(np.zeros((20, 3)), np.arange(20.0))


@pytest.mark.parametrize("k", [1, 3])
def test_conditional_direction_is_orthogonal_to_every_condition(k):
    g = torch.Generator().manual_seed(k)
    primal = torch.randn(50, generator=g)
    conds = [torch.randn(50, generator=g) for _ in range(k)]
    conds = [c / c.norm() for c in conds]
    r = conditional_direction(primal, conds)
    assert r.direction.norm() == pytest.approx(1.0, abs=1e-5)
    for c in conds:
        assert abs(float(r.direction @ c)) < 1e-5
    assert max(abs(v) for v in r.cos_after) < 1e-5
    assert any(abs(v) > 0.01 for v in r.cos_before)
    if k == 1:                                                         # Eq. 6 exactly
        n1, n2 = primal / primal.norm(), conds[0]
        expected = n1 - (n1 @ n2) * n2
        assert torch.allclose(r.direction, expected / expected.norm(), atol=1e-5)
    with pytest.raises(ValueError, match="span"):
        conditional_direction(conds[0] * 2, conds)


def test_pipeline_on_the_real_model_moves_its_attribute(dcgan):
    samples = sample_and_score(dcgan, Brightness(), num_samples=400, seed=0, batch_size=100)
    assert samples.latents.shape == (400, 100) and samples.detection_rate == pytest.approx(0.99)
    calls = []
    d, r = train_direction(dcgan, samples, "brightness", progress=lambda f, m: calls.append(f))
    assert calls and calls[-1] == 1.0
    assert d.model == dcgan.name and d.space == "Z" and d.accuracy_val > 0.8
    z = dcgan.sample_z(16, seed=HELD_OUT_SEED)
    before = Brightness().score(edit(dcgan, z, "Z", [d], [0.0]).image)["brightness"][1:]
    after = Brightness().score(edit(dcgan, z, "Z", [d], [2.0]).image)["brightness"][1:]
    assert (after > before).mean() >= 0.9
    eff = measure_effect(dcgan, d, Brightness(), strength=2.0, num_samples=40, seed=HELD_OUT_SEED, batch_size=20)
    assert eff.num_paired == 38                     # image 0 of each scored batch of 20 has "no face"
    z = dcgan.sample_z(40, seed=HELD_OUT_SEED)
    score = lambda zz, a: Brightness().score(edit(dcgan, zz, "Z", [d], [a]).image)["brightness"][1:]  # noqa: E731
    diff = np.concatenate([score(z[i:i + 20], 2.0) - score(z[i:i + 20], -2.0) for i in (0, 20)])
    assert eff.delta("brightness") == pytest.approx(diff.mean(), rel=1e-5)
    assert eff.sem["brightness"] == pytest.approx(diff.std(ddof=1) / np.sqrt(38), rel=1e-4)


def test_shipped_smile_raises_the_smile_score_on_held_out_samples(dcgan, landmarker):
    smile = load_direction("smile", G=dcgan)
    eff = measure_effect(dcgan, smile, landmarker, strength=2.0, num_samples=32, seed=HELD_OUT_SEED)
    assert eff.detection_rate > 0.85
    assert eff.plus["smile"] > eff.before["smile"] + 0.2
    assert eff.minus["smile"] < eff.before["smile"] - 0.1


def test_conditional_smile_changes_yaw_less_than_the_plain_one(dcgan, landmarker):
    smile, yaw = load_direction("smile", G=dcgan), load_direction("yaw", G=dcgan)
    smile_only, cr = conditional(smile, [yaw])
    assert abs(cr.cos_after[0]) < 1e-5 < abs(cr.cos_before[0])
    plain = measure_effect(dcgan, smile, landmarker, strength=3.0, num_samples=96, seed=HELD_OUT_SEED)
    cond = measure_effect(dcgan, smile_only, landmarker, strength=3.0, num_samples=96, seed=HELD_OUT_SEED)
    assert abs(cond.delta("yaw")) < abs(plain.delta("yaw"))
    assert cond.delta("smile") > 0.8 * plain.delta("smile")           # still a smile edit


class MeanColour:
    name = "mean-colour"
    names = ("red",)

    def score(self, images):
        return {"red": images[:, 0].mean(dim=(1, 2)).double().numpy()}


def test_w_space_samples_and_deterministic_edits(tiny_sg2_small):
    G = tiny_sg2_small
    s = sample_and_score(G, MeanColour(), num_samples=60, seed=3, batch_size=25)
    assert s.space == "W" and s.latents.shape == (60, G.w_dim)
    with torch.no_grad():
        assert np.allclose(s.latents, G.mapping(G.sample_z(60, seed=3)).numpy(), atol=1e-5)
    d, _ = train_direction(G, s, "red", chosen_fraction=0.25)
    w = torch.from_numpy(s.latents[:2])
    a, b = edit(G, w, "W", [d], [1.0]), edit(G, w, "W", [d], [1.0])
    assert torch.equal(a.image, b.image)                               # fixed noise: slider steps are stable
