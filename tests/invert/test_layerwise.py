"""Layer-wise inversion (Bau et al. 2019) on a real photo with the bundled DCGAN."""
from __future__ import annotations

import pytest
import torch

from ganinv.invert.layerwise import invert_layerwise


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def photo(dcgan, astronaut):
    from ganinv.io import center_crop_resize, pil_to_tensor
    return pil_to_tensor(center_crop_resize(astronaut.crop((128, 0, 384, 256)), dcgan.resolution))  # the face


def test_layerwise_beats_latent_only_on_a_real_photo(dcgan, photo):
    r = invert_layerwise(dcgan, photo, layer="layer3", latent_steps=40, num_steps=60, lr=0.02, n_init=64)
    latent_only, layerwise = r.latent_metrics[0]["psnr"], r.metrics[0]["psnr"]
    assert layerwise > latent_only + 2.0, (latent_only, layerwise)
    assert r.delta.shape == (1, *dcgan.layer_shape("layer3")) and r.delta.abs().max() > 0
    assert r.diff.shape == r.latent_diff.shape == (1, 1, 64, 64)
    assert 0 <= float(r.diff.min()) and float(r.diff.max()) <= 1
    assert float(r.diff.mean()) < float(r.latent_diff.mean())        # less is left unexplained
    assert r.settings["start"].startswith("optimisation")


def test_regulariser_keeps_the_perturbation_small(dcgan, photo):
    z0 = dcgan.sample_z(1, seed=0)
    loose = invert_layerwise(dcgan, photo, layer="layer2", init_latent=z0, num_steps=30, l_reg=0.0)
    tight = invert_layerwise(dcgan, photo, layer="layer2", init_latent=z0, num_steps=30, l_reg=50.0)
    assert tight.delta.square().mean() < 0.5 * loose.delta.square().mean()
    assert torch.equal(loose.latent_image, tight.latent_image)        # same start, G(z_0)


def test_rejects_layers_with_nothing_after_them(dcgan, photo):
    for layer in ("input", "output", "nope"):
        with pytest.raises(ValueError, match="intermediate layer"):
            invert_layerwise(dcgan, photo, layer=layer, init_latent=dcgan.sample_z(1, seed=0), num_steps=1)
