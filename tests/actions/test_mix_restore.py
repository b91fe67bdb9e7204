"""Actions of the Morph & Mix and Restore tabs on the real bundled DCGAN."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ganinv.actions import InputError, Source
from ganinv.actions.faces import prepare_image
from ganinv.actions.mix import diffusion
from ganinv.actions.restore import prepare_restoration
from ganinv.invert.encoder import load_encoder
from ganinv.invert.semantic_diffusion import center_box_mask, paste
from ganinv.io import tensor_to_pil

pytestmark = pytest.mark.usefixtures("one_thread")


def _photo(dcgan, seed=7):
    with torch.no_grad():
        return tensor_to_pil(dcgan(dcgan.sample_z(1, seed=seed))[0])     # 64x64 RGB PIL


def test_diffusion_uses_photos_as_they_are(dcgan, tmp_path, astronaut):
    astronaut.save(tmp_path / "astro.png")
    ctx = Source("seed", seed=11, label="context")
    tgt = Source("file", path=str(tmp_path / "astro.png"), label="target")
    r = diffusion(ctx, tgt, box=0.5, num_steps=20, device="cpu")
    context, target, composite = r.inputs
    crop = prepare_image(str(tmp_path / "astro.png"), dcgan).tensor
    torch.testing.assert_close(target, crop)                          # the photo's crop itself, not an inversion
    mask = center_box_mask(64, 0.5, feather=2)
    torch.testing.assert_close(composite, paste(target, context, mask))
    inside = (mask > 0.999).expand_as(target)
    E = load_encoder("celeba-dcgan-64", G=dcgan)
    with torch.no_grad():
        start = dcgan(E(composite))
    assert (r.image - target)[inside].square().mean() < (start - target)[inside].square().mean()
    assert r.latent.shape == (1, 100) and r.space == "Z" and "PSNR inside the box" in r.note
    for bad, word in (({"box": 0.95}, "Pasted box"), ({"num_steps": 0}, "Evaluations"),
                      ({"l_dom": float("nan")}, "Domain weight")):
        with pytest.raises(InputError, match=word):
            diffusion(ctx, tgt, device="cpu", **bad)


def test_prepare_restoration_tells_real_from_simulated_degradations(dcgan):
    colour = _photo(dcgan)
    sim = prepare_restoration(prepare_image(colour, dcgan, align="center"), dcgan, "superres", factor=4)
    assert sim.observation.shape == (1, 3, 16, 16) and sim.clean is not None
    small = colour.resize((16, 16))                                       # a real low-resolution photo
    real = prepare_restoration(prepare_image(small, dcgan, align="center"), dcgan, "superres", factor=4)
    assert real.clean is None and "low-resolution observation" in real.note
    got = np.asarray(tensor_to_pil(real.observation[0]), np.float32)
    assert np.abs(got - np.asarray(small, np.float32)).mean() < 2        # y is the upload itself, not re-blurred
    grey = prepare_restoration(prepare_image(colour.convert("L"), dcgan, align="center"), dcgan, "colorize")
    assert grey.clean is None and grey.observation.shape == (1, 1, 64, 64) and "already grey" in grey.note
    col = prepare_restoration(prepare_image(colour, dcgan, align="center"), dcgan, "colorize")
    assert col.clean is not None and col.observation.shape == (1, 1, 64, 64)
    with pytest.raises(ValueError, match="Factor"):
        prepare_restoration(prepare_image(colour, dcgan, align="center"), dcgan, "superres", factor=3)
