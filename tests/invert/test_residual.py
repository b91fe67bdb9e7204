"""Editing a layer-wise inversion with its feature residual (HFGI-style, ganinv.invert.residual)."""
from types import SimpleNamespace

import pytest
import torch

from ganinv.invert.residual import feature_residual, render_with_residual, residual_mask
from ganinv.latent import to_ws

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fitted(tiny_dc):
    """A residual that turns sample 2's features at layer1 into sample 1's (an exact 'fit')."""
    G = tiny_dc
    z1, z2 = G.sample_z(1, seed=1), G.sample_z(1, seed=2)
    with torch.no_grad():
        x = G(z1)
        feats = G.features(to_ws(G, z1, "Z"), "layer1")
    r = SimpleNamespace(latent=z2, layer="layer1", delta=feature_residual(G, z2, "Z", "layer1", feats), image=x)
    return G, x, r


def test_unedited_render_is_the_fitted_image(fitted):
    G, x, r = fitted
    out = render_with_residual(G, r.latent, "Z", r.layer, r.delta)
    assert torch.allclose(out, x, atol=1e-5)
    code_only = render_with_residual(G, r.latent, "Z", r.layer, torch.zeros_like(r.delta))
    assert not torch.allclose(code_only, x, atol=1e-2)          # the residual carries what the code does not
    # adapt has no effect without an edit (nothing changes, nothing is masked)
    same = render_with_residual(G, r.latent, "Z", r.layer, r.delta, latent=r.latent, adapt=1.0)
    assert torch.allclose(same, out, atol=1e-5)


def test_edit_adds_the_residual_to_the_edited_features(fitted):
    G, _, r = fitted
    n = torch.nn.functional.normalize(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)))
    edited = r.latent + 2.0 * n
    out = render_with_residual(G, edited, "Z", r.layer, r.delta)
    ws = to_ws(G, edited, "Z")
    with torch.no_grad():
        want = G.synthesis_from(G.features(ws, r.layer) + r.delta, r.layer, ws)
        plain = G.synthesis(ws)
    assert torch.allclose(out, want, atol=1e-5) and not torch.allclose(out, plain, atol=1e-2)
    m = residual_mask(G, r.latent, edited, "Z", r.layer, adapt=1.0)
    assert m.shape == (1, 1, *r.delta.shape[-2:]) and float(m.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(m.max()) <= 1.0
    half = render_with_residual(G, edited, "Z", r.layer, r.delta, latent=r.latent, adapt=0.5)
    with torch.no_grad():
        m5 = residual_mask(G, r.latent, edited, "Z", r.layer, adapt=0.5)
        want5 = G.synthesis_from(G.features(ws, r.layer) + m5 * r.delta, r.layer, ws)
    assert torch.allclose(half, want5, atol=1e-5)


def test_feature_residual_and_refusals(fitted):
    G, _, r = fitted
    feats = G.features(to_ws(G, r.latent, "Z"), r.layer) + r.delta
    assert torch.allclose(feature_residual(G, r.latent, "Z", r.layer, feats), r.delta, atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        render_with_residual(G, r.latent, "Z", r.layer, r.delta[:, :3])
    with pytest.raises(ValueError, match="unedited latent"):
        render_with_residual(G, r.latent, "Z", r.layer, r.delta, adapt=0.5)
    with pytest.raises(ValueError, match="adapt"):
        residual_mask(G, r.latent, r.latent, "Z", r.layer, adapt=2.0)
